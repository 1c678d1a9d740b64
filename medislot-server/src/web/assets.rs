//! The stylesheet and script, embedded in the binary: nothing to build or install.

use poem::handler;
use poem::http::header;
use poem::Response;

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    Response::builder()
        .content_type(content_type)
        .header(header::CACHE_CONTROL, "public, max-age=300")
        .body(body)
}

/// `GET /assets/app.css`
#[handler]
pub(crate) fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

/// `GET /assets/app.js`
#[handler]
pub(crate) fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}
