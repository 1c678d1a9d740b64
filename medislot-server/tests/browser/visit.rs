//! The reason for the visit, given by keyboard only on a phone-width finder: opened from the
//! slot's "Reason for visit" disclosure, typed, booked, and read back on the booking's page.

use fantoccini::key::Key;

use crate::support::{browser_available, press, tab_to, Browser, StoreKind, TestApp};

const PATIENT_PASSWORD: &str = "patient-password-1";

on_each_store!(a_patient_gives_a_reason_for_the_visit_by_keyboard_and_reads_it_back);

async fn a_patient_gives_a_reason_for_the_visit_by_keyboard_and_reads_it_back(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Reason", "Dermatology", "Europe/Paris").await;
    let slot = app.slots(&doctor, 2, 1).await.remove(0);
    let vera = app.patient("Vera", "vera@example.com").await;
    let browser = Browser::open().await;
    browser
        .sign_in(&app, "vera@example.com", PATIENT_PASSWORD)
        .await;
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.goto(&app.url("/slots")).await;
    let card = format!(".slot[data-slot-id='{}']", slot.id);
    browser.wait_for(&card).await;

    // Closed at first: the textarea is not in the Tab order until the patient opens it.
    tab_to(&browser, &format!("{card} summary")).await;
    press(&browser, &Key::Enter.to_string()).await;
    tab_to(&browser, &format!("{card} textarea[name=visit_reason]")).await;
    press(&browser, "Itchy rash on both arms").await;
    browser.screenshot(store, "visit_reason_390").await;
    tab_to(&browser, &format!("{card} button.book")).await;
    press(&browser, &Key::Enter.to_string()).await;

    browser.wait_for("#visit-reason").await;
    assert_eq!(browser.text("#booking-status").await, "CONFIRMED");
    assert_eq!(
        browser.text("#visit-reason").await,
        "Itchy rash on both arms"
    );
    let stored = app
        .engine()
        .patient_bookings(
            vera.patient_id(),
            &medislot_core::BookingQuery {
                limit: 5,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .items;
    assert_eq!(
        stored[0].booking.visit_reason.as_deref(),
        Some("Itchy rash on both arms")
    );
}
