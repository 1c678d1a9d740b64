//! The defects found by walking the pages in Chromium (issue 15), one scenario each, on every
//! store: each failed on the pages as they were, and passes on the pages as they are.

use chrono::{Duration, NaiveDate, Utc};
use medislot_core::{BookingQuery, Policy, SlotStatus};

use crate::support::{browser_available, Browser, StoreKind, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

const PATIENT_PASSWORD: &str = "patient-password-1";

on_each_store!(
    one_zone_rules_the_slot_finder_and_is_named_with_a_way_to_switch,
    the_search_survives_sign_up_and_a_sign_in_after_the_session_lapsed,
    form_addresses_never_stay_in_the_address_bar,
    an_admins_cancel_of_a_hold_says_the_slot_is_free_at_once,
    a_lost_hold_race_keeps_the_filters,
    sign_up_shows_every_fields_error_at_once,
    a_lapsed_hold_says_it_lapsed_and_offers_to_book_again,
    cancelled_bookings_leave_upcoming_for_past_or_cancelled,
    admin_bookings_are_ordered_by_appointment_time_and_found_by_part_of_a_name,
    submitted_filters_move_focus_to_the_results_and_a_past_date_says_so,
    an_old_zone_name_from_the_browser_is_shown_by_its_canonical_name,
    doctor_names_stay_on_one_line_in_the_admins_doctors_table,
    without_javascript_a_patient_picks_a_zone_filters_and_books_after_losing_a_race,
);

/// "3 Dec": how a day appears in the pages' times.
fn day_month(date: NaiveDate) -> String {
    date.format("%-d %b").to_string()
}

/// Opens `/slots` once and waits until the page script has told the server the browser's zone
/// (the first page is rendered before the server knows it, then shown again).
async fn settle_zone(browser: &Browser, app: &TestApp) {
    browser.goto(&app.url("/slots")).await;
    browser.wait_for("body[data-tz]:not([data-tz='UTC'])").await;
}

async fn one_zone_rules_the_slot_finder_and_is_named_with_a_way_to_switch(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app
        .doctor("Dr Skin", "Dermatology", "America/Los_Angeles")
        .await;
    // 20:00 UTC: noon in Los Angeles, 01:30 the next day in Kolkata.
    let day = (Utc::now() + Duration::days(3)).date_naive();
    let start = day.and_hms_opt(20, 0, 0).unwrap().and_utc();
    let slot = app.slot_at(&doctor, start).await;
    let next_day = day.succ_opt().unwrap();
    let browser = Browser::open_in_zone("Asia/Kolkata").await;
    settle_zone(&browser, &app).await;

    // Filtering by the patient's date lists the slot under that same date and zone.
    browser
        .goto(&app.url(&format!(
            "/slots?specialization=Dermatology&date={next_day}"
        )))
        .await;
    let row = format!(".slot[data-slot-id='{}']", slot.id);
    browser.wait_for(&row).await;
    let zone = browser.text("#page-zone").await;
    assert!(
        zone.contains("Asia/Kolkata"),
        "the page names its zone: {zone}"
    );
    let when = browser.text(&format!("{row} .when time")).await;
    assert!(
        when.contains(&day_month(next_day)) && when.contains("01:30"),
        "the time reads in the page's zone, on the filtered date: {when}"
    );

    // Switching to the doctor's zone: the same date filter now means the doctor's day.
    browser
        .find("#tz")
        .await
        .select_by_value("America/Los_Angeles")
        .await
        .unwrap();
    browser.click("form.filters button[type=submit]").await;
    browser
        .wait_for("body[data-tz='America/Los_Angeles']")
        .await;
    assert!(
        !browser.exists(&row).await,
        "{next_day} in Los Angeles has no slot"
    );
    browser.set_value("#date", &day.to_string()).await;
    browser.click("form.filters button[type=submit]").await;
    browser.wait_for(&row).await;
    assert!(browser
        .text("#page-zone")
        .await
        .contains("America/Los_Angeles"));
    let when = browser.text(&format!("{row} .when time")).await;
    assert!(
        when.contains(&day_month(day)) && when.contains("12:00"),
        "{when}"
    );
    browser.client.set_window_size(390, 844).await.unwrap();
    assert!(browser
        .find("#page-zone")
        .await
        .is_displayed()
        .await
        .unwrap());
    browser.screenshot(store, "review_one_zone").await;
    browser.close().await;
}

async fn the_search_survives_sign_up_and_a_sign_in_after_the_session_lapsed(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Skin", "Dermatology", "UTC").await;
    let other = app.doctor("Dr Bones", "Orthopaedics", "UTC").await;
    let slots = app.slots(&doctor, 2, 2).await;
    app.slots(&other, 2, 2).await;
    let day = (Utc::now() + Duration::days(2)).date_naive();
    let search = format!("/slots?specialization=Dermatology&date={day}");
    let browser = Browser::open().await;

    browser.goto(&app.url(&search)).await;
    browser.wait_for(".slot").await;
    browser.click(".slot a.button").await;
    browser.wait_for("form[action='/signin']").await;
    browser.click("main a[href^='/signup']").await;
    browser.wait_for("#name").await;
    browser.fill("#name", "Nina").await;
    browser.fill("#email", "nina@example.com").await;
    browser.fill("#password", PATIENT_PASSWORD).await;
    browser
        .click("form[action='/signup'] button[type=submit]")
        .await;
    browser.wait_for("form[action='/signout']").await;
    browser.wait_for(".slot").await;
    let address = browser.address().await;
    assert!(
        address.starts_with("/slots?") && address.contains("specialization=Dermatology"),
        "{address}"
    );
    assert_eq!(browser.value("#specialization").await, "Dermatology");
    assert_eq!(browser.value("#date").await, day.to_string());

    // The session lapses while the list is open; Book leads to sign in, and back.
    browser
        .client
        .delete_cookie(medislot_server::auth::SESSION_COOKIE)
        .await
        .unwrap();
    browser
        .click(&format!(
            ".slot[data-slot-id='{}'] button.book",
            slots[0].id
        ))
        .await;
    browser.wait_for("form[action='/signin']").await;
    let flash = browser.text(".flash").await;
    assert!(
        flash.contains("session"),
        "the patient is told why: {flash}"
    );
    browser.fill("#email", "nina@example.com").await;
    browser.fill("#password", PATIENT_PASSWORD).await;
    browser
        .click("form[action='/signin'] button[type=submit]")
        .await;
    browser.wait_for("form[action='/signout']").await;
    browser.wait_for(".slot").await;
    assert_eq!(browser.value("#specialization").await, "Dermatology");
    assert_eq!(browser.value("#date").await, day.to_string());
    let booked = app
        .engine()
        .bookings(&BookingQuery {
            limit: 10,
            ..BookingQuery::default()
        })
        .await
        .unwrap();
    assert!(
        booked.items.is_empty(),
        "nothing is booked behind their back"
    );
    browser.screenshot(store, "review_search_survives").await;
    browser.close().await;
}

async fn form_addresses_never_stay_in_the_address_bar(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Race", "Dermatology", "UTC").await;
    let slot = app.slots(&doctor, 3, 1).await.remove(0);
    app.patient("Ann", "ann@example.com").await;
    let bob = app.patient("Bob", "bob@example.com").await;
    let browser = Browser::open().await;
    browser
        .sign_in(&app, "ann@example.com", PATIENT_PASSWORD)
        .await;
    browser
        .goto(&app.url(&format!("/slots?doctor={}", doctor.id)))
        .await;
    let book = format!(".slot[data-slot-id='{}'] button.book", slot.id);
    browser.wait_for(&book).await;
    // Bob books it first.
    app.engine()
        .book(slot.id, bob.patient_id(), None)
        .await
        .unwrap();
    browser.click(&book).await;
    browser.wait_for(".flash-error").await;
    let address = browser.address().await;
    assert!(
        address.starts_with("/slots?") && address.contains(&doctor.id.to_string()),
        "the list's address, with its filters: {address}"
    );
    assert!(browser.text(".flash-error").await.contains("just taken"));
    // Opening a form's address leads to its page.
    browser
        .goto(&app.url(&format!("/slots/{}/book", slot.id)))
        .await;
    assert_eq!(browser.heading().await, "Find a slot");

    // A refused doctor delete.
    let admin = Browser::open().await;
    admin.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    admin.goto(&app.url("/admin/doctors")).await;
    let delete = format!("form[action='/admin/doctors/{}/delete']", doctor.id);
    admin.wait_for(&delete).await;
    admin
        .eval("document.querySelectorAll('[data-confirm]').forEach(f => f.removeAttribute('data-confirm'));")
        .await;
    admin.click(&format!("{delete} button")).await;
    admin.wait_for(".flash-error").await;
    assert!(admin.text(".flash-error").await.contains("Dr Race"));
    assert!(
        admin.address().await.starts_with("/admin/doctors?"),
        "{}",
        admin.address().await
    );
    admin
        .goto(&app.url(&format!("/admin/doctors/{}/delete", doctor.id)))
        .await;
    assert_eq!(admin.heading().await, "Doctors");
    admin
        .screenshot(store, "review_doctor_delete_refused")
        .await;
    tokio::join!(browser.close(), admin.close());
}

async fn an_admins_cancel_of_a_hold_says_the_slot_is_free_at_once(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Hold", "Dermatology", "UTC").await;
    let slot = app.slots(&doctor, 3, 1).await.remove(0);
    let patient = app.patient("Hal", "hal@example.com").await;
    let hold = app
        .engine()
        .hold(slot.id, patient.patient_id())
        .await
        .unwrap();
    let browser = Browser::open().await;
    browser.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser
        .goto(&app.url(&format!("/bookings/{}/cancel", hold.id)))
        .await;
    browser.wait_for("textarea#reason").await;
    let said = browser.text("#cancel-outcome").await;
    assert!(!said.contains("BUFFER"), "{said}");
    assert!(said.contains("at once"), "{said}");
    browser.click("button.danger[type=submit]").await;
    browser.wait_for(".flash-ok").await;
    assert_eq!(browser.text("#booking-status").await, "CANCELLED");
    let slot_now = app.engine().slot(slot.id).await.unwrap();
    assert_eq!(slot_now.status, SlotStatus::Available, "as announced");
    browser.screenshot(store, "review_admin_cancels_hold").await;
    browser.close().await;
}

async fn a_lost_hold_race_keeps_the_filters(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Race", "Dermatology", "UTC").await;
    let slot = app.slots(&doctor, 3, 2).await.remove(0);
    app.patient("Ann", "ann@example.com").await;
    let bob = app.patient("Bob", "bob@example.com").await;
    let day = (Utc::now() + Duration::days(3)).date_naive().to_string();
    let browser = Browser::open().await;
    browser
        .sign_in(&app, "ann@example.com", PATIENT_PASSWORD)
        .await;
    browser
        .goto(&app.url(&format!("/slots?doctor={}&date={day}", doctor.id)))
        .await;
    let hold = format!(".slot[data-slot-id='{}'] button.hold", slot.id);
    browser.wait_for(&hold).await;
    app.engine().hold(slot.id, bob.patient_id()).await.unwrap();
    browser.click(&hold).await;
    browser.wait_for(".flash-error").await;
    assert_eq!(browser.value("#doctor").await, doctor.id.to_string());
    assert_eq!(browser.value("#date").await, day);
    browser
        .screenshot(store, "review_hold_race_keeps_filters")
        .await;
    browser.close().await;
}

async fn sign_up_shows_every_fields_error_at_once(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let browser = Browser::open().await;
    for (width, height) in [(1280, 900), (390, 844)] {
        browser.client.set_window_size(width, height).await.unwrap();
        browser.goto(&app.url("/signup")).await;
        browser.wait_for("#name").await;
        browser
            .click("form[action='/signup'] button[type=submit]")
            .await;
        browser.wait_for("#email-error").await;
        for field in ["name", "email", "password"] {
            let error = browser.find(&format!("#{field}-error")).await;
            assert!(error.is_displayed().await.unwrap(), "{field} at {width}px");
        }
    }
    browser.screenshot(store, "review_signup_errors").await;
    browser.close().await;
}

async fn a_lapsed_hold_says_it_lapsed_and_offers_to_book_again(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let policy = Policy {
        hold: chrono::Duration::seconds(3),
        ..Policy::default()
    };
    let app = TestApp::start_with_policy(store, policy).await;
    let doctor = app.doctor("Dr Lapse", "Dermatology", "UTC").await;
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
    browser.wait_for("#booking-status").await;

    // The page itself notices the lapse (no reload), and so does a reload.
    for reload in [false, true] {
        if reload {
            browser.client.refresh().await.unwrap();
        }
        browser.wait_for(".book-again:not([hidden])").await;
        assert_eq!(browser.text("#booking-status").await, "EXPIRED", "{reload}");
        assert!(browser
            .text(".booking-detail")
            .await
            .contains("Hold expired"));
        let confirm_shown = match browser
            .client
            .find(fantoccini::Locator::Css("[data-hold-button]"))
            .await
        {
            Ok(button) => button.is_displayed().await.unwrap(),
            Err(_) => false,
        };
        assert!(!confirm_shown, "no Confirm button for a lapsed hold");
    }
    browser.click(".book-again button[type=submit]").await;
    browser.wait_for(".flash").await;
    let page = browser.page_text().await;
    assert!(browser.exists(".flash-ok").await, "booked again: {page}");
    assert_eq!(browser.text("#booking-status").await, "CONFIRMED");
    browser.screenshot(store, "review_lapsed_hold").await;
    browser.close().await;
}

async fn cancelled_bookings_leave_upcoming_for_past_or_cancelled(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr List", "Dermatology", "UTC").await;
    let slots = app.slots(&doctor, 3, 3).await;
    let patient = app.patient("Lia", "lia@example.com").await;
    let engine = app.engine();
    let active = engine
        .book(slots[0].id, patient.patient_id(), None)
        .await
        .unwrap();
    let by_me = engine
        .book(slots[1].id, patient.patient_id(), None)
        .await
        .unwrap();
    engine
        .cancel_as_patient(by_me.id, patient.patient_id(), None)
        .await
        .unwrap();
    let by_clinic = engine
        .book(slots[2].id, patient.patient_id(), None)
        .await
        .unwrap();
    engine.cancel_as_admin(by_clinic.id, None).await.unwrap();
    let browser = Browser::open().await;
    browser
        .sign_in(&app, "lia@example.com", PATIENT_PASSWORD)
        .await;
    browser.goto(&app.url("/bookings")).await;
    browser.wait_for(".booking-row").await;
    assert_eq!(
        browser.ids(".booking-row", "data-booking-id").await,
        vec![active.id.to_string()],
        "Upcoming holds only the active booking"
    );
    browser.click(".tabs a:not([aria-current])").await;
    browser
        .wait_for(".tabs a[aria-current][href*='past']")
        .await;
    let mut rest = browser.ids(".booking-row", "data-booking-id").await;
    rest.sort();
    let mut expected = vec![by_me.id.to_string(), by_clinic.id.to_string()];
    expected.sort();
    assert_eq!(rest, expected);
    assert!(browser
        .text(".tabs [aria-current]")
        .await
        .to_lowercase()
        .contains("cancelled"));
    browser.screenshot(store, "review_past_or_cancelled").await;
    browser.close().await;
}

async fn admin_bookings_are_ordered_by_appointment_time_and_found_by_part_of_a_name(
    store: StoreKind,
) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Order", "Dermatology", "UTC").await;
    let grace = app.patient("Grace Hopper", "grace@example.com").await;
    let alan = app.patient("Alan Turing", "alan@example.com").await;
    let engine = app.engine();
    // Made in this order; the appointments are on days 5, 2 and 9.
    let mut made = Vec::new();
    for (days, who) in [(5, &grace), (2, &alan), (9, &grace)] {
        let slot = app.slots(&doctor, days, 1).await.remove(0);
        made.push(
            engine
                .book(slot.id, who.patient_id(), None)
                .await
                .unwrap()
                .id
                .to_string(),
        );
    }
    let browser = Browser::open().await;
    browser.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.goto(&app.url("/admin/bookings")).await;
    browser.wait_for("tr[data-booking-id]").await;
    let rows = "tr[data-booking-id]";
    assert_eq!(
        browser.ids(rows, "data-booking-id").await,
        vec![made[1].clone(), made[0].clone(), made[2].clone()],
        "soonest appointment first"
    );
    browser
        .find("#order")
        .await
        .select_by_value("latest")
        .await
        .unwrap();
    browser.click("form.filters button[type=submit]").await;
    browser
        .wait_for("#order option[selected][value='latest']")
        .await;
    assert_eq!(
        browser.ids(rows, "data-booking-id").await,
        vec![made[2].clone(), made[0].clone(), made[1].clone()],
    );
    assert!(browser.text("#date-hint").await.contains("UTC"));

    // Part of a name.
    browser.fill("#patient", "hopp").await;
    browser.click("form.filters button[type=submit]").await;
    browser.wait_for("#patient[value='hopp']").await;
    let mut found = browser.ids(rows, "data-booking-id").await;
    found.sort();
    let mut graces = vec![made[0].clone(), made[2].clone()];
    graces.sort();
    assert_eq!(found, graces);
    // Part of an email.
    browser.fill("#patient", "alan@exa").await;
    browser.click("form.filters button[type=submit]").await;
    browser.wait_for("#patient[value='alan@exa']").await;
    assert_eq!(
        browser.ids(rows, "data-booking-id").await,
        vec![made[1].clone()]
    );
    // A part that several patients share: pick one.
    browser.fill("#patient", "example.com").await;
    browser.click("form.filters button[type=submit]").await;
    browser.wait_for(".patient-matches").await;
    browser
        .click(&format!(
            ".patient-matches a[data-patient-id='{}']",
            alan.id
        ))
        .await;
    browser.wait_for("tr[data-booking-id]").await;
    assert_eq!(
        browser.ids(rows, "data-booking-id").await,
        vec![made[1].clone()]
    );
    browser.client.set_window_size(390, 844).await.unwrap();
    let overflow = browser
        .eval("return document.documentElement.scrollWidth - window.innerWidth;")
        .await;
    assert!(overflow.as_i64().unwrap_or(1) <= 0, "no sideways scrolling");
    browser.screenshot(store, "review_admin_bookings").await;
    browser.close().await;
}

async fn submitted_filters_move_focus_to_the_results_and_a_past_date_says_so(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Focus", "Dermatology", "UTC").await;
    app.slots(&doctor, 2, 3).await;
    app.patient("Fay", "fay@example.com").await;
    let browser = Browser::open().await;
    browser
        .sign_in(&app, "fay@example.com", PATIENT_PASSWORD)
        .await;
    for (width, height) in [(1280, 900), (390, 844)] {
        browser.client.set_window_size(width, height).await.unwrap();
        browser.goto(&app.url("/slots")).await;
        browser.wait_for(".slot").await;
        browser
            .find("#specialization")
            .await
            .select_by_value("Dermatology")
            .await
            .unwrap();
        browser.click("form.filters button[type=submit]").await;
        browser
            .wait_for("#specialization option[selected][value='Dermatology']")
            .await;
        // The first slot's controls in their visual order: its (optional) reason for the
        // visit, then Book.
        assert_eq!(
            browser.tab().await,
            "visit-reason-toggle",
            "one Tab after filtering reaches the first slot at {width}px"
        );
        assert_eq!(
            browser.tab().await,
            "book",
            "the next Tab reaches its Book at {width}px"
        );
    }
    let yesterday = (Utc::now() - Duration::days(1)).date_naive().to_string();
    browser.set_value("#date", &yesterday).await;
    browser.click("form.filters button[type=submit]").await;
    browser
        .wait_for(&format!("#date[value='{yesterday}']"))
        .await;
    let said = browser.text(".empty").await;
    assert!(said.contains("has passed"), "{said}");
    browser.screenshot(store, "review_past_date").await;
    browser.close().await;
}

async fn an_old_zone_name_from_the_browser_is_shown_by_its_canonical_name(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Zone", "Dermatology", "Europe/Paris").await;
    app.slots(&doctor, 2, 1).await;
    let browser = Browser::open_in_zone("Asia/Kolkata").await;
    settle_zone(&browser, &app).await;
    browser.wait_for(".slot").await;
    let page = browser.page_text().await;
    assert!(page.contains("Asia/Kolkata"), "{page}");
    assert!(!page.contains("Calcutta"), "{page}");
    browser.screenshot(store, "review_canonical_zone").await;
    browser.close().await;
}

async fn doctor_names_stay_on_one_line_in_the_admins_doctors_table(store: StoreKind) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    for (name, specialization, zone) in [
        ("Dr Hideyo Noguchi", "Infectious diseases", "Asia/Tokyo"),
        ("Dr Marie Curie", "Oncology", "Europe/Paris"),
        (
            "Dr Elizabeth Garrett Anderson",
            "General practice",
            "America/Argentina/Buenos_Aires",
        ),
    ] {
        app.doctor(name, specialization, zone).await;
    }
    let browser = Browser::open().await;
    browser.sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for (width, height, most) in [(1280, 900, 1), (390, 844, 2)] {
        browser.client.set_window_size(width, height).await.unwrap();
        browser.goto(&app.url("/admin/doctors")).await;
        browser.wait_for("tr[data-doctor-id]").await;
        let lines = browser
            .eval(
                "return [...document.querySelectorAll('tr[data-doctor-id] td:first-child a')]
                   .map(a => a.getClientRects().length);",
            )
            .await;
        let lines: Vec<i64> = serde_json::from_value(lines).unwrap();
        assert_eq!(lines.len(), 3);
        assert!(
            lines.iter().all(|&n| n <= most),
            "lines per name at {width}px: {lines:?}"
        );
        let overflow = browser
            .eval("return document.documentElement.scrollWidth - window.innerWidth;")
            .await;
        assert!(overflow.as_i64().unwrap_or(1) <= 0, "no sideways scrolling");
        browser
            .screenshot(store, &format!("review_doctors_table_{width}"))
            .await;
    }
    browser.close().await;
}

async fn without_javascript_a_patient_picks_a_zone_filters_and_books_after_losing_a_race(
    store: StoreKind,
) {
    if !browser_available() {
        return;
    }
    let app = TestApp::start(store).await;
    let doctor = app.doctor("Dr Plain", "Dermatology", "Asia/Tokyo").await;
    let slots = app.slots(&doctor, 2, 2).await;
    app.patient("Nora", "nora@example.com").await;
    let bob = app.patient("Bob", "bob@example.com").await;
    let browser = Browser::open_without_javascript().await;
    browser
        .sign_in(&app, "nora@example.com", PATIENT_PASSWORD)
        .await;
    let cookies = browser.client.get_all_cookies().await.unwrap();
    assert!(
        cookies.iter().all(|c| c.name() != "medislot_tz"),
        "no page script ran (it would have stored the browser's zone)"
    );

    // The zone, picked on its page (no script to report the browser's).
    browser.goto(&app.url("/slots")).await;
    browser.wait_for("#page-zone").await;
    browser.click("a[href='/zone']").await;
    browser.wait_for("select#zone").await;
    browser
        .find("select#zone")
        .await
        .select_by_value("Asia/Tokyo")
        .await
        .unwrap();
    browser
        .click("form[action='/zone'] button[type=submit]")
        .await;
    browser.wait_for("body[data-tz='Asia/Tokyo']").await;
    assert_eq!(browser.address().await, "/slots");

    // Filter by the day in Tokyo; a lost race comes back to the same filters.
    // The slots' day on a Tokyo clock.
    let day = slots[0]
        .range
        .starts_at()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .date_naive()
        .to_string();
    browser.set_value("#date", &day).await;
    browser
        .find("#doctor")
        .await
        .select_by_value(&doctor.id.to_string())
        .await
        .unwrap();
    browser.click("form.filters button[type=submit]").await;
    browser.wait_for(&format!("#date[value='{day}']")).await;
    let row = format!(".slot[data-slot-id='{}']", slots[0].id);
    browser.wait_for(&row).await;
    app.engine()
        .book(slots[0].id, bob.patient_id(), None)
        .await
        .unwrap();
    browser.click(&format!("{row} button.book")).await;
    browser.wait_for(".flash-error").await;
    assert_eq!(browser.value("#date").await, day);
    let other = format!(".slot[data-slot-id='{}'] button.book", slots[1].id);
    browser.click(&other).await;
    browser.wait_for("#booking-id").await;
    assert_eq!(browser.text("#booking-status").await, "CONFIRMED");
    assert!(browser.text("#page-zone").await.contains("Asia/Tokyo"));
    browser.screenshot(store, "review_without_javascript").await;
    browser.close().await;
}
