//! The signed-in person's own page, `/profile`: name, phone number and the zone they see times
//! in; a new password (which ends every other session); and signing out everywhere. Every form
//! posts, then redirects back here; a refused form shows each error next to its field.

use askama::Template;
use poem::http::{header, StatusCode};
use poem::web::Data;
use poem::{handler, Request, Response};
use serde::Deserialize;

use super::account::set_session_cookies;
use super::page::{
    self, parse_form, parse_query, redirect, respond, Errors, Flash, Layout, PageError,
    CHOSEN_TZ_COOKIE,
};
use super::zone::zone_names;
use crate::accounts::{self, ProfileChange};
use crate::auth::Caller;
use crate::state::AppState;

/// The profile form's fields, as the page names them.
const PROFILE_FIELDS: &[(&str, &str)] = &[
    ("name", "Your name"),
    ("phone", "The phone number"),
    ("time_zone", "The time zone"),
];

/// The password form's fields, as the page names them.
const PASSWORD_FIELDS: &[(&str, &str)] = &[
    ("current_password", "The current password"),
    ("new_password", "The new password"),
];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProfileForm {
    name: String,
    phone: String,
    time_zone: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PasswordForm {
    current_password: String,
    new_password: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProfileQuery {
    done: String,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    layout: Layout,
    email: String,
    name: String,
    phone: String,
    time_zone: String,
    zones: Vec<&'static str>,
    /// The profile form's errors.
    errors: Errors,
    /// The password form's errors.
    password_errors: Errors,
}

impl ProfilePage {
    fn new(req: &Request, caller: &Caller) -> Self {
        let profile = &caller.account.profile;
        Self {
            layout: Layout::new(
                "Your profile",
                "profile",
                Some(caller),
                page::viewer_tz(req, ""),
            ),
            email: caller.account.email.to_string(),
            name: caller.account.name.clone(),
            phone: profile
                .phone
                .as_ref()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            time_zone: profile
                .time_zone
                .map(|tz| tz.name().to_owned())
                .unwrap_or_default(),
            zones: zone_names(),
            errors: Errors::default(),
            password_errors: Errors::default(),
        }
    }
}

/// `GET /profile`
#[handler]
pub(crate) async fn profile_page(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let query: ProfileQuery = parse_query(req)?;
            let flash = match query.done.as_str() {
                "saved" => Some(Flash::ok("Your profile is saved.")),
                "password" => Some(Flash::ok(
                    "Your password is changed. Every other device has been signed out.",
                )),
                _ => None,
            };
            let mut view = ProfilePage::new(req, &caller);
            view.layout = view.layout.with_flash(flash);
            page::page(StatusCode::OK, &view)
        }
        .await,
    )
}

/// `GET /profile/password`, `GET /profile/sessions`: a form's address opened again: the
/// profile page.
#[handler]
pub(crate) fn profile_address() -> Response {
    redirect("/profile")
}

/// `POST /profile`: saves the name, phone number and zone; the zone also rules this browser's
/// pages at once (an empty zone goes back to the browser's).
#[handler]
pub(crate) async fn save_profile(
    req: &Request,
    Data(state): Data<&AppState>,
    body: Vec<u8>,
) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let form: ProfileForm = parse_form(&body)?;
            let change = ProfileChange {
                name: form.name.clone(),
                phone: form.phone.clone(),
                time_zone: form.time_zone.clone(),
            };
            if let Err(problems) = accounts::check_profile(&change) {
                let mut view = ProfilePage::new(req, &caller);
                for problem in &problems {
                    view.errors.add_problem(problem, PROFILE_FIELDS);
                }
                (view.name, view.phone, view.time_zone) = (form.name, form.phone, form.time_zone);
                return page::page(StatusCode::UNPROCESSABLE_ENTITY, &view);
            }
            let account = accounts::update_profile(state, &caller, &change).await?;
            let cookie = match account.profile.time_zone {
                Some(zone) => page::chosen_zone_cookie(zone),
                None => format!("{CHOSEN_TZ_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax"),
            };
            let mut response = redirect("/profile?done=saved");
            response.headers_mut().append(
                header::SET_COOKIE,
                cookie.parse().map_err(|_| PageError::BadRequest("zone"))?,
            );
            Ok(response)
        }
        .await,
    )
}

/// `POST /profile/password`: changes the password, ends every other session, and gives this
/// browser the new session.
#[handler]
pub(crate) async fn change_password(
    req: &Request,
    Data(state): Data<&AppState>,
    body: Vec<u8>,
) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            let form: PasswordForm = parse_form(&body)?;
            match accounts::change_password(
                state,
                &caller,
                &form.current_password,
                &form.new_password,
            )
            .await
            {
                Ok(session) => {
                    let mut response = redirect("/profile?done=password");
                    set_session_cookies(state, &mut response, &session, &caller.account)?;
                    Ok(response)
                }
                Err(problem) if problem.status().is_client_error() => {
                    let mut view = ProfilePage::new(req, &caller);
                    if problem.status() == StatusCode::TOO_MANY_REQUESTS {
                        view.password_errors.form = Some(
                            "Too many wrong passwords for this account. Wait a little and try \
                             again."
                                .to_owned(),
                        );
                    } else {
                        view.password_errors.add_problem(&problem, PASSWORD_FIELDS);
                    }
                    page::page(problem.status(), &view)
                }
                Err(problem) => Err(problem.into()),
            }
        }
        .await,
    )
}

/// `POST /profile/sessions`: signs the account out on every device, this one included.
#[handler]
pub(crate) async fn sign_out_everywhere(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let caller = page::signed_in(state, req).await?;
            accounts::sign_out_everywhere(state, &caller).await?;
            let mut response = redirect("/signin?done=signed_out_everywhere");
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
