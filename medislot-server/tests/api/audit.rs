//! `GET /api/v1/audit`, `GET /api/v1/outbox` and `POST /api/v1/outbox/{id}/retry`.

use chrono::Duration;
use medislot_core::{Channel, EntryId, Settlement};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{uuid_of, As, TestApp};

/// Every item of a listing, page by page.
async fn all(app: &TestApp, path: &str, who: As<'_>) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &next {
            Some(cursor) => format!("{path}{sep}limit=2&cursor={cursor}"),
            None => format!("{path}{sep}limit=2"),
        };
        let page = app.get(&url, who).await.expect(200).clone();
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => next = Some(cursor.to_owned()),
            None => return items,
        }
    }
}

async fn a_bookings_audit_trail_names_who_did_what_under_which_request() {
    let app = TestApp::new().await;
    let (admin, doctor, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let booking = uuid_of(&app.book(&patient, slots[0]).await.expect(201)["id"]);
    let cancel = app
        .client
        .post(format!("/api/v1/bookings/{booking}/cancel"))
        .header("authorization", format!("Bearer {}", admin.token))
        .header("x-request-id", "trace-7f3a")
        .body_json(&json!({ "reason": "Doctor ill" }));
    crate::read(cancel.send().await.0).await.expect(200);

    let trail = all(
        &app,
        &format!("/api/v1/audit?booking_id={booking}"),
        As::Bearer(&admin),
    )
    .await;
    let kinds: Vec<&str> = trail.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["booking.booked", "booking.cancelled_by_clinic"]);
    assert_eq!(trail[0]["actor"], "patient");
    assert_eq!(uuid_of(&trail[0]["actor_id"]), patient.id);
    assert_eq!(trail[0]["to_status"], "CONFIRMED");
    assert!(trail[0].get("from_status").is_none());
    assert_eq!(uuid_of(&trail[0]["doctor_id"]), doctor);
    assert_eq!(trail[1]["actor"], "admin");
    assert_eq!(uuid_of(&trail[1]["actor_id"]), admin.id);
    assert_eq!(trail[1]["from_status"], "CONFIRMED");
    assert_eq!(trail[1]["to_status"], "BUFFER");
    assert_eq!(trail[1]["reason"], "Doctor ill");
    assert_eq!(trail[1]["request_id"], "trace-7f3a");

    let by_admin = all(
        &app,
        &format!("/api/v1/audit?actor=admin&actor_id={}", admin.id),
        As::Bearer(&admin),
    )
    .await;
    let kinds: Vec<&str> = by_admin
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "doctor.created",
            "slot.published",
            "booking.cancelled_by_clinic"
        ]
    );
}

async fn the_audit_trail_and_outbox_are_for_admins_only_and_refuse_bad_filters() {
    let app = TestApp::new().await;
    let patient = app.patient().await;
    let admin = app.admin().await;
    for path in ["/api/v1/audit", "/api/v1/outbox"] {
        app.get(path, As::Anonymous).await.expect(401);
        app.get(path, As::Bearer(&patient))
            .await
            .expect_problem(403, "admin_only");
    }
    let refused = app
        .get(
            "/api/v1/audit?actor=system&actor_id=0190f5a4-0000-7000-8000-000000000000",
            As::Bearer(&admin),
        )
        .await
        .expect(422)
        .clone();
    assert_eq!(refused["field"], "actor_id");
    app.get("/api/v1/audit?cursor=nonsense", As::Bearer(&admin))
        .await
        .expect_problem(422, "validation_failed");
    let refused = app
        .get("/api/v1/outbox?state=lost", As::Bearer(&admin))
        .await
        .expect_problem(422, "validation_failed")
        .clone();
    assert_eq!(refused["field"], "state");
}

async fn the_outbox_shows_what_would_be_sent_and_a_dead_message_can_be_retried() {
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(2).await;
    let patient = app.patient().await;
    app.book(&patient, slots[0]).await.expect(201);
    app.book(&patient, slots[1]).await.expect(201);
    let pending = all(&app, "/api/v1/outbox?state=pending", As::Bearer(&admin)).await;
    assert_eq!(pending.len(), 2, "{pending:?}");
    assert!(pending
        .iter()
        .all(|m| m["entry"]["kind"] == "booking.booked" && m["attempts"] == 0));
    let id = uuid_of(&pending[0]["id"]);

    // A pending message cannot be retried: it is not dead.
    app.post(
        &format!("/api/v1/outbox/{id}/retry"),
        As::Bearer(&admin),
        json!({}),
    )
    .await
    .expect_problem(409, "message_not_dead");
    app.post(
        &format!("/api/v1/outbox/{}/retry", Uuid::now_v7()),
        As::Bearer(&admin),
        json!({}),
    )
    .await
    .expect_problem(404, "message_not_found");

    // A deliverer delivers the second and fails the first until it dies.
    let engine = app.state.engine();
    engine
        .settle_message(
            EntryId::from_uuid(uuid_of(&pending[1]["id"])),
            Channel::Webhook,
            &Settlement::Delivered,
        )
        .await
        .unwrap();
    let failed = Settlement::Failed {
        error: "smtp: connection refused".into(),
    };
    for _ in 0..medislot_core::outbox::MAX_ATTEMPTS {
        app.clock.advance(Duration::hours(2));
        let claimed = engine
            .claim_messages(Channel::Webhook, 1, Duration::minutes(1))
            .await
            .unwrap();
        engine
            .settle_message(claimed[0].entry.id, Channel::Webhook, &failed)
            .await
            .unwrap();
    }
    // Hours have passed: a new admin session reads the outcome.
    let admin = app.admin().await;
    let dead = all(&app, "/api/v1/outbox?state=dead", As::Bearer(&admin)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(uuid_of(&dead[0]["id"]), id);
    assert_eq!(dead[0]["last_error"], "smtp: connection refused");
    let dead_id = uuid_of(&dead[0]["id"]);
    let retried = app
        .post(
            &format!("/api/v1/outbox/{dead_id}/retry"),
            As::Bearer(&admin),
            json!({}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(retried["state"], "pending");
    assert_eq!(retried["attempts"], 0);
    assert!(engine
        .settle_message(
            EntryId::from_uuid(dead_id),
            Channel::Webhook,
            &Settlement::Delivered,
        )
        .await
        .is_ok());
}

crate::on_every_store!(
    a_bookings_audit_trail_names_who_did_what_under_which_request,
    the_audit_trail_and_outbox_are_for_admins_only_and_refuse_bad_filters,
    the_outbox_shows_what_would_be_sent_and_a_dead_message_can_be_retried,
);
