//! The web UI in a real headless Chromium (Debian's `chromium` + `chromium-driver`), driving
//! the real server started in-process on a random port, each scenario once on a fresh
//! in-memory store and once on a fresh PostgreSQL database (see `medislot_pg::testing`).
//!
//! Without Chromium (`/usr/bin/chromium`, or `MEDISLOT_CHROMIUM`) and chromedriver
//! (`/usr/bin/chromedriver`, or `MEDISLOT_CHROMEDRIVER`) each test says on one line that it
//! is skipped and what to install, and passes; with `MEDISLOT_REQUIRE_BROWSER=1` (CI) it fails.
//! Each saves a screenshot of its final page under `target/browser-screenshots/`.

mod support;

use chrono::{Duration, Utc};
use fantoccini::key::Key;
use fantoccini::Locator;
use medislot_core::{BookingQuery, BookingStatus, SlotStatus};
use support::{browser_available, Browser, StoreKind, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

/// Runs each scenario on the in-memory store and on PostgreSQL (a fresh database each).
macro_rules! on_each_store {
    ($($test:ident),+ $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let _turn = crate::support::take_turn().await;
                super::$test(crate::StoreKind::Memory).await
            })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let _turn = crate::support::take_turn().await;
                super::$test(crate::StoreKind::Postgres).await
            })+
        }
    };
}

mod hours;
mod profile;
mod reschedule;
mod review;
mod visit;
mod waitlist;
mod week;

on_each_store!(
    a_patient_signs_up_and_books_a_slot_and_sees_the_confirmation,
    two_patients_racing_for_one_slot_get_one_booking_and_one_just_taken_answer,
    a_patient_cancels_a_booking_after_a_confirmation_step,
    a_patient_holds_a_slot_sees_the_time_left_and_confirms_once,
    an_admin_creates_a_doctor_and_a_day_of_slots_then_cancels_a_booking_into_buffer,
    a_patient_cannot_reach_admin_pages_nor_another_patients_booking,
);

const PATIENT_PASSWORD: &str = "patient-password-1";

/// The docs page runs under its own Content-Security-Policy (its inline scripts allowed by
/// hash, nothing else): Swagger UI must still render every operation, styled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_docs_render_under_their_content_security_policy() {
    if !browser_available() {
        return;
    }
    let _turn = support::take_turn().await;
    let app = TestApp::start(StoreKind::Memory).await;
    let browser = Browser::open().await;
    browser.goto(&app.url("/docs")).await;
    browser.wait_for(".swagger-ui .opblock").await;
    let operations = browser
        .eval("return document.querySelectorAll('.swagger-ui .opblock').length;")
        .await;
    assert!(
        operations.as_u64().is_some_and(|n| n >= 20),
        "every operation is listed: {operations}"
    );
    // Swagger UI's stylesheet applied (an inline <style>): an operation has its rounded border.
    let radius = browser
        .eval("return getComputedStyle(document.querySelector('.swagger-ui .opblock')).borderTopLeftRadius;")
        .await;
    assert_eq!(radius, "4px", "the docs are styled");
    browser.screenshot(StoreKind::Memory, "api_docs").await;
}

async fn a_patient_signs_up_and_books_a_slot_and_sees_the_confirmation(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app
        .doctor("Dr Ada Lovelace", "Cardiology", "Europe/Paris")
        .await;
    let slots = app.slots(&doctor, 2, 3).await;
    let browser = Browser::open_in_zone("America/New_York").await;

    browser.goto(&app.url("/")).await;
    browser.click("main a[href='/signup']").await;
    browser.wait_for("#name").await;
    browser.fill("#name", "Grace Hopper").await;
    browser.fill("#email", "grace@example.com").await;
    browser.fill("#password", PATIENT_PASSWORD).await;
    browser
        .click("form[action='/signup'] button[type=submit]")
        .await;

    // The page script tells the server the browser's zone; the list then shows it as well.
    browser
        .wait_for("body[data-tz='America/New_York'] .slot")
        .await;
    let page = browser.page_text().await;
    assert!(page.contains("Dr Ada Lovelace"), "{page}");
    assert!(
        browser
            .text(".slot .when .zone")
            .await
            .contains("America/New_York"),
        "times read in the viewer's own zone (from the browser)"
    );
    assert!(
        browser
            .text(".slot .when-doctor")
            .await
            .contains("Europe/Paris"),
        "and on the doctor's clock beside: {page}"
    );
    // Keyboard only: Tab from the top of the page to the first slot's Book button, then Enter.
    let first = slots[0].id.to_string();
    browser
        .eval("document.querySelector('a.brand').focus();")
        .await;
    let mut reached = false;
    for _ in 0..40 {
        let focused = browser.client.active_element().await.unwrap();
        if focused.attr("class").await.unwrap().as_deref() == Some("book") {
            assert!(
                focused.attr("data-busy-label").await.unwrap().is_some(),
                "Tab reached a Book button"
            );
            let outline = browser
                .eval("return getComputedStyle(document.activeElement).outlineStyle;")
                .await;
            assert_eq!(outline, serde_json::json!("solid"), "focus is visible");
            focused.send_keys(&Key::Enter.to_string()).await.unwrap();
            reached = true;
            break;
        }
        focused.send_keys(&Key::Tab.to_string()).await.unwrap();
    }
    assert!(reached, "the Book button is reachable with Tab");

    browser.wait_for("#booking-id").await;
    assert_eq!(browser.heading().await, "Your appointment is booked");
    assert_eq!(browser.text("#booking-status").await, "CONFIRMED");
    let details = browser.text(".booking-detail").await;
    assert!(details.contains("Dr Ada Lovelace"), "{details}");
    assert!(details.contains("Europe/Paris"), "{details}");
    let booking_id = browser.text("#booking-id").await;

    let stored = app
        .engine()
        .booking(booking_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.booking.slot_id, slots[0].id);
    assert_eq!(stored.booking.status(), BookingStatus::Confirmed);
    browser
        .screenshot(store, "patient_signs_up_and_books")
        .await;

    // The list no longer offers the booked slot, and it fits a phone's width.
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.goto(&app.url("/slots")).await;
    browser.wait_for(".slot").await;
    let listed = browser
        .client
        .find_all(Locator::Css(&format!(".slot[data-slot-id='{first}']")))
        .await
        .unwrap();
    assert!(listed.is_empty(), "a booked slot is not offered");
    let overflow = browser
        .eval("return document.documentElement.scrollWidth - window.innerWidth;")
        .await;
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "no sideways scrolling at phone width"
    );
    browser.screenshot(store, "patient_slots_phone_width").await;
    browser.close().await;
}

async fn two_patients_racing_for_one_slot_get_one_booking_and_one_just_taken_answer(
    store: StoreKind,
) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app
        .doctor("Dr Racing", "Dermatology", "Europe/London")
        .await;
    let slot = app.slots(&doctor, 3, 1).await.remove(0);
    app.patient("Ann", "ann@example.com").await;
    app.patient("Bob", "bob@example.com").await;
    let (ann, bob) = tokio::join!(Browser::open(), Browser::open());
    tokio::join!(
        ann.sign_in(&app, "ann@example.com", PATIENT_PASSWORD),
        bob.sign_in(&app, "bob@example.com", PATIENT_PASSWORD)
    );
    let list = app.url("/slots");
    tokio::join!(ann.goto(&list), bob.goto(&list));
    let book = format!(".slot[data-slot-id='{}'] button.book", slot.id);
    tokio::join!(ann.wait_for(&book), bob.wait_for(&book));

    // Both press Book on the same slot at the same moment.
    tokio::join!(ann.click(&book), bob.click(&book));

    let outcome = "#booking-id, .flash-error";
    tokio::join!(ann.wait_for(outcome), bob.wait_for(outcome));
    let mut winners = 0;
    let mut losers = Vec::new();
    for browser in [&ann, &bob] {
        if browser
            .client
            .find(Locator::Css("#booking-id"))
            .await
            .is_ok()
        {
            winners += 1;
            assert_eq!(browser.text("#booking-status").await, "CONFIRMED");
        } else {
            let message = browser.text(".flash-error").await;
            assert!(message.contains("just taken"), "{message}");
            losers.push(browser);
        }
    }
    assert_eq!(winners, 1, "exactly one patient gets the slot");
    assert_eq!(losers.len(), 1, "the other is told it was just taken");
    losers[0].screenshot(store, "race_just_taken").await;

    let bookings = app
        .engine()
        .bookings(&BookingQuery {
            slot_id: Some(slot.id),
            limit: 10,
            ..BookingQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        bookings.items.len(),
        1,
        "exactly one booking exists for the slot"
    );
    tokio::join!(ann.close(), bob.close());
}

async fn a_patient_cancels_a_booking_after_a_confirmation_step(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Cancel", "Neurology", "Asia/Tokyo").await;
    let slot = app.slots(&doctor, 4, 1).await.remove(0);
    let patient = app.patient("Cleo", "cleo@example.com").await;
    let booking = app
        .engine()
        .book(slot.id, patient.patient_id(), None)
        .await
        .unwrap();
    let browser = Browser::open().await;
    browser
        .sign_in(&app, "cleo@example.com", PATIENT_PASSWORD)
        .await;

    browser.goto(&app.url("/bookings")).await;
    let row = format!("[data-booking-id='{}']", booking.id);
    browser.wait_for(&row).await;
    assert!(browser.text(&row).await.contains("CONFIRMED"));
    browser.click(&format!("{row} a[href$='/cancel']")).await;

    browser.wait_for("textarea#reason").await;
    assert_eq!(browser.heading().await, "Cancel this booking?");
    browser.fill("#reason", "Feeling better").await;
    browser.click("button.danger[type=submit]").await;

    browser.wait_for(".flash-ok").await;
    assert_eq!(browser.text("#booking-status").await, "CANCELLED");
    assert!(browser.page_text().await.contains("Cancelled by you"));
    let stored = app.engine().booking(booking.id).await.unwrap();
    assert_eq!(stored.booking.status(), BookingStatus::Cancelled);
    let slot_now = app.engine().slot(slot.id).await.unwrap();
    assert_eq!(
        slot_now.status,
        SlotStatus::Available,
        "the slot is free again"
    );
    browser.screenshot(store, "patient_cancels").await;
    browser.close().await;
}

async fn a_patient_holds_a_slot_sees_the_time_left_and_confirms_once(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app
        .doctor("Dr Hold", "Orthopaedics", "America/Chicago")
        .await;
    let slot = app.slots(&doctor, 2, 1).await.remove(0);
    app.patient("Hal", "hal@example.com").await;
    let browser = Browser::open().await;
    browser
        .sign_in(&app, "hal@example.com", PATIENT_PASSWORD)
        .await;
    browser.goto(&app.url("/slots")).await;
    browser
        .click(&format!(".slot[data-slot-id='{}'] button.hold", slot.id))
        .await;

    browser.wait_for("[data-countdown-until]").await;
    assert_eq!(browser.text("#booking-status").await, "PENDING");
    let left = browser.text("[data-countdown-until]").await;
    assert!(left.contains("min") && left.contains("Confirm"), "{left}");
    let held = app.engine().slot(slot.id).await.unwrap();
    assert!(matches!(held.status, SlotStatus::Held { .. }));

    // Pressing Confirm twice sends one request: the button shows it is in flight.
    let state = browser
        .eval(
            "const f = document.querySelector('form[action$=\"/confirm\"]');
             const b = f.querySelector('button');
             f.requestSubmit(b); f.requestSubmit(b);
             return [b.getAttribute('aria-disabled'), b.textContent];",
        )
        .await;
    assert_eq!(state, serde_json::json!(["true", "Confirming…"]));
    browser.wait_for(".flash-ok").await;
    assert_eq!(browser.text("#booking-status").await, "CONFIRMED");
    assert!(browser.text(".flash-ok").await.contains("Confirmed"));
    let bookings = app
        .engine()
        .bookings(&BookingQuery {
            slot_id: Some(slot.id),
            limit: 10,
            ..BookingQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(bookings.items.len(), 1);
    assert_eq!(bookings.items[0].booking.status(), BookingStatus::Confirmed);
    browser
        .screenshot(store, "patient_holds_then_confirms")
        .await;
    browser.close().await;
}

async fn an_admin_creates_a_doctor_and_a_day_of_slots_then_cancels_a_booking_into_buffer(
    store: StoreKind,
) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let browser = Browser::open().await;
    browser.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.wait_for("#upcoming-heading").await;
    assert_eq!(browser.heading().await, "Clinic dashboard");

    // A doctor, with the time zone picked from the list.
    browser.goto(&app.url("/admin/doctors")).await;
    browser.wait_for("#name").await;
    browser.fill("#name", "Dr Marie Curie").await;
    browser.fill("#specialization", "Oncology").await;
    browser
        .find("#timezone")
        .await
        .select_by_value("Europe/Paris")
        .await
        .unwrap();
    browser
        .click("form[action='/admin/doctors'] button[type=submit]")
        .await;
    browser.wait_for(".flash-ok").await;
    let doctors = app.engine().doctors(&Default::default()).await.unwrap();
    assert_eq!(doctors.len(), 1);
    let doctor = &doctors[0];
    assert_eq!(doctor.timezone, chrono_tz::Europe::Paris);

    // A day of slots: preview first, then save.
    browser
        .click(&format!("a[href='/admin/doctors/{}']", doctor.id))
        .await;
    browser.wait_for("#length").await;
    let day = (Utc::now() + Duration::days(5)).date_naive();
    browser
        .set_value("#date", &day.format("%Y-%m-%d").to_string())
        .await;
    browser.set_value("#from", "09:00").await;
    browser.set_value("#to", "11:00").await;
    browser.fill("#length", "30").await;
    browser.fill("#gap", "0").await;
    browser.click("button[value=preview]").await;
    browser.wait_for("#save-slots").await;
    let preview = browser
        .client
        .find_all(Locator::Css("ol.preview li"))
        .await
        .unwrap();
    assert_eq!(preview.len(), 4, "09:00 to 11:00 in 30-minute slots");
    assert!(
        app.engine()
            .slots(&slot_query(doctor.id))
            .await
            .unwrap()
            .items
            .is_empty(),
        "a preview saves nothing"
    );
    browser.click("#save-slots").await;
    browser.wait_for(".flash-ok").await;
    assert!(browser.text(".flash-ok").await.contains("4 slots created"));
    let slots = app
        .engine()
        .slots(&slot_query(doctor.id))
        .await
        .unwrap()
        .items;
    assert_eq!(slots.len(), 4);

    // A patient books one; the admin cancels it from the bookings list.
    let patient = app.patient("Pierre", "pierre@example.com").await;
    let booking = app
        .engine()
        .book(slots[0].slot.id, patient.patient_id(), None)
        .await
        .unwrap();
    browser.goto(&app.url("/admin/bookings")).await;
    let row = format!("tr[data-booking-id='{}']", booking.id);
    browser.wait_for(&row).await;
    assert!(browser.text(&row).await.contains("pierre@example.com"));
    browser.click(&format!("{row} a[href$='/cancel']")).await;
    browser.wait_for("textarea#reason").await;
    assert!(browser.page_text().await.contains("BUFFER"));
    browser.fill("#reason", "Doctor unwell").await;
    browser.click("button.danger[type=submit]").await;

    browser.wait_for(".flash-ok").await;
    assert_eq!(browser.text("#booking-status").await, "BUFFER");
    assert!(browser.page_text().await.contains("returns to the list at"));
    let stored = app.engine().booking(booking.id).await.unwrap();
    assert_eq!(stored.booking.status(), BookingStatus::Buffer);
    browser.screenshot(store, "admin_cancels_into_buffer").await;
    browser.close().await;
}

async fn a_patient_cannot_reach_admin_pages_nor_another_patients_booking(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Private", "Psychiatry", "UTC").await;
    let slot = app.slots(&doctor, 2, 1).await.remove(0);
    app.patient("Eve", "eve@example.com").await;
    let other = app.patient("Olga", "olga@example.com").await;
    let theirs = app
        .engine()
        .book(slot.id, other.patient_id(), None)
        .await
        .unwrap();
    let browser = Browser::open().await;
    browser
        .sign_in(&app, "eve@example.com", PATIENT_PASSWORD)
        .await;

    for path in ["/admin", "/admin/doctors", "/admin/bookings"] {
        browser.goto(&app.url(path)).await;
        assert_eq!(
            browser.heading().await,
            "This page is for clinic staff",
            "{path}"
        );
    }
    browser
        .goto(&app.url(&format!("/bookings/{}", theirs.id)))
        .await;
    assert_eq!(browser.heading().await, "Page not found");
    assert!(!browser.page_text().await.contains("Dr Private"));
    browser
        .screenshot(store, "patient_denied_other_booking")
        .await;
    browser.close().await;
}

fn slot_query(doctor: medislot_core::DoctorId) -> medislot_core::SlotQuery {
    medislot_core::SlotQuery {
        doctor_id: Some(doctor),
        limit: 100,
        ..Default::default()
    }
}

/// Refreshes the README's screenshots, `docs/screenshots/patient-slots.png`,
/// `patient-waitlist-offer.png` and `admin-dashboard.png`. Run by hand:
/// `cargo test -p medislot-server --test browser -- --ignored readme_screenshots`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/screenshots; run by hand"]
async fn readme_screenshots() {
    if !browser_available() {
        return;
    }
    let _turn = support::take_turn().await;
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    let app = TestApp::start(StoreKind::Memory).await;
    let ada = app
        .doctor("Dr Ada Lovelace", "Cardiology", "Europe/London")
        .await;
    let marie = app
        .doctor("Dr Marie Curie", "Oncology", "Europe/Paris")
        .await;
    let hideyo = app
        .doctor("Dr Hideyo Noguchi", "Infectious diseases", "Asia/Tokyo")
        .await;
    let ada_slots = app.slots(&ada, 1, 6).await;
    let marie_slots = app.slots(&marie, 1, 6).await;
    let hideyo_slots = app.slots(&hideyo, 2, 4).await;
    let grace = app.patient("Grace Hopper", "grace@example.com").await;
    let alan = app.patient("Alan Turing", "alan@example.com").await;
    let engine = app.engine();
    engine
        .book(ada_slots[0].id, grace.patient_id(), None)
        .await
        .unwrap();
    engine
        .book(marie_slots[1].id, alan.patient_id(), None)
        .await
        .unwrap();
    engine
        .hold(ada_slots[2].id, alan.patient_id())
        .await
        .unwrap();
    let cancelled = engine
        .book(marie_slots[0].id, grace.patient_id(), None)
        .await
        .unwrap();
    engine
        .cancel_as_admin(cancelled.id, Some("Doctor unwell".to_owned()))
        .await
        .unwrap();

    let patient = Browser::open_in_zone("America/New_York").await;
    patient.client.set_window_size(1280, 1000).await.unwrap();
    patient
        .sign_in(&app, "grace@example.com", PATIENT_PASSWORD)
        .await;
    patient.goto(&app.url("/slots")).await;
    patient
        .wait_for("body[data-tz='America/New_York'] .slot")
        .await;
    patient.save_screenshot(&docs, "patient-slots").await;
    // More pages to look at when reviewing a change (not for the README).
    patient.goto(&app.url("/bookings")).await;
    patient.wait_for(".booking-row").await;
    patient
        .screenshot(StoreKind::Memory, "review-my-bookings")
        .await;
    // Grace waits for Dr Noguchi; Alan's cancel offers her his slot.
    let alans = engine
        .book(hideyo_slots[1].id, alan.patient_id(), None)
        .await
        .unwrap();
    let now = engine.now();
    engine
        .join_waitlist(
            grace.patient_id(),
            medislot_core::NewEntry::new(
                medislot_core::WaitlistTarget::Doctor(hideyo.id),
                medislot_core::TimeRange::new(now, now + Duration::days(7)).unwrap(),
                None,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    engine
        .cancel_as_patient(alans.id, alan.patient_id(), None)
        .await
        .unwrap();
    patient.goto(&app.url("/waitlist")).await;
    patient.wait_for(".offer-live .offer-left[aria-live]").await;
    patient
        .save_screenshot(&docs, "patient-waitlist-offer")
        .await;
    patient.close().await;

    let admin = Browser::open().await;
    admin.client.set_window_size(1280, 900).await.unwrap();
    admin.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    admin.goto(&app.url("/admin")).await;
    admin.wait_for("#upcoming-heading").await;
    admin.save_screenshot(&docs, "admin-dashboard").await;
    admin.goto(&app.url("/admin/bookings")).await;
    admin.wait_for("tr[data-booking-id]").await;
    admin
        .screenshot(StoreKind::Memory, "review-admin-bookings")
        .await;
    admin
        .goto(&app.url(&format!("/admin/doctors/{}", marie.id)))
        .await;
    admin.wait_for("#length").await;
    admin.click("button[value=preview]").await;
    admin.wait_for("#save-slots").await;
    admin
        .screenshot(StoreKind::Memory, "review-doctor-day-preview")
        .await;
    admin.goto(&app.url("/admin/doctors")).await;
    admin.wait_for("#name").await;
    admin
        .click("form[action='/admin/doctors'] button[type=submit]")
        .await;
    admin.wait_for("#name-error").await;
    admin
        .screenshot(StoreKind::Memory, "review-doctor-form-errors")
        .await;
    admin.client.set_window_size(390, 844).await.unwrap();
    admin.goto(&app.url("/admin/bookings")).await;
    admin.wait_for("tr[data-booking-id]").await;
    admin
        .screenshot(StoreKind::Memory, "review-admin-bookings-phone")
        .await;
    admin.close().await;
}
