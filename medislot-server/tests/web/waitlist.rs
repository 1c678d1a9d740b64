//! The waitlist's pages over plain HTTP (no JavaScript): joining from the finder, the join
//! form's errors next to their fields, My waitlist with a live offer (confirm, decline, a
//! lapse), leaving, and the clinic's view of a doctor's line.

use std::sync::Arc;

use chrono::{Duration, Utc};
use medislot_core::{
    BookingStatus, EntryStatus, ManualClock, NewDoctor, NewEntry, PatientId, TimeRange,
    WaitlistTarget,
};
use poem::http::StatusCode;

use crate::{Web, ADMIN_EMAIL};

/// A week from today in the form's date format: a range that is wholly ahead.
fn days_ahead(days: i64) -> String {
    (Utc::now() + Duration::days(days))
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

/// A waiting entry for `doctor` over the next week, joined through the engine.
async fn wait_for(web: &Web, patient: PatientId, doctor: medislot_core::DoctorId) {
    let now = web.state.engine().now();
    let window = TimeRange::new(now, now + Duration::days(7)).unwrap();
    web.state
        .engine()
        .join_waitlist(
            patient,
            NewEntry::new(WaitlistTarget::Doctor(doctor), window, None).unwrap(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn an_empty_finder_offers_the_waitlist_with_its_filters_and_joining_lands_on_my_waitlist() {
    let web = Web::start().await;
    let (patient, cookie) = web.patient("waiter@example.com").await;
    let (doctor, slots) = web.doctor_with_slots(1).await;
    web.state
        .engine()
        .book(slots[0].id, PatientId::new(), None)
        .await
        .unwrap();

    // Nothing free for this doctor: the finder offers the waitlist, carrying the filters.
    let finder = web
        .get(&format!("/slots?doctor={}", doctor.id), &cookie)
        .await;
    finder.assert_html(StatusCode::OK);
    assert!(
        finder.body.contains("No free slots match"),
        "{}",
        finder.body
    );
    let join = format!("/waitlist/join?doctor={}", doctor.id);
    assert!(finder.body.contains(&join), "{}", finder.body);

    // The form comes filled in: that doctor, from today for a week.
    let form = web.get(&join, &cookie).await;
    form.assert_html(StatusCode::OK);
    let chosen = format!("value=\"doctor:{}\" selected", doctor.id);
    assert!(form.body.contains(&chosen), "{}", form.body);
    assert!(form.body.contains(&days_ahead(0)), "{}", form.body);

    let joined = web
        .post(
            "/waitlist/join",
            &cookie,
            &[
                ("csrf_token", form.csrf().as_str()),
                ("target", &format!("doctor:{}", doctor.id)),
                ("from", &days_ahead(1)),
                ("to", &days_ahead(3)),
                ("time_from", "08:00"),
                ("time_to", "12:00"),
                ("tz", "UTC"),
            ],
        )
        .await;
    assert_eq!(joined.status, StatusCode::SEE_OTHER, "{}", joined.body);
    assert_eq!(joined.location.as_deref(), Some("/waitlist?done=joined"));
    let mine = web.get("/waitlist?done=joined", &cookie).await;
    mine.assert_html(StatusCode::OK);
    assert!(
        mine.body.contains("You are on the waitlist"),
        "{}",
        mine.body
    );
    assert!(mine.body.contains("Dr Who"), "{}", mine.body);
    assert!(mine.body.contains("08:00–12:00"), "{}", mine.body);
    assert!(mine.body.contains("WAITING"), "{}", mine.body);
    assert!(mine.body.contains("aria-current=\"page\">My waitlist"));

    let entries = web
        .state
        .engine()
        .patient_waitlist(patient.patient_id())
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    let tod = entries[0].time_of_day.expect("a time of day");
    assert_eq!((tod.from_minute(), tod.to_minute()), (8 * 60, 12 * 60));
    assert_eq!(entries[0].target, WaitlistTarget::Doctor(doctor.id));

    // With free slots the finder still leads to the waitlist, below the list.
    let (other, _) = web.doctor_with_slots(2).await;
    let finder = web
        .get(&format!("/slots?doctor={}", other.id), &cookie)
        .await;
    assert!(
        finder.body.contains("None of these suit you?"),
        "{}",
        finder.body
    );
    assert!(finder
        .body
        .contains(&format!("/waitlist/join?doctor={}", other.id)));
}

#[tokio::test]
async fn the_join_form_names_each_bad_field_and_the_limit_and_joins_nothing() {
    let web = Web::start().await;
    let (patient, cookie) = web.patient("picky@example.com").await;
    let (doctor, _) = web.doctor_with_slots(1).await;
    let form = web.get("/waitlist/join", &cookie).await;
    form.assert_html(StatusCode::OK);
    let csrf = form.csrf();
    let target = format!("doctor:{}", doctor.id);
    let post = |fields: Vec<(&'static str, String)>| {
        let csrf = csrf.clone();
        let cookie = cookie.clone();
        let web = &web;
        async move {
            let mut form = vec![("csrf_token", csrf)];
            form.extend(fields);
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            web.post("/waitlist/join", &cookie, &form).await
        }
    };

    // No target, a day that does not parse, a time without its pair.
    let refused = post(vec![
        ("target", String::new()),
        ("from", "31/01/2030".to_owned()),
        ("to", days_ahead(3)),
        ("time_from", "08:00".to_owned()),
        ("time_to", String::new()),
    ])
    .await;
    refused.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.error_for("target").is_some(), "{}", refused.body);
    assert!(refused.error_for("from").is_some(), "{}", refused.body);
    assert!(refused.error_for("time_to").is_some(), "{}", refused.body);
    assert!(refused.body.contains("aria-invalid=\"true\""));

    // The last day before the first.
    let refused = post(vec![
        ("target", target.clone()),
        ("from", days_ahead(3)),
        ("to", days_ahead(1)),
    ])
    .await;
    refused.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    let to = refused.error_for("to").expect("an error on the last day");
    assert!(to.contains("on or after the first day"), "{to}");

    // A range that is over: the engine's refusal, next to the last day.
    let refused = post(vec![
        ("target", target.clone()),
        ("from", days_ahead(-5)),
        ("to", days_ahead(-3)),
    ])
    .await;
    refused.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    let to = refused.error_for("to").expect("an error on the last day");
    assert!(to.contains("future"), "{to}");

    // Times that span midnight UTC (08:00–12:00 in Tokyo is 23:00–03:00 UTC).
    let refused = post(vec![
        ("target", target.clone()),
        ("from", days_ahead(1)),
        ("to", days_ahead(2)),
        ("time_from", "08:00".to_owned()),
        ("time_to", "12:00".to_owned()),
        ("tz", "Asia/Tokyo".to_owned()),
    ])
    .await;
    refused.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    let time = refused.error_for("time_to").expect("an error on the times");
    assert!(time.contains("09:00 in Asia/Tokyo"), "{time}");
    // The same times in Paris stay within one UTC day and are kept as UTC minutes.
    let joined = post(vec![
        ("target", target.clone()),
        ("from", days_ahead(1)),
        ("to", days_ahead(2)),
        ("time_from", "08:00".to_owned()),
        ("time_to", "12:00".to_owned()),
        ("tz", "Europe/Paris".to_owned()),
    ])
    .await;
    assert_eq!(joined.status, StatusCode::SEE_OTHER, "{}", joined.body);
    let entries = web
        .state
        .engine()
        .patient_waitlist(patient.patient_id())
        .await
        .unwrap();
    let tod = entries[0].time_of_day.expect("a time of day");
    let paris = chrono_tz::Europe::Paris;
    let offset = {
        use chrono::{Offset, TimeZone};
        paris
            .offset_from_utc_datetime(&entries[0].window.starts_at().naive_utc())
            .fix()
            .local_minus_utc()
            / 60
    };
    assert_eq!(i32::from(tod.from_minute()), 8 * 60 - offset);
    // Shown back in the page's zone as it was entered.
    let in_paris = format!("{cookie}; medislot_zone=Europe/Paris");
    let mine = web.get("/waitlist", &in_paris).await;
    assert!(mine.body.contains("08:00–12:00"), "{}", mine.body);

    // The limit (5 by default): the sixth is refused above the form, with a 409.
    for _ in 1..5 {
        wait_for(&web, patient.patient_id(), doctor.id).await;
    }
    let refused = post(vec![
        ("target", target.clone()),
        ("from", days_ahead(1)),
        ("to", days_ahead(2)),
    ])
    .await;
    refused.assert_html(StatusCode::CONFLICT);
    assert!(
        refused.body.contains("the most one patient may"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("role=\"alert\""));
    let entries = web
        .state
        .engine()
        .patient_waitlist(patient.patient_id())
        .await
        .unwrap();
    assert_eq!(entries.len(), 5, "nothing more was joined");
}

#[tokio::test]
async fn a_live_offer_shows_its_slot_and_lapse_time_and_confirm_books_it() {
    let web = Web::start().await;
    let (patient, cookie) = web.patient("first@example.com").await;
    let (doctor, slots) = web.doctor_with_slots(1).await;
    let taken = web
        .state
        .engine()
        .book(slots[0].id, PatientId::new(), None)
        .await
        .unwrap();
    wait_for(&web, patient.patient_id(), doctor.id).await;
    let before = web.get("/waitlist", &cookie).await;
    assert!(!before.body.contains("A slot is held for you"));

    // Another patient cancels: the slot is offered to the waiting patient at once.
    let other = taken.patient_id;
    web.state
        .engine()
        .cancel_as_patient(taken.id, other, None)
        .await
        .unwrap();
    let page = web.get("/waitlist", &cookie).await;
    page.assert_html(StatusCode::OK);
    assert!(
        page.body.contains("A slot is held for you"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Dr Who"));
    assert!(page.body.contains("OFFERED"));
    // Without JavaScript the lapse time is text; the script counts down from the seconds.
    assert!(page.body.contains("class=\"offer-until\"><time datetime="));
    assert!(
        page.body.contains(" left. Confirm to keep it."),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-countdown-seconds=\""));
    let entry = &web
        .state
        .engine()
        .patient_waitlist(patient.patient_id())
        .await
        .unwrap()[0];
    let offer = entry.state.offer().expect("an offer");
    let confirm = format!("/waitlist/offers/{offer}/confirm");
    assert!(page.body.contains(&confirm));

    // Someone else cannot confirm it: the 404 page, and the offer stays.
    let (_, stranger) = web.patient("stranger@example.com").await;
    let csrf = web.get("/waitlist", &stranger).await.csrf();
    let refused = web
        .post(&confirm, &stranger, &[("csrf_token", csrf.as_str())])
        .await;
    refused.assert_html(StatusCode::NOT_FOUND);

    let done = web
        .post(&confirm, &cookie, &[("csrf_token", page.csrf().as_str())])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.location,
        Some(format!("/bookings/{offer}?done=confirmed"))
    );
    let booking = web.state.engine().booking(offer).await.unwrap().booking;
    assert_eq!(booking.status(), BookingStatus::Confirmed);
    assert_eq!(booking.patient_id, patient.patient_id());
    let after = web.get("/waitlist", &cookie).await;
    assert!(!after.body.contains("A slot is held for you"));
    assert!(after.body.contains("You are not on any waitlist"));
}

#[tokio::test]
async fn declining_passes_the_slot_on_and_leaving_ends_a_waiting_entry_only() {
    let web = Web::start().await;
    let (first, first_cookie) = web.patient("one@example.com").await;
    let (second, second_cookie) = web.patient("two@example.com").await;
    let (doctor, slots) = web.doctor_with_slots(1).await;
    let taken = web
        .state
        .engine()
        .book(slots[0].id, PatientId::new(), None)
        .await
        .unwrap();
    wait_for(&web, first.patient_id(), doctor.id).await;
    wait_for(&web, second.patient_id(), doctor.id).await;
    web.state
        .engine()
        .cancel_as_patient(taken.id, taken.patient_id, None)
        .await
        .unwrap();

    let page = web.get("/waitlist", &first_cookie).await;
    let entry = &web
        .state
        .engine()
        .patient_waitlist(first.patient_id())
        .await
        .unwrap()[0];
    let offer = entry
        .state
        .offer()
        .expect("the first in line has the offer");
    // An entry holding an offer is not left (it is declined).
    let not_left = web
        .post(
            &format!("/waitlist/{}/leave", entry.id),
            &first_cookie,
            &[("csrf_token", page.csrf().as_str())],
        )
        .await;
    assert_eq!(
        not_left.location.as_deref(),
        Some("/waitlist?done=not_waiting")
    );
    let declined = web
        .post(
            &format!("/waitlist/offers/{offer}/decline"),
            &first_cookie,
            &[("csrf_token", page.csrf().as_str())],
        )
        .await;
    assert_eq!(
        declined.location.as_deref(),
        Some("/waitlist?done=declined")
    );
    let after = web.get("/waitlist?done=declined", &first_cookie).await;
    assert!(after.body.contains("Offer declined"), "{}", after.body);
    assert!(!after.body.contains("A slot is held for you"));

    // The next in line now holds it.
    let next = web.get("/waitlist", &second_cookie).await;
    assert!(
        next.body.contains("A slot is held for you"),
        "{}",
        next.body
    );
    let second_entry = &web
        .state
        .engine()
        .patient_waitlist(second.patient_id())
        .await
        .unwrap()[0];
    assert_eq!(second_entry.state.status(), EntryStatus::Offered);

    // Leaving a waiting entry.
    wait_for(&web, first.patient_id(), doctor.id).await;
    let entry = web
        .state
        .engine()
        .patient_waitlist(first.patient_id())
        .await
        .unwrap()[0]
        .id;
    let mine = web.get("/waitlist", &first_cookie).await;
    let leave = format!("/waitlist/{entry}/leave");
    assert!(mine.body.contains(&leave));
    let left = web
        .post(
            &leave,
            &first_cookie,
            &[("csrf_token", mine.csrf().as_str())],
        )
        .await;
    assert_eq!(left.location.as_deref(), Some("/waitlist?done=left"));
    assert!(web
        .state
        .engine()
        .patient_waitlist(first.patient_id())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_lapsed_offer_says_it_lapsed_and_a_late_confirm_books_nothing() {
    let clock = Arc::new(ManualClock::starting_now());
    let web = Web::start_with_clock(clock.clone()).await;
    let (patient, cookie) = web.patient("late@example.com").await;
    let (doctor, slots) = web.doctor_with_slots(1).await;
    let taken = web
        .state
        .engine()
        .book(slots[0].id, PatientId::new(), None)
        .await
        .unwrap();
    wait_for(&web, patient.patient_id(), doctor.id).await;
    web.state
        .engine()
        .cancel_as_patient(taken.id, taken.patient_id, None)
        .await
        .unwrap();
    let page = web.get("/waitlist", &cookie).await;
    let offer = web
        .state
        .engine()
        .patient_waitlist(patient.patient_id())
        .await
        .unwrap()[0]
        .state
        .offer()
        .expect("an offer");

    clock.advance(web.state.engine().policy().offer_window + Duration::seconds(1));
    let lapsed = web.get("/waitlist", &cookie).await;
    lapsed.assert_html(StatusCode::OK);
    assert!(lapsed.body.contains("The offer lapsed"), "{}", lapsed.body);
    assert!(lapsed.body.contains("Lapsed at"));
    assert!(
        !lapsed.body.contains("/confirm\""),
        "no Confirm once lapsed"
    );

    // The form from before the lapse: refused, and it says why.
    let late = web
        .post(
            &format!("/waitlist/offers/{offer}/confirm"),
            &cookie,
            &[("csrf_token", page.csrf().as_str())],
        )
        .await;
    assert_eq!(late.location.as_deref(), Some("/waitlist?done=lapsed"));
    let said = web.get("/waitlist?done=lapsed", &cookie).await;
    assert!(said.body.contains("lapsed before it was confirmed"));
    let booking = web.state.engine().booking(offer).await.unwrap().booking;
    assert_ne!(booking.status(), BookingStatus::Confirmed);
}

#[tokio::test]
async fn the_clinic_sees_a_doctors_line_in_join_order_with_its_offer_and_patients_cannot() {
    let web = Web::start().await;
    let admin = web.sign_in(ADMIN_EMAIL).await;
    let (first, _) = web.patient("ann@example.com").await;
    let (second, second_cookie) = web.patient("bob@example.com").await;
    let engine = web.state.engine();
    let (doctor, slots) = web.doctor_with_slots(1).await;
    let taken = engine
        .book(slots[0].id, PatientId::new(), None)
        .await
        .unwrap();
    wait_for(&web, first.patient_id(), doctor.id).await;
    // The second waits for the specialization: in this doctor's line too.
    let now = engine.now();
    engine
        .join_waitlist(
            second.patient_id(),
            NewEntry::new(
                WaitlistTarget::Specialization("general practice".to_owned()),
                TimeRange::new(now, now + Duration::days(7)).unwrap(),
                None,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    // A doctor of another specialization has nobody waiting.
    let other = engine
        .create_doctor(NewDoctor::new("Dr Nobody", "Dermatology", "UTC").unwrap())
        .await
        .unwrap();
    engine
        .cancel_as_patient(taken.id, taken.patient_id, None)
        .await
        .unwrap();

    let doctors = web.get("/admin/doctors", &admin).await;
    let line = format!("/admin/doctors/{}/waitlist", doctor.id);
    assert!(doctors.body.contains(&line), "{}", doctors.body);
    let page = web.get(&line, &admin).await;
    page.assert_html(StatusCode::OK);
    let ann = page.body.find("ann@example.com").expect("the first");
    let bob = page.body.find("bob@example.com").expect("the second");
    assert!(ann < bob, "in join order");
    assert!(page.body.contains("Any general practice doctor"));
    assert!(page.body.contains("OFFERED"));
    assert!(page.body.contains("held until"), "{}", page.body);

    let empty = web
        .get(&format!("/admin/doctors/{}/waitlist", other.id), &admin)
        .await;
    empty.assert_html(StatusCode::OK);
    assert!(empty.body.contains("Nobody is waiting"));

    let refused = web.get(&line, &second_cookie).await;
    refused.assert_html(StatusCode::FORBIDDEN);
    let missing = web
        .get(
            &format!("/admin/doctors/{}/waitlist", uuid::Uuid::now_v7()),
            &admin,
        )
        .await;
    missing.assert_html(StatusCode::NOT_FOUND);
}
