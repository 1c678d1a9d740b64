//! The zone page: every page shows its times in one zone, named at its top with a link here,
//! where the viewer picks another zone (kept in a cookie) or goes back to the browser's.

use askama::Template;
use chrono_tz::TZ_VARIANTS;
use poem::http::{header, StatusCode};
use poem::web::Data;
use poem::{handler, Request, Response};
use serde::Deserialize;

use super::page::{
    self, parse_form, parse_query, redirect, respond, safe_next, Errors, Layout, PageError,
    CHOSEN_TZ_COOKIE,
};
use super::time;
use crate::state::AppState;

/// The current names of every zone, for the lists that offer a zone.
pub(crate) fn zone_names() -> Vec<&'static str> {
    TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .filter(|name| time::is_current_name(name))
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ZoneForm {
    zone: String,
    next: String,
}

#[derive(Template)]
#[template(path = "zone.html")]
struct ZonePage {
    layout: Layout,
    /// The browser's own zone.
    browser: String,
    /// The zone picked before, if any (empty: the browser's).
    chosen: String,
    zones: Vec<&'static str>,
    next: String,
    errors: Errors,
}

/// `GET /zone`: the list of zones, to show times in; back to the page that linked here.
#[handler]
pub(crate) async fn zone_page(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let caller = page::viewer(state, req).await?;
            let query: ZoneForm = parse_query(req)?;
            let next = safe_next(&query.next)
                .map(str::to_owned)
                .or_else(|| page::referring_page(req).filter(|p| !p.starts_with("/zone")))
                .unwrap_or_else(|| "/".to_owned());
            let tz = page::viewer_tz(req, "");
            let browser = page::browser_tz(req);
            render(
                Layout::new("Time zone", "zone", caller.as_ref(), tz),
                browser.name(),
                if tz == browser { "" } else { tz.name() },
                next,
                Errors::default(),
                StatusCode::OK,
            )
        }
        .await,
    )
}

fn render(
    layout: Layout,
    browser: &str,
    chosen: &str,
    next: String,
    errors: Errors,
    status: StatusCode,
) -> Result<Response, PageError> {
    page::page(
        status,
        &ZonePage {
            layout,
            browser: time::parse_zone(browser)
                .map_or_else(|| browser.to_owned(), |tz| tz.name().to_owned()),
            chosen: chosen.to_owned(),
            zones: zone_names(),
            next,
            errors,
        },
    )
}

/// `POST /zone`: keeps the picked zone (or forgets it, for the browser's) and goes back.
#[handler]
pub(crate) async fn choose_zone(
    req: &Request,
    Data(state): Data<&AppState>,
    body: Vec<u8>,
) -> Response {
    respond(
        async {
            let form: ZoneForm = parse_form(&body)?;
            let next = safe_next(&form.next).unwrap_or("/").to_owned();
            let cookie = if form.zone.trim().is_empty() {
                format!("{CHOSEN_TZ_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax")
            } else {
                match time::parse_zone(&form.zone) {
                    Some(tz) => page::chosen_zone_cookie(tz),
                    None => {
                        let caller = page::viewer(state, req).await?;
                        let mut errors = Errors::default();
                        errors.add("zone", "Choose a time zone from the list.");
                        let tz = page::viewer_tz(req, "");
                        return render(
                            Layout::new("Time zone", "zone", caller.as_ref(), tz),
                            page::browser_tz(req).name(),
                            "",
                            next,
                            errors,
                            StatusCode::UNPROCESSABLE_ENTITY,
                        );
                    }
                }
            };
            let mut response = redirect(&next);
            response.headers_mut().append(
                header::SET_COOKIE,
                cookie.parse().map_err(|_| PageError::BadRequest("zone"))?,
            );
            Ok(response)
        }
        .await,
    )
}
