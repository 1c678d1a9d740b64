//! `/api/v1/waitlist` and `/api/v1/doctors/{id}/waitlist`.

use chrono::Duration;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{uuid_of, Answer, As, TestApp, User};

fn window(app: &TestApp) -> (String, String) {
    let now = app.now();
    (now.to_rfc3339(), (now + Duration::days(7)).to_rfc3339())
}

async fn join(app: &TestApp, user: &User, body: Value) -> Answer {
    app.post("/api/v1/waitlist", As::Bearer(user), body).await
}

async fn join_doctor(app: &TestApp, user: &User, doctor: Uuid) -> Answer {
    let (from, to) = window(app);
    join(
        app,
        user,
        json!({ "doctor_id": doctor, "from": from, "to": to }),
    )
    .await
}

async fn mine(app: &TestApp, user: &User) -> Vec<Value> {
    app.get("/api/v1/waitlist", As::Bearer(user))
        .await
        .expect(200)
        .as_array()
        .expect("an array of entries")
        .clone()
}

async fn cancel(app: &TestApp, user: &User, booking: Uuid) -> Answer {
    app.post(
        &format!("/api/v1/bookings/{booking}/cancel"),
        As::Bearer(user),
        json!({}),
    )
    .await
}

async fn a_freed_slot_becomes_an_offer_the_waiting_patient_confirms_and_nobody_else_can_book() {
    let app = TestApp::new().await;
    let (_, doctor, slots) = app.clinic(1).await;
    let holder = app.patient().await;
    let waiting = app.patient().await;
    let booking = app.book(&holder, slots[0]).await.id();
    let joined = join_doctor(&app, &waiting, doctor).await;
    let entry = joined.expect(201).clone();
    assert_eq!(entry["status"], "WAITING");
    assert_eq!(uuid_of(&entry["doctor_id"]), doctor);
    assert!(entry.get("offer_booking_id").is_none());
    cancel(&app, &holder, booking).await.expect(200);
    let listed = mine(&app, &waiting).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "OFFERED");
    assert!(listed[0]["offer_until"].is_string());
    let offer = uuid_of(&listed[0]["offer_booking_id"]);
    let stranger = app.patient().await;
    app.book(&stranger, slots[0])
        .await
        .expect_problem(409, "slot_unavailable");
    let confirmed = app.confirm(&waiting, offer).await;
    assert_eq!(confirmed.expect(200)["status"], "CONFIRMED");
    assert_eq!(uuid_of(&confirmed.body["slot"]["id"]), slots[0]);
    assert!(mine(&app, &waiting).await.is_empty(), "the entry is booked");
}

async fn a_declined_offer_passes_to_the_next_patient_in_line() {
    let app = TestApp::new().await;
    let (_, doctor, slots) = app.clinic(1).await;
    let holder = app.patient().await;
    let first = app.patient().await;
    let second = app.patient().await;
    let booking = app.book(&holder, slots[0]).await.id();
    join_doctor(&app, &first, doctor).await.expect(201);
    let (from, to) = window(&app);
    join(
        &app,
        &second,
        json!({ "specialization": "cardiology", "from": from, "to": to }),
    )
    .await
    .expect(201);
    cancel(&app, &holder, booking).await.expect(200);
    let offer = uuid_of(&mine(&app, &first).await[0]["offer_booking_id"]);
    assert_eq!(mine(&app, &second).await[0]["status"], "WAITING");
    cancel(&app, &first, offer).await.expect(200);
    assert!(mine(&app, &first).await.is_empty(), "declined");
    assert_eq!(mine(&app, &second).await[0]["status"], "OFFERED");
}

async fn waitlist_refusals_are_problems_naming_the_cause() {
    let app = TestApp::new().await;
    let (_, doctor, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let (from, to) = window(&app);
    let both =
        json!({ "doctor_id": doctor, "specialization": "Cardiology", "from": from, "to": to });
    let answer = join(&app, &patient, both).await;
    assert_eq!(
        answer.expect_problem(422, "validation_failed")["field"],
        "doctor_id"
    );
    let neither = json!({ "from": from, "to": to });
    join(&app, &patient, neither)
        .await
        .expect_problem(422, "validation_failed");
    let backwards = json!({ "doctor_id": doctor, "from": to, "to": from });
    assert_eq!(
        join(&app, &patient, backwards).await.expect(422)["field"],
        "to"
    );
    let half_time = json!({ "doctor_id": doctor, "from": from, "to": to, "time_from": "08:00" });
    assert_eq!(
        join(&app, &patient, half_time).await.expect(422)["field"],
        "time_to"
    );
    join_doctor(&app, &patient, Uuid::now_v7())
        .await
        .expect_problem(404, "doctor_not_found");
    let mut entries = Vec::new();
    for _ in 0..5 {
        entries.push(join_doctor(&app, &patient, doctor).await.id());
    }
    join_doctor(&app, &patient, doctor)
        .await
        .expect_problem(409, "waitlist_full");
    let other = app.patient().await;
    app.delete(
        &format!("/api/v1/waitlist/{}", entries[1]),
        As::Bearer(&other),
    )
    .await
    .expect_problem(404, "waitlist_entry_not_found");
    let holder = app.patient().await;
    let booking = app.book(&holder, slots[0]).await.id();
    cancel(&app, &holder, booking).await.expect(200);
    app.delete(
        &format!("/api/v1/waitlist/{}", entries[0]),
        As::Bearer(&patient),
    )
    .await
    .expect_problem(409, "waitlist_entry_not_waiting");
    let left = app
        .delete(
            &format!("/api/v1/waitlist/{}", entries[1]),
            As::Bearer(&patient),
        )
        .await;
    assert_eq!(left.status.as_u16(), 204);
    assert_eq!(mine(&app, &patient).await.len(), 4);
}

async fn an_admin_reads_a_doctors_waitlist_in_line_order_and_a_patient_may_not() {
    let app = TestApp::new().await;
    let (admin, doctor, _) = app.clinic(1).await;
    let first = app.patient().await;
    let second = app.patient().await;
    let a = join_doctor(&app, &first, doctor).await.id();
    let (from, to) = window(&app);
    let b = join(
        &app,
        &second,
        json!({ "specialization": "Cardiology", "from": from, "to": to, "time_from": "08:00", "time_to": "00:00" }),
    )
    .await;
    assert_eq!(b.expect(201)["time_to"], "24:00");
    let path = format!("/api/v1/doctors/{doctor}/waitlist");
    let listed = app.get(&path, As::Bearer(&admin)).await;
    let ids: Vec<Uuid> = listed
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| uuid_of(&e["id"]))
        .collect();
    assert_eq!(ids, [a, b.id()]);
    app.get(&path, As::Bearer(&first)).await.expect(403);
    app.get(
        &format!("/api/v1/doctors/{}/waitlist", Uuid::now_v7()),
        As::Bearer(&admin),
    )
    .await
    .expect_problem(404, "doctor_not_found");
}

crate::on_every_store!(
    a_freed_slot_becomes_an_offer_the_waiting_patient_confirms_and_nobody_else_can_book,
    a_declined_offer_passes_to_the_next_patient_in_line,
    waitlist_refusals_are_problems_naming_the_cause,
    an_admin_reads_a_doctors_waitlist_in_line_order_and_a_patient_may_not,
);
