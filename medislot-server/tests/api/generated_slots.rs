//! `POST /api/v1/doctors/{id}/generated-slots`: slots from working hours.

use serde_json::{json, Value};

use crate::{Answer, As, TestApp, User};

crate::on_every_store!(
    working_hours_make_slots_once_in_the_doctors_zone,
    bad_working_hours_return_422_naming_the_field,
    generating_slots_is_for_admins_and_known_doctors,
);

/// The setup every test starts from: an app with an admin signed in and a doctor in `zone`.
struct Generator {
    app: TestApp,
    admin: User,
    doctor: uuid::Uuid,
    /// `/api/v1/doctors/{doctor}/generated-slots`.
    path: String,
}

impl Generator {
    async fn new(zone: &str) -> Self {
        let app = TestApp::new().await;
        let admin = app.admin().await;
        let doctor = app.doctor(&admin, zone).await;
        let path = format!("/api/v1/doctors/{doctor}/generated-slots");
        Self {
            app,
            admin,
            doctor,
            path,
        }
    }

    /// The admin asks for the slots `body` makes.
    async fn generate(&self, body: Value) -> Answer {
        self.app
            .post(&self.path, As::Bearer(&self.admin), body)
            .await
    }
}

async fn working_hours_make_slots_once_in_the_doctors_zone() {
    let berlin = Generator::new("Europe/Berlin").await;
    // Mondays 09:00-10:00 in 20-minute slots, over the week that Berlin's clocks go forward in
    // 2031 (Sunday 30 March), and the Monday after.
    let body = json!({
        "hours": [{
            // Seconds may be left out.
            "monday": [{"from": "09:00", "until": "10:00"}],
            "sunday": [{"from": "01:00:00", "until": "04:00:00"}],
            "slot_minutes": 20,
            "valid_from": "2031-01-01"
        }],
        "first_day": "2031-03-24",
        "last_day": "2031-03-31"
    });
    let first = berlin.generate(body.clone()).await;
    let first = first.expect(200);
    let starts: Vec<&str> = first["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|slot| slot["starts_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            // Monday 24 March, CET (UTC+1).
            "2031-03-24T08:00:00+00:00",
            "2031-03-24T08:20:00+00:00",
            "2031-03-24T08:40:00+00:00",
            // Sunday 30 March: 01:00-02:00 CET, then 03:00-04:00 CEST; 02:00-03:00 never was.
            "2031-03-30T00:00:00+00:00",
            "2031-03-30T00:20:00+00:00",
            "2031-03-30T00:40:00+00:00",
            "2031-03-30T01:00:00+00:00",
            "2031-03-30T01:20:00+00:00",
            "2031-03-30T01:40:00+00:00",
            // Monday 31 March, CEST (UTC+2).
            "2031-03-31T07:00:00+00:00",
            "2031-03-31T07:20:00+00:00",
            "2031-03-31T07:40:00+00:00",
        ]
    );
    assert_eq!(first["existing"], 0);
    let again = berlin.generate(body).await;
    let again = again.expect(200);
    assert_eq!(again["created"], json!([]));
    assert_eq!(again["existing"], 12);
    let doctor = berlin.doctor;
    let listed = berlin
        .app
        .get(
            &format!("/api/v1/slots?doctor_id={doctor}&limit=50"),
            As::Anonymous,
        )
        .await;
    assert_eq!(listed.expect(200)["items"].as_array().unwrap().len(), 12);
}

async fn bad_working_hours_return_422_naming_the_field() {
    let utc = Generator::new("UTC").await;
    let hours = |extra: serde_json::Value| {
        let mut rule = json!({"slot_minutes": 30, "valid_from": "2031-01-01"});
        rule.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        rule
    };
    let cases = [
        (
            json!({"hours": [hours(json!({"tuesday": [{"from": "10:00:00", "until": "09:00:00"}]}))],
                   "first_day": "2031-03-01", "last_day": "2031-03-02"}),
            "hours[0].tuesday[0].until",
        ),
        (
            json!({"hours": [hours(json!({"monday": [{"from": "09:00:30", "until": "10:00:00"}]}))],
                   "first_day": "2031-03-01", "last_day": "2031-03-02"}),
            "hours[0].monday[0].from",
        ),
        (
            json!({"hours": [hours(json!({"valid_until": "2030-01-01"}))],
                   "first_day": "2031-03-01", "last_day": "2031-03-02"}),
            "hours[0].valid_until",
        ),
        (
            json!({"hours": [hours(json!({}))], "first_day": "2031-03-02", "last_day": "2031-03-01"}),
            "last_day",
        ),
        (
            json!({"hours": [hours(json!({}))], "first_day": "2031-01-01", "last_day": "2032-12-31"}),
            "last_day",
        ),
        (
            json!({"hours": [hours(json!({}))], "first_day": "2031-03-01", "last_day": "2031-03-02",
                   "time_off": [{"date": "2031-03-01", "from": "12:00:00", "until": "11:00:00"}]}),
            "time_off[0].until",
        ),
        (
            json!({"hours": [{"slot_minutes": 4, "valid_from": "2031-01-01"}],
                   "first_day": "2031-03-01", "last_day": "2031-03-02"}),
            "hours[0].slot_minutes",
        ),
        (
            json!({"hours": [], "first_day": "2031-03-01", "last_day": "2031-03-02"}),
            "hours",
        ),
    ];
    let not_a_time = json!({"hours": [hours(json!({"monday": [{"from": "9 am", "until": "10:00:00"}]}))],
                            "first_day": "2031-03-01", "last_day": "2031-03-02"});
    let not_a_date =
        json!({"hours": [hours(json!({}))], "first_day": "2031-02-30", "last_day": "2031-03-02"});
    let cases = cases.into_iter().chain([
        (not_a_time, "hours[0].monday[0].from"),
        (not_a_date, "first_day"),
    ]);
    for (body, field) in cases {
        let answer = utc.generate(body.clone()).await;
        assert_eq!(
            answer.expect_problem(422, "validation_failed")["field"],
            field,
            "{body}"
        );
    }
    // A year of whole days in 5-minute slots is more than one request may create.
    let huge = json!({
        "hours": [{
            "monday": [{"from": "00:00:00", "until": "23:55:00"}],
            "tuesday": [{"from": "00:00:00", "until": "23:55:00"}],
            "slot_minutes": 5,
            "valid_from": "2031-01-01"
        }],
        "first_day": "2031-01-01",
        "last_day": "2031-12-31"
    });
    let answer = utc.generate(huge).await;
    assert_eq!(
        answer.expect_problem(422, "validation_failed")["field"],
        "last_day"
    );
}

async fn generating_slots_is_for_admins_and_known_doctors() {
    let utc = Generator::new("UTC").await;
    let (app, admin, path) = (&utc.app, &utc.admin, &utc.path);
    let patient = app.patient().await;
    let body = json!({
        "hours": [{"monday": [{"from": "09:00:00", "until": "10:00:00"}],
                   "slot_minutes": 30, "valid_from": "2031-01-01"}],
        "first_day": "2031-03-03",
        "last_day": "2031-03-03"
    });
    app.post(path, As::Anonymous, body.clone())
        .await
        .expect_problem(401, "unauthorized");
    app.post(path, As::Bearer(&patient), body.clone())
        .await
        .expect_problem(403, "admin_only");
    let unknown = format!("/api/v1/doctors/{}/generated-slots", uuid::Uuid::now_v7());
    app.post(&unknown, As::Bearer(admin), body)
        .await
        .expect_problem(404, "doctor_not_found");
}
