//! The web UI served at `/`: server-rendered pages (askama templates, checked when the crate
//! compiles) with a little progressive JavaScript, for patients (sign up, find and book a slot,
//! hold and confirm, their bookings, cancel) and admins (doctors, a day of slots, all bookings).
//!
//! One set of rules: every page calls the same [`BookingEngine`](medislot_core::BookingEngine),
//! the same account operations ([`crate::accounts`]) and the same session, CSRF and role checks
//! ([`crate::auth`]) as the JSON API. Forms carry the session's CSRF token as a `csrf_token`
//! field; [`lift_csrf_field`] hands it to [`crate::auth::authenticate`] in the header the API
//! already requires, so the rule exists once.
//!
//! Every form posts, then redirects to a page (post/redirect/get), and a GET on a form's
//! address leads to its page; every page shows its times in one zone, named at its top. A
//! form posted from another site is refused before it runs (`same_origin`).
//!
//! Map: [`page`] (viewer, layout, error pages), [`time`] (zones at the edge), `zone` (picking
//! the zone pages show), `account` (sign up, in, out), `find` (the slot finder, book and
//! hold), `week` (a week of free times, jump to the next available day), `bookings` (a
//! patient's bookings, confirm, cancel), `reschedule` (move a booking: the finder's
//! reschedule mode and its confirmation), `waitlist` (joining from the finder, My waitlist
//! with its offers), `admin` (dashboard, doctors, a day of slots, a doctor's working hours
//! with a preview, a doctor's week calendar, a doctor's waitlist, all bookings, the outbox),
//! `assets` (the embedded CSS and JS).

mod account;
mod admin;
mod assets;
mod bookings;
mod find;
pub(crate) mod page;
mod password_reset;
mod profile;
mod reschedule;
mod same_origin;
pub(crate) mod time;
mod waitlist;
mod week;
mod zone;
mod zone_names;

use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route};

// poem's `get` (and through it `post`), remembering the methods so that a 405 carries `Allow`.
use crate::allow::get;
use crate::auth::CSRF_HEADER;

/// The form field that carries the session's CSRF token.
pub(crate) const CSRF_FIELD: &str = "csrf_token";

/// Adds the web UI's pages to `route` (which may nest the API at `/`: the pages are static
/// paths, which the router prefers; the bare `/` is answered before routing, because a nest
/// at `/` also claims it).
pub(crate) fn routes(route: Route) -> impl Endpoint<Output = Response> {
    route
        .at("/assets/app.css", get(assets::css))
        .at("/assets/app.js", get(assets::js))
        .at("/signup", get(account::signup_page).post(account::signup))
        .at("/signin", get(account::signin_page).post(account::signin))
        .at(
            "/password-reset",
            get(password_reset::request_form).post(password_reset::request),
        )
        .at("/password-reset/sent", get(password_reset::sent))
        .at(
            "/password-reset/confirm",
            get(password_reset::confirm_form).post(password_reset::confirm),
        )
        .at(
            "/signout",
            get(account::signout_address).post(account::signout.around(lift_csrf_field)),
        )
        .at("/zone", get(zone::zone_page).post(zone::choose_zone))
        .at(
            "/profile",
            get(profile::profile_page).post(profile::save_profile.around(lift_csrf_field)),
        )
        .at(
            "/profile/password",
            get(profile::profile_address).post(profile::change_password.around(lift_csrf_field)),
        )
        .at(
            "/profile/sessions",
            get(profile::profile_address)
                .post(profile::sign_out_everywhere.around(lift_csrf_field)),
        )
        .at("/slots", get(find::slots_page))
        .at("/week", get(week::week_page))
        .at("/week/next", get(week::jump))
        .at(
            "/slots/:id/book",
            get(find::take_address).post(find::book.around(lift_csrf_field)),
        )
        .at(
            "/slots/:id/hold",
            get(find::take_address).post(find::hold.around(lift_csrf_field)),
        )
        .at("/bookings", get(bookings::mine))
        .at("/bookings/:id", get(bookings::show))
        .at(
            "/bookings/:id/confirm",
            get(bookings::confirm_address).post(bookings::confirm.around(lift_csrf_field)),
        )
        .at(
            "/bookings/:id/cancel",
            get(bookings::cancel_page).post(bookings::cancel.around(lift_csrf_field)),
        )
        .at(
            "/bookings/:id/reschedule",
            get(reschedule::confirm_page).post(reschedule::reschedule.around(lift_csrf_field)),
        )
        .at("/waitlist", get(waitlist::mine))
        .at(
            "/waitlist/join",
            get(waitlist::join_form).post(waitlist::join.around(lift_csrf_field)),
        )
        .at(
            "/waitlist/:id/leave",
            get(waitlist::waitlist_address).post(waitlist::leave.around(lift_csrf_field)),
        )
        .at(
            "/waitlist/offers/:id/confirm",
            get(waitlist::waitlist_address).post(waitlist::confirm_offer.around(lift_csrf_field)),
        )
        .at(
            "/waitlist/offers/:id/decline",
            get(waitlist::waitlist_address).post(waitlist::decline_offer.around(lift_csrf_field)),
        )
        .at("/admin", get(admin::dashboard))
        .at(
            "/admin/doctors",
            get(admin::doctors_list).post(admin::create_doctor.around(lift_csrf_field)),
        )
        .at(
            "/admin/doctors/:id",
            get(admin::doctor_slots).post(admin::publish_day.around(lift_csrf_field)),
        )
        .at(
            "/admin/doctors/:id/profile",
            get(admin::update_profile_address).post(admin::update_profile.around(lift_csrf_field)),
        )
        .at(
            "/admin/doctors/:id/delete",
            get(admin::delete_doctor_address).post(admin::delete_doctor.around(lift_csrf_field)),
        )
        .at(
            "/admin/slots/:id/delete",
            get(admin::withdraw_slot_address).post(admin::withdraw_slot.around(lift_csrf_field)),
        )
        .at(
            "/admin/doctors/:id/hours",
            get(admin::hours_page).post(admin::change_hours.around(lift_csrf_field)),
        )
        .at("/admin/doctors/:id/waitlist", get(admin::doctor_waitlist))
        .at("/admin/doctors/:id/calendar", get(admin::doctor_calendar))
        .at("/admin/bookings", get(admin::all_bookings))
        .at("/admin/outbox", get(admin::outbox_page))
        .at("/admin/audit", get(admin::audit_page))
        .at(
            "/admin/outbox/:id/retry",
            get(admin::retry_address).post(admin::retry_message.around(lift_csrf_field)),
        )
        .around(home_at_root)
        .around(same_origin::refuse_cross_site)
}

/// Serves the start page at `/` itself, and answers a browser that asks for a page that does
/// not exist (outside the API) with the HTML 404 page rather than a problem document.
async fn home_at_root<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    if req.uri().path() == "/" && req.method() == Method::GET {
        return account::home.call(req).await;
    }
    let browser_page = req.method() == Method::GET
        && !req.uri().path().starts_with("/api/")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    match next.call(req).await {
        Ok(response) => Ok(response.into_response()),
        Err(err) if browser_page && err.status() == StatusCode::NOT_FOUND => {
            Ok(page::PageError::NotFound.into_response())
        }
        Err(err) => Err(err),
    }
}

/// Copies a form's `csrf_token` field into the `X-CSRF-Token` header (unless the request
/// already sends one), so that [`crate::auth::authenticate`] applies the same CSRF rule to
/// pages as to the API. A cross-site form cannot know the token, exactly as it cannot set the
/// header.
async fn lift_csrf_field<E: Endpoint>(next: E, mut req: Request) -> poem::Result<E::Output> {
    if req.method() == Method::POST && !req.headers().contains_key(CSRF_HEADER) {
        // The app's body limit has already read the body into memory.
        let bytes = req.take_body().into_vec().await.unwrap_or_default();
        let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            .ok()
            .and_then(|pairs| pairs.into_iter().find(|(name, _)| name == CSRF_FIELD))
            .and_then(|(_, value)| HeaderValue::from_str(&value).ok());
        if let Some(token) = token {
            req.headers_mut().insert(CSRF_HEADER, token);
        }
        req.set_body(bytes);
    }
    next.call(req).await
}
