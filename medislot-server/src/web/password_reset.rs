//! "Forgot your password?": ask for a link (`/password-reset`), read that an email is on its
//! way (`/password-reset/sent`, the same words whether or not the address has an account), and
//! choose a new password from the link (`/password-reset/confirm?token=...`), then sign in.
//! Every form posts and redirects, as the other pages do; the work is
//! [`crate::password_reset`]'s, shared with the API.

use askama::Template;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{handler, Request, Response};
use serde::Deserialize;

use super::page::{self, parse_form, parse_query, redirect, respond, Errors, Layout};
use crate::password_reset;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RequestForm {
    email: String,
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct RequestPage {
    layout: Layout,
    email: String,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "password_reset_sent.html")]
struct SentPage {
    layout: Layout,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TokenQuery {
    token: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ConfirmForm {
    token: String,
    new_password: String,
    confirm_password: String,
}

#[derive(Template)]
#[template(path = "password_reset_confirm.html")]
struct ConfirmPage {
    layout: Layout,
    token: String,
    errors: Errors,
}

/// The fields of the reset forms, as the pages name them.
const FIELDS: &[(&str, &str)] = &[
    ("email", "The email"),
    ("new_password", "The new password"),
    ("confirm_password", "The repeated password"),
];

fn request_page(
    req: &Request,
    status: StatusCode,
    email: String,
    errors: Errors,
) -> Result<Response, page::PageError> {
    page::page(
        status,
        &RequestPage {
            layout: Layout::new(
                "Reset your password",
                "signin",
                None,
                page::viewer_tz(req, ""),
            ),
            email,
            errors,
        },
    )
}

/// `GET /password-reset`
#[handler]
pub(crate) fn request_form(req: &Request) -> Response {
    respond(request_page(
        req,
        StatusCode::OK,
        String::new(),
        Errors::default(),
    ))
}

/// `POST /password-reset`: queues the email when the address has an account, then the same
/// page either way.
#[handler]
pub(crate) async fn request(
    req: &Request,
    Data(state): Data<&AppState>,
    body: Vec<u8>,
) -> Response {
    respond(
        async {
            let form: RequestForm = parse_form(&body)?;
            if let Some((status, errors)) = page::too_many_attempts(state, req).await {
                return request_page(req, status, form.email, errors);
            }
            match password_reset::request(state, &form.email, crate::request_id::of(req)).await {
                Ok(()) => Ok(redirect("/password-reset/sent")),
                Err(problem) if problem.status().is_client_error() => {
                    let mut errors = Errors::default();
                    errors.add_problem(&problem, FIELDS);
                    request_page(req, problem.status(), form.email, errors)
                }
                Err(problem) => Err(problem.into()),
            }
        }
        .await,
    )
}

/// `GET /password-reset/sent`: the same words whether or not the address has an account.
#[handler]
pub(crate) fn sent(req: &Request) -> Response {
    respond(page::page(
        StatusCode::OK,
        &SentPage {
            layout: Layout::new("Check your email", "signin", None, page::viewer_tz(req, "")),
        },
    ))
}

fn confirm_page(
    req: &Request,
    status: StatusCode,
    token: String,
    errors: Errors,
) -> Result<Response, page::PageError> {
    page::page(
        status,
        &ConfirmPage {
            layout: Layout::new(
                "Choose a new password",
                "signin",
                None,
                page::viewer_tz(req, ""),
            ),
            token,
            errors,
        },
    )
}

/// `GET /password-reset/confirm?token=...`: the page the emailed link opens.
#[handler]
pub(crate) fn confirm_form(req: &Request) -> Response {
    respond((|| {
        let query: TokenQuery = parse_query(req)?;
        confirm_page(req, StatusCode::OK, query.token, Errors::default())
    })())
}

/// `POST /password-reset/confirm`: sets the password (every error of the form shown at once),
/// then sends the person to sign in with it.
#[handler]
pub(crate) async fn confirm(
    req: &Request,
    Data(state): Data<&AppState>,
    body: Vec<u8>,
) -> Response {
    respond(
        async {
            let form: ConfirmForm = parse_form(&body)?;
            if let Some((status, errors)) = page::too_many_attempts(state, req).await {
                return confirm_page(req, status, form.token, errors);
            }
            let problems =
                password_reset::password_problems(&form.new_password, Some(&form.confirm_password));
            if let Some(first) = problems.first() {
                let status = first.status();
                let mut errors = Errors::default();
                for problem in &problems {
                    errors.add_problem(problem, FIELDS);
                }
                return confirm_page(req, status, form.token, errors);
            }
            match password_reset::redeem(
                state,
                &form.token,
                &form.new_password,
                crate::request_id::of(req),
            )
            .await
            {
                Ok(_) => Ok(redirect("/signin?done=password_reset")),
                Err(problem) if problem.code() == "reset_token_invalid" => {
                    let mut errors = Errors::default();
                    errors.form = Some(
                        "This link is unknown, already used or expired. Ask for a new one below."
                            .to_owned(),
                    );
                    confirm_page(req, problem.status(), form.token, errors)
                }
                Err(problem) if problem.status().is_client_error() => {
                    let mut errors = Errors::default();
                    errors.add_problem(&problem, FIELDS);
                    confirm_page(req, problem.status(), form.token, errors)
                }
                Err(problem) => Err(problem.into()),
            }
        }
        .await,
    )
}
