use chrono::Duration;
use poem::http::Method;
use serde_json::json;

use crate::{uuid_of, As, TestApp};

async fn booking_a_free_slot_returns_201_confirmed_with_slot_and_doctor() {
    let app = TestApp::new().await;
    let (_, doctor, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let answer = app.book(&patient, slots[0]).await;
    let body = answer.expect(201);
    assert_eq!(body["status"], "CONFIRMED");
    assert_eq!(uuid_of(&body["patient_id"]), patient.id);
    assert_eq!(uuid_of(&body["slot"]["id"]), slots[0]);
    assert_eq!(uuid_of(&body["doctor"]["id"]), doctor);
    assert_eq!(body["slot"]["timezone"], "Europe/Paris");
    let local = body["slot"]["starts_at_local"].as_str().unwrap();
    assert!(
        local.ends_with("+01:00") || local.ends_with("+02:00"),
        "{local}"
    );
}

async fn booking_a_taken_slot_returns_409_slot_unavailable() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(1).await;
    let first = app.patient().await;
    let second = app.patient().await;
    app.book(&first, slots[0]).await.expect(201);
    let answer = app.book(&second, slots[0]).await;
    assert_eq!(
        answer.expect_problem(409, "slot_unavailable")["field"],
        "slot_id"
    );
}

async fn racing_patients_get_exactly_one_booking() {
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(1).await;
    let mut patients = Vec::new();
    for _ in 0..6 {
        patients.push(app.patient().await);
    }
    let attempts = patients.iter().map(|p| app.book(p, slots[0]));
    let answers = futures::future::join_all(attempts).await;
    let won = answers.iter().filter(|a| a.status == 201).count();
    let lost = answers.iter().filter(|a| a.status == 409).count();
    assert_eq!((won, lost), (1, 5));
    let all = app.get("/api/v1/bookings", As::Bearer(&admin)).await;
    assert_eq!(all.expect(200)["items"].as_array().unwrap().len(), 1);
}

async fn booking_an_unknown_slot_returns_404() {
    let app = TestApp::new().await;
    let patient = app.patient().await;
    app.book(&patient, uuid::Uuid::now_v7())
        .await
        .expect_problem(404, "slot_not_found");
}

async fn booking_a_slot_that_has_started_returns_422() {
    let app = TestApp::with_config(|c| c.session_ttl = Duration::days(7)).await;
    let (_, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    app.clock.advance(Duration::days(2));
    app.book(&patient, slots[0])
        .await
        .expect_problem(422, "slot_in_past");
}

async fn booking_outside_the_window_returns_422_naming_the_bound_allowed() {
    let app = TestApp::with_config(|c| {
        c.session_ttl = Duration::days(7);
        c.policy.min_notice = Duration::hours(2);
        c.policy.horizon = Duration::hours(12);
    })
    .await;
    // The slot starts one day from now: past the twelve-hour horizon.
    let (_, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let far = app
        .book(&patient, slots[0])
        .await
        .expect_problem(422, "too_far_ahead")
        .clone();
    let latest = (app.now() + Duration::hours(12)).to_rfc3339();
    assert!(far["detail"].as_str().unwrap().contains(&latest), "{far}");
    assert_eq!(far["field"], "slot_id");
    app.hold(&patient, slots[0])
        .await
        .expect_problem(422, "too_far_ahead");
    // One hour before it starts: inside the two hours' notice.
    app.clock.advance(Duration::hours(23));
    let soon = app
        .book(&patient, slots[0])
        .await
        .expect_problem(422, "too_soon")
        .clone();
    let earliest = (app.now() + Duration::hours(2)).to_rfc3339();
    assert!(
        soon["detail"].as_str().unwrap().contains(&earliest),
        "{soon}"
    );
    app.hold(&patient, slots[0])
        .await
        .expect_problem(422, "too_soon");
}

async fn booking_without_a_session_returns_401() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(1).await;
    app.post(
        "/api/v1/bookings",
        As::Anonymous,
        json!({ "slot_id": slots[0] }),
    )
    .await
    .expect_problem(401, "unauthorized");
}

async fn booking_with_a_missing_or_malformed_slot_id_returns_422_naming_it() {
    let app = TestApp::new().await;
    let patient = app.patient().await;
    for body in [
        json!({}),
        json!({"slot_id": "seven"}),
        json!({"slot_id": 7}),
    ] {
        let answer = app
            .post("/api/v1/bookings", As::Bearer(&patient), body)
            .await;
        assert_eq!(answer.expect(422)["field"], "slot_id");
    }
}

pub(crate) async fn book_with_key(
    app: &TestApp,
    user: &crate::User,
    slot: uuid::Uuid,
    key: &str,
) -> crate::Answer {
    let request = app
        .client
        .post("/api/v1/bookings")
        .header("authorization", format!("Bearer {}", user.token))
        .header("idempotency-key", key)
        .body_json(&json!({ "slot_id": slot }));
    crate::read(request.send().await.0).await
}

async fn a_retry_with_the_same_idempotency_key_returns_the_first_booking() {
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(2).await;
    let patient = app.patient().await;
    let first = book_with_key(&app, &patient, slots[0], "attempt-1").await;
    let retry = book_with_key(&app, &patient, slots[0], "attempt-1").await;
    assert_eq!(first.expect(201)["id"], retry.expect(200)["id"]);
    let all = app.get("/api/v1/bookings", As::Bearer(&admin)).await;
    assert_eq!(all.expect(200)["items"].as_array().unwrap().len(), 1);

    let reused = book_with_key(&app, &patient, slots[1], "attempt-1").await;
    assert_eq!(reused.expect(422)["field"], "Idempotency-Key");
    let invalid = book_with_key(&app, &patient, slots[1], "has space").await;
    assert_eq!(invalid.expect(422)["field"], "Idempotency-Key");

    // Another patient's key with the same text is another booking attempt.
    let other = app.patient().await;
    book_with_key(&app, &other, slots[0], "attempt-1")
        .await
        .expect_problem(409, "slot_unavailable");
}

async fn a_patient_lists_only_their_own_bookings_and_an_admin_lists_all() {
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(3).await;
    let ann = app.patient().await;
    let bob = app.patient().await;
    app.book(&ann, slots[0]).await.expect(201);
    app.book(&ann, slots[1]).await.expect(201);
    app.book(&bob, slots[2]).await.expect(201);

    let own = app.get("/api/v1/bookings", As::Bearer(&ann)).await;
    let items = own.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|b| uuid_of(&b["patient_id"]) == ann.id));
    // A patient cannot widen the listing with the patient filter.
    let widened = app
        .get(
            &format!("/api/v1/bookings?patient={}", bob.id),
            As::Bearer(&ann),
        )
        .await;
    assert_eq!(widened.expect(200)["items"].as_array().unwrap().len(), 2);

    let all = app.get("/api/v1/bookings", As::Bearer(&admin)).await;
    assert_eq!(all.expect(200)["items"].as_array().unwrap().len(), 3);
    let bobs = app
        .get(
            &format!("/api/v1/bookings?patient={}", bob.email),
            As::Bearer(&admin),
        )
        .await;
    let bobs = bobs.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(bobs.len(), 1);
    assert_eq!(uuid_of(&bobs[0]["slot"]["id"]), slots[2]);
    let nobody = app
        .get(
            "/api/v1/bookings?patient=nobody@example.com",
            As::Bearer(&admin),
        )
        .await;
    assert_eq!(nobody.expect(200)["items"], json!([]));
    app.get("/api/v1/bookings", As::Anonymous).await.expect(401);
}

async fn an_admin_filters_bookings_by_status_and_pages_through_them() {
    let app = TestApp::new().await;
    let (admin, doctor, slots) = app.clinic(3).await;
    let patient = app.patient().await;
    let mut ids = Vec::new();
    for slot in &slots {
        ids.push(app.book(&patient, *slot).await.id());
    }
    app.post(
        &format!("/api/v1/bookings/{}/cancel", ids[0]),
        As::Bearer(&patient),
        json!({}),
    )
    .await
    .expect(200);
    let cancelled = app
        .get("/api/v1/bookings?status=CANCELLED", As::Bearer(&admin))
        .await;
    let cancelled = cancelled.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(uuid_of(&cancelled[0]["id"]), ids[0]);
    let by_doctor = app
        .get(
            &format!("/api/v1/bookings?doctor_id={doctor}&status=CONFIRMED"),
            As::Bearer(&admin),
        )
        .await;
    assert_eq!(by_doctor.expect(200)["items"].as_array().unwrap().len(), 2);
    app.get("/api/v1/bookings?status=BOOKED", As::Bearer(&admin))
        .await
        .expect(422);

    let first = app
        .get("/api/v1/bookings?limit=2", As::Bearer(&admin))
        .await;
    let first = first.expect(200).clone();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(
            &format!("/api/v1/bookings?limit=2&cursor={cursor}"),
            As::Bearer(&admin),
        )
        .await;
    let second = second.expect(200);
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["next_cursor"].is_null());
    // Newest first.
    assert_eq!(uuid_of(&first["items"][0]["id"]), ids[2]);
    assert_eq!(uuid_of(&second["items"][0]["id"]), ids[0]);
}

async fn a_patient_reading_another_patients_booking_gets_404() {
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(1).await;
    let owner = app.patient().await;
    let intruder = app.patient().await;
    let id = app.book(&owner, slots[0]).await.id();
    let path = format!("/api/v1/bookings/{id}");
    let stolen = app.get(&path, As::Bearer(&intruder)).await;
    let missing = app
        .get(
            &format!("/api/v1/bookings/{}", uuid::Uuid::now_v7()),
            As::Bearer(&intruder),
        )
        .await;
    stolen.expect_problem(404, "booking_not_found");
    missing.expect_problem(404, "booking_not_found");
    app.get(&path, As::Bearer(&owner)).await.expect(200);
    app.get(&path, As::Bearer(&admin)).await.expect(200);
}

async fn a_patient_cancelling_another_patients_booking_gets_404_and_changes_nothing() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(1).await;
    let owner = app.patient().await;
    let intruder = app.patient().await;
    let id = app.book(&owner, slots[0]).await.id();
    app.post(
        &format!("/api/v1/bookings/{id}/cancel"),
        As::Bearer(&intruder),
        json!({}),
    )
    .await
    .expect_problem(404, "booking_not_found");
    let booking = app
        .get(&format!("/api/v1/bookings/{id}"), As::Bearer(&owner))
        .await;
    assert_eq!(booking.expect(200)["status"], "CONFIRMED");
}

async fn a_patient_cancelling_frees_the_slot_and_a_second_cancel_returns_409() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let id = app.book(&patient, slots[0]).await.id();
    let cancel = format!("/api/v1/bookings/{id}/cancel");
    let cancelled = app
        .post(
            &cancel,
            As::Bearer(&patient),
            json!({"reason": "feeling better"}),
        )
        .await;
    let body = cancelled.expect(200);
    assert_eq!(body["status"], "CANCELLED");
    assert_eq!(body["cancelled_by"], "patient");
    assert_eq!(body["cancel_reason"], "feeling better");
    let slot = app.get("/api/v1/slots", As::Anonymous).await;
    assert_eq!(slot.body["items"][0]["status"], "available");
    app.post(&cancel, As::Bearer(&patient), json!({}))
        .await
        .expect_problem(409, "invalid_transition");
    let after = app
        .get(&format!("/api/v1/bookings/{id}"), As::Bearer(&patient))
        .await;
    assert_eq!(after.expect(200)["cancel_reason"], "feeling better");
}

async fn cancelling_works_without_a_body_and_refuses_an_overlong_reason() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let id = app.book(&patient, slots[0]).await.id();
    let path = format!("/api/v1/bookings/{id}/cancel");
    let long = app
        .post(
            &path,
            As::Bearer(&patient),
            json!({"reason": "x".repeat(501)}),
        )
        .await;
    assert_eq!(long.expect(422)["field"], "reason");
    let bare = app
        .send(Method::POST, &path, As::Bearer(&patient), None)
        .await;
    assert_eq!(bare.expect(200)["status"], "CANCELLED");
}

async fn an_admin_cancelling_puts_the_slot_in_buffer() {
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let id = app.book(&patient, slots[0]).await.id();
    let answer = app
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            As::Bearer(&admin),
            json!({"reason": "doctor ill"}),
        )
        .await;
    let body = answer.expect(200);
    assert_eq!(body["status"], "BUFFER");
    assert!(body["buffer_until"].is_string());
    let slot = app.get("/api/v1/slots", As::Anonymous).await;
    assert_eq!(slot.body["items"][0]["status"], "buffer");
    let other = app.patient().await;
    app.book(&other, slots[0])
        .await
        .expect_problem(409, "slot_unavailable");
    // The patient sees it was the clinic that cancelled.
    let seen = app
        .get(&format!("/api/v1/bookings/{id}"), As::Bearer(&patient))
        .await;
    assert_eq!(seen.expect(200)["cancelled_by"], "admin");
    // Once the buffer ends the slot is bookable again.
    app.clock
        .advance(app.state.engine().policy().buffer + Duration::seconds(1));
    app.book(&other, slots[0]).await.expect(201);
    let ended = app
        .get(&format!("/api/v1/bookings/{id}"), As::Bearer(&patient))
        .await;
    assert_eq!(ended.expect(200)["status"], "CANCELLED");
}

async fn a_cancelled_booking_of_an_unknown_id_returns_404() {
    let app = TestApp::new().await;
    let patient = app.patient().await;
    let unknown = uuid::Uuid::now_v7();
    app.post(
        &format!("/api/v1/bookings/{unknown}/cancel"),
        As::Bearer(&patient),
        json!({}),
    )
    .await
    .expect_problem(404, "booking_not_found");
}

async fn the_reason_for_the_visit_is_kept_and_shown_to_the_admin_and_a_bad_one_is_named() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(4).await;
    let patient = app.patient().await;
    let admin = app.admin().await;
    let reason = "Knee pain after running\nworse on stairs";
    let booked = app
        .post(
            "/api/v1/bookings",
            As::Bearer(&patient),
            json!({"slot_id": slots[0], "visit_reason": reason}),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(booked["visit_reason"], reason);
    let id = uuid_of(&booked["id"]);
    let seen = app
        .get(&format!("/api/v1/bookings/{id}"), As::Bearer(&admin))
        .await
        .expect(200)
        .clone();
    assert_eq!(seen["visit_reason"], reason);

    // A hold takes one too, and still needs no body.
    let held = app
        .post(
            &format!("/api/v1/slots/{}/hold", slots[1]),
            As::Bearer(&patient),
            json!({"visit_reason": "Repeat prescription"}),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(held["visit_reason"], "Repeat prescription");
    let bare = app
        .send(
            Method::POST,
            &format!("/api/v1/slots/{}/hold", slots[2]),
            As::Bearer(&patient),
            None,
        )
        .await
        .expect(201)
        .clone();
    assert!(
        bare.get("visit_reason").is_none(),
        "absent when not given: {bare}"
    );

    // Too long, or a control character: 422 naming the field, and nothing booked.
    let other = app.patient().await;
    for bad in ["x".repeat(501), "bell \u{7}".to_owned()] {
        let answer = app
            .post(
                "/api/v1/bookings",
                As::Bearer(&other),
                json!({"slot_id": slots[3], "visit_reason": bad}),
            )
            .await;
        assert_eq!(answer.expect(422)["field"], "visit_reason");
    }
    app.book(&other, slots[3]).await.expect(201);
}

crate::on_every_store!(
    booking_a_free_slot_returns_201_confirmed_with_slot_and_doctor,
    the_reason_for_the_visit_is_kept_and_shown_to_the_admin_and_a_bad_one_is_named,
    booking_a_taken_slot_returns_409_slot_unavailable,
    racing_patients_get_exactly_one_booking,
    booking_an_unknown_slot_returns_404,
    booking_a_slot_that_has_started_returns_422,
    booking_outside_the_window_returns_422_naming_the_bound_allowed,
    booking_without_a_session_returns_401,
    booking_with_a_missing_or_malformed_slot_id_returns_422_naming_it,
    a_retry_with_the_same_idempotency_key_returns_the_first_booking,
    a_patient_lists_only_their_own_bookings_and_an_admin_lists_all,
    an_admin_filters_bookings_by_status_and_pages_through_them,
    a_patient_reading_another_patients_booking_gets_404,
    a_patient_cancelling_another_patients_booking_gets_404_and_changes_nothing,
    a_patient_cancelling_frees_the_slot_and_a_second_cancel_returns_409,
    cancelling_works_without_a_body_and_refuses_an_overlong_reason,
    an_admin_cancelling_puts_the_slot_in_buffer,
    a_cancelled_booking_of_an_unknown_id_returns_404,
);
