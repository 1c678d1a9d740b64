//! A doctor's working hours set on the admin's page, end to end: the admin opens the hours page
//! from the doctor's page, types the hours, previews (nothing saved), saves (the slots exist);
//! then a patient, keyboard only, opens the week view, jumps to the next available day and
//! books its first time, which the hours made.

use chrono::{Duration, NaiveDate, NaiveTime, Utc};
use fantoccini::key::Key;
use medislot_core::schedule::{WallInterval, WorkingHours};
use medislot_core::{BookingId, BookingStatus, Doctor, DoctorHours, SlotQuery, MAX_PAGE_SIZE};

use crate::support::{
    browser_available, press, tab_to, Browser, StoreKind, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD,
};

const PATIENT_PASSWORD: &str = "patient-password-1";
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

on_each_store!(an_admin_sets_working_hours_with_a_preview_then_a_patient_books_one_by_keyboard);

async fn slot_count(app: &TestApp, doctor: &Doctor) -> usize {
    app.engine()
        .slots(&SlotQuery {
            doctor_id: Some(doctor.id),
            limit: MAX_PAGE_SIZE,
            ..SlotQuery::default()
        })
        .await
        .unwrap()
        .items
        .len()
}

async fn an_admin_sets_working_hours_with_a_preview_then_a_patient_books_one_by_keyboard(
    store: StoreKind,
) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Hours", "Cardiology", "Europe/Paris").await;
    let patient = app.patient("Hana", "hana@example.com").await;
    // The hours start 16 days ahead on the doctor's clock: not this week, so the patient
    // has to jump.
    let first_day = (Utc::now().with_timezone(&doctor.timezone) + Duration::days(16)).date_naive();
    let first_day_text = first_day.format("%Y-%m-%d").to_string();

    let admin = Browser::open_in_zone("UTC").await;
    admin.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    admin
        .goto(&app.url(&format!("/admin/doctors/{}", doctor.id)))
        .await;
    admin.wait_for("#hours-link").await;
    admin
        .eval("document.querySelector('a.brand').focus();")
        .await;
    tab_to(&admin, "#hours-link").await;
    press(&admin, &Key::Enter.to_string()).await;
    admin.wait_for("#r0-mon").await;
    assert_eq!(admin.heading().await, "Dr Hours: working hours");
    for day in WEEKDAYS {
        tab_to(&admin, &format!("#r0-{day}")).await;
        press(&admin, "09:00-11:00").await;
    }
    assert_eq!(
        admin.value("#r0-slot").await,
        "30",
        "30-minute slots unless changed"
    );
    // A date input takes keystrokes in the browser's locale: set its value.
    admin.set_value("#r0-from", &first_day_text).await;

    // Enter in a field previews (the form's first button), as the Preview button does.
    tab_to(&admin, "#r0-sun").await;
    press(&admin, &Key::Enter.to_string()).await;
    admin.wait_for("#outcome-heading").await;
    assert_eq!(
        admin.text("#outcome-heading").await,
        "Preview: nothing saved yet"
    );
    let created: usize = admin.text("#created-count").await.parse().unwrap();
    assert!(
        created >= 4 * 30,
        "about six weeks of four slots a day: {created}"
    );
    assert_eq!(
        slot_count(&app, &doctor).await,
        0,
        "a preview saves nothing"
    );
    assert_eq!(
        admin.value("#r0-from").await,
        first_day_text,
        "the form kept its values"
    );
    // At phone width the page stays within the screen.
    admin.client.set_window_size(390, 844).await.unwrap();
    let overflow = admin
        .eval("return document.documentElement.scrollWidth - window.innerWidth;")
        .await;
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "no sideways scrolling: {overflow}"
    );
    admin.screenshot(store, "admin_hours_phone").await;
    admin.client.set_window_size(1280, 900).await.unwrap();

    tab_to(&admin, "#save-hours").await;
    press(&admin, &Key::Enter.to_string()).await;
    admin.wait_for(".flash-ok").await;
    assert_eq!(admin.text("#outcome-heading").await, "Saved: what changed");
    assert_eq!(admin.text("#created-count").await, created.to_string());
    assert_eq!(slot_count(&app, &doctor).await, created);
    admin.screenshot(store, "admin_hours_saved").await;
    admin.close().await;

    // The patient, keyboard only: the week view, the jump, the first time of that day.
    let browser = Browser::open_in_zone("UTC").await;
    browser
        .sign_in(&app, "hana@example.com", PATIENT_PASSWORD)
        .await;
    browser
        .eval("document.querySelector('a.brand').focus();")
        .await;
    tab_to(&browser, "nav a[href='/week']").await;
    press(&browser, &Key::Enter.to_string()).await;
    browser.wait_for("#jump-next").await;
    assert!(
        !browser.exists("button.time").await,
        "nothing free this week"
    );
    tab_to(&browser, "#jump-next").await;
    press(&browser, &Key::Enter.to_string()).await;
    browser.wait_for(".day.focus").await;
    // 09:00 in Paris is 07:00 or 08:00 UTC: the same day.
    let address = browser.address().await;
    assert!(
        address.contains(&format!("day={first_day_text}")),
        "{address}"
    );
    tab_to(&browser, ".day.focus button.time").await;
    let label = browser
        .eval("return document.activeElement.textContent;")
        .await;
    assert!(
        label
            .as_str()
            .is_some_and(|l| l.contains("Book") && l.contains("Dr Hours")),
        "{label}"
    );
    press(&browser, &Key::Enter.to_string()).await;
    browser.wait_for("#booking-id").await;
    assert_eq!(browser.text("#booking-status").await, "CONFIRMED");
    let booking = BookingId::from_uuid(browser.text("#booking-id").await.parse().unwrap());
    let view = app.engine().booking(booking).await.unwrap();
    assert_eq!(view.booking.patient_id, patient.patient_id());
    assert_eq!(view.booking.status(), BookingStatus::Confirmed);
    let slot = app.engine().slot(view.booking.slot_id).await.unwrap();
    let start = slot.slot.range.starts_at().with_timezone(&doctor.timezone);
    assert_eq!(start.date_naive(), first_day);
    assert_eq!(
        start.time(),
        NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        "the day's first time"
    );
    browser.screenshot(store, "admin_hours_booked").await;
    browser.close().await;
}

fn at(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

/// Refreshes `docs/screenshots/admin-hours.png` for the README: a doctor's stored hours being
/// changed, previewed with a booked slot outside them. Run by hand:
/// `cargo test -p medislot-server --test browser -- --ignored admin_hours_screenshot`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/screenshots; run by hand"]
async fn admin_hours_screenshot() {
    if !browser_available() {
        return;
    }
    let _turn = crate::support::take_turn().await;
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    let app = TestApp::start(StoreKind::Memory).await;
    let ada = app
        .doctor("Dr Ada Lovelace", "Cardiology", "Europe/London")
        .await;
    // Weekdays 09:00-12:00 and 14:00-17:00, from today.
    let day = vec![
        WallInterval::new(at(9, 0), at(12, 0)).unwrap(),
        WallInterval::new(at(14, 0), at(17, 0)).unwrap(),
    ];
    let week = std::array::from_fn(|d| if d < 5 { day.clone() } else { Vec::new() });
    let today = Utc::now().with_timezone(&ada.timezone).date_naive();
    let rule =
        WorkingHours::new(week, Duration::minutes(30), Duration::zero(), today, None).unwrap();
    let hours = DoctorHours::new(vec![rule], Vec::new()).unwrap();
    app.engine().save_hours(ada.id, hours, 8).await.unwrap();
    // A booking on the second Monday at 16:30, which shorter Monday afternoons leave outside.
    let monday = next_monday(today) + Duration::days(7);
    let grace = app.patient("Grace Hopper", "grace@example.com").await;
    let slots = app
        .engine()
        .slots(&SlotQuery {
            doctor_id: Some(ada.id),
            limit: MAX_PAGE_SIZE,
            ..SlotQuery::default()
        })
        .await
        .unwrap()
        .items;
    let late = slots
        .iter()
        .find(|v| {
            let start = v.slot.range.starts_at().with_timezone(&ada.timezone);
            start.date_naive() == monday && start.time() == at(16, 30)
        })
        .expect("the Monday 16:30 slot");
    app.engine()
        .book(late.slot.id, grace.patient_id(), None)
        .await
        .unwrap();

    let browser = Browser::open_in_zone("Europe/London").await;
    browser.client.set_window_size(1280, 1200).await.unwrap();
    browser.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser
        .goto(&app.url(&format!("/admin/doctors/{}/hours", ada.id)))
        .await;
    browser.wait_for("#r0-mon").await;
    browser.fill("#r0-mon", "09:00-12:00, 14:00-16:00").await;
    let off = (monday + Duration::days(2)).format("%Y-%m-%d");
    browser
        .fill("#time-off", &format!("{off} 09:00-10:30"))
        .await;
    browser.click("#preview-hours").await;
    browser.wait_for("#outcome-heading").await;
    browser.eval("window.scrollTo(0, 0);").await;
    browser.save_screenshot(&docs, "admin-hours").await;
    browser.close().await;
}

/// The first Monday after `day`.
fn next_monday(day: NaiveDate) -> NaiveDate {
    use chrono::Datelike;
    day + Duration::days(7 - i64::from(day.weekday().num_days_from_monday()))
}
