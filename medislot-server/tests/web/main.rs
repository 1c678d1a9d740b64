//! The web UI's error paths over plain HTTP (poem's test client): bad form input is answered
//! with the page again and the error next to its field, with a 4xx status; refusals are pages
//! in words; never JSON, never a 500.

use chrono::{Duration, Utc};
use medislot_core::{BookingQuery, Doctor, NewDoctor, Slot, TimeRange};
use medislot_server::{accounts, app, AppConfig, AppState, Stores};
use poem::endpoint::BoxEndpoint;
use poem::http::{header, StatusCode};
use poem::test::{TestClient, TestResponse};
use poem::Response;

mod audit;
mod hours;
mod outbox;
mod password_reset;
mod profile;
mod waitlist;
mod week;

const ADMIN_EMAIL: &str = "admin@clinic.example";
const PASSWORD: &str = "a-long-password";

struct Web {
    cli: TestClient<BoxEndpoint<'static, Response>>,
    state: AppState,
}

/// A page as received: its status, location, and body.
struct Page {
    status: StatusCode,
    location: Option<String>,
    content_type: String,
    /// Every `Set-Cookie`, as sent.
    set_cookies: Vec<String>,
    body: String,
}

impl Page {
    async fn read(resp: TestResponse) -> Self {
        let response = resp.0;
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header(header::LOCATION);
        let content_type = header(header::CONTENT_TYPE).unwrap_or_default();
        let set_cookies = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        let body = response.into_body().into_string().await.expect("body");
        Self {
            status,
            location,
            content_type,
            set_cookies,
            body,
        }
    }

    /// The message shown next to the field `id` (`<p class="error" id="{id}-error">`).
    fn error_for(&self, id: &str) -> Option<String> {
        let marker = format!("id=\"{id}-error\">");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find("</p>")? + start;
        Some(self.body[start..end].to_owned())
    }

    /// An HTML page, not problem+json, and not a server error.
    fn assert_html(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(
            self.content_type.starts_with("text/html"),
            "a page, not {}: {}",
            self.content_type,
            self.body
        );
        assert!(
            !self.body.contains("\"code\":"),
            "no raw JSON: {}",
            self.body
        );
    }

    fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = self.body[start..].find('"').expect("end of value") + start;
        self.body[start..end].to_owned()
    }
}

impl Web {
    async fn start() -> Self {
        Self::start_with_clock(std::sync::Arc::new(medislot_core::SystemClock)).await
    }

    /// As [`Web::start`], reading time from `clock` (a manual clock lets an offer lapse).
    async fn start_with_clock(clock: std::sync::Arc<dyn medislot_core::Clock>) -> Self {
        let config = AppConfig {
            auth_attempts_per_minute: 0,
            ..AppConfig::default()
        };
        let state = AppState::with_clock(Stores::memory(), config, clock).expect("state");
        accounts::ensure_admin(
            state.accounts(),
            state.passwords(),
            ADMIN_EMAIL,
            PASSWORD,
            state.engine().now(),
        )
        .await
        .expect("admin");
        Self {
            cli: TestClient::new(app(state.clone())),
            state,
        }
    }

    async fn get(&self, path: &str, cookie: &str) -> Page {
        Page::read(
            self.cli
                .get(path)
                .header(header::COOKIE, cookie)
                .send()
                .await,
        )
        .await
    }

    async fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> Page {
        Page::read(
            self.cli
                .post(path)
                .header(header::COOKIE, cookie)
                .form(&form)
                .send()
                .await,
        )
        .await
    }

    /// Posts `form` to `path` with extra `headers` (a browser's `Origin`, `Host`,
    /// `Sec-Fetch-Site`).
    async fn post_with(&self, path: &str, headers: &[(&str, &str)], form: &[(&str, &str)]) -> Page {
        let mut request = self.cli.post(path).form(&form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Page::read(request.send().await).await
    }

    /// Signs in through the form; returns the session cookie to send back.
    async fn sign_in(&self, email: &str) -> String {
        let resp = self
            .cli
            .post("/signin")
            .form(&[("email", email), ("password", PASSWORD)])
            .send()
            .await;
        resp.assert_status(StatusCode::SEE_OTHER);
        let set_cookie = resp
            .0
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("a session cookie");
        set_cookie
            .split(';')
            .next()
            .expect("cookie pair")
            .to_owned()
    }

    async fn patient(&self, email: &str) -> (medislot_core::Account, String) {
        let account = accounts::register_patient(&self.state, email, PASSWORD, "Pat")
            .await
            .expect("patient");
        let cookie = self.sign_in(email).await;
        (account, cookie)
    }

    async fn doctor_with_slots(&self, count: usize) -> (Doctor, Vec<Slot>) {
        let engine = self.state.engine();
        let doctor = engine
            .create_doctor(NewDoctor::new("Dr Who", "General practice", "Europe/Paris").unwrap())
            .await
            .unwrap();
        // Whole minutes, as slots made through the pages are.
        // 10:00 UTC two days ahead: a fixed time of day, so an hour either side of a slot never
        // crosses midnight in the doctor's zone, whenever the tests run.
        let today = Utc::now()
            .date_naive()
            .and_hms_opt(10, 0, 0)
            .unwrap()
            .and_utc();
        let start = today + Duration::days(2);
        let ranges: Vec<TimeRange> = (0..count as i64)
            .map(|i| {
                let s = start + Duration::hours(i);
                TimeRange::new(s, s + Duration::minutes(30)).unwrap()
            })
            .collect();
        let slots = engine.publish_slots(doctor.id, &ranges).await.unwrap();
        (doctor, slots)
    }
}

#[tokio::test]
async fn signing_up_with_bad_fields_shows_each_error_next_to_its_field() {
    let web = Web::start().await;
    let page = web
        .post(
            "/signup",
            "",
            &[("name", " "), ("email", "nope"), ("password", "short")],
        )
        .await;
    page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    // Every refused field at once, each next to its field, in words.
    for field in ["name", "email", "password"] {
        let error = page.error_for(field);
        assert!(error.is_some(), "{field}: {}", page.body);
        assert!(
            !error.unwrap().contains('`'),
            "no wire names in the message"
        );
    }

    let page = web
        .post(
            "/signup",
            "",
            &[
                ("name", "Pat"),
                ("email", "pat@example.com"),
                ("password", "short"),
            ],
        )
        .await;
    page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    let error = page.error_for("password").expect("password error");
    assert!(error.contains("at least 10 characters"), "{error}");
    assert!(
        page.body.contains("value=\"pat@example.com\""),
        "the form keeps what was typed"
    );
}

#[tokio::test]
async fn signing_up_with_a_common_password_says_so_next_to_the_password() {
    let web = Web::start().await;
    for (password, rule) in [
        ("qwertyuiop", "most common passwords"),
        ("           ", "whitespace"),
    ] {
        let page = web
            .post(
                "/signup",
                "",
                &[
                    ("name", "Pat"),
                    ("email", "pat@example.com"),
                    ("password", password),
                ],
            )
            .await;
        page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
        let error = page.error_for("password").expect("password error");
        assert!(error.contains(rule), "{password:?}: {error}");
    }
}

/// The sign-in and sign-up forms (and every other form) refuse a post from another site with
/// a 403 page, before anything runs; a post from this site, or from a client that sends
/// neither `Origin` nor `Sec-Fetch-Site` (curl), works.
#[tokio::test]
async fn sign_in_and_sign_up_posted_from_another_site_get_a_403_page_and_change_nothing() {
    let web = Web::start().await;
    let host = ("host", "clinic.example:8080");
    let sign_in = [("email", ADMIN_EMAIL), ("password", PASSWORD)];
    let sign_up = [
        ("name", "Mallory"),
        ("email", "mallory@example.com"),
        ("password", "a fine long password"),
    ];
    let cross_site: [&[(&str, &str)]; 4] = [
        &[host, ("origin", "https://evil.example")],
        &[host, ("origin", "null")],
        &[host, ("sec-fetch-site", "cross-site")],
        &[
            host,
            ("origin", "http://clinic.example:8080"),
            ("sec-fetch-site", "cross-site"),
        ],
    ];
    for headers in cross_site {
        for (path, form) in [("/signin", &sign_in[..]), ("/signup", &sign_up[..])] {
            let page = web.post_with(path, headers, form).await;
            page.assert_html(StatusCode::FORBIDDEN);
            assert!(
                page.body.contains("This form came from another site"),
                "{path} {headers:?}: {}",
                page.body
            );
            assert!(page.location.is_none(), "no session started: {headers:?}");
        }
    }
    let made = web
        .state
        .accounts()
        .account_by_email(&medislot_core::Email::parse("mallory@example.com").unwrap())
        .await
        .unwrap();
    assert!(made.is_none(), "no account was made");

    // Same-origin browsers and header-less clients sign in as before.
    for headers in [
        &[
            host,
            ("origin", "http://clinic.example:8080"),
            ("sec-fetch-site", "same-origin"),
        ][..],
        &[host],
        &[],
    ] {
        let page = web.post_with("/signin", headers, &sign_in).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "{headers:?}: {}",
            page.body
        );
    }
    let page = web
        .post_with(
            "/signup",
            &[host, ("origin", "http://clinic.example:8080")],
            &sign_up,
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

#[tokio::test]
async fn behind_a_proxy_the_configured_public_origin_is_the_one_forms_must_come_from() {
    let config = AppConfig {
        auth_attempts_per_minute: 0,
        public_origin: Some("https://clinic.example".to_owned()),
        ..AppConfig::default()
    };
    let state = AppState::new(Stores::memory(), config).expect("state");
    accounts::ensure_admin(
        state.accounts(),
        state.passwords(),
        ADMIN_EMAIL,
        PASSWORD,
        state.engine().now(),
    )
    .await
    .expect("admin");
    let web = Web {
        cli: TestClient::new(app(state.clone())),
        state,
    };
    let sign_in = [("email", ADMIN_EMAIL), ("password", PASSWORD)];
    // The proxy passes its own upstream name as Host.
    let upstream = ("host", "127.0.0.1:8080");
    let page = web
        .post_with(
            "/signin",
            &[upstream, ("origin", "https://clinic.example")],
            &sign_in,
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = web
        .post_with(
            "/signin",
            &[upstream, ("origin", "http://127.0.0.1:8080")],
            &sign_in,
        )
        .await;
    page.assert_html(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn signing_up_with_a_taken_email_says_so_next_to_the_email() {
    let web = Web::start().await;
    web.patient("taken@example.com").await;
    let page = web
        .post(
            "/signup",
            "",
            &[
                ("name", "Pat"),
                ("email", "taken@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    page.assert_html(StatusCode::CONFLICT);
    assert!(page.error_for("email").unwrap().contains("already exists"));
}

#[tokio::test]
async fn a_wrong_password_is_a_plain_message_and_the_same_for_an_unknown_email() {
    let web = Web::start().await;
    web.patient("known@example.com").await;
    let wrong = web
        .post(
            "/signin",
            "",
            &[
                ("email", "known@example.com"),
                ("password", "wrong-password"),
            ],
        )
        .await;
    wrong.assert_html(StatusCode::UNAUTHORIZED);
    let unknown = web
        .post(
            "/signin",
            "",
            &[
                ("email", "nobody@example.com"),
                ("password", "wrong-password"),
            ],
        )
        .await;
    unknown.assert_html(StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("The email or password is wrong"));
    assert!(unknown.body.contains("The email or password is wrong"));
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_token_is_refused_with_a_page() {
    let web = Web::start().await;
    let (_, cookie) = web.patient("csrf@example.com").await;
    let (_, slots) = web.doctor_with_slots(1).await;
    let path = format!("/slots/{}/book", slots[0].id);
    let page = web.post(&path, &cookie, &[("idempotency_key", "k1")]).await;
    page.assert_html(StatusCode::FORBIDDEN);
    assert!(page.body.contains("This form has expired"));
    let page = web
        .post(
            &path,
            &cookie,
            &[("idempotency_key", "k1"), ("csrf_token", "forged")],
        )
        .await;
    page.assert_html(StatusCode::FORBIDDEN);
    let bookings = web
        .state
        .engine()
        .bookings(&BookingQuery {
            limit: 10,
            ..BookingQuery::default()
        })
        .await
        .unwrap();
    assert!(bookings.items.is_empty(), "nothing was booked");
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in_and_back() {
    let web = Web::start().await;
    for path in ["/bookings", "/admin", "/admin/bookings?status=BUFFER"] {
        let page = web.get(path, "").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        let location = page.location.unwrap();
        assert!(location.starts_with("/signin?next=%2F"), "{location}");
    }
    let page = web.get("/signin?next=https://evil.example", "").await;
    page.assert_html(StatusCode::OK);
    assert!(
        !page.body.contains("evil.example"),
        "only local paths are followed"
    );
}

#[tokio::test]
async fn a_patient_gets_a_403_page_on_admin_pages_and_404_for_others_bookings() {
    let web = Web::start().await;
    let (_, eve) = web.patient("eve@example.com").await;
    let (olga, _) = web.patient("olga@example.com").await;
    let (_, slots) = web.doctor_with_slots(1).await;
    let theirs = web
        .state
        .engine()
        .book(slots[0].id, olga.patient_id(), None)
        .await
        .unwrap();
    for path in ["/admin", "/admin/doctors", "/admin/bookings"] {
        web.get(path, &eve).await.assert_html(StatusCode::FORBIDDEN);
    }
    let csrf = web.get("/bookings", &eve).await.csrf();
    let page = web
        .post(
            "/admin/doctors",
            &eve,
            &[
                ("csrf_token", &csrf),
                ("name", "X"),
                ("specialization", "Y"),
                ("timezone", "UTC"),
            ],
        )
        .await;
    page.assert_html(StatusCode::FORBIDDEN);
    for path in [
        format!("/bookings/{}", theirs.id),
        format!("/bookings/{}/cancel", theirs.id),
        "/bookings/not-an-id".to_owned(),
        format!("/bookings/{}", uuid::Uuid::now_v7()),
    ] {
        let page = web.get(&path, &eve).await;
        page.assert_html(StatusCode::NOT_FOUND);
        assert!(!page.body.contains("Dr Who"), "{path}");
    }
    let page = web
        .post(
            &format!("/bookings/{}/cancel", theirs.id),
            &eve,
            &[("csrf_token", &csrf)],
        )
        .await;
    page.assert_html(StatusCode::NOT_FOUND);
    let stored = web.state.engine().booking(theirs.id).await.unwrap();
    assert_eq!(
        stored.booking.status(),
        medislot_core::BookingStatus::Confirmed
    );
}

#[tokio::test]
async fn a_retried_book_form_returns_the_first_booking_and_a_late_one_hears_just_taken() {
    let web = Web::start().await;
    let (_, ann) = web.patient("ann@example.com").await;
    let (_, bob) = web.patient("bob@example.com").await;
    let (_, slots) = web.doctor_with_slots(2).await;
    let path = format!("/slots/{}/book", slots[0].id);
    let ann_csrf = web.get("/slots", &ann).await.csrf();
    let form = [
        ("csrf_token", ann_csrf.as_str()),
        ("idempotency_key", "form-key-1"),
    ];
    let first = web.post(&path, &ann, &form).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let retry = web.post(&path, &ann, &form).await;
    assert_eq!(
        retry.location, first.location,
        "the same booking, not a second one"
    );

    let bob_csrf = web.get("/slots", &bob).await.csrf();
    let late = web
        .post(
            &path,
            &bob,
            &[
                ("csrf_token", bob_csrf.as_str()),
                ("idempotency_key", "form-key-2"),
            ],
        )
        .await;
    // Post/redirect/get: back to the list, which says why.
    assert_eq!(late.status, StatusCode::SEE_OTHER);
    let back = late.location.expect("a redirect");
    assert!(
        back.starts_with("/slots?") && back.contains("done=taken"),
        "{back}"
    );
    let list = web.get(&back, &bob).await;
    list.assert_html(StatusCode::OK);
    assert!(list.body.contains("just taken"));
    assert!(
        list.body.contains(&slots[1].id.to_string()),
        "the refreshed list"
    );

    let empty_key = web
        .post(
            &path,
            &bob,
            &[("csrf_token", bob_csrf.as_str()), ("idempotency_key", "")],
        )
        .await;
    assert_eq!(empty_key.status, StatusCode::SEE_OTHER);
    let back = empty_key.location.expect("a redirect");
    assert!(web.get(&back, &bob).await.body.contains("incomplete"));
    let unknown_slot = web
        .post(
            "/slots/nonsense/book",
            &bob,
            &[("csrf_token", bob_csrf.as_str())],
        )
        .await;
    unknown_slot.assert_html(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_reason_for_the_visit_goes_with_book_or_hold_and_is_shown_to_patient_and_admin() {
    let web = Web::start().await;
    let (_, cookie) = web.patient("visit@example.com").await;
    let (_, slots) = web.doctor_with_slots(3).await;
    let list = web.get("/slots", &cookie).await;
    list.assert_html(StatusCode::OK);
    // One form per slot: its Hold button posts the same fields elsewhere.
    let hold_button = format!("formaction=\"/slots/{}/hold\"", slots[1].id);
    assert!(list.body.contains(&hold_button), "{}", list.body);
    assert!(list.body.contains("name=\"visit_reason\""));
    let csrf = list.csrf();

    let reason = "Rash on <b>both</b> arms\nsince Monday";
    let booked = web
        .post(
            &format!("/slots/{}/book", slots[0].id),
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("idempotency_key", "visit-1"),
                ("visit_reason", reason),
            ],
        )
        .await;
    assert_eq!(booked.status, StatusCode::SEE_OTHER);
    let page = web
        .get(&booked.location.expect("a redirect"), &cookie)
        .await;
    page.assert_html(StatusCode::OK);
    assert!(
        page.body
            .contains("Rash on &#60;b&#62;both&#60;/b&#62; arms\nsince Monday")
            || page
                .body
                .contains("Rash on &lt;b&gt;both&lt;/b&gt; arms\nsince Monday"),
        "shown, escaped: {}",
        page.body
    );

    let held = web
        .post(
            &format!("/slots/{}/hold", slots[1].id),
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("visit_reason", "Blood test results"),
            ],
        )
        .await;
    assert_eq!(held.status, StatusCode::SEE_OTHER);
    let page = web.get(&held.location.expect("a redirect"), &cookie).await;
    assert!(page.body.contains("Blood test results"), "{}", page.body);

    let admin = web.sign_in(ADMIN_EMAIL).await;
    let bookings = web.get("/admin/bookings", &admin).await;
    bookings.assert_html(StatusCode::OK);
    assert!(
        bookings.body.contains("Blood test results"),
        "{}",
        bookings.body
    );

    // Too long (a form can be sent without the browser's maxlength): nothing is booked and
    // the list says why.
    let long = "x".repeat(501);
    let refused = web
        .post(
            &format!("/slots/{}/book", slots[2].id),
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("idempotency_key", "visit-2"),
                ("visit_reason", long.as_str()),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    let back = refused.location.expect("a redirect");
    assert!(back.contains("done=reason"), "{back}");
    let shown = web.get(&back, &cookie).await;
    assert!(shown
        .body
        .contains("reason for the visit could not be kept"));
    let free = web.state.engine().slot(slots[2].id).await.unwrap();
    assert_eq!(free.status, medislot_core::SlotStatus::Available);
}

#[tokio::test]
async fn slot_filters_that_do_not_parse_are_named_next_to_their_fields() {
    let web = Web::start().await;
    web.doctor_with_slots(1).await;
    let page = web
        .get("/slots?doctor=someone&date=31-31-2030&cursor=zzz", "")
        .await;
    page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.error_for("doctor").is_some());
    assert!(page.error_for("date").is_some());
    let page = web
        .get("/slots?specialization=general%20PRACTICE", "")
        .await;
    page.assert_html(StatusCode::OK);
    assert!(page.body.contains("Dr Who"));
    // A query string that is not even well-formed is a 400 page.
    web.get("/slots?date=a&date=b", "")
        .await
        .assert_html(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admin_forms_name_each_bad_field_and_the_overlap() {
    let web = Web::start().await;
    let admin = web.sign_in(ADMIN_EMAIL).await;
    let csrf = web.get("/admin/doctors", &admin).await.csrf();
    let page = web
        .post(
            "/admin/doctors",
            &admin,
            &[
                ("csrf_token", &csrf),
                ("name", ""),
                ("specialization", " "),
                ("timezone", "Mars/Base"),
            ],
        )
        .await;
    page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["name", "specialization", "timezone"] {
        assert!(page.error_for(field).is_some(), "{field}: {}", page.body);
    }

    let (doctor, slots) = web.doctor_with_slots(1).await;
    let path = format!("/admin/doctors/{}", doctor.id);
    let page = web
        .post(
            &path,
            &admin,
            &[
                ("csrf_token", &csrf),
                ("date", "tomorrow"),
                ("from", "9"),
                ("to", ""),
                ("length", "0"),
                ("gap", "-5"),
                ("action", "preview"),
            ],
        )
        .await;
    page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["date", "from", "to", "length", "gap"] {
        assert!(page.error_for(field).is_some(), "{field}");
    }

    // A day that covers the existing slot: refused whole, naming the slot that overlaps.
    let tz = doctor.timezone;
    let existing = slots[0].range.starts_at().with_timezone(&tz);
    let date = existing.format("%Y-%m-%d").to_string();
    let from = (existing - Duration::minutes(60))
        .format("%H:%M")
        .to_string();
    let to = (existing + Duration::minutes(60))
        .format("%H:%M")
        .to_string();
    let form = [
        ("csrf_token", csrf.as_str()),
        ("date", date.as_str()),
        ("from", from.as_str()),
        ("to", to.as_str()),
        ("length", "20"),
        ("gap", "0"),
        ("action", "save"),
    ];
    let page = web.post(&path, &admin, &form).await;
    page.assert_html(StatusCode::CONFLICT);
    assert!(page.body.contains("Nothing was saved"), "{}", page.body);
    assert!(page.body.contains("overlaps"));
    let listed = web
        .state
        .engine()
        .slots(&medislot_core::SlotQuery {
            doctor_id: Some(doctor.id),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1, "all or nothing");

    let page = web
        .get(
            "/admin/bookings?status=BOOKED&date=x&patient=not%20an%20email",
            &admin,
        )
        .await;
    page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    // The patient field is a search (part of a name or an email), so any text is fine there.
    assert!(page.error_for("patient").is_none());
    for field in ["status", "date"] {
        assert!(page.error_for(field).is_some(), "{field}");
    }
}

#[tokio::test]
async fn deleting_a_doctor_with_an_active_booking_shows_why() {
    let web = Web::start().await;
    let admin = web.sign_in(ADMIN_EMAIL).await;
    let (patient, _) = web.patient("p@example.com").await;
    let (doctor, slots) = web.doctor_with_slots(2).await;
    web.state
        .engine()
        .book(slots[0].id, patient.patient_id(), None)
        .await
        .unwrap();
    let csrf = web.get("/admin/doctors", &admin).await.csrf();
    let page = web
        .post(
            &format!("/admin/doctors/{}/delete", doctor.id),
            &admin,
            &[("csrf_token", &csrf)],
        )
        .await;
    // Post/redirect/get: the doctors' page says why.
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let shown = web.get(&page.location.expect("a redirect"), &admin).await;
    shown.assert_html(StatusCode::OK);
    assert!(shown.body.contains("was not deleted"), "{}", shown.body);
    let page = web
        .post(
            &format!("/admin/slots/{}/delete", slots[0].id),
            &admin,
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let shown = web.get(&page.location.expect("a redirect"), &admin).await;
    assert!(shown.body.contains("was not deleted"), "{}", shown.body);
    // A form's address opened again leads to its page, not a 405.
    for form in [
        format!("/admin/doctors/{}/delete", doctor.id),
        format!("/admin/slots/{}/delete", slots[0].id),
        format!("/slots/{}/book", slots[0].id),
        format!("/slots/{}/hold", slots[0].id),
        "/signout".to_owned(),
    ] {
        let opened = web.get(&form, &admin).await;
        assert_eq!(opened.status, StatusCode::SEE_OTHER, "{form}");
    }
    let freed = web
        .post(
            &format!("/admin/slots/{}/delete", slots[1].id),
            &admin,
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(
        freed.status,
        StatusCode::SEE_OTHER,
        "a free slot is deleted"
    );
}

#[tokio::test]
async fn a_too_long_cancel_reason_is_named_next_to_the_field() {
    let web = Web::start().await;
    let (patient, cookie) = web.patient("r@example.com").await;
    let (_, slots) = web.doctor_with_slots(1).await;
    let booking = web
        .state
        .engine()
        .book(slots[0].id, patient.patient_id(), None)
        .await
        .unwrap();
    let path = format!("/bookings/{}/cancel", booking.id);
    let csrf = web.get(&path, &cookie).await.csrf();
    let long = "x".repeat(501);
    let page = web
        .post(&path, &cookie, &[("csrf_token", &csrf), ("reason", &long)])
        .await;
    page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.error_for("reason").is_some(), "{}", page.body);

    let done = web.post(&path, &cookie, &[("csrf_token", &csrf)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let again = web.post(&path, &cookie, &[("csrf_token", &csrf)]).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let shown = web.get(&again.location.expect("a redirect"), &cookie).await;
    assert!(shown.body.contains("can no longer be cancelled"));
}

#[tokio::test]
async fn a_browser_asking_for_a_missing_page_gets_the_html_404_and_the_api_keeps_json() {
    let web = Web::start().await;
    let page = Page::read(
        web.cli
            .get("/no-such-page")
            .header(header::ACCEPT, "text/html,application/xhtml+xml")
            .send()
            .await,
    )
    .await;
    page.assert_html(StatusCode::NOT_FOUND);
    assert!(page.body.contains("Page not found"));
    let api = Page::read(
        web.cli
            .get("/api/v1/no-such-thing")
            .header(header::ACCEPT, "text/html")
            .send()
            .await,
    )
    .await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert!(api.content_type.starts_with("application/problem+json"));
}

#[tokio::test]
async fn the_slot_list_is_paged_with_the_keyset_cursor_and_keeps_its_filters() {
    let web = Web::start().await;
    let (_, slots) = web.doctor_with_slots(12).await;
    let first = web
        .get("/slots?specialization=General%20practice", "")
        .await;
    first.assert_html(StatusCode::OK);
    assert_eq!(first.body.matches("class=\"slot card\"").count(), 10);
    let marker = "href=\"/slots?";
    let start = first.body.find(marker).map(|i| i + "href=\"".len());
    let next = start
        .and_then(|i| {
            let link = &first.body[i..];
            link.contains("cursor=")
                .then(|| link[..link.find('"').unwrap()].to_owned())
        })
        .expect("a next-page link");
    assert!(
        next.contains("specialization=General%20practice")
            || next.contains("specialization=General+practice"),
        "{next}"
    );
    // The link as a browser reads it out of the HTML.
    let next = next.replace("&#38;", "&").replace("&amp;", "&");
    let second = web.get(&next, "").await;
    second.assert_html(StatusCode::OK);
    assert_eq!(second.body.matches("class=\"slot card\"").count(), 2);
    assert!(second.body.contains(&slots[11].id.to_string()));
    assert!(!second.body.contains(&slots[0].id.to_string()));
    assert!(second.body.contains("First page"));
    assert!(!second.body.contains("rel=\"next\""));
}

#[tokio::test]
async fn a_nul_in_a_form_or_filter_and_a_year_10000_date_are_refused_with_a_422_page() {
    let web = Web::start().await;
    let page = web
        .post(
            "/signup",
            "",
            &[
                ("name", "Pat\0"),
                ("email", "pat@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.error_for("name").is_some(), "{}", page.body);

    web.get("/slots?specialization=%00", "")
        .await
        .assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    web.get("/slots?date=10000-01-01", "")
        .await
        .assert_html(StatusCode::UNPROCESSABLE_ENTITY);

    let admin = web.sign_in(ADMIN_EMAIL).await;
    let csrf = web.get("/admin/doctors", &admin).await.csrf();
    for field in ["name", "specialization"] {
        let mut form = vec![
            ("csrf_token", csrf.as_str()),
            ("name", "Dr Ada"),
            ("specialization", "Cardiology"),
            ("timezone", "UTC"),
        ];
        for (name, value) in &mut form {
            if *name == field {
                *value = "with \0 NUL";
            }
        }
        let page = web.post("/admin/doctors", &admin, &form).await;
        page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.error_for(field).is_some(), "{field}: {}", page.body);
    }

    let (patient, cookie) = web.patient("nul@example.com").await;
    let (_, slots) = web.doctor_with_slots(1).await;
    let booking = web
        .state
        .engine()
        .book(slots[0].id, patient.patient_id(), None)
        .await
        .unwrap();
    let path = format!("/bookings/{}/cancel", booking.id);
    let csrf = web.get(&path, &cookie).await.csrf();
    let page = web
        .post(&path, &cookie, &[("csrf_token", &csrf), ("reason", "a\0b")])
        .await;
    page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.error_for("reason").is_some(), "{}", page.body);
}

/// The pages stay light (no framework, one small stylesheet and script): a full page of the
/// slot list (10 slots) as a signed-in patient sees it, the admin's doctors page with its list
/// of every time zone, and the zone page, each with the CSS and JS it loads, stay under a
/// budget. The sizes are printed; the README quotes them.
#[tokio::test]
async fn each_page_with_its_css_and_js_stays_within_its_size_budget() {
    let web = Web::start().await;
    let (_, patient) = web.patient("light@example.com").await;
    let admin = web.sign_in(ADMIN_EMAIL).await;
    web.doctor_with_slots(12).await;
    let css = web.get("/assets/app.css", "").await.body.len();
    let js = web.get("/assets/app.js", "").await.body.len();
    for (path, cookie, budget) in [
        ("/slots", &patient, 40_000),
        ("/week", &patient, 40_000),
        ("/bookings", &patient, 30_000),
        // These three list every time zone (about 420 names).
        ("/admin/doctors", &admin, 50_000),
        ("/zone", &patient, 50_000),
        ("/profile", &patient, 50_000),
    ] {
        let page = web.get(path, cookie).await;
        page.assert_html(StatusCode::OK);
        let html = page.body.len();
        let total = html + css + js;
        eprintln!("{path}: HTML {html} B + CSS {css} B + JS {js} B = {total} B");
        assert!(total <= budget, "{path}: {total} B over {budget} B");
    }
}

/// The value of the hidden input `name` in the page's first form that has one.
fn hidden(page: &Page, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.body.find(&marker).expect("the hidden input") + marker.len();
    let end = page.body[start..].find('"').expect("end of value") + start;
    page.body[start..end].to_owned()
}

#[tokio::test]
async fn reschedule_walks_from_the_booking_through_the_finder_and_a_confirm_step_without_js() {
    let web = Web::start().await;
    let (patient, cookie) = web.patient("mover@example.com").await;
    let (_, slots) = web.doctor_with_slots(3).await;
    let old = web
        .state
        .engine()
        .book(slots[0].id, patient.patient_id(), None)
        .await
        .unwrap();
    let taken = web
        .state
        .engine()
        .book(slots[1].id, medislot_core::PatientId::new(), None)
        .await
        .unwrap();

    // The booking offers "Reschedule…", which opens the finder in its reschedule mode.
    let page = web.get(&format!("/bookings/{}", old.id), &cookie).await;
    page.assert_html(StatusCode::OK);
    let finder = format!("/slots?reschedule={}", old.id);
    assert!(page.body.contains(&finder), "{}", page.body);
    let list = web.get(&finder, &cookie).await;
    list.assert_html(StatusCode::OK);
    let step = format!("/bookings/{}/reschedule?slot={}", old.id, slots[2].id);
    assert!(list.body.contains(&step.replace('&', "&amp;")) || list.body.contains(&step));
    assert!(!list.body.contains("/book\""), "no Book forms while moving");

    // The confirm step names both times; confirming moves the booking.
    let confirm = web.get(&step, &cookie).await;
    confirm.assert_html(StatusCode::OK);
    assert!(confirm.body.contains("Move this booking?"));
    let form = [
        ("csrf_token", confirm.csrf()),
        ("slot_id", hidden(&confirm, "slot_id")),
        ("idempotency_key", hidden(&confirm, "idempotency_key")),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let path = format!("/bookings/{}/reschedule", old.id);
    let moved = web.post(&path, &cookie, &form).await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.body);
    let location = moved.location.clone().expect("a redirect");
    assert!(location.ends_with("?done=rescheduled"), "{location}");
    // The same form again answers with the same new booking.
    let again = web.post(&path, &cookie, &form).await;
    assert_eq!(again.location, moved.location);
    let new = web.get(&location, &cookie).await;
    new.assert_html(StatusCode::OK);
    assert!(new.body.contains("Moved."));
    let old_page = web.get(&format!("/bookings/{}", old.id), &cookie).await;
    assert!(old_page.body.contains("RESCHEDULED"), "{}", old_page.body);
    assert!(!old_page.body.contains("Reschedule…"));

    // Moving onto a taken time changes nothing and says so.
    let new_id = location
        .trim_start_matches("/bookings/")
        .trim_end_matches("?done=rescheduled")
        .to_owned();
    let refused = web
        .post(
            &format!("/bookings/{new_id}/reschedule"),
            &cookie,
            &[
                ("csrf_token", form[0].1),
                ("slot_id", &taken.slot_id.to_string()),
                ("idempotency_key", "another-move"),
            ],
        )
        .await;
    // Post/redirect/get: the refusal leads back to the booking, which says why.
    assert_eq!(refused.status, StatusCode::SEE_OTHER, "{}", refused.body);
    let back = refused.location.clone().expect("a redirect");
    assert_eq!(back, format!("/bookings/{new_id}?done=move_taken"));
    let refused = web.get(&back, &cookie).await;
    refused.assert_html(StatusCode::OK);
    assert!(refused.body.contains("just taken"), "{}", refused.body);
    assert!(refused.body.contains("CONFIRMED"));
}

#[tokio::test]
async fn an_admin_edits_a_doctors_profile_and_patients_read_it_on_the_finder_and_their_booking() {
    let web = Web::start().await;
    let admin = web.sign_in(ADMIN_EMAIL).await;
    let (doctor, slots) = web.doctor_with_slots(1).await;
    let path = format!("/admin/doctors/{}", doctor.id);
    let action = format!("{path}/profile");
    let csrf = web.get(&path, &admin).await.csrf();

    // Every refused part is named at once, and what was typed stays in the form.
    let long_place = "r".repeat(201);
    let many = (0..11)
        .map(|i| format!("L{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let page = web
        .post(
            &action,
            &admin,
            &[
                ("csrf_token", &csrf),
                ("bio", "fine"),
                ("languages", &many),
                ("location", &long_place),
            ],
        )
        .await;
    page.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.error_for("bio").is_none());
    for field in ["languages", "location"] {
        assert!(page.error_for(field).is_some(), "{field}: {}", page.body);
    }
    assert!(page.body.contains(&many), "the languages typed stay");
    assert!(web
        .state
        .engine()
        .doctor(doctor.id)
        .await
        .unwrap()
        .profile
        .is_empty());

    // Saved: post/redirect/get to the doctor's page, which says so and shows the profile.
    let page = web
        .post(
            &action,
            &admin,
            &[
                ("csrf_token", &csrf),
                ("bio", "Sees <b>adults</b>.\nSpeaks slowly."),
                ("languages", "English, Hindi, english"),
                ("location", "Building B, room 4"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location.expect("a redirect");
    assert_eq!(location, format!("{path}?done=profile"));
    let page = web.get(&location, &admin).await;
    page.assert_html(StatusCode::OK);
    assert!(page.body.contains("Profile saved."));
    assert!(
        page.body.contains("value=\"English, Hindi\""),
        "{}",
        page.body
    );
    // The form's address opened again leads to the doctor's page.
    let again = web.get(&action, &admin).await;
    assert_eq!(again.location.as_deref(), Some(path.as_str()));

    // A patient reads it next to the slot, and on the booking's page; the bio is text, not HTML.
    let (patient, cookie) = web.patient("p@example.com").await;
    let finder = web.get("/slots", &cookie).await;
    finder.assert_html(StatusCode::OK);
    for shown in [
        "Speaks English, Hindi",
        "Building B, room 4",
        "Sees &#60;b&#62;adults&#60;/b&#62;.",
    ] {
        assert!(finder.body.contains(shown), "{shown}: {}", finder.body);
    }
    assert!(!finder.body.contains("<b>adults"));
    let booking = web
        .state
        .engine()
        .book(slots[0].id, patient.patient_id(), None)
        .await
        .unwrap();
    let page = web.get(&format!("/bookings/{}", booking.id), &cookie).await;
    page.assert_html(StatusCode::OK);
    assert!(page.body.contains("Speaks English, Hindi"), "{}", page.body);
    assert!(page.body.contains("Building B, room 4"));
}
