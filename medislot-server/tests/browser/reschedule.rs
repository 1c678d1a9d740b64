//! A reschedule walked by keyboard only: from the booking's page to the finder in reschedule
//! mode, "Move here" on another time, the confirm step, and the moved booking's page; then the
//! old booking reads as rescheduled and the old time is free again.

use fantoccini::key::Key;
use medislot_core::{BookingStatus, SlotStatus};

use crate::support::{browser_available, press, tab_to, Browser, StoreKind, TestApp};

const PATIENT_PASSWORD: &str = "patient-password-1";

on_each_store!(a_patient_moves_a_booking_to_another_time_by_keyboard_only);

async fn a_patient_moves_a_booking_to_another_time_by_keyboard_only(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Move", "Cardiology", "Europe/Paris").await;
    let slots = app.slots(&doctor, 1, 3).await;
    let patient = app.patient("Rosa", "rosa@example.com").await;
    let old = app
        .engine()
        .book(slots[0].id, patient.patient_id(), None)
        .await
        .unwrap();
    let browser = Browser::open().await;
    browser
        .sign_in(&app, "rosa@example.com", PATIENT_PASSWORD)
        .await;
    browser
        .goto(&app.url(&format!("/bookings/{}", old.id)))
        .await;
    browser.wait_for("#reschedule").await;

    tab_to(&browser, "#reschedule").await;
    press(&browser, &Key::Enter.to_string()).await;
    let move_here = format!(".slot[data-slot-id='{}'] a.move", slots[2].id);
    browser.wait_for(&move_here).await;
    assert!(
        !browser
            .exists(&format!(".slot[data-slot-id='{}']", slots[0].id))
            .await,
        "the booked time itself is not offered"
    );
    tab_to(&browser, &move_here).await;
    press(&browser, &Key::Enter.to_string()).await;

    browser.wait_for(".new-time").await;
    assert_eq!(browser.heading().await, "Move this booking?");
    browser.screenshot(store, "reschedule_confirm").await;
    tab_to(&browser, "form[action$='/reschedule'] button[type=submit]").await;
    press(&browser, &Key::Enter.to_string()).await;

    browser.wait_for("#booking-id").await;
    let new_id = browser.text("#booking-id").await;
    assert_ne!(
        new_id,
        old.id.to_string(),
        "a new booking took the new time"
    );
    assert!(browser.address().await.ends_with("?done=rescheduled"));
    assert_eq!(browser.text("#booking-status").await, "CONFIRMED");
    browser.screenshot(store, "reschedule_done").await;

    let engine = app.engine();
    let stored_old = engine.booking(old.id).await.unwrap().booking;
    assert_eq!(stored_old.status(), BookingStatus::Rescheduled);
    assert_eq!(
        engine.slot(slots[0].id).await.unwrap().status,
        SlotStatus::Available
    );
    assert_eq!(
        engine.slot(slots[2].id).await.unwrap().status,
        SlotStatus::Booked
    );
}
