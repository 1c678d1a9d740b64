//! Input that not every store could hold is refused at the edge with the same 422 on every store:
//! control characters in text, and instants outside 0001-01-02..=9999-12-31.

use poem::http::Method;
use serde_json::json;

use crate::{As, TestApp};

/// Asserts a 422 `validation_failed` naming `field`.
#[track_caller]
fn assert_names(answer: &crate::Answer, field: &str) {
    let body = answer.expect_problem(422, "validation_failed");
    assert_eq!(body["field"], field, "body: {body}");
}

async fn a_nul_in_a_filter_returns_422_naming_it_without_signing_in() {
    let app = TestApp::new().await;
    for (path, field) in [
        ("/api/v1/doctors?q=%00", "q"),
        ("/api/v1/doctors?q=Ada%00", "q"),
        ("/api/v1/doctors?specialization=%00", "specialization"),
        (
            "/api/v1/doctors?specialization=Cardio%1Blogy",
            "specialization",
        ),
        ("/api/v1/slots?specialization=%00", "specialization"),
        ("/api/v1/slots?cursor=%00", "cursor"),
    ] {
        let answer = app.get(path, As::Anonymous).await;
        assert_names(&answer, field);
    }
}

async fn a_nul_in_any_text_field_returns_422_naming_it() {
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(1).await;
    let fine = json!({"name": "Dr Ada", "specialization": "Cardiology", "timezone": "UTC"});
    for field in ["name", "specialization", "timezone"] {
        let mut body = fine.clone();
        body[field] = json!(format!("{}\u{0}", fine[field].as_str().unwrap()));
        let answer = app.post("/api/v1/doctors", As::Bearer(&admin), body).await;
        assert_names(&answer, field);
    }
    for (body, field) in [
        (
            json!({"email": "nul@example.com", "password": "long enough", "name": "Pat\u{0}"}),
            "name",
        ),
        (
            json!({"email": "nul\u{0}@example.com", "password": "long enough", "name": "Pat"}),
            "email",
        ),
    ] {
        let answer = app.post("/api/v1/auth/register", As::Anonymous, body).await;
        assert_names(&answer, field);
    }

    let patient = app.patient().await;
    let booking = app.book(&patient, slots[0]).await.id();
    let cancel = format!("/api/v1/bookings/{booking}/cancel");
    for reason in ["moved\u{0}away", "bell\u{7}", "\u{1b}[31mred"] {
        let answer = app
            .post(&cancel, As::Bearer(&patient), json!({ "reason": reason }))
            .await;
        assert_names(&answer, "reason");
        let answer = app
            .post(&cancel, As::Bearer(&admin), json!({ "reason": reason }))
            .await;
        assert_names(&answer, "reason");
    }
    let answer = app
        .get(&format!("/api/v1/bookings/{booking}"), As::Bearer(&patient))
        .await;
    assert_eq!(answer.expect(200)["status"], "CONFIRMED", "nothing changed");

    let answer = app
        .get("/api/v1/bookings?patient=%00", As::Bearer(&admin))
        .await;
    assert_names(&answer, "patient");
    let answer = app
        .client
        .post("/api/v1/bookings")
        .header("authorization", format!("Bearer {}", patient.token))
        .header("idempotency-key", "tab\there")
        .body_json(&json!({ "slot_id": slots[0] }))
        .send()
        .await;
    assert_names(&crate::read(answer.0).await, "Idempotency-Key");
}

async fn a_multi_line_reason_and_unusual_text_round_trip_exactly() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let name = "Dr Zoë 👩🏽‍⚕️ \u{202B}د. عائشة\u{202C} 'O''Brien' 100%_";
    let answer = app
        .post(
            "/api/v1/doctors",
            As::Bearer(&admin),
            json!({"name": name, "specialization": "Cardiología", "timezone": "Asia/Tehran"}),
        )
        .await;
    let doctor = answer.id();
    assert_eq!(answer.expect(201)["name"], name);
    let found = app
        .get("/api/v1/doctors?q=%F0%9F%91%A9%F0%9F%8F%BD", As::Anonymous)
        .await;
    assert_eq!(found.expect(200)["items"][0]["name"], name);
    let slots = app.slots(&admin, doctor, 1).await;
    let patient = app.patient().await;
    let booking = app.book(&patient, slots[0]).await.id();
    let reason = "line one\n\tline two 🙂\r\nשלום";
    let answer = app
        .post(
            &format!("/api/v1/bookings/{booking}/cancel"),
            As::Bearer(&patient),
            json!({ "reason": reason }),
        )
        .await;
    assert_eq!(answer.expect(200)["cancel_reason"], reason);
    let answer = app
        .get(&format!("/api/v1/bookings/{booking}"), As::Bearer(&patient))
        .await;
    assert_eq!(answer.expect(200)["cancel_reason"], reason);
}

async fn a_year_10000_instant_returns_422_naming_it() {
    let app = TestApp::new().await;
    let (admin, doctor, _) = app.clinic(1).await;
    let publish = format!("/api/v1/doctors/{doctor}/slots");
    for (slot, field) in [
        (
            json!({"starts_at": "+10000-01-01T00:00:00Z", "ends_at": "+10000-01-01T00:30:00Z"}),
            "slots[0].starts_at",
        ),
        (
            json!({"starts_at": "9999-12-31T23:00:00Z", "ends_at": "9999-12-31T23:30:00Z"}),
            "slots[0].starts_at",
        ),
        (
            json!({"starts_at": "9999-12-30T23:30:00Z", "ends_at": "+10000-01-01T00:00:00Z"}),
            "slots[0].ends_at",
        ),
    ] {
        let answer = app
            .post(&publish, As::Bearer(&admin), json!({ "slots": [slot] }))
            .await;
        assert_names(&answer, field);
    }
    let listed = app
        .get(&format!("/api/v1/slots?doctor_id={doctor}"), As::Anonymous)
        .await;
    assert_eq!(
        listed.expect(200)["items"].as_array().map(Vec::len),
        Some(1),
        "nothing published"
    );

    let patient = app.patient().await;
    for (path, who, field) in [
        (
            "/api/v1/slots?from=%2B10000-01-01T00:00:00Z",
            As::Anonymous,
            "from",
        ),
        (
            "/api/v1/slots?to=%2B10000-01-01T00:00:00Z",
            As::Anonymous,
            "to",
        ),
        (
            "/api/v1/slots?from=9999-12-31T00:00:01Z",
            As::Anonymous,
            "from",
        ),
        ("/api/v1/slots?to=0001-01-01T00:00:00Z", As::Anonymous, "to"),
        (
            "/api/v1/slots?cursor=253402300800000000_00000000-0000-0000-0000-000000000000",
            As::Anonymous,
            "cursor",
        ),
        (
            "/api/v1/bookings?from=%2B10000-01-01T00:00:00Z",
            As::Bearer(&patient),
            "from",
        ),
        (
            "/api/v1/bookings?to=%2B10000-01-01T00:00:00Z",
            As::Bearer(&admin),
            "to",
        ),
    ] {
        let answer = app.send(Method::GET, path, who, None).await;
        assert_names(&answer, field);
    }
    // The widest window the engine accepts is fine on every store.
    let answer = app
        .get(
            "/api/v1/slots?from=0001-01-02T00:00:00Z&to=9999-12-31T00:00:00Z",
            As::Anonymous,
        )
        .await;
    assert_eq!(
        answer.expect(200)["items"].as_array().map(Vec::len),
        Some(1)
    );
}

crate::on_every_store!(
    a_nul_in_a_filter_returns_422_naming_it_without_signing_in,
    a_nul_in_any_text_field_returns_422_naming_it,
    a_multi_line_reason_and_unusual_text_round_trip_exactly,
    a_year_10000_instant_returns_422_naming_it,
);
