//! Every response forbids framing with its Content-Security-Policy, and carries HSTS exactly
//! when the server is told it is reached over HTTPS.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use poem::http::Method;
use sha2::{Digest, Sha256};

use crate::TestApp;

/// One request of each kind the server answers: the docs and their document, a page, an
/// asset, health, an API error, an unknown address, a body too large, a refused method.
const EVERY_KIND: &[(Method, &str)] = &[
    (Method::GET, "/docs"),
    (Method::GET, "/docs/oauth-receiver.html"),
    (Method::GET, "/api/openapi.json"),
    (Method::GET, "/signin"),
    (Method::GET, "/assets/app.css"),
    (Method::GET, "/assets/app.js"),
    (Method::GET, "/healthz"),
    (Method::GET, "/api/v1/me"),
    (Method::GET, "/api/v1/nothing-here"),
    (Method::DELETE, "/healthz"),
    (Method::POST, "/api/v1/auth/register"),
];

async fn headers_of(
    app: &TestApp,
    method: &Method,
    path: &str,
) -> (u16, poem::http::HeaderMap, String) {
    let mut request = app.client.request(method.clone(), path);
    if *method == Method::POST {
        // Over the body limit: refused before any handler runs.
        request = request
            .header("content-type", "application/json")
            .body(vec![b' '; 70 * 1024]);
    }
    let response = request.send().await.0;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().into_string().await.unwrap_or_default();
    (status, headers, body)
}

#[tokio::test]
async fn every_response_forbids_framing_and_only_https_servers_send_hsts() {
    let plain = TestApp::new().await;
    let secure = TestApp::with_config(|c| c.cookie_secure = true).await;
    let mut statuses = Vec::new();
    for (method, path) in EVERY_KIND {
        for (app, hsts) in [(&plain, false), (&secure, true)] {
            let (status, headers, _) = headers_of(app, method, path).await;
            statuses.push(status);
            let policy = headers
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{method} {path} ({status}) has no CSP"));
            assert!(
                policy.contains("frame-ancestors 'none'"),
                "{method} {path}: {policy}"
            );
            assert_eq!(
                headers
                    .get("strict-transport-security")
                    .and_then(|v| v.to_str().ok()),
                hsts.then_some("max-age=31536000"),
                "{method} {path} ({status})"
            );
        }
    }
    // The list covers successes and errors alike.
    for status in [200, 401, 404, 405, 413] {
        assert!(statuses.contains(&status), "{status} in {statuses:?}");
    }
}

#[tokio::test]
async fn the_docs_may_run_their_own_inline_scripts_and_nothing_else() {
    let app = TestApp::new().await;
    let (status, headers, html) = headers_of(&app, &Method::GET, "/docs").await;
    assert_eq!(status, 200);
    let policy = headers["content-security-policy"].to_str().unwrap();
    let script_src = policy
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .unwrap_or_else(|| panic!("a script-src: {policy}"));
    assert!(!script_src.contains("unsafe"), "{script_src}");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    // Each inline script of the page as served is allowed by its hash.
    // Read as a browser does: a script's text runs to the first `</script>`.
    let mut inline = 0;
    let mut rest = html.as_str();
    while let Some(start) = rest.find("<script") {
        let (attributes, after) = rest[start..].split_once('>').unwrap();
        assert!(!attributes.contains("src="), "no external script");
        let (text, after) = after.split_once("</script>").unwrap();
        let hash = STANDARD.encode(Sha256::digest(text));
        assert!(
            script_src.contains(&format!("'sha256-{hash}'")),
            "{script_src}"
        );
        inline += 1;
        rest = after;
    }
    assert_eq!(inline, 2, "Swagger UI's bundle and its start-up script");

    // Pages keep their own policy: this origin's assets only.
    let (_, headers, _) = headers_of(&app, &Method::GET, "/signin").await;
    let page_policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        page_policy.starts_with("default-src 'self'"),
        "{page_policy}"
    );
    // And JSON may load nothing at all.
    let (_, headers, _) = headers_of(&app, &Method::GET, "/healthz").await;
    let json_policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        json_policy.starts_with("default-src 'none'"),
        "{json_policy}"
    );
}
