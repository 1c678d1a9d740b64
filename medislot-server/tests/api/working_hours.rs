//! `/api/v1/doctors/{id}/hours`: stored working hours, their preview, and the rolling horizon.

use chrono::Duration;
use serde_json::{json, Value};

use crate::{uuid_of, Answer, As, TestApp, User};

crate::on_every_store!(
    saving_hours_makes_slots_to_the_horizon_and_never_withdraws_a_booked_one,
    bad_hours_return_422_naming_the_field,
    working_hours_are_for_admins_and_known_doctors,
    the_sweeper_rolls_the_horizon_forward_once,
);

/// Every day from `from` to `until` (UTC doctor), in 30-minute slots.
fn daily(from: &str, until: &str) -> Value {
    let day = json!([{"from": from, "until": until}]);
    json!({
        "rules": [{
            "monday": day, "tuesday": day, "wednesday": day, "thursday": day,
            "friday": day, "saturday": day, "sunday": day,
            "slot_minutes": 30, "valid_from": "2020-01-01"
        }]
    })
}

fn starts(slots: &Value) -> Vec<String> {
    slots
        .as_array()
        .expect("an array")
        .iter()
        .map(|s| s["starts_at"].as_str().expect("a start").to_owned())
        .collect()
}

/// The setup every test starts from: an app with an admin signed in and a doctor in UTC.
struct Hours {
    app: TestApp,
    admin: User,
    doctor: uuid::Uuid,
    /// `/api/v1/doctors/{doctor}/hours`.
    path: String,
}

impl Hours {
    async fn new() -> Self {
        Self::on(TestApp::new().await).await
    }

    async fn on(app: TestApp) -> Self {
        let admin = app.admin().await;
        let doctor = app.doctor(&admin, "UTC").await;
        let path = format!("/api/v1/doctors/{doctor}/hours");
        Self {
            app,
            admin,
            doctor,
            path,
        }
    }

    /// `GET` the doctor's hours as the admin.
    async fn read(&self) -> Answer {
        self.app.get(&self.path, As::Bearer(&self.admin)).await
    }

    /// `PUT` `body` as the doctor's hours, as the admin.
    async fn save(&self, body: Value) -> Answer {
        self.app
            .put(&self.path, As::Bearer(&self.admin), body)
            .await
    }

    /// Preview `body` as the doctor's hours, as the admin.
    async fn preview(&self, body: Value) -> Answer {
        let path = format!("{}/preview", self.path);
        self.app.post(&path, As::Bearer(&self.admin), body).await
    }

    /// How many slots the doctor's listing holds, through every page.
    async fn listed(&self) -> usize {
        let doctor = self.doctor;
        let mut count = 0;
        let mut path = format!("/api/v1/slots?doctor_id={doctor}&limit=100");
        loop {
            let page = self.app.get(&path, As::Anonymous).await;
            let page = page.expect(200);
            count += page["items"].as_array().expect("items").len();
            match page["next_cursor"].as_str() {
                Some(next) => {
                    path = format!("/api/v1/slots?doctor_id={doctor}&limit=100&cursor={next}")
                }
                None => return count,
            }
        }
    }
}

async fn saving_hours_makes_slots_to_the_horizon_and_never_withdraws_a_booked_one() {
    let hours = Hours::new().await;
    let app = &hours.app;
    let patient = app.patient().await;
    assert_eq!(hours.read().await.expect(200)["rules"], json!([]));

    let saved = hours.save(daily("09:00", "10:00")).await;
    let saved = saved.expect(200).clone();
    let created = starts(&saved["created"]);
    // Eight weeks ahead (the default horizon), two slots a day: 56 or 57 days of them.
    assert!((112..=114).contains(&created.len()), "{}", created.len());
    let last_day = (app.now() + Duration::weeks(8)).date_naive().to_string();
    assert_eq!(saved["horizon_last_day"], json!(last_day));
    assert!(created.last().expect("some").starts_with(&last_day));
    assert_eq!(hours.listed().await, created.len());
    assert_eq!(
        hours.read().await.expect(200)["rules"][0]["monday"],
        json!([{"from": "09:00:00", "until": "10:00:00"}])
    );

    // A patient books a 09:30 slot a few days ahead.
    let booked = saved["created"]
        .as_array()
        .expect("created")
        .iter()
        .skip(4)
        .find(|s| s["starts_at"].as_str().expect("start").contains("T09:30"))
        .expect("a 09:30 slot");
    let slot = uuid_of(&booked["id"]);
    let booking = uuid_of(&app.book(&patient, slot).await.expect(201)["id"]);

    // Now only 09:00 to 09:30: every free 09:30 slot goes, the booked one stays, reported.
    let shorter = daily("09:00", "09:30");
    let preview = hours.preview(shorter.clone()).await;
    let preview = preview.expect(200).clone();
    let withdrawn = preview["withdrawn"].as_array().expect("withdrawn").len();
    let half_past = created.iter().filter(|s| s.contains("T09:30")).count();
    assert_eq!(withdrawn, half_past - 1, "{preview}");
    assert_eq!(preview["created"], json!([]));
    assert_eq!(preview["outside"][0]["booking_id"], json!(booking));
    assert_eq!(preview["outside"][0]["slot"]["id"], json!(slot));
    assert_eq!(preview["outside"][0]["slot"]["status"], "booked");
    assert_eq!(
        hours.listed().await,
        created.len(),
        "a preview changes nothing"
    );
    assert_eq!(
        hours.read().await.expect(200)["rules"][0]["monday"][0]["until"],
        "10:00:00"
    );

    let changed = hours.save(shorter.clone()).await;
    let changed = changed.expect(200);
    assert_eq!(changed["withdrawn"], preview["withdrawn"]);
    assert_eq!(changed["outside"][0]["booking_id"], json!(booking));
    assert_eq!(hours.listed().await, created.len() - withdrawn);
    let mine = app
        .get(&format!("/api/v1/bookings/{booking}"), As::Bearer(&patient))
        .await;
    assert_eq!(mine.expect(200)["status"], "CONFIRMED");

    // Saving the same hours again changes nothing.
    let again = hours.save(shorter).await;
    let again = again.expect(200);
    assert_eq!(
        (again["created"].clone(), again["withdrawn"].clone()),
        (json!([]), json!([]))
    );
    assert_eq!(again["outside"].as_array().expect("outside").len(), 1);
}

async fn bad_hours_return_422_naming_the_field() {
    let hours = Hours::new().await;
    let rule = json!({"slot_minutes": 30, "valid_from": "2031-01-01"});
    let cases = [
        (
            json!({"rules": [{"tuesday": [{"from": "10:00:00", "until": "09:00:00"}],
                              "slot_minutes": 30, "valid_from": "2031-01-01"}]}),
            "rules[0].tuesday[0].until",
        ),
        (
            json!({"rules": [rule, {"slot_minutes": 30, "valid_from": "2031-01-01",
                                    "valid_until": "2030-01-01"}]}),
            "rules[1].valid_until",
        ),
        (
            json!({"rules": [rule], "time_off": [{"date": "2031-03-01", "from": "12:00", "until": "11:00"}]}),
            "time_off[0].until",
        ),
        (
            json!({"rules": [rule], "extra_hours": [{"date": "2031-03-01", "from": "12:00",
                                                      "until": "13:00", "slot_minutes": 3}]}),
            "extra_hours[0].slot_minutes",
        ),
        (
            json!({"rules": [{"slot_minutes": 30}]}),
            "rules[0].valid_from",
        ),
    ];
    for (body, field) in cases {
        for answer in [
            hours.save(body.clone()).await,
            hours.preview(body.clone()).await,
        ] {
            assert_eq!(
                answer.expect_problem(422, "validation_failed")["field"],
                field,
                "{body}"
            );
        }
    }
    assert_eq!(hours.listed().await, 0);
}

async fn working_hours_are_for_admins_and_known_doctors() {
    let hours = Hours::new().await;
    let (app, admin, path) = (&hours.app, &hours.admin, &hours.path);
    let patient = app.patient().await;
    let body = daily("09:00", "10:00");
    app.get(path, As::Anonymous)
        .await
        .expect_problem(401, "unauthorized");
    app.put(path, As::Anonymous, body.clone())
        .await
        .expect_problem(401, "unauthorized");
    app.get(path, As::Bearer(&patient))
        .await
        .expect_problem(403, "admin_only");
    app.put(path, As::Bearer(&patient), body.clone())
        .await
        .expect_problem(403, "admin_only");
    app.post(
        &format!("{path}/preview"),
        As::Bearer(&patient),
        body.clone(),
    )
    .await
    .expect_problem(403, "admin_only");
    let unknown = format!("/api/v1/doctors/{}/hours", uuid::Uuid::now_v7());
    app.get(&unknown, As::Bearer(admin))
        .await
        .expect_problem(404, "doctor_not_found");
    app.put(&unknown, As::Bearer(admin), body.clone())
        .await
        .expect_problem(404, "doctor_not_found");
    app.post(&format!("{unknown}/preview"), As::Bearer(admin), body)
        .await
        .expect_problem(404, "doctor_not_found");
}

async fn the_sweeper_rolls_the_horizon_forward_once() {
    let hours = Hours::on(TestApp::with_config(|config| config.horizon_weeks = 1).await).await;
    let app = &hours.app;
    let saved = hours.save(daily("09:00", "10:00")).await;
    let before = saved.expect(200)["created"]
        .as_array()
        .expect("created")
        .len();
    assert_eq!(hours.listed().await, before);
    // Nothing to do until time moves on.
    assert_eq!(medislot_server::sweeper::extend_hours(&app.state).await, 0);
    // A week later, two sweeps at once (as two instances would run them, each through the
    // store's locks): each new slot is made once.
    app.clock.advance(Duration::weeks(1));
    let (a, b) = tokio::join!(
        medislot_server::sweeper::extend_hours(&app.state),
        medislot_server::sweeper::extend_hours(&app.state),
    );
    assert_eq!(a + b, 14, "seven more days of two slots");
    let doctor = hours.doctor;
    let future = app
        .get(
            &format!("/api/v1/slots?doctor_id={doctor}&available=true&limit=100"),
            As::Anonymous,
        )
        .await;
    let future = future.expect(200)["items"].as_array().expect("items").len();
    assert!((14..=16).contains(&future), "{future}");
}
