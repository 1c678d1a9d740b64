use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::Duration;
use medislot_core::Role;
use poem::http::Method;
use serde_json::json;

use crate::{As, TestApp, User, SECRET};

async fn registering_returns_201_with_a_patient_account() {
    let app = TestApp::new().await;
    let answer = app.register("New.Patient@Example.com", "long enough").await;
    let body = answer.expect(201);
    assert_eq!(body["email"], "new.patient@example.com");
    assert_eq!(body["role"], "patient");
    assert_eq!(body["name"], "Pat Ient");
    assert!(body.get("password_hash").is_none());
}

async fn registering_an_existing_email_returns_409_email_taken() {
    let app = TestApp::new().await;
    app.register("a@example.com", "long enough")
        .await
        .expect(201);
    let again = app.register("A@example.com", "other password").await;
    assert_eq!(again.expect_problem(409, "email_taken")["field"], "email");
}

async fn registering_with_bad_fields_returns_422_naming_each_field() {
    let app = TestApp::new().await;
    let short = app.register("a@example.com", "short").await;
    assert_eq!(
        short.expect_problem(422, "validation_failed")["field"],
        "password"
    );
    let email = app.register("not-an-email", "long enough").await;
    assert_eq!(email.expect(422)["field"], "email");
    let name = app
        .post(
            "/api/v1/auth/register",
            As::Anonymous,
            json!({"email": "b@example.com", "password": "long enough", "name": "  "}),
        )
        .await;
    assert_eq!(name.expect(422)["field"], "name");
    let missing = app
        .post(
            "/api/v1/auth/register",
            As::Anonymous,
            json!({"email": "b@example.com", "password": "long enough"}),
        )
        .await;
    assert_eq!(missing.expect(422)["field"], "name");
}

async fn logging_in_returns_a_token_and_sets_an_http_only_strict_cookie() {
    let app = TestApp::new().await;
    app.register("a@example.com", "long enough")
        .await
        .expect(201);
    let answer = app.login("a@example.com", "long enough").await;
    let body = answer.expect(200);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["csrf_token"].as_str().is_some_and(|t| t.len() >= 32));
    assert_eq!(body["user"]["email"], "a@example.com");
    let expires = body["expires_at"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(expires).is_ok());
    let cookie = answer.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.starts_with("medislot_session="));
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Strict"));
    assert!(
        !cookie.contains("Secure"),
        "Secure only with --cookie-secure"
    );
}

async fn the_cookie_is_secure_when_configured() {
    let app = TestApp::with_config(|c| c.cookie_secure = true).await;
    app.register("a@example.com", "long enough")
        .await
        .expect(201);
    let answer = app.login("a@example.com", "long enough").await;
    let cookie = answer.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("; Secure"));
}

async fn a_wrong_password_and_an_unknown_email_get_the_same_401() {
    let app = TestApp::new().await;
    app.register("a@example.com", "long enough")
        .await
        .expect(201);
    let wrong = app.login("a@example.com", "not the password").await;
    let unknown = app.login("nobody@example.com", "long enough").await;
    let malformed = app.login("nobody", "long enough").await;
    wrong.expect_problem(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body, malformed.body);
}

async fn me_without_a_session_returns_401() {
    let app = TestApp::new().await;
    let answer = app.get("/api/v1/me", As::Anonymous).await;
    answer.expect_problem(401, "unauthorized");
    assert!(answer.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
}

async fn me_answers_with_a_bearer_token_or_the_cookie() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    let by_bearer = app.get("/api/v1/me", As::Bearer(&user)).await;
    assert_eq!(by_bearer.expect(200)["email"], user.email.as_str());
    let by_cookie = app.get("/api/v1/me", As::Cookie(&user, false)).await;
    assert_eq!(by_cookie.expect(200)["id"], user.id.to_string());
}

fn forged(user: &User, token: String) -> User {
    User {
        token,
        ..user.clone()
    }
}

async fn a_token_signed_with_another_key_returns_401() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&user.token)
        .unwrap()
        .claims;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"another-key-another-key-another-key!"),
    )
    .unwrap();
    app.get("/api/v1/me", As::Bearer(&forged(&user, token)))
        .await
        .expect_problem(401, "unauthorized");
}

async fn a_token_with_alg_none_returns_401() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    let payload = user.token.split('.').nth(1).unwrap();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        app.get("/api/v1/me", As::Bearer(&forged(&user, token)))
            .await
            .expect_problem(401, "unauthorized");
    }
}

async fn a_tampered_token_returns_401() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    let admin = app.admin().await;
    // The admin's payload under the patient's signature.
    let mut parts: Vec<&str> = user.token.split('.').collect();
    parts[1] = admin.token.split('.').nth(1).unwrap();
    app.get("/api/v1/me", As::Bearer(&forged(&user, parts.join("."))))
        .await
        .expect(401);
    app.get("/api/v1/me", As::Bearer(&forged(&user, "garbage".into())))
        .await
        .expect(401);
}

async fn an_expired_token_returns_401() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    app.get("/api/v1/me", As::Bearer(&user)).await.expect(200);
    app.clock
        .advance(app.state.sessions().ttl() + Duration::seconds(1));
    app.get("/api/v1/me", As::Bearer(&user))
        .await
        .expect_problem(401, "unauthorized");
}

async fn an_expired_token_signed_with_the_right_key_returns_401() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    let mut claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&user.token)
        .unwrap()
        .claims;
    claims["exp"] = json!((app.now() - Duration::minutes(1)).timestamp());
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    app.get("/api/v1/me", As::Bearer(&forged(&user, token)))
        .await
        .expect(401);
}

async fn logging_out_ends_the_session_and_clears_the_cookie() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    let answer = app
        .post("/api/v1/auth/logout", As::Bearer(&user), json!({}))
        .await;
    answer.expect(204);
    let cookie = answer.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("medislot_session=;"));
    assert!(cookie.contains("Max-Age=0"));
    app.get("/api/v1/me", As::Bearer(&user)).await.expect(401);
}

async fn a_cookie_session_cannot_change_state_without_the_csrf_header() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(1).await;
    let user = app.patient().await;
    let body = json!({ "slot_id": slots[0] });
    let refused = app
        .post("/api/v1/bookings", As::Cookie(&user, false), body.clone())
        .await;
    assert_eq!(
        refused.expect_problem(403, "csrf_failed")["field"],
        "X-CSRF-Token"
    );
    let wrong = User {
        csrf: "not-the-token".into(),
        ..user.clone()
    };
    app.post("/api/v1/bookings", As::Cookie(&wrong, true), body.clone())
        .await
        .expect_problem(403, "csrf_failed");
    // Nothing was booked by the refused attempts.
    app.post("/api/v1/bookings", As::Cookie(&user, true), body)
        .await
        .expect(201);
}

async fn logout_by_cookie_also_needs_the_csrf_header() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    app.post("/api/v1/auth/logout", As::Cookie(&user, false), json!({}))
        .await
        .expect_problem(403, "csrf_failed");
    app.get("/api/v1/me", As::Bearer(&user)).await.expect(200);
}

async fn login_and_register_are_rate_limited_per_client() {
    let app = TestApp::with_config(|c| c.auth_attempts_per_minute = 3).await;
    for _ in 0..3 {
        app.login("a@example.com", "whatever1").await.expect(401);
    }
    let limited = app.login("a@example.com", "whatever1").await;
    limited.expect_problem(429, "too_many_attempts");
    assert!(limited.headers.contains_key("retry-after"));
    app.register("b@example.com", "long enough")
        .await
        .expect_problem(429, "too_many_attempts");
}

async fn every_route_that_needs_a_session_returns_401_without_one() {
    let app = TestApp::new().await;
    let id = uuid::Uuid::now_v7();
    let routes = [
        (Method::POST, "/api/v1/auth/logout".to_owned()),
        (Method::GET, "/api/v1/me".to_owned()),
        (Method::POST, "/api/v1/doctors".to_owned()),
        (Method::DELETE, format!("/api/v1/doctors/{id}")),
        (Method::POST, format!("/api/v1/doctors/{id}/slots")),
        (Method::DELETE, format!("/api/v1/slots/{id}")),
        (Method::POST, format!("/api/v1/slots/{id}/hold")),
        (Method::POST, "/api/v1/bookings".to_owned()),
        (Method::GET, "/api/v1/bookings".to_owned()),
        (Method::GET, format!("/api/v1/bookings/{id}")),
        (Method::POST, format!("/api/v1/bookings/{id}/confirm")),
        (Method::POST, format!("/api/v1/bookings/{id}/cancel")),
    ];
    for (method, path) in routes {
        let answer = app
            .send(method.clone(), &path, As::Anonymous, Some(json!({})))
            .await;
        assert_eq!(answer.status, 401, "{method} {path}: {}", answer.body);
        answer.expect_problem(401, "unauthorized");
    }
}

async fn every_admin_route_returns_403_for_a_patient() {
    let app = TestApp::new().await;
    let patient = app.patient().await;
    let id = uuid::Uuid::now_v7();
    let routes = [
        (Method::POST, "/api/v1/doctors".to_owned()),
        (Method::DELETE, format!("/api/v1/doctors/{id}")),
        (Method::POST, format!("/api/v1/doctors/{id}/slots")),
        (Method::DELETE, format!("/api/v1/slots/{id}")),
    ];
    for (method, path) in routes {
        let answer = app
            .send(method.clone(), &path, As::Bearer(&patient), Some(json!({})))
            .await;
        assert_eq!(answer.status, 403, "{method} {path}: {}", answer.body);
        answer.expect_problem(403, "admin_only");
    }
}

async fn a_demoted_admin_loses_admin_access_at_once() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let doctor = json!({"name": "Dr B", "specialization": "Dermatology", "timezone": "UTC"});
    app.post("/api/v1/doctors", As::Bearer(&admin), doctor.clone())
        .await
        .expect(201);
    app.set_role(&admin, Role::Patient).await;
    app.post("/api/v1/doctors", As::Bearer(&admin), doctor)
        .await
        .expect_problem(403, "admin_only");
    let me = app.get("/api/v1/me", As::Bearer(&admin)).await;
    assert_eq!(me.expect(200)["role"], "patient");
}

async fn a_promoted_patient_gains_admin_access_at_once() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    let all = "/api/v1/bookings?patient=someone@example.com";
    app.get(all, As::Bearer(&user)).await.expect(200);
    app.set_role(&user, Role::Admin).await;
    let doctor = json!({"name": "Dr C", "specialization": "Dermatology", "timezone": "UTC"});
    app.post("/api/v1/doctors", As::Bearer(&user), doctor)
        .await
        .expect(201);
}

async fn create_admin_promotes_an_existing_account_and_sets_its_password() {
    let app = TestApp::new().await;
    app.register("boss@example.com", "patient-password")
        .await
        .expect(201);
    let (_, outcome) = medislot_server::accounts::ensure_admin(
        app.state.accounts(),
        app.state.passwords(),
        "boss@example.com",
        "admin-password",
        app.now(),
    )
    .await
    .unwrap();
    assert_eq!(outcome, medislot_server::accounts::AdminOutcome::Promoted);
    app.login("boss@example.com", "patient-password")
        .await
        .expect(401);
    let body = app.login("boss@example.com", "admin-password").await;
    assert_eq!(body.expect(200)["user"]["role"], "admin");
}

crate::on_every_store!(
    every_route_that_needs_a_session_returns_401_without_one,
    every_admin_route_returns_403_for_a_patient,
    registering_returns_201_with_a_patient_account,
    registering_an_existing_email_returns_409_email_taken,
    registering_with_bad_fields_returns_422_naming_each_field,
    logging_in_returns_a_token_and_sets_an_http_only_strict_cookie,
    the_cookie_is_secure_when_configured,
    a_wrong_password_and_an_unknown_email_get_the_same_401,
    me_without_a_session_returns_401,
    me_answers_with_a_bearer_token_or_the_cookie,
    a_token_signed_with_another_key_returns_401,
    a_token_with_alg_none_returns_401,
    a_tampered_token_returns_401,
    an_expired_token_returns_401,
    an_expired_token_signed_with_the_right_key_returns_401,
    logging_out_ends_the_session_and_clears_the_cookie,
    a_cookie_session_cannot_change_state_without_the_csrf_header,
    logout_by_cookie_also_needs_the_csrf_header,
    login_and_register_are_rate_limited_per_client,
    a_demoted_admin_loses_admin_access_at_once,
    a_promoted_patient_gains_admin_access_at_once,
    create_admin_promotes_an_existing_account_and_sets_its_password,
);
