use chrono::Duration;
use serde_json::{json, Value};

use crate::{uuid_of, As, TestApp};

fn range(app: &TestApp, from_minutes: i64, to_minutes: i64) -> Value {
    let base = app.now() + Duration::days(2);
    json!({
        "starts_at": (base + Duration::minutes(from_minutes)).to_rfc3339(),
        "ends_at": (base + Duration::minutes(to_minutes)).to_rfc3339(),
    })
}

async fn publishing_slots_returns_201_with_each_start_in_the_doctors_time_zone() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let doctor = app.doctor(&admin, "Asia/Tokyo").await;
    let answer = app
        .post(
            &format!("/api/v1/doctors/{doctor}/slots"),
            As::Bearer(&admin),
            json!({"slots": [
                {"starts_at": "2031-03-01T09:00:00+09:00", "ends_at": "2031-03-01T09:30:00+09:00"},
                {"starts_at": "2031-03-01T00:30:00Z", "ends_at": "2031-03-01T01:00:00Z"},
            ]}),
        )
        .await;
    let slots = answer.expect(201).as_array().unwrap();
    assert_eq!(slots.len(), 2);
    assert_eq!(slots[0]["starts_at"], "2031-03-01T00:00:00+00:00");
    assert_eq!(slots[0]["starts_at_local"], "2031-03-01T09:00:00+09:00");
    assert_eq!(slots[1]["starts_at_local"], "2031-03-01T09:30:00+09:00");
    assert_eq!(slots[0]["timezone"], "Asia/Tokyo");
    assert_eq!(slots[0]["status"], "available");
}

async fn publishing_overlapping_slots_returns_409_and_stores_none() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let doctor = app.doctor(&admin, "UTC").await;
    let path = format!("/api/v1/doctors/{doctor}/slots");
    let within = json!({"slots": [range(&app, 0, 30), range(&app, 60, 90), range(&app, 15, 45)]});
    app.post(&path, As::Bearer(&admin), within)
        .await
        .expect_problem(409, "slot_overlap");
    let listed = app
        .get(&format!("/api/v1/slots?doctor_id={doctor}"), As::Anonymous)
        .await;
    assert_eq!(listed.expect(200)["items"], json!([]));

    app.post(
        &path,
        As::Bearer(&admin),
        json!({"slots": [range(&app, 0, 30)]}),
    )
    .await
    .expect(201);
    let existing = json!({"slots": [range(&app, 30, 60), range(&app, 20, 40)]});
    app.post(&path, As::Bearer(&admin), existing)
        .await
        .expect_problem(409, "slot_overlap");
    let listed = app
        .get(&format!("/api/v1/slots?doctor_id={doctor}"), As::Anonymous)
        .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
}

async fn publishing_bad_slots_returns_422_naming_the_slot_and_field() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let doctor = app.doctor(&admin, "UTC").await;
    let path = format!("/api/v1/doctors/{doctor}/slots");
    let past = app.now() - Duration::hours(1);
    let cases = [
        (
            json!({"slots": [range(&app, 0, 30), range(&app, 90, 60)]}),
            "slots[1].ends_at",
        ),
        (
            json!({"slots": [range(&app, 0, 30), range(&app, 30, 30)]}),
            "slots[1].ends_at",
        ),
        (
            json!({"slots": [range(&app, 0, 30), {"starts_at": past.to_rfc3339(), "ends_at": (past + Duration::minutes(30)).to_rfc3339()}]}),
            "slots[1].starts_at",
        ),
        (json!({"slots": []}), "slots"),
        (
            json!({"slots": [{"starts_at": "tomorrow", "ends_at": "2031-01-01T00:00:00Z"}]}),
            "slots[0].starts_at",
        ),
        (
            json!({"slots": [{"starts_at": "2031-01-01T00:00:00"}]}),
            "slots[0].starts_at",
        ),
        (json!({}), "slots"),
    ];
    for (body, field) in cases {
        let answer = app.post(&path, As::Bearer(&admin), body.clone()).await;
        assert_eq!(
            answer.expect_problem(422, "validation_failed")["field"],
            field,
            "for {body}"
        );
    }
}

async fn publishing_slots_needs_an_admin_and_an_existing_doctor() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let doctor = app.doctor(&admin, "UTC").await;
    let patient = app.patient().await;
    let body = json!({"slots": [range(&app, 0, 30)]});
    app.post(
        &format!("/api/v1/doctors/{doctor}/slots"),
        As::Bearer(&patient),
        body.clone(),
    )
    .await
    .expect_problem(403, "admin_only");
    app.post(
        &format!("/api/v1/doctors/{doctor}/slots"),
        As::Anonymous,
        body.clone(),
    )
    .await
    .expect(401);
    let unknown = uuid::Uuid::now_v7();
    app.post(
        &format!("/api/v1/doctors/{unknown}/slots"),
        As::Bearer(&admin),
        body,
    )
    .await
    .expect_problem(404, "doctor_not_found");
}

async fn listing_slots_shows_each_status_and_filters_by_availability() {
    let app = TestApp::new().await;
    let (_, doctor, slots) = app.clinic(3).await;
    let patient = app.patient().await;
    app.book(&patient, slots[1]).await.expect(201);
    let all = app
        .get(&format!("/api/v1/slots?doctor_id={doctor}"), As::Anonymous)
        .await;
    let statuses: Vec<&str> = all.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["available", "booked", "available"]);
    assert!(all.body["next_cursor"].is_null());
    let free = app.get("/api/v1/slots?available=true", As::Anonymous).await;
    assert_eq!(free.expect(200)["items"].as_array().unwrap().len(), 2);
    let taken = app
        .get("/api/v1/slots?available=false", As::Anonymous)
        .await;
    let taken = taken.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(taken.len(), 1);
    assert_eq!(uuid_of(&taken[0]["id"]), slots[1]);
    let other = app
        .get("/api/v1/slots?specialization=dermatology", As::Anonymous)
        .await;
    assert_eq!(other.expect(200)["items"], json!([]));
}

async fn a_page_of_several_doctors_shows_each_slot_in_its_own_doctors_zone() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let paris = app.doctor(&admin, "Europe/Paris").await;
    let tokyo = app.doctor(&admin, "Asia/Tokyo").await;
    app.slots(&admin, paris, 1).await;
    app.slots(&admin, tokyo, 2).await;
    let page = app.get("/api/v1/slots", As::Anonymous).await;
    let items = page.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3);
    for item in items {
        let zone = if uuid_of(&item["doctor_id"]) == paris {
            "Europe/Paris"
        } else {
            "Asia/Tokyo"
        };
        assert_eq!(item["timezone"], zone);
        let local = chrono::DateTime::parse_from_rfc3339(item["starts_at_local"].as_str().unwrap())
            .unwrap();
        let utc =
            chrono::DateTime::parse_from_rfc3339(item["starts_at"].as_str().unwrap()).unwrap();
        assert_eq!(local, utc, "the same instant");
        let tz: chrono_tz::Tz = zone.parse().unwrap();
        assert_eq!(
            local.offset().local_minus_utc(),
            utc.with_timezone(&tz)
                .fixed_offset()
                .offset()
                .local_minus_utc()
        );
    }
}

async fn listing_slots_pages_with_an_opaque_cursor() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(5).await;
    let mut seen = Vec::new();
    let mut path = "/api/v1/slots?limit=2".to_owned();
    loop {
        let page = app.get(&path, As::Anonymous).await;
        let body = page.expect(200).clone();
        seen.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| uuid_of(&s["id"])),
        );
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/slots?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, slots);
}

async fn listing_slots_with_bad_parameters_returns_422_naming_them() {
    let app = TestApp::new().await;
    let cases = [
        ("/api/v1/slots?limit=0", "limit"),
        ("/api/v1/slots?limit=501", "limit"),
        ("/api/v1/slots?limit=many", "limit"),
        ("/api/v1/slots?cursor=nonsense", "cursor"),
        ("/api/v1/slots?from=yesterday", "from"),
        ("/api/v1/slots?available=maybe", "available"),
        ("/api/v1/slots?doctor_id=42", "doctor_id"),
        (
            "/api/v1/slots?from=2031-01-02T00:00:00Z&to=2031-01-01T00:00:00Z",
            "to",
        ),
    ];
    for (path, field) in cases {
        let answer = app.get(path, As::Anonymous).await;
        assert_eq!(answer.expect(422)["field"], field, "for {path}");
    }
}

async fn withdrawing_a_slot_returns_204_and_409_while_it_is_booked() {
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(2).await;
    let patient = app.patient().await;
    app.book(&patient, slots[0]).await.expect(201);
    app.delete(&format!("/api/v1/slots/{}", slots[1]), As::Bearer(&patient))
        .await
        .expect_problem(403, "admin_only");
    app.delete(&format!("/api/v1/slots/{}", slots[0]), As::Bearer(&admin))
        .await
        .expect_problem(409, "slot_has_active_booking");
    app.delete(&format!("/api/v1/slots/{}", slots[1]), As::Bearer(&admin))
        .await
        .expect(204);
    app.delete(&format!("/api/v1/slots/{}", slots[1]), As::Bearer(&admin))
        .await
        .expect_problem(404, "slot_not_found");
    app.book(&patient, slots[1])
        .await
        .expect_problem(404, "slot_not_found");
}

async fn holding_a_slot_returns_201_pending_and_confirming_returns_200_confirmed() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let held = app.hold(&patient, slots[0]).await;
    let body = held.expect(201).clone();
    assert_eq!(body["status"], "PENDING");
    assert!(body["hold_until"].is_string());
    let listed = app.get("/api/v1/slots", As::Anonymous).await;
    assert_eq!(listed.body["items"][0]["status"], "held");
    assert!(listed.body["items"][0]["status_until"].is_string());

    let other = app.patient().await;
    app.hold(&other, slots[0])
        .await
        .expect_problem(409, "slot_unavailable");
    let id = held.id();
    app.confirm(&other, id)
        .await
        .expect_problem(404, "booking_not_found");
    let confirmed = app.confirm(&patient, id).await;
    assert_eq!(confirmed.expect(200)["status"], "CONFIRMED");
    app.confirm(&patient, id)
        .await
        .expect_problem(409, "invalid_transition");
}

async fn confirming_an_expired_hold_returns_409_and_frees_the_slot() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let held = app.hold(&patient, slots[0]).await;
    let id = held.id();
    app.clock
        .advance(app.state.engine().policy().hold + Duration::seconds(1));
    app.confirm(&patient, id)
        .await
        .expect_problem(409, "hold_expired");
    let booking = app
        .get(&format!("/api/v1/bookings/{id}"), As::Bearer(&patient))
        .await;
    assert_eq!(booking.expect(200)["status"], "EXPIRED");
    let other = app.patient().await;
    app.book(&other, slots[0]).await.expect(201);
}

async fn the_sweeper_tidies_a_lapsed_hold_without_changing_what_readers_see() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let id = app.hold(&patient, slots[0]).await.id();
    app.clock
        .advance(app.state.engine().policy().hold + Duration::seconds(1));
    let path = format!("/api/v1/bookings/{id}");
    let before = app.get(&path, As::Bearer(&patient)).await;
    assert_eq!(before.expect(200)["status"], "EXPIRED");
    medislot_server::sweeper::sweep(&app.state).await;
    let stored = app
        .state
        .engine()
        .booking(medislot_core::BookingId::from_uuid(id))
        .await
        .unwrap();
    assert_eq!(
        stored.booking.status(),
        medislot_core::BookingStatus::Expired
    );
    let after = app.get(&path, As::Bearer(&patient)).await;
    for field in ["status", "hold_until", "slot", "doctor"] {
        assert_eq!(after.body[field], before.body[field], "{field}");
    }
}

async fn holding_needs_a_session_and_an_existing_slot() {
    let app = TestApp::new().await;
    let patient = app.patient().await;
    let unknown = uuid::Uuid::now_v7();
    app.post(
        &format!("/api/v1/slots/{unknown}/hold"),
        As::Anonymous,
        json!({}),
    )
    .await
    .expect(401);
    app.post(
        &format!("/api/v1/slots/{unknown}/hold"),
        As::Bearer(&patient),
        json!({}),
    )
    .await
    .expect_problem(404, "slot_not_found");
}

crate::on_every_store!(
    a_page_of_several_doctors_shows_each_slot_in_its_own_doctors_zone,
    publishing_slots_returns_201_with_each_start_in_the_doctors_time_zone,
    publishing_overlapping_slots_returns_409_and_stores_none,
    publishing_bad_slots_returns_422_naming_the_slot_and_field,
    publishing_slots_needs_an_admin_and_an_existing_doctor,
    listing_slots_shows_each_status_and_filters_by_availability,
    listing_slots_pages_with_an_opaque_cursor,
    listing_slots_with_bad_parameters_returns_422_naming_them,
    withdrawing_a_slot_returns_204_and_409_while_it_is_booked,
    holding_a_slot_returns_201_pending_and_confirming_returns_200_confirmed,
    confirming_an_expired_hold_returns_409_and_frees_the_slot,
    holding_needs_a_session_and_an_existing_slot,
    the_sweeper_tidies_a_lapsed_hold_without_changing_what_readers_see,
);
