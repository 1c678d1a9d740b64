//! Read-your-writes across instances (`MediSlot-Read-After`, `MediSlot-Written-At` and the
//! `medislot_read_after` cookie). The replica tests need a real replica
//! (`MEDISLOT_REPLICA_URL`, see `medislot_pg::testing::replica`); without one they say so
//! and pass.

use medislot_pg::consistency::WalPosition;
use medislot_pg::testing::replica::{
    another_instance, current, one_at_a_time, replica_url, store_with_replica, ReplayPaused,
};
use medislot_server::read_your_writes::{READ_AFTER_HEADER, WRITTEN_AT_HEADER};
use medislot_server::Stores;
use poem::http::Method;
use uuid::Uuid;

use crate::{read, uuid_of, Answer, TestApp};

/// `path` on `app`, with `headers`.
async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Answer {
    let request = headers
        .iter()
        .fold(app.client.get(path), |request, (name, value)| {
            request.header(*name, *value)
        });
    read(request.send().await.0).await
}

/// The status of `slot` in `doctor`'s listing, as `app` answers it with `headers`.
async fn status_of(app: &TestApp, doctor: Uuid, slot: Uuid, headers: &[(&str, &str)]) -> String {
    let listed = get_with(app, &format!("/api/v1/slots?doctor_id={doctor}"), headers).await;
    let items = listed.expect(200)["items"].as_array().unwrap().clone();
    let item = items
        .iter()
        .find(|item| uuid_of(&item["id"]) == slot)
        .expect("the slot is listed");
    item["status"].as_str().unwrap().to_owned()
}

fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer.headers.get(name).map(|v| v.to_str().unwrap())
}

/// The `medislot_read_after` cookie an answer sets, whole.
fn position_cookie(answer: &Answer) -> Option<&str> {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("medislot_read_after="))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_through_one_instance_is_listed_as_taken_by_another_given_its_position() {
    let Some(url) = replica_url() else { return };
    let _serial = one_at_a_time().await;
    let first_store = store_with_replica(&url).await;
    let second_store = another_instance(&first_store, &url).await;
    let first = TestApp::on_stores(Stores::postgres(first_store.clone(), "first"), |c| {
        c.cookie_secure = true
    })
    .await;
    let second = TestApp::on_stores(Stores::postgres(second_store, "second"), |_| {}).await;
    let (_, doctor, slots) = first.clinic(1).await;
    let patient = first.patient().await;
    current(&first_store).await;

    let _paused = ReplayPaused::start(&url).await;
    let booked = first.book(&patient, slots[0]).await;
    booked.expect(201);
    let written = header(&booked, WRITTEN_AT_HEADER).expect("a write answers its position");
    written
        .parse::<WalPosition>()
        .expect("the position is an LSN");
    let cookie = position_cookie(&booked).expect("and sets the cookie");
    assert_eq!(
        cookie,
        format!(
            "medislot_read_after={written}; Path=/; Max-Age=300; HttpOnly; SameSite=Lax; Secure"
        )
    );

    assert_eq!(
        status_of(&second, doctor, slots[0], &[(READ_AFTER_HEADER, written)]).await,
        "booked",
        "with the position, the second instance must read the primary"
    );
    let browser = format!("medislot_read_after={written}");
    assert_eq!(
        status_of(&second, doctor, slots[0], &[("cookie", &browser)]).await,
        "booked",
        "the cookie carries the position for a browser"
    );
    assert_eq!(
        status_of(&second, doctor, slots[0], &[]).await,
        "available",
        "without it, the second instance reads the paused replica"
    );
    assert_eq!(
        status_of(
            &second,
            doctor,
            slots[0],
            &[("cookie", "medislot_read_after=not-a-position")]
        )
        .await,
        "available",
        "a malformed cookie is ignored"
    );
    let read = get_with(
        &second,
        &format!("/api/v1/slots?doctor_id={doctor}"),
        &[(READ_AFTER_HEADER, written)],
    )
    .await;
    read.expect(200);
    assert_eq!(
        header(&read, WRITTEN_AT_HEADER),
        None,
        "a read wrote nothing"
    );
    assert_eq!(position_cookie(&read), None);

    let refused = get_with(
        &second,
        &format!("/api/v1/slots?doctor_id={doctor}"),
        &[(READ_AFTER_HEADER, "16/B374D848/0")],
    )
    .await;
    assert_eq!(
        refused.expect_problem(422, "validation_failed")["field"],
        READ_AFTER_HEADER
    );
}

/// Without a replica no position is read, so none is answered; a listing still refuses a
/// malformed header, so a client finds its bug before it meets a replica.
async fn without_a_replica_no_position_is_answered_and_a_malformed_one_is_refused() {
    let app = TestApp::new().await;
    let (_, doctor, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let booked = app.book(&patient, slots[0]).await;
    booked.expect(201);
    assert_eq!(header(&booked, WRITTEN_AT_HEADER), None);
    assert_eq!(position_cookie(&booked), None);

    let listing = format!("/api/v1/slots?doctor_id={doctor}");
    get_with(&app, &listing, &[(READ_AFTER_HEADER, "0/16B3748")])
        .await
        .expect(200);
    for bad in ["", "latest", "16/B374D848/0", "123456789/0", "-1/0"] {
        let refused = get_with(&app, &listing, &[(READ_AFTER_HEADER, bad)]).await;
        let problem = refused.expect_problem(422, "validation_failed");
        assert_eq!(problem["field"], READ_AFTER_HEADER, "{bad:?}");
    }
    let mut twice = app.client.request(Method::GET, &listing);
    for value in ["0/1", "0/2"] {
        twice = twice.header(READ_AFTER_HEADER, value);
    }
    let refused = read(twice.send().await.0).await;
    assert_eq!(
        refused.expect_problem(422, "validation_failed")["field"],
        READ_AFTER_HEADER
    );
    // The refusal is the listing's, after routing: a method the API does not serve is still
    // 405, and a route that does not read the replica does not read the header.
    let trace = app.client.request(Method::TRACE, &listing);
    let trace = read(trace.header(READ_AFTER_HEADER, "latest").send().await.0).await;
    trace.expect_problem(405, "method_not_allowed");
    let me = get_with(&app, "/api/v1/me", &[(READ_AFTER_HEADER, "latest")]).await;
    me.expect(401);
}

crate::on_every_store!(without_a_replica_no_position_is_answered_and_a_malformed_one_is_refused);
