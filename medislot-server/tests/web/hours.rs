//! The admin's working-hours page over plain HTTP (no JavaScript): the stored hours in the
//! form, Preview answering what saving would do and saving nothing, Save creating the slots
//! and showing the same outcome, a booked slot outside new hours listed with its booking,
//! every wrong field named at it with a 422, and the page refused to anyone but an admin.

use chrono::{Duration, NaiveDate, Utc};
use medislot_core::{Doctor, NewDoctor, PatientId, SlotQuery, MAX_PAGE_SIZE};
use poem::http::StatusCode;

use crate::{Page, Web, ADMIN_EMAIL};

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn ymd(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

async fn doctor(web: &Web) -> Doctor {
    web.state
        .engine()
        .create_doctor(NewDoctor::new("Dr Hours", "General practice", "UTC").unwrap())
        .await
        .unwrap()
}

/// One rule: `hours` on every day, 30-minute slots, valid from tomorrow (UTC); then `extra`
/// fields (which replace the rule's own of the same name).
fn form(csrf: &str, hours: &str, extra: &[(&'static str, &str)]) -> Vec<(String, String)> {
    let tomorrow = ymd(Utc::now().date_naive() + Duration::days(1));
    let mut form: Vec<(String, String)> = vec![
        ("csrf_token".into(), csrf.into()),
        ("rules".into(), "1".into()),
        ("r0-slot".into(), "30".into()),
        ("r0-gap".into(), "0".into()),
        ("r0-from".into(), tomorrow),
        ("r0-until".into(), String::new()),
        ("days-off".into(), String::new()),
        ("time-off".into(), String::new()),
        ("extra-hours".into(), String::new()),
    ];
    for day in WEEKDAYS {
        form.push((format!("r0-{day}"), hours.into()));
    }
    for (name, value) in extra {
        form.retain(|(n, _)| n != name);
        form.push(((*name).into(), (*value).into()));
    }
    form
}

async fn post(web: &Web, path: &str, cookie: &str, form: &[(String, String)]) -> Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    web.post(path, cookie, &pairs).await
}

/// The number shown in `<strong id="{id}">`.
fn count(page: &Page, id: &str) -> usize {
    let marker = format!("id=\"{id}\">");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("{id}: {}", page.body))
        + marker.len();
    let end = page.body[start..].find('<').unwrap() + start;
    page.body[start..end].parse().unwrap()
}

async fn slot_count(web: &Web, doctor: &Doctor) -> usize {
    web.state
        .engine()
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

/// Whether the doctor has no stored hours and no slots.
async fn nothing_stored(web: &Web, doctor: &Doctor) -> bool {
    let hours = web.state.engine().doctor_hours(doctor.id).await.unwrap();
    hours.is_empty() && slot_count(web, doctor).await == 0
}

/// An app with the admin signed in and a doctor (in UTC, no hours yet): the admin's cookie,
/// the doctor, the hours page's address and its form token.
async fn open_hours_page(web: &Web) -> (String, Doctor, String, String) {
    let admin = web.sign_in(ADMIN_EMAIL).await;
    let doctor = doctor(web).await;
    let path = format!("/admin/doctors/{}/hours", doctor.id);
    let csrf = web.get(&path, &admin).await.csrf();
    (admin, doctor, path, csrf)
}

/// Every day from tomorrow to the horizon's last day (8 weeks from now): 56 days, 4 slots each.
const EIGHT_WEEKS_OF_MORNINGS: usize = 56 * 4;

#[tokio::test]
async fn previewing_hours_shows_the_slots_they_would_make_day_by_day_and_saves_nothing() {
    let web = Web::start().await;
    let admin = web.sign_in(ADMIN_EMAIL).await;
    let doctor = doctor(&web).await;
    // The doctor's admin page and calendar lead here.
    let path = format!("/admin/doctors/{}/hours", doctor.id);
    for from in [
        format!("/admin/doctors/{}", doctor.id),
        format!("/admin/doctors/{}/calendar", doctor.id),
    ] {
        let page = web.get(&from, &admin).await;
        assert!(page.body.contains(&format!("href=\"{path}\"")), "{from}");
    }
    let page = web.get(&path, &admin).await;
    page.assert_html(StatusCode::OK);
    assert!(
        page.body.contains("<legend>Weekly rule 1</legend>"),
        "{}",
        page.body
    );
    let csrf = page.csrf();

    let preview = post(
        &web,
        &path,
        &admin,
        &form(&csrf, "09:00-11:00", &[("action", "preview")]),
    )
    .await;
    preview.assert_html(StatusCode::OK);
    assert!(
        preview.body.contains("Preview: nothing saved yet"),
        "{}",
        preview.body
    );
    assert_eq!(count(&preview, "created-count"), EIGHT_WEEKS_OF_MORNINGS);
    assert_eq!(count(&preview, "withdrawn-count"), 0);
    let tomorrow = Utc::now().date_naive() + Duration::days(1);
    let line = format!("data-date=\"{}\"><strong>", ymd(tomorrow));
    let at = preview.body.find(&line).expect("tomorrow's line");
    let line = &preview.body[at..at + preview.body[at..].find("</li>").unwrap()];
    assert!(
        line.contains("(4): 09:00–11:00: 4 slots of 30 min"),
        "{line}"
    );
    // The form keeps what was typed.
    assert!(preview
        .body
        .contains("id=\"r0-sun\" name=\"r0-sun\" type=\"text\" value=\"09:00-11:00\""));

    assert!(
        nothing_stored(&web, &doctor).await,
        "a preview saves nothing"
    );
}

#[tokio::test]
async fn saving_hours_creates_their_slots_shows_the_outcome_and_the_form_shows_them_after() {
    let web = Web::start().await;
    let (admin, doctor, path, csrf) = open_hours_page(&web).await;

    let saved = post(
        &web,
        &path,
        &admin,
        &form(
            &csrf,
            "09:00-11:00",
            &[("action", "save"), ("days-off", "2031-12-24")],
        ),
    )
    .await;
    saved.assert_html(StatusCode::OK);
    assert!(saved.body.contains("Saved: what changed"), "{}", saved.body);
    assert!(saved.body.contains(&format!(
        "Working hours saved: {EIGHT_WEEKS_OF_MORNINGS} slots created, 0 withdrawn."
    )));
    assert_eq!(count(&saved, "created-count"), EIGHT_WEEKS_OF_MORNINGS);
    assert_eq!(slot_count(&web, &doctor).await, EIGHT_WEEKS_OF_MORNINGS);
    let stored = web.state.engine().doctor_hours(doctor.id).await.unwrap();
    assert_eq!(stored.rules().len(), 1);
    assert_eq!(stored.exceptions().len(), 1);

    // Opened again, the form holds the stored hours; previewing them changes nothing.
    let page = web.get(&path, &admin).await;
    assert!(page
        .body
        .contains("id=\"r0-wed\" name=\"r0-wed\" type=\"text\" value=\"09:00-11:00\""));
    assert!(
        page.body.contains(">2031-12-24</textarea>"),
        "{}",
        page.body
    );
    let again = post(
        &web,
        &path,
        &admin,
        &form(&csrf, "09:00-11:00", &[("action", "preview")]),
    )
    .await;
    assert_eq!(count(&again, "created-count"), 0);
    assert_eq!(count(&again, "existing-count"), EIGHT_WEEKS_OF_MORNINGS);
}

#[tokio::test]
async fn a_booked_slot_outside_new_hours_is_kept_and_listed_with_a_link_to_its_booking() {
    let web = Web::start().await;
    let (admin, doctor, path, csrf) = open_hours_page(&web).await;
    post(
        &web,
        &path,
        &admin,
        &form(&csrf, "09:00-11:00", &[("action", "save")]),
    )
    .await;
    let engine = web.state.engine();
    let first = engine
        .slots(&SlotQuery {
            doctor_id: Some(doctor.id),
            limit: 1,
            ..SlotQuery::default()
        })
        .await
        .unwrap()
        .items
        .remove(0);
    let booking = engine
        .book(first.slot.id, PatientId::new(), None)
        .await
        .unwrap();

    // Afternoons now: every morning slot goes but the booked one, which also blocks nothing
    // in the afternoon.
    for action in ["preview", "save"] {
        let page = post(
            &web,
            &path,
            &admin,
            &form(&csrf, "14:00-16:00", &[("action", action)]),
        )
        .await;
        page.assert_html(StatusCode::OK);
        assert_eq!(count(&page, "outside-count"), 1, "{action}");
        assert_eq!(count(&page, "withdrawn-count"), EIGHT_WEEKS_OF_MORNINGS - 1);
        assert!(page
            .body
            .contains(&format!("href=\"/bookings/{}\"", booking.id)));
        assert!(page.body.contains("Booked slots outside these hours"));
    }
    let view = engine.slot(first.slot.id).await.unwrap();
    assert_eq!(
        view.status,
        medislot_core::SlotStatus::Booked,
        "never withdrawn"
    );
}

#[tokio::test]
async fn each_wrong_field_is_named_at_it_with_a_422_and_nothing_is_saved() {
    let web = Web::start().await;
    let (admin, doctor, path, csrf) = open_hours_page(&web).await;
    for action in ["preview", "save"] {
        let page = post(
            &web,
            &path,
            &admin,
            &form(
                &csrf,
                "09:00-11:00",
                &[
                    ("action", action),
                    ("r0-tue", "12:00-09:00"),
                    ("r0-slot", "3"),
                    ("days-off", "2031-12-24\n24/12/2031"),
                ],
            ),
        )
        .await;
        page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
        let tuesday = page.error_for("r0-tue").expect("the interval's error");
        assert!(
            tuesday.contains("“12:00-09:00”") && tuesday.contains("later than the start"),
            "{tuesday}"
        );
        assert!(page.error_for("r0-slot").unwrap().contains("from 5 to 720"));
        assert!(page.error_for("days-off").unwrap().contains("Line 2"));
        assert!(page.error_for("r0-mon").is_none());
        // Linked from the field, listed above the form with a link to it.
        assert!(page
            .body
            .contains("aria-describedby=\"r0-days-hint r0-tue-error\" aria-invalid=\"true\""));
        assert!(page.body.contains("<a href=\"#r0-tue\">Rule 1, Tuesday: "));
        assert!(page.body.contains("3 fields need a change"));
        // What was typed stays.
        assert!(page.body.contains("value=\"12:00-09:00\""));
    }
    // Hours that would make too many slots: the engine's refusal, above the form.
    let page = post(
        &web,
        &path,
        &admin,
        &form(
            &csrf,
            "00:00-23:55",
            &[("action", "save"), ("r0-slot", "5")],
        ),
    )
    .await;
    page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body
            .contains("id=\"form-error\">These hours make more than 5000"),
        "{}",
        page.body
    );
    assert!(nothing_stored(&web, &doctor).await);
}

#[tokio::test]
async fn adding_a_rule_keeps_what_was_typed_and_focuses_the_new_rule() {
    let web = Web::start().await;
    let (admin, doctor, path, csrf) = open_hours_page(&web).await;
    let page = post(
        &web,
        &path,
        &admin,
        &form(&csrf, "09:00-11:00", &[("action", "add_rule")]),
    )
    .await;
    page.assert_html(StatusCode::OK);
    assert!(page.body.contains("<legend>Weekly rule 2</legend>"));
    assert!(page.body.contains("name=\"rules\" value=\"2\""));
    assert!(page.body.contains(
        "id=\"r1-mon\" name=\"r1-mon\" type=\"text\" value=\"\" autocomplete=\"off\" autofocus"
    ));
    assert!(page
        .body
        .contains("id=\"r0-mon\" name=\"r0-mon\" type=\"text\" value=\"09:00-11:00\""));
    assert!(nothing_stored(&web, &doctor).await);
}

#[tokio::test]
async fn only_an_admin_with_the_pages_form_token_can_open_or_post_the_hours_page() {
    let web = Web::start().await;
    let admin = web.sign_in(ADMIN_EMAIL).await;
    let (_, patient) = web.patient("curious@example.com").await;
    let doctor = doctor(&web).await;
    let path = format!("/admin/doctors/{}/hours", doctor.id);

    let page = web.get(&path, &patient).await;
    page.assert_html(StatusCode::FORBIDDEN);
    assert!(page.body.contains("This page is for clinic staff"));
    let patient_csrf = web.get("/profile", &patient).await.csrf();
    let page = post(
        &web,
        &path,
        &patient,
        &form(&patient_csrf, "09:00-11:00", &[("action", "save")]),
    )
    .await;
    page.assert_html(StatusCode::FORBIDDEN);
    // Signed out: to the sign-in page, coming back here.
    let page = web.get(&path, "").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location.unwrap().starts_with("/signin?next="));
    // An admin's form without its token is stale.
    let page = post(
        &web,
        &path,
        &admin,
        &form("", "09:00-11:00", &[("action", "save")]),
    )
    .await;
    page.assert_html(StatusCode::FORBIDDEN);
    assert!(page.body.contains("This form has expired"), "{}", page.body);
    // A doctor that does not exist.
    let page = web.get("/admin/doctors/nobody/hours", &admin).await;
    page.assert_html(StatusCode::NOT_FOUND);

    assert!(nothing_stored(&web, &doctor).await);
}

/// A typical preview (mornings and afternoons on weekdays, eight weeks) stays within the
/// budget of the other pages, with the CSS and JS it loads.
#[tokio::test]
async fn the_hours_page_with_a_preview_stays_within_its_size_budget() {
    let web = Web::start().await;
    let (admin, _, path, csrf) = open_hours_page(&web).await;
    let page = post(
        &web,
        &path,
        &admin,
        &form(
            &csrf,
            "09:00-12:00, 14:00-17:30",
            &[
                ("action", "preview"),
                ("r0-sat", ""),
                ("r0-sun", ""),
                ("r0-gap", "10"),
            ],
        ),
    )
    .await;
    page.assert_html(StatusCode::OK);
    assert!(count(&page, "created-count") > 300);
    let css = web.get("/assets/app.css", "").await.body.len();
    let js = web.get("/assets/app.js", "").await.body.len();
    let total = page.body.len() + css + js;
    eprintln!(
        "{path} with a preview: HTML {} B + CSS {css} B + JS {js} B = {total} B",
        page.body.len()
    );
    assert!(total <= 40_000, "{total} B over 40000 B");
}
