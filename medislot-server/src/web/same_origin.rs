//! Every form post of the pages (sign in and sign up first: they need no session, so the CSRF
//! token cannot protect them) must come from this site. A browser says where a post comes from:
//! `Sec-Fetch-Site` (`cross-site` is refused) and `Origin` (which must be this server's: the
//! configured public origin, or else the request's own `Host`). A client that sends neither
//! header (curl, scripts) is not a browser carrying someone's cookies, and is let through.
//!
//! A refused post gets the 403 page [`PageError::CrossSite`], and nothing runs.

use poem::http::{header, HeaderMap, Method};
use poem::{Endpoint, IntoResponse, Request, Response};

use super::page::PageError;
use crate::state::AppState;

/// Middleware that refuses cross-site posts to the pages (the JSON API under `/api/` is left
/// to its own rules: a JSON body cannot be posted by a cross-site form).
pub(crate) async fn refuse_cross_site<E: Endpoint>(
    next: E,
    req: Request,
) -> poem::Result<Response> {
    if req.method() == Method::POST && !req.uri().path().starts_with("/api/") {
        let public_origin = req
            .data::<AppState>()
            .and_then(|state| state.config().public_origin.clone());
        if let Some(why) = cross_site(req.headers(), public_origin.as_deref()) {
            tracing::warn!(path = %req.uri().path(), why, "cross-site form post refused");
            return Ok(PageError::CrossSite.into_response());
        }
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// Why a post with these headers comes from another site, or `None` when it does not (or
/// does not say).
fn cross_site(headers: &HeaderMap, public_origin: Option<&str>) -> Option<&'static str> {
    let fetch_site = headers.get("sec-fetch-site").map(|v| v.as_bytes());
    if fetch_site == Some(b"cross-site") {
        return Some("Sec-Fetch-Site: cross-site");
    }
    let origin = headers.get(header::ORIGIN)?;
    let Ok(origin) = origin.to_str() else {
        return Some("an unreadable Origin");
    };
    let origin = origin.trim().trim_end_matches('/');
    let ours = match public_origin {
        Some(public) => origin.eq_ignore_ascii_case(public.trim_end_matches('/')),
        None => {
            // `null` (a sandboxed or privacy-sensitive context) has no host and never matches.
            let host = origin.split_once("://").map(|(_, host)| host);
            let own = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            matches!((host, own), (Some(host), Some(own)) if host.eq_ignore_ascii_case(own))
        }
    };
    (!ours).then_some("an Origin that is not this site")
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn posts_from_this_site_or_without_browser_headers_pass() {
        let host = ("host", "clinic.example:8080");
        assert_eq!(cross_site(&headers(&[host]), None), None);
        let same = headers(&[
            host,
            ("origin", "http://clinic.example:8080"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(cross_site(&same, None), None);
        let public = headers(&[
            ("host", "10.0.0.7:8080"),
            ("origin", "https://Clinic.example"),
        ]);
        assert_eq!(cross_site(&public, Some("https://clinic.example/")), None);
    }

    #[test]
    fn posts_from_elsewhere_are_refused() {
        let host = ("host", "clinic.example:8080");
        for refused in [
            headers(&[host, ("sec-fetch-site", "cross-site")]),
            headers(&[host, ("origin", "https://evil.example")]),
            headers(&[host, ("origin", "http://clinic.example:8081")]),
            headers(&[host, ("origin", "null")]),
            headers(&[("origin", "http://clinic.example:8080")]),
        ] {
            assert!(cross_site(&refused, None).is_some(), "{refused:?}");
        }
        let proxied = headers(&[
            ("host", "clinic.example"),
            ("origin", "https://clinic.example.evil.example"),
        ]);
        assert!(cross_site(&proxied, Some("https://clinic.example")).is_some());
    }
}
