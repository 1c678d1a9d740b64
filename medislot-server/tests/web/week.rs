//! The week view and the admin's week calendar over plain HTTP (no JavaScript): free times in
//! their day's column, weeks walked with the filters kept, the jump to the next available day,
//! booking from a time's button, fields that do not parse named with a 422, and every state of
//! a doctor's slots in the calendar.

use chrono::{Duration, NaiveDate, Utc};
use medislot_core::{NewDoctor, PatientId, TimeRange};
use poem::http::StatusCode;

use crate::{hidden, Web, ADMIN_EMAIL};

fn ymd(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

#[tokio::test]
async fn the_week_view_shows_each_free_time_in_its_days_column_and_walks_weeks_keeping_its_filters()
{
    let web = Web::start().await;
    let (_, cookie) = web.patient("week@example.com").await;
    let (doctor, slots) = web.doctor_with_slots(3).await;
    web.state
        .engine()
        .book(slots[0].id, PatientId::new(), None)
        .await
        .unwrap();
    let day = slots[0].range.starts_at().date_naive();

    let path = format!("/week?doctor={}&tz=UTC&week={}", doctor.id, ymd(day));
    let page = web.get(&path, &cookie).await;
    page.assert_html(StatusCode::OK);
    // The day's column, with the two free times as book buttons and not the booked one.
    let column = format!("id=\"day-{}\"", ymd(day));
    let at = page.body.find(&column).expect("the day's column");
    let column_html = &page.body[at..];
    let column_html = &column_html[..column_html.find("</section>").unwrap()];
    assert!(column_html.contains("2 free"), "{column_html}");
    assert!(column_html.contains("11:00"), "{column_html}");
    assert!(column_html.contains(&format!("/slots/{}/book", slots[1].id)));
    assert!(column_html.contains(&format!("/slots/{}/book", slots[2].id)));
    assert!(!page.body.contains(&format!("/slots/{}/book", slots[0].id)));
    // Seven days, one heading each, in the page's named zone.
    assert_eq!(page.body.matches("<section class=\"day").count(), 7);
    assert!(page.body.contains("id=\"page-zone\">UTC<"), "{}", page.body);
    // Previous and next week keep the doctor and the zone.
    let monday = day
        - Duration::days(i64::from(
            chrono::Datelike::weekday(&day).num_days_from_monday(),
        ));
    for week in [monday - Duration::days(7), monday + Duration::days(7)] {
        let link = format!(
            "/week?doctor={}&#38;tz=UTC&#38;week={}",
            doctor.id,
            ymd(week)
        );
        assert!(page.body.contains(&link), "{link} in {}", page.body);
    }
    // The week after holds no free time.
    let next = web
        .get(
            &format!(
                "/week?doctor={}&tz=UTC&week={}",
                doctor.id,
                ymd(monday + Duration::days(7))
            ),
            &cookie,
        )
        .await;
    next.assert_html(StatusCode::OK);
    assert!(!next.body.contains("/book\""), "{}", next.body);
    assert!(next.body.contains("No free times"));
}

#[tokio::test]
async fn jumping_to_the_next_available_day_opens_its_week_with_the_day_marked_and_a_button_books_it(
) {
    let web = Web::start().await;
    let (_, cookie) = web.patient("jumper@example.com").await;
    let engine = web.state.engine();
    let doctor = engine
        .create_doctor(NewDoctor::new("Dr Later", "Dermatology", "UTC").unwrap())
        .await
        .unwrap();
    // One free time 20 days ahead: two weeks past this one.
    let start = Utc::now()
        .date_naive()
        .and_hms_opt(9, 30, 0)
        .unwrap()
        .and_utc()
        + Duration::days(20);
    let slot = engine
        .publish_slots(
            doctor.id,
            &[TimeRange::new(start, start + Duration::minutes(30)).unwrap()],
        )
        .await
        .unwrap()
        .remove(0);
    let day = ymd(start.date_naive());

    let jump = web
        .get("/week/next?specialization=dermatology&tz=UTC", &cookie)
        .await;
    assert_eq!(jump.status, StatusCode::SEE_OTHER);
    let location = jump.location.expect("a redirect");
    assert_eq!(
        location,
        format!("/week?specialization=dermatology&tz=UTC&week={day}&day={day}#day-{day}")
    );
    let page = web.get(location.split('#').next().unwrap(), &cookie).await;
    page.assert_html(StatusCode::OK);
    assert!(
        page.body
            .contains(&format!("class=\"day focus\" id=\"day-{day}\"")),
        "{}",
        page.body
    );
    assert!(page.body.contains("09:30"));

    // The time's button is the finder's book form: it books and leads to the booking.
    let key = hidden(&page, "idempotency_key");
    let booked = web
        .post(
            &format!("/slots/{}/book", slot.id),
            &cookie,
            &[
                ("csrf_token", &hidden(&page, "csrf_token")),
                ("idempotency_key", &key),
                ("specialization", "dermatology"),
                ("tz", "UTC"),
            ],
        )
        .await;
    assert_eq!(booked.status, StatusCode::SEE_OTHER);
    assert!(booked.location.unwrap().ends_with("?done=booked"));
    let view = engine.slot(slot.id).await.unwrap();
    assert_eq!(view.status, medislot_core::SlotStatus::Booked);
    let mine = web.get("/bookings", &cookie).await;
    assert!(mine.body.contains("Dr Later"), "{}", mine.body);

    // Nothing free any more: the jump comes back to the week and says so.
    let none = web
        .get("/week/next?specialization=dermatology&tz=UTC", &cookie)
        .await;
    let location = none.location.expect("a redirect");
    assert_eq!(
        location,
        "/week?specialization=dermatology&tz=UTC&done=none"
    );
    let page = web.get(&location, &cookie).await;
    page.assert_html(StatusCode::OK);
    assert!(page.body.contains("No free time ahead"), "{}", page.body);
}

#[tokio::test]
async fn a_week_or_doctor_that_does_not_parse_is_named_with_a_422_page() {
    let web = Web::start().await;
    let (_, cookie) = web.patient("typo@example.com").await;
    let page = web.get("/week?week=31-01-2030", &cookie).await;
    page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("id=\"week-error\""), "{}", page.body);
    let page = web.get("/week?doctor=nobody", &cookie).await;
    page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.error_for("doctor").as_deref(),
        Some("Choose a doctor from the list.")
    );
}

#[tokio::test]
async fn the_admins_week_calendar_shows_every_state_of_a_doctors_slots() {
    let web = Web::start().await;
    let admin = web.sign_in(ADMIN_EMAIL).await;
    let (_, patient_cookie) = web.patient("nosy@example.com").await;
    let (doctor, slots) = web.doctor_with_slots(5).await;
    let engine = web.state.engine();
    engine.hold(slots[1].id, PatientId::new()).await.unwrap();
    engine
        .book(slots[2].id, PatientId::new(), None)
        .await
        .unwrap();
    let cancelled = engine
        .book(slots[3].id, PatientId::new(), None)
        .await
        .unwrap();
    engine.cancel_as_admin(cancelled.id, None).await.unwrap();
    engine.withdraw_slot(slots[4].id).await.unwrap();

    let doctors = web.get("/admin/doctors", &admin).await;
    let calendar = format!("/admin/doctors/{}/calendar", doctor.id);
    assert!(doctors.body.contains(&format!("href=\"{calendar}\"")));

    let week = ymd(slots[0].range.starts_at().date_naive());
    let page = web.get(&format!("{calendar}?week={week}"), &admin).await;
    page.assert_html(StatusCode::OK);
    for state in ["available", "held", "booked", "buffer"] {
        assert_eq!(
            page.body
                .matches(&format!("data-state=\"{state}\""))
                .count(),
            1,
            "{state} in {}",
            page.body
        );
    }
    // The withdrawn slot is not listed; times are on the doctor's clock (Paris, 10:00 UTC = 11:00).
    assert_eq!(page.body.matches("class=\"cal-slot").count(), 4);
    assert!(page.body.contains("Europe/Paris"), "{}", page.body);
    let bad = web.get(&format!("{calendar}?week=soon"), &admin).await;
    bad.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("id=\"week-error\""));
    let refused = web.get(&calendar, &patient_cookie).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}
