//! What every page shares: who is looking ([`signed_in`], [`admin`]), the layout around each
//! page, and the one place that turns a failure into an HTML answer ([`PageError`]).
//!
//! Sessions, CSRF and roles are decided by [`crate::auth::authenticate`] and
//! [`crate::auth::Caller::authorize`], exactly as for the JSON API; this module only chooses
//! how a refusal looks in a browser (a redirect to sign in, a 403 or 404 page).

use askama::Template;
use chrono_tz::Tz;
use poem::http::{header, HeaderValue, StatusCode};
use poem::{Request, Response};
use serde::de::DeserializeOwned;

use crate::auth::{self, Access, Caller};
use crate::problem::Problem;
use crate::state::AppState;

use super::time;

/// The signed-in account as the navigation shows it.
#[derive(Debug, Clone)]
pub(crate) struct NavUser {
    pub(crate) name: String,
    pub(crate) is_admin: bool,
}

/// A short message shown at the top of a page.
#[derive(Debug, Clone)]
pub(crate) struct Flash {
    /// `ok` or `error`: the banner's colour and role.
    pub(crate) kind: &'static str,
    pub(crate) text: String,
}

impl Flash {
    pub(crate) fn ok(text: impl Into<String>) -> Self {
        Self {
            kind: "ok",
            text: text.into(),
        }
    }

    pub(crate) fn error(text: impl Into<String>) -> Self {
        Self {
            kind: "error",
            text: text.into(),
        }
    }
}

/// What the frame around every page needs.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) title: String,
    /// Which navigation entry is current (`slots`, `bookings`, `admin`, ...).
    pub(crate) section: &'static str,
    pub(crate) user: Option<NavUser>,
    /// The session's CSRF token, carried by every form as `csrf_token`.
    pub(crate) csrf: String,
    /// The one time zone the page shows times in (its current name), named at the top.
    pub(crate) tz: String,
    /// Why the page is in this zone when the viewer cannot switch it (a doctor's day of
    /// slots is planned on the doctor's clock); `None`: the page offers a switch.
    pub(crate) zone_fixed: Option<String>,
    pub(crate) flash: Option<Flash>,
}

impl Layout {
    pub(crate) fn new(
        title: impl Into<String>,
        section: &'static str,
        caller: Option<&Caller>,
        tz: Tz,
    ) -> Self {
        Self {
            title: title.into(),
            section,
            user: caller.map(|c| NavUser {
                name: c.account.name.clone(),
                is_admin: c.is_admin(),
            }),
            csrf: caller.map(|c| c.claims.csrf.clone()).unwrap_or_default(),
            tz: time::current(tz).name().to_owned(),
            zone_fixed: None,
            flash: None,
        }
    }

    /// The page is in this zone for the reason given, with no switch.
    pub(crate) fn with_fixed_zone(mut self, why: impl Into<String>) -> Self {
        self.zone_fixed = Some(why.into());
        self
    }

    pub(crate) fn with_flash(mut self, flash: Option<Flash>) -> Self {
        self.flash = flash;
        self
    }
}

/// Why a page could not be shown as asked.
#[derive(Debug)]
pub(crate) enum PageError {
    /// No valid session: go to the sign-in page, then come back to `next`; `lapsed` when the
    /// visitor had been signed in (an ended session, or a form sent after it ended), which
    /// the sign-in page then says.
    SignIn { next: String, lapsed: bool },
    /// Signed in, but this page is for admins.
    Forbidden,
    /// No such thing, or it is someone else's.
    NotFound,
    /// A form that did not come from this session's pages (CSRF token missing or stale).
    StaleForm,
    /// A form posted from another site (its `Origin` or `Sec-Fetch-Site` says so).
    CrossSite,
    /// The request could not be read (a form or query that is not even well-formed).
    BadRequest(&'static str),
    /// Any other refusal or failure, as the API would have answered it.
    Problem(Problem),
}

impl From<Problem> for PageError {
    fn from(problem: Problem) -> Self {
        if problem.status() == StatusCode::NOT_FOUND {
            return PageError::NotFound;
        }
        PageError::Problem(problem)
    }
}

impl From<medislot_core::Error> for PageError {
    fn from(err: medislot_core::Error) -> Self {
        Problem::from(err).into()
    }
}

impl From<askama::Error> for PageError {
    fn from(err: askama::Error) -> Self {
        tracing::error!(error = %err, "rendering a page failed");
        PageError::Problem(Problem::internal())
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    heading: String,
    message: String,
}

impl PageError {
    /// The HTML answer for this failure.
    pub(crate) fn into_response(self) -> Response {
        let (status, heading, message) = match self {
            PageError::SignIn { next, lapsed } => {
                let mut to = sign_in_url(&next);
                if lapsed {
                    to.push_str("&done=lapsed");
                }
                return redirect(&to);
            }
            PageError::Forbidden => (
                StatusCode::FORBIDDEN,
                "This page is for clinic staff",
                "Your account cannot open admin pages. If you work at the clinic, ask an \
                 administrator to give your account access."
                    .to_owned(),
            ),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is nothing here, or it belongs to another account.".to_owned(),
            ),
            PageError::StaleForm => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was opened in an earlier session. Go back, reload the page and try \
                 again."
                    .to_owned(),
            ),
            PageError::CrossSite => (
                StatusCode::FORBIDDEN,
                "This form came from another site",
                "For your safety, MediSlot only accepts forms sent from its own pages, and this \
                 one was sent from another website. Nothing was changed. Open MediSlot yourself \
                 and fill in the form there."
                    .to_owned(),
            ),
            PageError::BadRequest(what) => (
                StatusCode::BAD_REQUEST,
                "That request could not be read",
                format!("The {what} sent by the browser was not in the expected form. Go back and try again."),
            ),
            PageError::Problem(problem) => problem_text(&problem),
        };
        let page = ErrorPage {
            // The error page does not know who is signed in: its navigation is neutral.
            layout: Layout::new(heading, "error", None, Tz::UTC),
            heading: heading.to_owned(),
            message,
        };
        match page.render() {
            Ok(body) => html_response(status, body),
            Err(err) => {
                tracing::error!(error = %err, "rendering the error page failed");
                Response::builder()
                    .status(status)
                    .content_type("text/plain; charset=utf-8")
                    .body(heading)
            }
        }
    }
}

fn problem_text(problem: &Problem) -> (StatusCode, &'static str, String) {
    let status = problem.status();
    match status {
        StatusCode::SERVICE_UNAVAILABLE => (
            status,
            "Please try again in a moment",
            "The booking system is briefly unavailable. Nothing was changed.".to_owned(),
        ),
        StatusCode::TOO_MANY_REQUESTS => (
            status,
            "Too many attempts",
            "There were too many attempts from this device. Wait a minute and try again."
                .to_owned(),
        ),
        s if s.is_client_error() => (status, "That did not work", sentence(problem.detail())),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side",
            "The problem has been logged. Please try again later.".to_owned(),
        ),
    }
}

/// A detail from the rules as a sentence: capital first letter, final full stop.
pub(crate) fn sentence(detail: &str) -> String {
    let mut chars = detail.trim().chars();
    let mut out = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
        None => String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// A page answer: the status, the rendered template, and its referrer policy.
pub(crate) fn page<T: Template>(status: StatusCode, template: &T) -> Result<Response, PageError> {
    Ok(html_response(status, template.render()?))
}

fn html_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(body);
    // The Content-Security-Policy is set for every response by `crate::security_headers`.
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// `303 See Other` to `location` (after a form, the browser then loads it with GET).
pub(crate) fn redirect(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .finish()
}

/// The sign-in page that returns to `next` afterwards.
pub(crate) fn sign_in_url(next: &str) -> String {
    format!("/signin?next={}", encode(next))
}

/// Percent-encodes a query parameter value.
pub(crate) fn encode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// A query string from the pairs whose value is not empty, percent-encoded.
pub(crate) fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether `next` is a path on this site (so that sign-in never redirects elsewhere).
pub(crate) fn safe_next(next: &str) -> Option<&str> {
    // Browsers drop tabs and newlines from URLs ("/\t/evil" becomes "//evil"), so any
    // whitespace or control character is refused too.
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(next)
}

/// The caller behind the request's session cookie, if it has a valid one. A state-changing
/// request must carry the session's CSRF token (forms send it as `csrf_token`).
pub(crate) async fn viewer(state: &AppState, req: &Request) -> Result<Option<Caller>, PageError> {
    if auth::session_cookie(req).is_none() {
        return Ok(None);
    }
    match auth::authenticate(state, req).await {
        Ok(caller) => Ok(Some(caller)),
        Err(problem) if problem.status() == StatusCode::UNAUTHORIZED => Ok(None),
        Err(problem) if problem.code() == "csrf_failed" => Err(PageError::StaleForm),
        Err(problem) => Err(problem.into()),
    }
}

/// The signed-in caller, or a redirect to the sign-in page that comes back here: to this page,
/// or for a form, to the page the form was on (a form is only shown to someone signed in, so
/// a form without a session means the session lapsed).
pub(crate) async fn signed_in(state: &AppState, req: &Request) -> Result<Caller, PageError> {
    let is_get = req.method() == poem::http::Method::GET;
    viewer(state, req).await?.ok_or_else(|| PageError::SignIn {
        next: if is_get {
            req.uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned()
        } else {
            referring_page(req).unwrap_or_else(|| "/".to_owned())
        },
        lapsed: !is_get || auth::session_cookie(req).is_some(),
    })
}

/// The page on this site that sent the request (its `Referer`, which the pages' referrer
/// policy sends only to this origin), as a path that is safe to redirect to.
pub(crate) fn referring_page(req: &Request) -> Option<String> {
    let referer: poem::http::Uri = req
        .headers()
        .get(header::REFERER)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    if referer.authority().map(|a| a.as_str()) != Some(host) {
        return None;
    }
    let path = referer.path_and_query()?.as_str();
    safe_next(path).map(str::to_owned)
}

/// The signed-in admin; a patient gets the 403 page.
pub(crate) async fn admin(state: &AppState, req: &Request) -> Result<Caller, PageError> {
    let caller = signed_in(state, req).await?;
    caller
        .authorize(Access::Admin)
        .map_err(|_| PageError::Forbidden)?;
    Ok(caller)
}

/// The time zone to show the viewer's times in: the one named in the request (a page's `tz`
/// field), else the one the viewer picked ([`CHOSEN_TZ_COOKIE`]), else the browser's
/// ([`browser_tz`]).
pub(crate) fn viewer_tz(req: &Request, explicit: &str) -> Tz {
    time::parse_zone(explicit)
        .or_else(|| cookie_zone(req, CHOSEN_TZ_COOKIE))
        .unwrap_or_else(|| browser_tz(req))
}

/// The browser's zone, as the page script reports it in [`TZ_COOKIE`]; UTC until it has.
pub(crate) fn browser_tz(req: &Request) -> Tz {
    cookie_zone(req, TZ_COOKIE).unwrap_or(Tz::UTC)
}

fn cookie_zone(req: &Request, name: &str) -> Option<Tz> {
    crate::cookies::get(req, name)
        .map(|v| v.replace("%2F", "/").replace("%2f", "/"))
        .and_then(|v| time::parse_zone(&v))
}

/// The cookie in which the page script stores the browser's time zone.
pub(crate) const TZ_COOKIE: &str = "medislot_tz";

/// The cookie that keeps the zone a viewer picked on the zone page (it overrides the
/// browser's).
pub(crate) const CHOSEN_TZ_COOKIE: &str = "medislot_zone";

/// The `Set-Cookie` value that makes the pages show times in `zone` (picked on the zone page,
/// or kept in the signed-in person's profile).
pub(crate) fn chosen_zone_cookie(zone: Tz) -> String {
    format!(
        "{CHOSEN_TZ_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        zone.name()
    )
}

/// Parses a form body; every field of `T` must have a default so that missing fields read as
/// empty and are reported next to the field by the page, not here.
pub(crate) fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, PageError> {
    serde_urlencoded::from_bytes(body).map_err(|err| {
        tracing::debug!(error = %err, "unreadable form");
        PageError::BadRequest("form")
    })
}

/// Parses the query string, like [`parse_form`].
pub(crate) fn parse_query<T: DeserializeOwned>(req: &Request) -> Result<T, PageError> {
    serde_urlencoded::from_str(req.uri().query().unwrap_or("")).map_err(|err| {
        tracing::debug!(error = %err, "unreadable query");
        PageError::BadRequest("address")
    })
}

/// Turns a handler's result into the response the browser gets.
pub(crate) fn respond(result: Result<Response, PageError>) -> Response {
    result.unwrap_or_else(PageError::into_response)
}

/// A form's errors, each next to its field, plus one for the form as a whole.
#[derive(Debug, Default, Clone)]
pub(crate) struct Errors {
    fields: Vec<(String, String)>,
    /// An error about the whole form (shown above it).
    pub(crate) form: Option<String>,
}

/// What a sign-in, sign-up or password reset form says when the device made too many attempts.
pub(crate) const TOO_MANY_ATTEMPTS: &str =
    "Too many attempts from this device. Wait a minute and try again.";

/// When the device made too many attempts at the sign-in forms (the shared sign-in limiter):
/// the status to answer with, and the errors that say so above the form.
pub(crate) async fn too_many_attempts(
    state: &AppState,
    req: &Request,
) -> Option<(StatusCode, Errors)> {
    let problem = state
        .auth_limiter()
        .check(req, state.engine().now())
        .await
        .err()?;
    let errors = Errors {
        form: Some(TOO_MANY_ATTEMPTS.to_owned()),
        ..Errors::default()
    };
    Some((problem.status(), errors))
}

impl Errors {
    /// Records `message` for `field` (the first message for a field wins).
    pub(crate) fn add(&mut self, field: &str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.fields.push((field.to_owned(), message.into()));
        }
    }

    /// The message for `field`, if it has one.
    pub(crate) fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// Whether any field, or the form, has an error.
    pub(crate) fn any(&self) -> bool {
        !self.fields.is_empty() || self.form.is_some()
    }

    /// Records a refusal from the rules next to the field it names (`label` says what the
    /// field is called on the page), or for the whole form when it names none of `fields`.
    pub(crate) fn add_problem(&mut self, problem: &Problem, fields: &[(&str, &str)]) {
        let named = problem
            .field()
            .and_then(|f| fields.iter().find(|(name, _)| *name == f));
        match named {
            Some((field, label)) => {
                // Validation details may start by quoting the field's wire name: the page
                // names it in words instead.
                let quoted = format!("`{field}` ");
                let detail = problem.detail();
                let detail = detail.strip_prefix(quoted.as_str()).unwrap_or(detail);
                let message = if detail.starts_with("must") || detail.starts_with("is ") {
                    sentence(&format!("{label} {detail}"))
                } else {
                    sentence(detail)
                };
                self.add(field, message);
            }
            None => self.form = Some(sentence(problem.detail())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next("/bookings"), Some("/bookings"));
        assert_eq!(safe_next("//evil.example"), None);
        assert_eq!(safe_next("https://evil.example"), None);
        assert_eq!(safe_next("/\\evil.example"), None);
        assert_eq!(safe_next("/\t/evil.example"), None);
    }

    #[test]
    fn details_read_as_sentences() {
        assert_eq!(sentence("must not be empty"), "Must not be empty.");
        assert_eq!(sentence("Done."), "Done.");
    }

    #[test]
    fn next_is_percent_encoded() {
        assert_eq!(
            sign_in_url("/slots?date=2030-01-01&x=1"),
            "/signin?next=%2Fslots%3Fdate%3D2030-01-01%26x%3D1"
        );
    }
}
