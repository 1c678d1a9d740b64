//! A waitlist offer walked by keyboard only: the finder has nothing free, so the patient joins
//! the waitlist from it; another patient's booking is cancelled, which offers the slot; the
//! patient opens My waitlist from the navigation, sees the offer counting down, and confirms it.

use fantoccini::key::Key;
use medislot_core::{BookingStatus, EntryStatus, SlotStatus, WaitlistEntryId};

use crate::support::{browser_available, press, tab_to, Browser, StoreKind, TestApp};

const PATIENT_PASSWORD: &str = "patient-password-1";

on_each_store!(a_patient_joins_the_waitlist_and_confirms_the_offer_by_keyboard_only);

async fn a_patient_joins_the_waitlist_and_confirms_the_offer_by_keyboard_only(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Wait", "Neurology", "Europe/Paris").await;
    let slot = app.slots(&doctor, 1, 1).await.remove(0);
    let other = app.patient("Otto", "otto@example.com").await;
    let taken = app
        .engine()
        .book(slot.id, other.patient_id(), None)
        .await
        .unwrap();
    let nina = app.patient("Nina", "nina@example.com").await;
    let browser = Browser::open().await;
    browser
        .sign_in(&app, "nina@example.com", PATIENT_PASSWORD)
        .await;

    // Nothing is free with this doctor: the finder offers the waitlist, with its filter.
    browser
        .goto(&app.url(&format!("/slots?doctor={}", doctor.id)))
        .await;
    browser.wait_for("#join-waitlist").await;
    tab_to(&browser, "#join-waitlist").await;
    press(&browser, &Key::Enter.to_string()).await;
    browser.wait_for("#join").await;
    assert_eq!(
        browser.value("#target").await,
        format!("doctor:{}", doctor.id),
        "the form is filled in from the finder"
    );
    tab_to(&browser, "#join").await;
    press(&browser, &Key::Enter.to_string()).await;
    browser.wait_for_address("/waitlist?done=joined").await;
    browser.wait_for("tr[data-entry-id]").await;
    assert!(browser.page_text().await.contains("Dr Wait"));
    let entry_id = browser
        .ids("tr[data-entry-id]", "data-entry-id")
        .await
        .remove(0);

    // Another patient cancels: the slot is held for Nina, first in line.
    app.engine()
        .cancel_as_patient(taken.id, other.patient_id(), None)
        .await
        .unwrap();

    // Keyboard only: from the top of the page to My waitlist in the navigation.
    browser
        .eval("document.querySelector('a.brand').focus();")
        .await;
    tab_to(&browser, "nav a[href='/waitlist']").await;
    press(&browser, &Key::Enter.to_string()).await;
    browser.wait_for(".offer-live").await;
    assert_eq!(
        browser.text(".offer-live h2").await,
        "A slot is held for you"
    );
    // The script counts down (the server wrote "… left"; the script writes "Held for …").
    browser.wait_for(".offer-left[aria-live='polite']").await;
    assert!(
        browser.text(".offer-left").await.starts_with("Held for"),
        "the offer counts down"
    );
    browser.screenshot(store, "waitlist_offer").await;

    tab_to(&browser, "button.confirm-offer").await;
    press(&browser, &Key::Enter.to_string()).await;
    browser.wait_for("#booking-id").await;
    assert!(browser.address().await.ends_with("?done=confirmed"));
    assert_eq!(browser.text("#booking-status").await, "CONFIRMED");
    browser.screenshot(store, "waitlist_confirmed").await;

    let engine = app.engine();
    let booking_id = browser.text("#booking-id").await;
    let entry = engine
        .waitlist_entry(
            WaitlistEntryId::from_uuid(entry_id.parse().unwrap()),
            nina.patient_id(),
        )
        .await
        .unwrap();
    assert_eq!(entry.state.status(), EntryStatus::Booked);
    let view = engine
        .booking(medislot_core::BookingId::from_uuid(
            booking_id.parse().unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(view.booking.patient_id, nina.patient_id());
    assert_eq!(view.booking.status(), BookingStatus::Confirmed);
    assert_eq!(
        engine.slot(slot.id).await.unwrap().status,
        SlotStatus::Booked
    );
}
