use poem::http::Method;
use serde_json::json;

use crate::{read, As, TestApp};

async fn raw_post(
    app: &TestApp,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: &str,
) -> crate::Answer {
    let mut request = app
        .client
        .post(path)
        .header("authorization", format!("Bearer {token}"))
        .body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.content_type(content_type);
    }
    read(request.send().await.0).await
}

#[tokio::test]
async fn malformed_json_returns_400_problem_json() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let answer = raw_post(
        &app,
        "/api/v1/doctors",
        &admin.token,
        Some("application/json"),
        "{\"name\": ",
    )
    .await;
    answer.expect_problem(400, "malformed_request");
    let empty = raw_post(
        &app,
        "/api/v1/doctors",
        &admin.token,
        Some("application/json"),
        "",
    )
    .await;
    empty.expect_problem(400, "malformed_request");
}

#[tokio::test]
async fn a_form_encoded_body_returns_415_problem_json() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let answer = raw_post(
        &app,
        "/api/v1/doctors",
        &admin.token,
        Some("application/x-www-form-urlencoded"),
        "name=Dr+X&specialization=Y&timezone=UTC",
    )
    .await;
    assert_eq!(
        answer.expect_problem(415, "unsupported_media_type")["field"],
        "Content-Type"
    );
    let untyped = raw_post(&app, "/api/v1/doctors", &admin.token, None, "{}").await;
    untyped.expect_problem(415, "unsupported_media_type");
    let doctors = app.get("/api/v1/doctors", As::Anonymous).await;
    assert_eq!(doctors.expect(200), &json!({"items": []}));
}

#[tokio::test]
async fn a_body_that_is_not_an_object_returns_422() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let answer = raw_post(
        &app,
        "/api/v1/doctors",
        &admin.token,
        Some("application/json"),
        "[1, 2]",
    )
    .await;
    assert_eq!(answer.expect(422)["field"], "body");
}

#[tokio::test]
async fn a_body_over_the_limit_returns_413() {
    let app = TestApp::with_config(|c| c.body_limit_bytes = 1024).await;
    let admin = app.admin().await;
    let big =
        json!({"name": "x".repeat(2000), "specialization": "Y", "timezone": "UTC"}).to_string();
    let answer = raw_post(
        &app,
        "/api/v1/doctors",
        &admin.token,
        Some("application/json"),
        &big,
    )
    .await;
    answer.expect_problem(413, "payload_too_large");
    assert_eq!(answer.headers["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn an_unknown_route_returns_404_and_a_wrong_method_405_as_problem_json() {
    let app = TestApp::new().await;
    app.get("/api/v1/nothing-here", As::Anonymous)
        .await
        .expect_problem(404, "not_found");
    app.delete("/api/v1/doctors", As::Anonymous)
        .await
        .expect_problem(405, "method_not_allowed");
}

#[tokio::test]
async fn a_malformed_id_in_the_path_returns_422_naming_it() {
    let app = TestApp::new().await;
    let patient = app.patient().await;
    let answer = app
        .get("/api/v1/bookings/not-a-uuid", As::Bearer(&patient))
        .await;
    assert_eq!(answer.expect(422)["field"], "id");
    let doctor = app.get("/api/v1/doctors/12", As::Anonymous).await;
    assert_eq!(doctor.expect(422)["field"], "id");
}

#[tokio::test]
async fn responses_forbid_sniffing_and_caching() {
    let app = TestApp::new().await;
    let answer = app.get("/healthz", As::Anonymous).await;
    assert_eq!(answer.headers["x-content-type-options"], "nosniff");
    assert_eq!(answer.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn cors_is_off_unless_origins_are_configured() {
    let app = TestApp::new().await;
    let request = app
        .client
        .get("/healthz")
        .header("origin", "https://clinic.example");
    let answer = read(request.send().await.0).await;
    assert!(!answer.headers.contains_key("access-control-allow-origin"));

    let app =
        TestApp::with_config(|c| c.cors_origins = vec!["https://clinic.example".into()]).await;
    let request = app
        .client
        .get("/healthz")
        .header("origin", "https://clinic.example");
    let answer = read(request.send().await.0).await;
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        "https://clinic.example"
    );
    // A browser client may read the header that marks an idempotent replay, and a write's
    // position (read_your_writes.rs).
    let exposed = answer.headers["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("idempotent-replayed"), "{exposed}");
    assert!(exposed.contains("medislot-written-at"), "{exposed}");
    // And send the position back.
    let preflight = app
        .client
        .request(Method::OPTIONS, "/api/v1/slots")
        .header("origin", "https://clinic.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "medislot-read-after");
    let preflight = read(preflight.send().await.0).await;
    let allowed = preflight.headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("medislot-read-after"), "{allowed}");
}

/// RFC 9110: a 405 names the methods the resource does accept, for the API (read from its
/// document) and for the web pages alike.
#[tokio::test]
async fn a_method_a_route_does_not_have_gets_405_with_allow() {
    let app = TestApp::new().await;
    let id = uuid::Uuid::now_v7();
    for (method, path, allowed) in [
        (
            Method::PATCH,
            "/api/v1/bookings".to_owned(),
            "GET, HEAD, POST",
        ),
        (
            Method::PUT,
            format!("/api/v1/doctors/{id}"),
            "DELETE, GET, HEAD",
        ),
        (Method::GET, format!("/api/v1/bookings/{id}/cancel"), "POST"),
        (Method::TRACE, format!("/api/v1/slots/{id}"), "DELETE"),
        (Method::DELETE, "/signup".to_owned(), "GET, HEAD, POST"),
        (Method::DELETE, "/signout".to_owned(), "GET, HEAD, POST"),
    ] {
        let answer = app.send(method.clone(), &path, As::Anonymous, None).await;
        answer.expect_problem(405, "method_not_allowed");
        let allow = answer
            .headers
            .get("allow")
            .unwrap_or_else(|| panic!("{method} {path}: no Allow header"))
            .to_str()
            .unwrap();
        let mut methods: Vec<&str> = allow.split(", ").collect();
        methods.sort_unstable();
        assert_eq!(methods.join(", "), allowed, "{method} {path}");
    }
}
