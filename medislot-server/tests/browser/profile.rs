//! The patient's profile page, walked by keyboard only at desktop and phone width: reached
//! from the header, a malformed phone number named next to its field, the profile saved with
//! a zone that then rules the pages, and a new password that keeps this browser signed in.

use fantoccini::key::Key;
use medislot_core::SessionGeneration;

use crate::support::{browser_available, press, tab_to, Browser, StoreKind, TestApp};

const PATIENT_PASSWORD: &str = "patient-password-1";

on_each_store!(a_patient_edits_the_profile_and_changes_the_password_by_keyboard_only);

/// Empties the focused text field by keyboard and types `text`.
async fn retype(browser: &Browser, text: &str) {
    press(browser, &Key::End.to_string()).await;
    press(browser, &Key::Backspace.to_string().repeat(60)).await;
    press(browser, text).await;
}

async fn a_patient_edits_the_profile_and_changes_the_password_by_keyboard_only(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Keys", "Dermatology", "Europe/Paris").await;
    app.slots(&doctor, 2, 1).await;
    let account = app.patient("Pia", "pia@example.com").await;
    let browser = Browser::open_in_zone("America/New_York").await;
    browser
        .sign_in(&app, "pia@example.com", PATIENT_PASSWORD)
        .await;
    for (width, height, phone, zone) in [
        (1280, 900, "+44 20 7946 0958", "Asia/Kolkata"),
        (390, 844, "+1 415 555 0100", "Europe/Paris"),
    ] {
        browser.client.set_window_size(width, height).await.unwrap();
        browser.goto(&app.url("/slots")).await;
        browser.wait_for(".slot").await;
        // From the top of the page, the header's Profile link.
        tab_to(&browser, "a[href='/profile']").await;
        press(&browser, &Key::Enter.to_string()).await;
        browser.wait_for("form[action='/profile']").await;
        assert_eq!(browser.heading().await, "Your profile");

        // A number without its country code is refused, named next to the field.
        tab_to(&browser, "#phone").await;
        retype(&browser, "020 7946 0958").await;
        press(&browser, &Key::Enter.to_string()).await;
        browser.wait_for("#phone[aria-invalid='true']").await;
        let said = browser.text("#phone-error").await;
        assert!(said.contains("+44 20 7946 0958"), "{width}px: {said}");
        assert_eq!(browser.value("#phone").await, "020 7946 0958");

        tab_to(&browser, "#phone").await;
        retype(&browser, phone).await;
        tab_to(&browser, "#time_zone").await;
        press(&browser, zone).await;
        tab_to(&browser, "form[action='/profile'] button[type=submit]").await;
        press(&browser, &Key::Enter.to_string()).await;
        browser.wait_for_address("/profile?done=saved").await;
        browser.wait_for(".flash-ok").await;
        assert_eq!(browser.value("#time_zone").await, zone, "{width}px");
        // The profile's zone rules the pages from now on.
        assert_eq!(browser.text("#page-zone").await, zone, "{width}px");
        let overflow = browser
            .eval("return document.documentElement.scrollWidth - window.innerWidth;")
            .await;
        assert!(
            overflow.as_i64().unwrap_or(1) <= 0,
            "no sideways scrolling at {width}px"
        );
        browser.screenshot(store, &format!("profile_{width}")).await;
    }
    let stored = app
        .state
        .accounts()
        .account(account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored
            .profile
            .phone
            .map(|p| p.as_str().to_owned())
            .as_deref(),
        Some("+14155550100")
    );

    // A new password: this browser stays signed in; every other session has ended.
    tab_to(&browser, "#current_password").await;
    press(&browser, PATIENT_PASSWORD).await;
    tab_to(&browser, "#new_password").await;
    press(&browser, "a much better passphrase").await;
    press(&browser, &Key::Enter.to_string()).await;
    // The page already shows the profile's "saved" notice: wait for the new address, not for it.
    browser.wait_for_address("/profile?done=password").await;
    browser.wait_for(".flash-ok").await;
    let stored = app
        .state
        .accounts()
        .account(account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.sessions, SessionGeneration::FIRST.next());
    browser.goto(&app.url("/bookings")).await;
    browser.wait_for("form[action='/signout']").await;
    browser.screenshot(store, "profile_password_changed").await;
    browser.close().await;
}
