//! `POST /api/v1/bookings/{id}/reschedule` and the cut-offs of cancel and reschedule.

use chrono::Duration;
use serde_json::json;
use uuid::Uuid;

use crate::{uuid_of, Answer, As, TestApp, User};

async fn reschedule(app: &TestApp, who: As<'_>, booking: Uuid, slot: Uuid) -> Answer {
    app.post(
        &format!("/api/v1/bookings/{booking}/reschedule"),
        who,
        json!({ "slot_id": slot }),
    )
    .await
}

async fn reschedule_with_key(
    app: &TestApp,
    user: &User,
    booking: Uuid,
    slot: Uuid,
    key: &str,
) -> Answer {
    let request = app
        .client
        .post(format!("/api/v1/bookings/{booking}/reschedule"))
        .header("authorization", format!("Bearer {}", user.token))
        .header("idempotency-key", key)
        .body_json(&json!({ "slot_id": slot }));
    crate::read(request.send().await.0).await
}

async fn a_patient_rescheduling_gets_201_with_the_new_booking_linked_to_the_old() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(2).await;
    let patient = app.patient().await;
    let old = uuid_of(&app.book(&patient, slots[0]).await.expect(201)["id"]);
    let new = reschedule(&app, As::Bearer(&patient), old, slots[1])
        .await
        .expect(201)
        .clone();
    assert_eq!(new["status"], "CONFIRMED");
    assert_eq!(uuid_of(&new["slot"]["id"]), slots[1]);
    assert_eq!(uuid_of(&new["rescheduled_from"]), old);
    let before = app
        .get(&format!("/api/v1/bookings/{old}"), As::Bearer(&patient))
        .await
        .expect(200)
        .clone();
    assert_eq!(before["status"], "RESCHEDULED");
    assert_eq!(before["rescheduled_to"], new["id"]);
    let freed = app
        .state
        .engine()
        .slot(medislot_core::SlotId::from_uuid(slots[0]))
        .await
        .unwrap();
    assert_eq!(freed.status, medislot_core::SlotStatus::Available);
}

async fn rescheduling_another_patients_booking_returns_404_and_an_admin_may() {
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(2).await;
    let owner = app.patient().await;
    let stranger = app.patient().await;
    let old = uuid_of(&app.book(&owner, slots[0]).await.expect(201)["id"]);
    reschedule(&app, As::Bearer(&stranger), old, slots[1])
        .await
        .expect_problem(404, "booking_not_found");
    let other_doctor = app.doctor(&admin, "Europe/London").await;
    let elsewhere = app.slots(&admin, other_doctor, 1).await[0];
    let new = reschedule(&app, As::Bearer(&admin), old, elsewhere)
        .await
        .expect(201)
        .clone();
    assert_eq!(uuid_of(&new["patient_id"]), owner.id);
    assert_eq!(uuid_of(&new["doctor"]["id"]), other_doctor);
}

async fn rescheduling_refusals_are_problems_naming_the_cause() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(3).await;
    let patient = app.patient().await;
    let other = app.patient().await;
    let booking = uuid_of(&app.book(&patient, slots[0]).await.expect(201)["id"]);
    app.book(&other, slots[1]).await.expect(201);
    reschedule(&app, As::Bearer(&patient), booking, slots[1])
        .await
        .expect_problem(409, "slot_unavailable");
    let same = reschedule(&app, As::Bearer(&patient), booking, slots[0]).await;
    assert_eq!(
        same.expect_problem(422, "validation_failed")["field"],
        "slot_id"
    );
    reschedule(&app, As::Bearer(&patient), booking, Uuid::now_v7())
        .await
        .expect_problem(404, "slot_not_found");
    reschedule(&app, As::Bearer(&patient), Uuid::now_v7(), slots[2])
        .await
        .expect_problem(404, "booking_not_found");
    app.post(
        &format!("/api/v1/bookings/{booking}/reschedule"),
        As::Bearer(&patient),
        json!({}),
    )
    .await
    .expect(422);
    reschedule(&app, As::Anonymous, booking, slots[2])
        .await
        .expect(401);
    // A cookie session without the CSRF header is refused.
    reschedule(&app, As::Cookie(&patient, false), booking, slots[2])
        .await
        .expect(403);
    // A booking that is no longer confirmed cannot move.
    app.post(
        &format!("/api/v1/bookings/{booking}/cancel"),
        As::Bearer(&patient),
        json!({}),
    )
    .await
    .expect(200);
    reschedule(&app, As::Bearer(&patient), booking, slots[2])
        .await
        .expect_problem(409, "invalid_transition");
}

async fn a_reschedule_retried_with_the_same_idempotency_key_moves_once() {
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(3).await;
    let patient = app.patient().await;
    let old = uuid_of(&app.book(&patient, slots[0]).await.expect(201)["id"]);
    let first = reschedule_with_key(&app, &patient, old, slots[1], "move-1").await;
    let retry = reschedule_with_key(&app, &patient, old, slots[1], "move-1").await;
    assert_eq!(first.expect(201)["id"], retry.expect(200)["id"]);
    let all = app.get("/api/v1/bookings", As::Bearer(&admin)).await;
    assert_eq!(all.expect(200)["items"].as_array().unwrap().len(), 2);
    let reused = reschedule_with_key(&app, &patient, old, slots[2], "move-1").await;
    assert_eq!(reused.expect(422)["field"], "Idempotency-Key");
}

async fn after_the_cutoff_a_patient_gets_409_too_late_to_change_and_an_admin_may() {
    let app = TestApp::with_config(|c| {
        c.session_ttl = Duration::days(7);
        c.policy.change_cutoff = Duration::hours(2);
    })
    .await;
    let (admin, _, slots) = app.clinic(3).await;
    let patient = app.patient().await;
    let booking = app.book(&patient, slots[0]).await.expect(201).clone();
    let id = uuid_of(&booking["id"]);
    let starts_at: chrono::DateTime<chrono::Utc> = booking["slot"]["starts_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.clock.set(starts_at - Duration::hours(2));
    let refused = reschedule(&app, As::Bearer(&patient), id, slots[1])
        .await
        .expect_problem(409, "too_late_to_change")
        .clone();
    let deadline = (starts_at - Duration::hours(2)).to_rfc3339();
    assert!(
        refused["detail"].as_str().unwrap().contains(&deadline),
        "{refused}"
    );
    app.post(
        &format!("/api/v1/bookings/{id}/cancel"),
        As::Bearer(&patient),
        json!({}),
    )
    .await
    .expect_problem(409, "too_late_to_change");
    reschedule(&app, As::Bearer(&admin), id, slots[1])
        .await
        .expect(201);
}

crate::on_every_store!(
    a_patient_rescheduling_gets_201_with_the_new_booking_linked_to_the_old,
    rescheduling_another_patients_booking_returns_404_and_an_admin_may,
    rescheduling_refusals_are_problems_naming_the_cause,
    a_reschedule_retried_with_the_same_idempotency_key_moves_once,
    after_the_cutoff_a_patient_gets_409_too_late_to_change_and_an_admin_may,
);
