use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use crate::{uuid_of, As, TestApp};

fn instant(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .expect("an instant")
        .parse()
        .expect("RFC 3339")
}

async fn the_availability_summary_counts_free_slots_per_day_in_the_zone() {
    let app = TestApp::new().await;
    let (_, doctor, slots) = app.clinic(3).await;
    let patient = app.patient().await;
    let booked = app.book(&patient, slots[0]).await.expect(201).clone();
    let first_free = instant(&booked["slot"]["starts_at"]) + Duration::minutes(30);
    let paris: Tz = "Europe/Paris".parse().unwrap();
    let today = app.now().with_timezone(&paris).date_naive();
    let last = today + Duration::days(2);
    let answer = app
        .get(
            &format!(
                "/api/v1/availability?doctor_id={doctor}&zone=Europe/Paris&from={today}&to={last}"
            ),
            As::Anonymous,
        )
        .await;
    let body = answer.expect(200);
    assert_eq!(body["zone"], "Europe/Paris");
    let days = body["days"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    assert_eq!(days[0]["date"], today.to_string());
    let total: u64 = days.iter().map(|d| d["free"].as_u64().unwrap()).sum();
    assert_eq!(total, 2, "the booked slot is not free: {body}");
    let its_day = first_free.with_timezone(&paris).date_naive().to_string();
    let day = days.iter().find(|d| d["date"] == its_day.as_str()).unwrap();
    assert_eq!(instant(&day["first_free"]), first_free, "{body}");
    assert_eq!(
        day["first_free_local"],
        first_free.with_timezone(&paris).fixed_offset().to_rfc3339()
    );
    let latest = instant(&body["window"]["latest"]);
    assert_eq!(latest, app.now() + Duration::weeks(8));
    // A day without a free slot has no first free time.
    assert!(days
        .iter()
        .any(|d| d["free"] == 0 && d.get("first_free").is_none()));
}

async fn bad_input_to_finding_a_time_is_422_naming_the_field() {
    let app = TestApp::new().await;
    let base = "/api/v1/availability?zone=Europe/Paris";
    let cases = [
        (
            "/api/v1/availability?zone=Mars/Base&from=2031-03-01&to=2031-03-02".to_owned(),
            "zone",
        ),
        (
            "/api/v1/availability?from=2031-03-01&to=2031-03-02".to_owned(),
            "zone",
        ),
        (format!("{base}&from=tomorrow&to=2031-03-02"), "from"),
        (format!("{base}&from=2031-03-02&to=2031-03-01"), "to"),
        (format!("{base}&from=2031-03-01&to=2031-05-02"), "to"),
        (format!("{base}&from=9999-12-31&to=9999-12-31"), "to"),
        ("/api/v1/next-available?after=soon".to_owned(), "after"),
        ("/api/v1/next-available?doctor_id=7".to_owned(), "doctor_id"),
    ];
    for (query, field) in &cases {
        let answer = app.get(query, As::Anonymous).await;
        let body = answer.expect_problem(422, "validation_failed");
        assert_eq!(body["field"], *field, "{query}: {body}");
    }
}

async fn next_available_answers_the_first_free_slot_by_doctor_or_specialization() {
    let app = TestApp::new().await;
    let (_, doctor, slots) = app.clinic(2).await;
    let patient = app.patient().await;
    app.book(&patient, slots[0]).await.expect(201);
    let answer = app
        .get(
            &format!("/api/v1/next-available?doctor_id={doctor}"),
            As::Anonymous,
        )
        .await;
    let body = answer.expect(200);
    assert_eq!(uuid_of(&body["slot"]["id"]), slots[1]);
    assert_eq!(body["slot"]["status"], "available");
    assert_eq!(body["slot"]["timezone"], "Europe/Paris");
    let by_specialization = app
        .get(
            "/api/v1/next-available?specialization=CARDIOLOGY",
            As::Anonymous,
        )
        .await;
    assert_eq!(
        uuid_of(&by_specialization.expect(200)["slot"]["id"]),
        slots[1]
    );
    // After the last free slot starts: none, and the answer says so by leaving `slot` out.
    let after = (instant(&body["slot"]["starts_at"]) + Duration::microseconds(1))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ");
    let none = app
        .get(
            &format!("/api/v1/next-available?doctor_id={doctor}&after={after}"),
            As::Anonymous,
        )
        .await;
    let none = none.expect(200);
    assert!(none.get("slot").is_none(), "{none}");
    assert!(none["window"]["earliest"].is_string());
}

crate::on_every_store!(
    the_availability_summary_counts_free_slots_per_day_in_the_zone,
    bad_input_to_finding_a_time_is_422_naming_the_field,
    next_available_answers_the_first_free_slot_by_doctor_or_specialization,
);
