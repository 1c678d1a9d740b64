//! `Idempotency-Key`: a key that is sent is used or refused by name, never dropped; a retry is
//! answered 200 with `Idempotent-Replayed: true`, the first request 201 without it.

use poem::http::HeaderValue;
use serde_json::json;
use uuid::Uuid;

use crate::{read, uuid_of, Answer, TestApp, User};

/// A request to `path` with `body`, sending each of `keys` as an `Idempotency-Key` header (raw
/// bytes, so that a non-ASCII one is sent as a client would).
async fn post_with_keys(
    app: &TestApp,
    user: &User,
    path: &str,
    keys: &[&[u8]],
    body: serde_json::Value,
) -> Answer {
    let mut request = app
        .client
        .post(path)
        .header("authorization", format!("Bearer {}", user.token))
        .body_json(&body);
    for key in keys {
        let value = HeaderValue::from_bytes(key).expect("bytes a header can carry");
        request = request.header("idempotency-key", value);
    }
    read(request.send().await.0).await
}

/// Each way a key can be wrong, as raw header values.
fn bad_keys() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    vec![
        ("non-ASCII", vec!["clé-1".as_bytes().to_vec()]),
        ("Latin-1 byte", vec![b"cl\xe9".to_vec()]),
        ("empty", vec![Vec::new()]),
        ("blank", vec![b"   ".to_vec()]),
        ("over-long", vec![vec![b'k'; 201]]),
        ("sent twice", vec![b"key-a".to_vec(), b"key-b".to_vec()]),
        (
            "sent twice, the same",
            vec![b"key-a".to_vec(), b"key-a".to_vec()],
        ),
    ]
}

#[track_caller]
fn assert_refused_by_name(answer: &Answer, what: &str) {
    assert_eq!(answer.status.as_u16(), 422, "{what}: {}", answer.body);
    assert_eq!(
        answer.headers["content-type"], "application/problem+json",
        "{what}"
    );
    assert_eq!(
        answer.body["field"], "Idempotency-Key",
        "{what}: {}",
        answer.body
    );
}

async fn a_bad_idempotency_key_is_refused_by_name_and_books_nothing() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    for (what, keys) in bad_keys() {
        let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let answer = post_with_keys(
            &app,
            &patient,
            "/api/v1/bookings",
            &keys,
            json!({ "slot_id": slots[0] }),
        )
        .await;
        assert_refused_by_name(&answer, what);
    }
    // Nothing was booked: the slot is still free for a request with a good key.
    let booked = post_with_keys(
        &app,
        &patient,
        "/api/v1/bookings",
        &[b"good-key"],
        json!({ "slot_id": slots[0] }),
    )
    .await;
    booked.expect(201);
}

async fn a_bad_idempotency_key_is_refused_by_name_and_moves_nothing() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(2).await;
    let patient = app.patient().await;
    let booking = uuid_of(&app.book(&patient, slots[0]).await.expect(201)["id"]);
    let path = format!("/api/v1/bookings/{booking}/reschedule");
    for (what, keys) in bad_keys() {
        let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let answer =
            post_with_keys(&app, &patient, &path, &keys, json!({ "slot_id": slots[1] })).await;
        assert_refused_by_name(&answer, what);
    }
    let moved = post_with_keys(
        &app,
        &patient,
        &path,
        &[b"good-key"],
        json!({ "slot_id": slots[1] }),
    )
    .await;
    moved.expect(201);
}

#[track_caller]
fn assert_first(answer: &Answer) -> Uuid {
    answer.expect(201);
    assert!(
        !answer.headers.contains_key("idempotent-replayed"),
        "a first request is no replay"
    );
    answer.id()
}

#[track_caller]
fn assert_replay_of(answer: &Answer, first: Uuid) {
    answer.expect(200);
    assert_eq!(answer.headers["idempotent-replayed"], "true");
    assert_eq!(answer.id(), first);
}

async fn a_booking_retried_with_its_key_answers_200_marked_as_a_replay() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let body = json!({ "slot_id": slots[0] });
    let first = post_with_keys(&app, &patient, "/api/v1/bookings", &[b"k-1"], body.clone()).await;
    let first = assert_first(&first);
    for _ in 0..2 {
        let again =
            post_with_keys(&app, &patient, "/api/v1/bookings", &[b"k-1"], body.clone()).await;
        assert_replay_of(&again, first);
    }
}

async fn a_reschedule_retried_with_its_key_answers_200_marked_as_a_replay() {
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(3).await;
    let patient = app.patient().await;
    let booking = uuid_of(&app.book(&patient, slots[0]).await.expect(201)["id"]);
    let path = format!("/api/v1/bookings/{booking}/reschedule");
    let body = json!({ "slot_id": slots[1] });
    let first = post_with_keys(&app, &patient, &path, &[b"m-1"], body.clone()).await;
    let first = assert_first(&first);
    let again = post_with_keys(&app, &patient, &path, &[b"m-1"], body).await;
    assert_replay_of(&again, first);

    // An admin's move replays the same way.
    let moved = format!("/api/v1/bookings/{first}/reschedule");
    let body = json!({ "slot_id": slots[2] });
    let by_admin = post_with_keys(&app, &admin, &moved, &[b"a-1"], body.clone()).await;
    let by_admin = assert_first(&by_admin);
    let again = post_with_keys(&app, &admin, &moved, &[b"a-1"], body).await;
    assert_replay_of(&again, by_admin);
}

#[tokio::test]
async fn the_document_promises_200_with_the_replay_header_for_both_operations() {
    let app = TestApp::new().await;
    let doc = read(app.client.get(medislot_server::OPENAPI_PATH).send().await.0)
        .await
        .body;
    for path in ["/api/v1/bookings", "/api/v1/bookings/{id}/reschedule"] {
        let responses = &doc["paths"][path]["post"]["responses"];
        assert!(responses["201"].is_object(), "{path}");
        // poem-openapi writes response header names in capitals.
        let header = &responses["200"]["headers"]["IDEMPOTENT-REPLAYED"];
        assert_eq!(header["schema"]["type"], "boolean", "{path}: {responses}");
        assert!(header["description"].is_string(), "{path}");
    }
}

crate::on_every_store!(
    a_bad_idempotency_key_is_refused_by_name_and_books_nothing,
    a_bad_idempotency_key_is_refused_by_name_and_moves_nothing,
    a_booking_retried_with_its_key_answers_200_marked_as_a_replay,
    a_reschedule_retried_with_its_key_answers_200_marked_as_a_replay,
);
