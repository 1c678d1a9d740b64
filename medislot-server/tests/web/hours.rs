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

/// One rule: `hours` on every day, 30-minute slots, valid from tomorrow (UTC); then `fields`
/// (which replace the rule's own of the same name).
fn form(csrf: &str, hours: &str, fields: &[(&'static str, &str)]) -> Vec<(String, String)> {
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
    for (name, value) in fields {
        form.retain(|(n, _)| n != name);
        form.push(((*name).into(), (*value).into()));
    }
    form
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

/// The setup every test starts from: an app with the admin signed in and a doctor (in UTC,
/// no hours yet) whose hours page the admin has opened.
struct HoursPage {
    web: Web,
    /// The admin's session cookie.
    admin: String,
    doctor: Doctor,
    /// The hours page's address.
    path: String,
    /// The admin's form token, read from the page.
    csrf: String,
}

impl HoursPage {
    async fn open() -> Self {
        let web = Web::start().await;
        let admin = web.sign_in(ADMIN_EMAIL).await;
        let doctor = web
            .state
            .engine()
            .create_doctor(NewDoctor::new("Dr Hours", "General practice", "UTC").unwrap())
            .await
            .unwrap();
        let path = format!("/admin/doctors/{}/hours", doctor.id);
        let csrf = web.get(&path, &admin).await.csrf();
        Self {
            web,
            admin,
            doctor,
            path,
            csrf,
        }
    }

    /// The admin presses `action` on the form with `hours` on every day of one rule.
    async fn submit(&self, action: &str, hours: &str) -> Page {
        self.submit_with(action, hours, &[]).await
    }

    /// As [`HoursPage::submit`], with `fields` changed from the form's own.
    async fn submit_with(
        &self,
        action: &str,
        hours: &str,
        fields: &[(&'static str, &str)],
    ) -> Page {
        self.submit_as(&self.admin, &self.csrf, action, hours, fields)
            .await
    }

    /// As [`HoursPage::submit_with`], sent with `cookie` and form token `csrf`.
    async fn submit_as(
        &self,
        cookie: &str,
        csrf: &str,
        action: &str,
        hours: &str,
        fields: &[(&'static str, &str)],
    ) -> Page {
        let mut form = form(csrf, hours, fields);
        form.push(("action".into(), action.into()));
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.web.post(&self.path, cookie, &pairs).await
    }

    /// How many slots the doctor has.
    async fn slot_count(&self) -> usize {
        self.web
            .state
            .engine()
            .slots(&SlotQuery {
                doctor_id: Some(self.doctor.id),
                limit: MAX_PAGE_SIZE,
                ..SlotQuery::default()
            })
            .await
            .unwrap()
            .items
            .len()
    }

    /// Whether the doctor has no stored hours and no slots.
    async fn nothing_stored(&self) -> bool {
        let hours = self
            .web
            .state
            .engine()
            .doctor_hours(self.doctor.id)
            .await
            .unwrap();
        hours.is_empty() && self.slot_count().await == 0
    }
}

/// Every day from tomorrow to the horizon's last day (8 weeks from now): 56 days, 4 slots each.
const EIGHT_WEEKS_OF_MORNINGS: usize = 56 * 4;

#[tokio::test]
async fn previewing_hours_shows_the_slots_they_would_make_day_by_day_and_saves_nothing() {
    let hours = HoursPage::open().await;
    let (web, admin, path) = (&hours.web, &hours.admin, &hours.path);
    // The doctor's admin page and calendar lead here.
    for from in [
        format!("/admin/doctors/{}", hours.doctor.id),
        format!("/admin/doctors/{}/calendar", hours.doctor.id),
    ] {
        let page = web.get(&from, admin).await;
        assert!(page.body.contains(&format!("href=\"{path}\"")), "{from}");
    }
    let page = web.get(path, admin).await;
    page.assert_html(StatusCode::OK);
    assert!(
        page.body.contains("<legend>Weekly rule 1</legend>"),
        "{}",
        page.body
    );

    let preview = hours.submit("preview", "09:00-11:00").await;
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

    assert!(hours.nothing_stored().await, "a preview saves nothing");
}

#[tokio::test]
async fn saving_hours_creates_their_slots_shows_the_outcome_and_the_form_shows_them_after() {
    let hours = HoursPage::open().await;

    let saved = hours
        .submit_with("save", "09:00-11:00", &[("days-off", "2031-12-24")])
        .await;
    saved.assert_html(StatusCode::OK);
    assert!(saved.body.contains("Saved: what changed"), "{}", saved.body);
    assert!(saved.body.contains(&format!(
        "Working hours saved: {EIGHT_WEEKS_OF_MORNINGS} slots created, 0 withdrawn."
    )));
    assert_eq!(count(&saved, "created-count"), EIGHT_WEEKS_OF_MORNINGS);
    assert_eq!(hours.slot_count().await, EIGHT_WEEKS_OF_MORNINGS);
    let engine = hours.web.state.engine();
    let stored = engine.doctor_hours(hours.doctor.id).await.unwrap();
    assert_eq!(stored.rules().len(), 1);
    assert_eq!(stored.exceptions().len(), 1);

    // Opened again, the form holds the stored hours; previewing them changes nothing.
    let page = hours.web.get(&hours.path, &hours.admin).await;
    assert!(page
        .body
        .contains("id=\"r0-wed\" name=\"r0-wed\" type=\"text\" value=\"09:00-11:00\""));
    assert!(
        page.body.contains(">2031-12-24</textarea>"),
        "{}",
        page.body
    );
    let again = hours.submit("preview", "09:00-11:00").await;
    assert_eq!(count(&again, "created-count"), 0);
    assert_eq!(count(&again, "existing-count"), EIGHT_WEEKS_OF_MORNINGS);
}

#[tokio::test]
async fn a_booked_slot_outside_new_hours_is_kept_and_listed_with_a_link_to_its_booking() {
    let hours = HoursPage::open().await;
    hours.submit("save", "09:00-11:00").await;
    let engine = hours.web.state.engine();
    let first = engine
        .slots(&SlotQuery {
            doctor_id: Some(hours.doctor.id),
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
        let page = hours.submit(action, "14:00-16:00").await;
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
    let hours = HoursPage::open().await;
    for action in ["preview", "save"] {
        let page = hours
            .submit_with(
                action,
                "09:00-11:00",
                &[
                    ("r0-tue", "12:00-09:00"),
                    ("r0-slot", "3"),
                    ("days-off", "2031-12-24\n24/12/2031"),
                ],
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
    let page = hours
        .submit_with("save", "00:00-23:55", &[("r0-slot", "5")])
        .await;
    page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body
            .contains("id=\"form-error\">These hours make more than 5000"),
        "{}",
        page.body
    );
    assert!(hours.nothing_stored().await);
}

#[tokio::test]
async fn adding_a_rule_keeps_what_was_typed_and_focuses_the_new_rule() {
    let hours = HoursPage::open().await;
    let page = hours.submit("add_rule", "09:00-11:00").await;
    page.assert_html(StatusCode::OK);
    assert!(page.body.contains("<legend>Weekly rule 2</legend>"));
    assert!(page.body.contains("name=\"rules\" value=\"2\""));
    assert!(page.body.contains(
        "id=\"r1-mon\" name=\"r1-mon\" type=\"text\" value=\"\" autocomplete=\"off\" autofocus"
    ));
    assert!(page
        .body
        .contains("id=\"r0-mon\" name=\"r0-mon\" type=\"text\" value=\"09:00-11:00\""));
    assert!(hours.nothing_stored().await);
}

#[tokio::test]
async fn only_an_admin_with_the_pages_form_token_can_open_or_post_the_hours_page() {
    let hours = HoursPage::open().await;
    let (web, path) = (&hours.web, &hours.path);
    let (_, patient) = web.patient("curious@example.com").await;

    let page = web.get(path, &patient).await;
    page.assert_html(StatusCode::FORBIDDEN);
    assert!(page.body.contains("This page is for clinic staff"));
    let patient_csrf = web.get("/profile", &patient).await.csrf();
    let page = hours
        .submit_as(&patient, &patient_csrf, "save", "09:00-11:00", &[])
        .await;
    page.assert_html(StatusCode::FORBIDDEN);
    // Signed out: to the sign-in page, coming back here.
    let page = web.get(path, "").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location.unwrap().starts_with("/signin?next="));
    // An admin's form without its token is stale.
    let page = hours
        .submit_as(&hours.admin, "", "save", "09:00-11:00", &[])
        .await;
    page.assert_html(StatusCode::FORBIDDEN);
    assert!(page.body.contains("This form has expired"), "{}", page.body);
    // A doctor that does not exist.
    let page = web.get("/admin/doctors/nobody/hours", &hours.admin).await;
    page.assert_html(StatusCode::NOT_FOUND);

    assert!(hours.nothing_stored().await);
}

/// A typical preview (mornings and afternoons on weekdays, eight weeks) stays within the
/// budget of the other pages, with the CSS and JS it loads.
#[tokio::test]
async fn the_hours_page_with_a_preview_stays_within_its_size_budget() {
    let hours = HoursPage::open().await;
    let page = hours
        .submit_with(
            "preview",
            "09:00-12:00, 14:00-17:30",
            &[("r0-sat", ""), ("r0-sun", ""), ("r0-gap", "10")],
        )
        .await;
    page.assert_html(StatusCode::OK);
    assert!(count(&page, "created-count") > 300);
    let css = hours.web.get("/assets/app.css", "").await.body.len();
    let js = hours.web.get("/assets/app.js", "").await.body.len();
    let total = page.body.len() + css + js;
    eprintln!(
        "{} with a preview: HTML {} B + CSS {css} B + JS {js} B = {total} B",
        hours.path,
        page.body.len()
    );
    assert!(total <= 40_000, "{total} B over 40000 B");
}
