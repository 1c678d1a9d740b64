//! `GET /api/v1/bookings/{id}/calendar.ics`: the appointment as an iCalendar file whose event
//! calendar apps keep up to date across reschedules and a cancel.

use chrono::{DateTime, SubsecRound, Utc};
use icalendar::{Calendar, Component, DatePerhapsTime, Event, EventStatus};
use serde_json::json;
use uuid::Uuid;

use crate::{uuid_of, As, TestApp, User};

/// The one event of an iCalendar file, after checking the file keeps RFC 5545's rules of form:
/// CRLF line ends only, content lines of at most 75 octets (longer ones folded), `DTSTAMP`,
/// `DTSTART` and `DTEND` in UTC.
#[track_caller]
pub(crate) fn parse_ics(text: &str) -> (Calendar, Event) {
    assert!(text.ends_with("\r\n"), "{text:?}");
    for line in text.trim_end_matches("\r\n").split("\r\n") {
        assert!(
            !line.contains('\n') && !line.contains('\r'),
            "bare LF: {line:?}"
        );
        assert!(
            line.len() <= 75,
            "a line of {} octets: {line:?}",
            line.len()
        );
    }
    let utc = regex::Regex::new(r"(?m)^(DTSTAMP|DTSTART|DTEND|LAST-MODIFIED):\d{8}T\d{6}Z\r$")
        .expect("a valid pattern");
    assert_eq!(utc.find_iter(text).count(), 4, "{text}");
    let calendar: Calendar = text.parse().expect("a parsable calendar");
    assert_eq!(calendar.property_value("VERSION"), Some("2.0"));
    assert!(calendar.property_value("PRODID").is_some());
    let events: Vec<Event> = calendar.events().cloned().collect();
    assert_eq!(events.len(), 1, "{text}");
    let event = events[0].clone();
    (calendar, event)
}

pub(crate) fn utc(value: Option<DatePerhapsTime>) -> DateTime<Utc> {
    match value {
        Some(DatePerhapsTime::DateTime(icalendar::CalendarDateTime::Utc(at))) => at,
        other => panic!("not a UTC time: {other:?}"),
    }
}

async fn calendar(app: &TestApp, who: As<'_>, booking: Uuid) -> crate::Answer {
    app.get(&format!("/api/v1/bookings/{booking}/calendar.ics"), who)
        .await
}

async fn ics(app: &TestApp, user: &User, booking: Uuid) -> (Calendar, Event) {
    let answer = calendar(app, As::Bearer(user), booking).await;
    answer.expect(200);
    assert_eq!(answer.headers["content-type"], "text/calendar");
    let disposition = answer.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=\"appointment-"));
    parse_ics(answer.body.as_str().expect("a text body"))
}

async fn starts_of(app: &TestApp, user: &User, booking: Uuid) -> DateTime<Utc> {
    let body = app
        .get(&format!("/api/v1/bookings/{booking}"), As::Bearer(user))
        .await
        .expect(200)
        .clone();
    let starts: DateTime<Utc> = body["slot"]["starts_at"].as_str().unwrap().parse().unwrap();
    // iCalendar times are to the second.
    starts.trunc_subsecs(0)
}

async fn one_event_keeps_its_uid_and_raises_its_sequence_across_book_reschedule_and_cancel() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(2).await;
    let patient = app.patient().await;
    let first = app.book(&patient, slots[0]).await.id();
    let (calendar, booked) = ics(&app, &patient, first).await;
    assert_eq!(calendar.property_value("METHOD"), Some("PUBLISH"));
    let uid = booked.get_uid().expect("a UID").to_owned();
    assert_eq!(uid, format!("{first}@medislot"));
    assert_eq!(booked.get_sequence(), Some(1));
    assert_eq!(booked.get_status(), Some(EventStatus::Confirmed));
    assert_eq!(
        utc(booked.get_start()),
        starts_of(&app, &patient, first).await
    );
    assert!(booked.get_summary().unwrap().contains("Dr Ada Lovelace"));

    let moved = app
        .post(
            &format!("/api/v1/bookings/{first}/reschedule"),
            As::Bearer(&patient),
            json!({ "slot_id": slots[1] }),
        )
        .await
        .id();
    let (calendar, rescheduled) = ics(&app, &patient, moved).await;
    assert_eq!(calendar.property_value("METHOD"), Some("PUBLISH"));
    assert_eq!(rescheduled.get_uid(), Some(uid.as_str()));
    assert_eq!(rescheduled.get_sequence(), Some(3));
    assert_eq!(
        utc(rescheduled.get_start()),
        starts_of(&app, &patient, moved).await
    );
    assert_ne!(utc(rescheduled.get_start()), utc(booked.get_start()));
    // The old booking's file is the appointment as it is now.
    let (_, through_old) = ics(&app, &patient, first).await;
    assert_eq!(through_old, rescheduled);

    app.post(
        &format!("/api/v1/bookings/{moved}/cancel"),
        As::Bearer(&patient),
        json!({ "reason": "Better: a, b; c\nd" }),
    )
    .await
    .expect(200);
    let (calendar, cancelled) = ics(&app, &patient, moved).await;
    assert_eq!(calendar.property_value("METHOD"), Some("CANCEL"));
    assert_eq!(cancelled.get_uid(), Some(uid.as_str()));
    assert_eq!(cancelled.get_sequence(), Some(4));
    assert_eq!(cancelled.get_status(), Some(EventStatus::Cancelled));
}

async fn a_hold_is_tentative_and_a_lapsed_one_is_cancelled() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let hold = app.hold(&patient, slots[0]).await.id();
    let (_, held) = ics(&app, &patient, hold).await;
    assert_eq!(held.get_status(), Some(EventStatus::Tentative));
    assert_eq!(held.get_sequence(), Some(0));
    app.clock.advance(chrono::Duration::hours(1));
    let (calendar, lapsed) = ics(&app, &patient, hold).await;
    assert_eq!(calendar.property_value("METHOD"), Some("CANCEL"));
    assert_eq!(lapsed.get_sequence(), Some(2));
    assert_eq!(lapsed.get_uid(), held.get_uid());
}

async fn the_calendar_is_only_for_the_patient_and_admins() {
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(1).await;
    let owner = app.patient().await;
    let stranger = app.patient().await;
    let booking = app.book(&owner, slots[0]).await.id();
    calendar(&app, As::Bearer(&stranger), booking)
        .await
        .expect_problem(404, "booking_not_found");
    calendar(&app, As::Anonymous, booking).await.expect(401);
    calendar(&app, As::Bearer(&owner), Uuid::now_v7())
        .await
        .expect_problem(404, "booking_not_found");
    let (_, event) = ics(&app, &admin, booking).await;
    assert_eq!(
        event.get_uid(),
        Some(format!("{booking}@medislot").as_str())
    );
    // The page's link is followed with the session cookie.
    calendar(&app, As::Cookie(&owner, false), booking)
        .await
        .expect(200);
}

async fn text_is_escaped_and_long_lines_are_folded() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let name = "Dr Émilie Gauthier-Lefèvre, Jr; of the Hôpital Saint-Louis (Paris), long name";
    let doctor = app
        .post(
            "/api/v1/doctors",
            As::Bearer(&admin),
            json!({"name": name, "specialization": "Cardiology", "timezone": "Europe/Paris",
                   "location": "1 Rue A, Paris; 2nd floor"}),
        )
        .await;
    let doctor = uuid_of(&doctor.expect(201)["id"]);
    let slot = app.slots(&admin, doctor, 1).await[0];
    let patient = app.patient().await;
    let booking = app.book(&patient, slot).await.id();
    let answer = calendar(&app, As::Bearer(&patient), booking).await;
    let text = answer.expect(200).as_str().unwrap().to_owned();
    let (_, event) = parse_ics(&text);
    let unfolded = text.replace("\r\n ", "");
    assert!(unfolded.contains("SUMMARY:Appointment with Dr Émilie Gauthier-Lefèvre\\, Jr\\; of"));
    assert!(text.contains("\r\n "), "a long line is folded: {text}");
    assert!(
        unfolded.contains("LOCATION:1 Rue A\\, Paris\\; 2nd floor\r\n"),
        "{unfolded}"
    );
    assert!(event.get_summary().is_some());
}

on_every_store!(
    one_event_keeps_its_uid_and_raises_its_sequence_across_book_reschedule_and_cancel,
    a_hold_is_tentative_and_a_lapsed_one_is_cancelled,
    the_calendar_is_only_for_the_patient_and_admins,
    text_is_escaped_and_long_lines_are_folded,
);
