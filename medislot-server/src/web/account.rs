//! Sign up, sign in and sign out, through [`crate::accounts`] and the API's session cookie.

use askama::Template;
use poem::http::{header, StatusCode};
use poem::web::Data;
use poem::{handler, Request, Response};
use serde::Deserialize;

use super::page::{
    self, parse_form, parse_query, redirect, respond, safe_next, Errors, Flash, Layout, PageError,
};
use crate::accounts;
use crate::state::AppState;

/// `GET /`: the welcome page; signed-in people go straight to their work.
#[handler]
pub(crate) async fn home(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            match page::viewer(state, req).await? {
                Some(caller) if caller.is_admin() => Ok(redirect("/admin")),
                Some(_) => Ok(redirect("/slots")),
                None => page::page(
                    StatusCode::OK,
                    &Home {
                        layout: Layout::new(
                            "Book a doctor",
                            "home",
                            None,
                            page::viewer_tz(req, ""),
                        ),
                    },
                ),
            }
        }
        .await,
    )
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    layout: Layout,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignUpForm {
    name: String,
    email: String,
    password: String,
    /// Where to go once the account exists (the page that sent the visitor to sign in).
    next: String,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignUpPage {
    layout: Layout,
    name: String,
    email: String,
    next: String,
    errors: Errors,
}

/// The fields of the sign-up form, as the page names them.
const SIGN_UP_FIELDS: &[(&str, &str)] = &[
    ("name", "Your name"),
    ("email", "The email"),
    ("password", "The password"),
];

/// `GET /signup`
#[handler]
pub(crate) fn signup_page(req: &Request) -> Response {
    respond((|| {
        let query: SignInQuery = parse_query(req)?;
        page::page(
            StatusCode::OK,
            &SignUpPage {
                layout: Layout::new(
                    "Create an account",
                    "signup",
                    None,
                    page::viewer_tz(req, ""),
                ),
                name: String::new(),
                email: String::new(),
                next: safe_next(&query.next).unwrap_or("").to_owned(),
                errors: Errors::default(),
            },
        )
    })())
}

/// `POST /signup`: creates a patient account and signs it in.
#[handler]
pub(crate) async fn signup(req: &Request, Data(state): Data<&AppState>, body: Vec<u8>) -> Response {
    respond(
        async {
            let form: SignUpForm = parse_form(&body)?;
            let refused = |status, errors| {
                page::page(
                    status,
                    &SignUpPage {
                        layout: Layout::new(
                            "Create an account",
                            "signup",
                            None,
                            page::viewer_tz(req, ""),
                        ),
                        name: form.name.clone(),
                        email: form.email.clone(),
                        next: safe_next(&form.next).unwrap_or("").to_owned(),
                        errors,
                    },
                )
            };
            if let Some((status, errors)) = page::too_many_attempts(state, req).await {
                return refused(status, errors);
            }
            // Every field's error at once, not the first one only.
            let problems = accounts::sign_up_problems(&form.email, &form.password, &form.name);
            if let Some(first) = problems.first() {
                let status = first.status();
                let mut errors = Errors::default();
                for problem in &problems {
                    errors.add_problem(problem, SIGN_UP_FIELDS);
                }
                return refused(status, errors);
            }
            let account =
                match accounts::register_patient(state, &form.email, &form.password, &form.name)
                    .await
                {
                    Ok(account) => account,
                    Err(problem) if problem.status().is_client_error() => {
                        let mut errors = Errors::default();
                        errors.add_problem(&problem, SIGN_UP_FIELDS);
                        if problem.code() == "email_taken" {
                            errors = Errors::default();
                            errors.add(
                                "email",
                                "An account with this email already exists. Sign in instead.",
                            );
                        }
                        return refused(problem.status(), errors);
                    }
                    Err(problem) => return Err(problem.into()),
                };
            let next = safe_next(&form.next)
                .filter(|n| !n.is_empty())
                .unwrap_or("/slots?done=welcome");
            start_session(state, &account, next)
        }
        .await,
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignInForm {
    email: String,
    password: String,
    next: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignInQuery {
    next: String,
    done: String,
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    layout: Layout,
    email: String,
    next: String,
    /// The sign-up page, coming back to `next` too.
    signup: String,
    errors: Errors,
}

/// The sign-up page that returns to `next` (empty: the default).
fn signup_url(next: &str) -> String {
    if next.is_empty() {
        "/signup".to_owned()
    } else {
        format!("/signup?next={}", page::encode(next))
    }
}

/// `GET /signin`
#[handler]
pub(crate) fn signin_page(req: &Request) -> Response {
    respond((|| {
        let query: SignInQuery = parse_query(req)?;
        let flash = match query.done.as_str() {
            "signed_out" => Some(Flash::ok("You have signed out.")),
            "signed_out_everywhere" => Some(Flash::ok("You have signed out on every device.")),
            "password_reset" => Some(Flash::ok(
                "Your new password is set and every earlier session has ended. Sign in with it.",
            )),
            "lapsed" => Some(Flash::error(
                "Your session has ended. Sign in again to carry on where you were.",
            )),
            _ => None,
        };
        page::page(
            StatusCode::OK,
            &SignInPage {
                layout: Layout::new("Sign in", "signin", None, page::viewer_tz(req, ""))
                    .with_flash(flash),
                email: String::new(),
                next: safe_next(&query.next).unwrap_or("").to_owned(),
                signup: signup_url(safe_next(&query.next).unwrap_or("")),
                errors: Errors::default(),
            },
        )
    })())
}

/// `POST /signin`: checks the password (same answer for an unknown email) and sets the
/// session cookie.
#[handler]
pub(crate) async fn signin(req: &Request, Data(state): Data<&AppState>, body: Vec<u8>) -> Response {
    respond(
        async {
            let form: SignInForm = parse_form(&body)?;
            let refused = |status, message: &str| {
                let mut errors = Errors::default();
                errors.form = Some(message.to_owned());
                page::page(
                    status,
                    &SignInPage {
                        layout: Layout::new("Sign in", "signin", None, page::viewer_tz(req, "")),
                        email: form.email.clone(),
                        next: safe_next(&form.next).unwrap_or("").to_owned(),
                        signup: signup_url(safe_next(&form.next).unwrap_or("")),
                        errors,
                    },
                )
            };
            if let Some((status, _)) = page::too_many_attempts(state, req).await {
                return refused(status, page::TOO_MANY_ATTEMPTS);
            }
            match accounts::authenticate(state, &form.email, &form.password).await {
                Ok(account) => {
                    let next = safe_next(&form.next)
                        .filter(|n| !n.is_empty())
                        .unwrap_or("/");
                    start_session(state, &account, next)
                }
                Err(problem) if problem.status() == StatusCode::UNAUTHORIZED => refused(
                    StatusCode::UNAUTHORIZED,
                    "The email or password is wrong. Check both and try again.",
                ),
                Err(problem) if problem.status() == StatusCode::TOO_MANY_REQUESTS => refused(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many wrong passwords for this account. Wait a little and try again.",
                ),
                Err(problem) => Err(problem.into()),
            }
        }
        .await,
    )
}

fn start_session(
    state: &AppState,
    account: &medislot_core::Account,
    next: &str,
) -> Result<Response, PageError> {
    let session = state
        .sessions()
        .issue(account.id, account.sessions, state.engine().now())?;
    tracing::info!(account = %account.id, "signed in on the web");
    let mut response = redirect(next);
    set_session_cookies(state, &mut response, &session, account)?;
    Ok(response)
}

/// Sets the session cookie, and the zone the pages show times in when the account's profile
/// names one (so that the profile's zone follows the person to every browser they sign in on).
pub(crate) fn set_session_cookies(
    state: &AppState,
    response: &mut Response,
    session: &crate::auth::IssuedSession,
    account: &medislot_core::Account,
) -> Result<(), PageError> {
    let mut cookies = vec![state.sessions().cookie(session)];
    if let Some(zone) = account.profile.time_zone {
        cookies.push(page::chosen_zone_cookie(zone));
    }
    for cookie in cookies {
        response.headers_mut().append(
            header::SET_COOKIE,
            cookie
                .parse()
                .map_err(|_| PageError::BadRequest("session"))?,
        );
    }
    Ok(())
}

/// `GET /signout`: the form's address, opened again: the start page.
#[handler]
pub(crate) fn signout_address() -> Response {
    redirect("/")
}

/// `POST /signout`: ends the session (the token stops working) and removes the cookie.
#[handler]
pub(crate) async fn signout(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let Some(caller) = page::viewer(state, req).await? else {
                return Ok(redirect("/signin"));
            };
            crate::auth::end_session(state, &caller.claims).await?;
            let mut response = redirect("/signin?done=signed_out");
            response.headers_mut().append(
                header::SET_COOKIE,
                state
                    .sessions()
                    .removal_cookie()
                    .parse()
                    .map_err(|_| PageError::BadRequest("session"))?,
            );
            Ok(response)
        }
        .await,
    )
}
