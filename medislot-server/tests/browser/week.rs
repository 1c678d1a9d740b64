//! The week view walked by keyboard only, at desktop and at phone width: slots are published
//! two weeks ahead, the patient opens the week view from the navigation, jumps to the next
//! available day, and books its first time. At phone width the days are a list, not columns.

use fantoccini::key::Key;
use medislot_core::{BookingId, BookingStatus, SlotStatus};

use crate::support::{browser_available, press, tab_to, Browser, StoreKind, TestApp};

const PATIENT_PASSWORD: &str = "patient-password-1";

on_each_store!(a_patient_opens_the_week_view_jumps_to_the_next_available_day_and_books_by_keyboard);

async fn a_patient_opens_the_week_view_jumps_to_the_next_available_day_and_books_by_keyboard(
    store: StoreKind,
) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Week", "Cardiology", "Europe/Paris").await;
    // Nothing this week nor next: the first free times are 16 days ahead, 09:00 UTC on.
    let slots = app.slots(&doctor, 16, 4).await;
    let patient = app.patient("Wanda", "wanda@example.com").await;
    let browser = Browser::open_in_zone("UTC").await;
    browser
        .sign_in(&app, "wanda@example.com", PATIENT_PASSWORD)
        .await;
    let day = slots[0]
        .range
        .starts_at()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    for (width, height, slot, name) in [
        (1280, 900, &slots[0], "week_view_desktop"),
        (390, 844, &slots[1], "week_view_phone"),
    ] {
        browser.client.set_window_size(width, height).await.unwrap();
        browser.goto(&app.url("/slots")).await;
        browser.wait_for(".slot").await;
        // From the header's navigation to the week view.
        browser
            .eval("document.querySelector('a.brand').focus();")
            .await;
        tab_to(&browser, "nav a[href='/week']").await;
        press(&browser, &Key::Enter.to_string()).await;
        browser.wait_for("#jump-next").await;
        assert!(browser.heading().await.starts_with("Free times, week of"));
        assert_eq!(
            browser
                .eval("return document.querySelectorAll('.day').length;")
                .await,
            7
        );
        assert!(
            !browser.exists("button.time").await,
            "nothing free this week"
        );

        tab_to(&browser, "#jump-next").await;
        press(&browser, &Key::Enter.to_string()).await;
        browser.wait_for(".day.focus").await;
        let address = browser.address().await;
        assert!(address.contains(&format!("day={day}")), "{address}");
        assert_eq!(
            browser
                .eval("return document.querySelector('.day.focus').id;")
                .await,
            format!("day-{day}")
        );
        // Columns on a desktop, a list of days on a phone.
        let display = browser
            .eval("return getComputedStyle(document.querySelector('.week')).display;")
            .await;
        assert_eq!(
            display,
            if width > 600 { "grid" } else { "block" },
            "{width}px"
        );
        let overflow = browser
            .eval("return document.documentElement.scrollWidth - window.innerWidth;")
            .await;
        assert!(
            overflow.as_i64().unwrap_or(1) <= 0,
            "no sideways scrolling at {width}px"
        );
        browser.screenshot(store, name).await;

        // The marked day's first free time, by keyboard: it books.
        tab_to(&browser, ".day.focus button.time").await;
        let label = browser
            .eval("return document.activeElement.textContent;")
            .await;
        assert!(
            label
                .as_str()
                .is_some_and(|l| l.contains("Book") && l.contains("Dr Week")),
            "the button says what it books: {label}"
        );
        press(&browser, &Key::Enter.to_string()).await;
        browser.wait_for("#booking-id").await;
        assert!(browser.address().await.ends_with("?done=booked"));
        assert_eq!(browser.text("#booking-status").await, "CONFIRMED");
        let booking = browser.text("#booking-id").await;
        let view = app
            .engine()
            .booking(BookingId::from_uuid(booking.parse().unwrap()))
            .await
            .unwrap();
        assert_eq!(view.booking.patient_id, patient.patient_id());
        assert_eq!(view.booking.slot_id, slot.id);
        assert_eq!(view.booking.status(), BookingStatus::Confirmed);
        assert_eq!(
            app.engine().slot(slot.id).await.unwrap().status,
            SlotStatus::Booked
        );
    }
    browser.close().await;
}

/// Refreshes `docs/screenshots/patient-week.png` for the README. Run by hand:
/// `cargo test -p medislot-server --test browser -- --ignored week_view_screenshot`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/screenshots; run by hand"]
async fn week_view_screenshot() {
    if !browser_available() {
        return;
    }
    let _turn = crate::support::take_turn().await;
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    let app = TestApp::start(StoreKind::Memory).await;
    let ada = app
        .doctor("Dr Ada Lovelace", "Cardiology", "Europe/London")
        .await;
    let marie = app
        .doctor("Dr Marie Curie", "Cardiology", "Europe/Paris")
        .await;
    for days in [1, 2, 4] {
        app.slots(&ada, days, 4).await;
    }
    for days in [2, 3] {
        app.slots(&marie, days, 3).await;
    }
    app.patient("Grace Hopper", "grace@example.com").await;
    let browser = Browser::open_in_zone("Europe/London").await;
    browser.client.set_window_size(1280, 1000).await.unwrap();
    browser
        .sign_in(&app, "grace@example.com", PATIENT_PASSWORD)
        .await;
    browser
        .goto(&app.url("/week/next?specialization=Cardiology"))
        .await;
    browser.wait_for(".day.focus").await;
    browser.save_screenshot(&docs, "patient-week").await;
    browser.close().await;
}
