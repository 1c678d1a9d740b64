//! The security headers of every response, set in one place (a middleware around the whole
//! application, so errors, assets, the OpenAPI document and the docs get them too):
//!
//! - `Content-Security-Policy`, never framed (`frame-ancestors 'none'`): the pages may load
//!   only this origin's assets; the docs UI, whose scripts poem-openapi writes inline, may run
//!   exactly those scripts (by their SHA-256) and nothing else; anything else (JSON, problem
//!   documents, CSS, JS, metrics) may load nothing at all.
//! - `Strict-Transport-Security` when the server is told it is reached over HTTPS
//!   (`--cookie-secure`), never otherwise: HSTS over plain HTTP would lock browsers out.

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use poem::http::{header, HeaderValue};
use poem::{Endpoint, IntoResponse, Request, Response};
use sha2::{Digest, Sha256};

/// Where the interactive API docs are served.
pub(crate) const DOCS_PATH: &str = "/docs";

/// The pages: scripts and styles only from this origin (the embedded assets), never framed.
const PAGE_POLICY: &str = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
     form-action 'self'; base-uri 'none'";

/// Everything that is not a page (JSON, problem documents, assets, metrics): nothing may be
/// loaded or run in its context, and it is never framed.
const RESOURCE_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'";

/// One year, as HSTS deployments usually ask; subdomains are not included, since the server
/// cannot know whether every other host of its domain serves HTTPS.
const HSTS: &str = "max-age=31536000";

/// Middleware that sets the headers above on every response; `hsts` adds
/// `Strict-Transport-Security`.
pub(crate) async fn apply<E: Endpoint>(
    next: E,
    req: Request,
    hsts: bool,
) -> poem::Result<Response> {
    let docs = req.uri().path().starts_with(DOCS_PATH);
    let docs_index = matches!(req.uri().path().strip_prefix(DOCS_PATH), Some("" | "/"));
    let mut response = match next.call(req).await {
        Ok(response) => response.into_response(),
        Err(err) => err.into_response(),
    };
    let policy = if docs && is_html(&response) {
        // poem-openapi renders the docs page once, from the API's document, which is the same
        // for every app this binary builds: hash its scripts once, not on every request.
        static DOCS_POLICY: OnceLock<HeaderValue> = OnceLock::new();
        match DOCS_POLICY.get().filter(|_| docs_index) {
            Some(policy) => policy.clone(),
            None => {
                let (with_policy, policy) = docs_policy(response).await;
                response = with_policy;
                if docs_index {
                    DOCS_POLICY.get_or_init(|| policy).clone()
                } else {
                    policy
                }
            }
        }
    } else if is_html(&response) {
        HeaderValue::from_static(PAGE_POLICY)
    } else {
        HeaderValue::from_static(RESOURCE_POLICY)
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    Ok(response)
}

fn is_html(response: &Response) -> bool {
    response
        .content_type()
        .is_some_and(|t| t.starts_with("text/html"))
}

/// The docs page's policy: its own inline scripts, named by hash (the document is embedded in
/// one of them, so the hashes are computed from the page as served), inline styles (Swagger UI
/// sets them from script), images from `data:` URLs, and requests to this origin only ("Try it
/// out"). Never framed.
async fn docs_policy(response: Response) -> (Response, HeaderValue) {
    let (parts, body) = response.into_parts();
    let html = match body.into_string().await {
        Ok(html) => html,
        Err(err) => {
            tracing::error!(error = %err, "reading the docs page failed");
            let response = Response::from_parts(parts, poem::Body::empty());
            return (response, HeaderValue::from_static(RESOURCE_POLICY));
        }
    };
    let scripts: String = inline_scripts(&html)
        .into_iter()
        .map(|script| format!(" 'sha256-{}'", STANDARD.encode(Sha256::digest(script))))
        .collect();
    let policy = format!(
        "default-src 'none'; script-src{scripts}; style-src 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
         form-action 'none'; base-uri 'none'"
    );
    let response = Response::from_parts(parts, html.into());
    // Hashes are base64 and the rest is fixed ASCII: always a valid header value.
    let policy = HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static(RESOURCE_POLICY));
    (response, policy)
}

/// The text of each inline `<script>` element (one without `src`) of `html`, read in order:
/// a script's text ends at the first `</script>`, as it does for the browser.
fn inline_scripts(html: &str) -> Vec<&str> {
    let mut scripts = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let Some((attributes, after)) = rest[start + "<script".len()..].split_once('>') else {
            break;
        };
        let Some((text, after)) = after.split_once("</script>") else {
            break;
        };
        if !attributes.contains("src=") {
            scripts.push(text);
        }
        rest = after;
    }
    scripts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_found_and_external_ones_skipped() {
        let html = r#"<script charset="UTF-8">one()</script><script src="/x.js"></script>
            <p>text</p><script>
two()</script>"#;
        assert_eq!(inline_scripts(html), ["one()", "\ntwo()"]);
    }
}
