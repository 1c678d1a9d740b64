//! Sessions across server instances: a logout, a new password or "sign out everywhere" ends
//! sessions in the store, so every instance sharing it (or one restarted with the same secret)
//! refuses them at once; and the per-account sign-in throttle, kept in the store too.

use chrono::Duration;
use serde_json::json;

use crate::{As, TestApp};

async fn a_logout_on_one_instance_is_refused_at_once_by_another_sharing_the_store() {
    let first = TestApp::new().await;
    let second = first.another_instance().await;
    let user = first.patient().await;
    second
        .get("/api/v1/me", As::Bearer(&user))
        .await
        .expect(200);
    first
        .post("/api/v1/auth/logout", As::Bearer(&user), json!({}))
        .await
        .expect(204);
    second
        .get("/api/v1/me", As::Bearer(&user))
        .await
        .expect_problem(401, "unauthorized");
    // A logout on the second instance is seen by the first, for a cookie session too.
    let other = first.patient().await;
    second
        .post("/api/v1/auth/logout", As::Cookie(&other, true), json!({}))
        .await
        .expect(204);
    first
        .get("/api/v1/me", As::Bearer(&other))
        .await
        .expect(401);
}

async fn a_logged_out_token_stays_refused_after_a_restart_with_the_same_secret() {
    let before = TestApp::new().await;
    let user = before.patient().await;
    let kept = before.patient().await;
    before
        .post("/api/v1/auth/logout", As::Bearer(&user), json!({}))
        .await
        .expect(204);
    let after = before.another_instance().await;
    drop(before);
    after.get("/api/v1/me", As::Bearer(&user)).await.expect(401);
    after.get("/api/v1/me", As::Bearer(&kept)).await.expect(200);
}

async fn logging_out_ends_only_that_session() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    let phone = app.signed_in(&user.email, "patient-password").await;
    app.post("/api/v1/auth/logout", As::Bearer(&user), json!({}))
        .await
        .expect(204);
    app.get("/api/v1/me", As::Bearer(&user)).await.expect(401);
    app.get("/api/v1/me", As::Bearer(&phone)).await.expect(200);
}

async fn the_sweeper_forgets_a_logout_only_once_its_session_has_expired() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    app.post("/api/v1/auth/logout", As::Bearer(&user), json!({}))
        .await
        .expect(204);
    medislot_server::sweeper::sweep(&app.state).await;
    app.get("/api/v1/me", As::Bearer(&user)).await.expect(401);
    app.clock
        .advance(app.state.sessions().ttl() + Duration::seconds(1));
    let pruned = app
        .state
        .accounts()
        .prune_revoked_sessions(app.now())
        .await
        .unwrap();
    assert_eq!(pruned, 1, "the sweep before expiry kept the logout");
    // Expired, the token is refused for its expiry.
    app.get("/api/v1/me", As::Bearer(&user)).await.expect(401);
}

async fn create_admin_setting_a_new_password_ends_the_old_sessions_on_every_instance() {
    let first = TestApp::new().await;
    let second = first.another_instance().await;
    let user = first.patient().await;
    medislot_server::accounts::ensure_admin(
        first.state.accounts(),
        first.state.passwords(),
        &user.email,
        "a new admin password",
        first.now(),
    )
    .await
    .unwrap();
    first.get("/api/v1/me", As::Bearer(&user)).await.expect(401);
    second
        .get("/api/v1/me", As::Bearer(&user))
        .await
        .expect(401);
    let again = second.signed_in(&user.email, "a new admin password").await;
    first
        .get("/api/v1/me", As::Bearer(&again))
        .await
        .expect(200);
}

async fn changing_the_password_ends_every_other_session_and_keeps_this_one() {
    let first = TestApp::new().await;
    let second = first.another_instance().await;
    let user = first.patient().await;
    let laptop = first.signed_in(&user.email, "patient-password").await;
    let changed = first
        .post(
            "/api/v1/me/password",
            As::Bearer(&user),
            json!({"current_password": "patient-password", "new_password": "a better passphrase"}),
        )
        .await;
    let body = changed.expect(200);
    assert!(changed
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("medislot_session=") && c.contains("HttpOnly")));
    let kept = crate::User {
        token: body["token"].as_str().unwrap().to_owned(),
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        ..user.clone()
    };
    // The session that changed it goes on, under its new token, on every instance.
    second
        .get("/api/v1/me", As::Bearer(&kept))
        .await
        .expect(200);
    // Every session from before ends, on every instance, the caller's old token included.
    for token in [&user, &laptop] {
        first.get("/api/v1/me", As::Bearer(token)).await.expect(401);
        second
            .get("/api/v1/me", As::Bearer(token))
            .await
            .expect(401);
    }
    first
        .login(&user.email, "patient-password")
        .await
        .expect(401);
    first
        .login(&user.email, "a better passphrase")
        .await
        .expect(200);
}

async fn a_password_change_needs_the_current_password_and_a_valid_new_one() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    let wrong = app
        .post(
            "/api/v1/me/password",
            As::Bearer(&user),
            json!({"current_password": "not it at all", "new_password": "a better passphrase"}),
        )
        .await;
    assert_eq!(
        wrong.expect_problem(401, "invalid_credentials")["field"],
        "current_password"
    );
    let short = app
        .post(
            "/api/v1/me/password",
            As::Bearer(&user),
            json!({"current_password": "patient-password", "new_password": "short"}),
        )
        .await;
    assert_eq!(
        short.expect_problem(422, "validation_failed")["field"],
        "new_password"
    );
    // Nothing changed: the session and the old password still work.
    app.get("/api/v1/me", As::Bearer(&user)).await.expect(200);
    app.login(&user.email, "patient-password").await.expect(200);
    // A cookie session must send the CSRF token, as for any change.
    app.post(
        "/api/v1/me/password",
        As::Cookie(&user, false),
        json!({"current_password": "patient-password", "new_password": "a better passphrase"}),
    )
    .await
    .expect_problem(403, "csrf_failed");
}

async fn signing_out_everywhere_ends_every_session_on_every_instance() {
    let first = TestApp::new().await;
    let second = first.another_instance().await;
    let user = first.patient().await;
    let laptop = first.signed_in(&user.email, "patient-password").await;
    second
        .post(
            "/api/v1/auth/logout-everywhere",
            As::Bearer(&laptop),
            json!({}),
        )
        .await
        .expect(204);
    for token in [&user, &laptop] {
        first.get("/api/v1/me", As::Bearer(token)).await.expect(401);
    }
    let again = first.signed_in(&user.email, "patient-password").await;
    second
        .get("/api/v1/me", As::Bearer(&again))
        .await
        .expect(200);
}

async fn wrong_passwords_lock_the_account_with_429_and_retry_after_until_the_lock_lapses() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    for _ in 0..5 {
        app.login(&user.email, "wrong password")
            .await
            .expect_problem(401, "invalid_credentials");
    }
    // Locked: even the right password is refused, saying how long to wait.
    let locked = app.login(&user.email, "patient-password").await;
    locked.expect_problem(429, "account_locked");
    assert_eq!(locked.headers["retry-after"], "30");
    app.clock.advance(Duration::seconds(29));
    let locked = app.login(&user.email, "patient-password").await;
    locked.expect_problem(429, "account_locked");
    assert_eq!(locked.headers["retry-after"], "1");
    app.clock.advance(Duration::seconds(1));
    app.login(&user.email, "patient-password").await.expect(200);
    // The success cleared the count: four more wrong passwords do not lock.
    for _ in 0..4 {
        app.login(&user.email, "wrong password").await.expect(401);
    }
    app.login(&user.email, "patient-password").await.expect(200);
}

async fn the_lock_doubles_with_each_further_failure() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    for _ in 0..5 {
        app.login(&user.email, "wrong password").await.expect(401);
    }
    app.clock.advance(Duration::seconds(30));
    app.login(&user.email, "wrong password").await.expect(401);
    let locked = app.login(&user.email, "patient-password").await;
    locked.expect_problem(429, "account_locked");
    assert_eq!(locked.headers["retry-after"], "60");
}

async fn instances_sharing_the_store_count_the_same_failures() {
    let first = TestApp::new().await;
    let second = first.another_instance().await;
    let user = first.patient().await;
    for i in 0..5 {
        let app = if i % 2 == 0 { &first } else { &second };
        app.login(&user.email, "wrong password").await.expect(401);
    }
    first
        .login(&user.email, "patient-password")
        .await
        .expect_problem(429, "account_locked");
    second
        .login(&user.email, "patient-password")
        .await
        .expect_problem(429, "account_locked");
    // Another account is not locked with it: the throttle is per account, not per address.
    let other = first.patient().await;
    second
        .login(&other.email, "patient-password")
        .await
        .expect(200);
}

/// A booking reads the session's account with its own locks (no read of its own first): an
/// ended session is still refused at once, on every instance, and books nothing; the answer to
/// a valid one shows the slot and doctor as a read afterwards does.
async fn a_booking_checks_the_session_in_its_own_transaction_on_every_instance() {
    let first = TestApp::new().await;
    let second = first.another_instance().await;
    let (_, _, slots) = first.clinic(2).await;
    let user = first.patient().await;
    let laptop = first.signed_in(&user.email, "patient-password").await;
    first
        .post("/api/v1/auth/logout", As::Bearer(&user), json!({}))
        .await
        .expect(204);
    second
        .book(&user, slots[0])
        .await
        .expect_problem(401, "unauthorized");
    let booked = second.book(&laptop, slots[0]).await.expect(201).clone();
    let id = booked["id"].as_str().unwrap().to_owned();
    let read = first
        .get(&format!("/api/v1/bookings/{id}"), As::Bearer(&laptop))
        .await
        .expect(200)
        .clone();
    assert_eq!(booked, read, "the answer is what a read afterwards shows");
    second
        .post(
            "/api/v1/auth/logout-everywhere",
            As::Bearer(&laptop),
            json!({}),
        )
        .await
        .expect(204);
    first
        .book(&laptop, slots[1])
        .await
        .expect_problem(401, "unauthorized");
    let other = first.patient().await;
    first.book(&other, slots[1]).await.expect(201);
}

crate::on_every_store!(
    a_booking_checks_the_session_in_its_own_transaction_on_every_instance,
    a_logout_on_one_instance_is_refused_at_once_by_another_sharing_the_store,
    a_logged_out_token_stays_refused_after_a_restart_with_the_same_secret,
    logging_out_ends_only_that_session,
    the_sweeper_forgets_a_logout_only_once_its_session_has_expired,
    create_admin_setting_a_new_password_ends_the_old_sessions_on_every_instance,
    changing_the_password_ends_every_other_session_and_keeps_this_one,
    a_password_change_needs_the_current_password_and_a_valid_new_one,
    signing_out_everywhere_ends_every_session_on_every_instance,
    wrong_passwords_lock_the_account_with_429_and_retry_after_until_the_lock_lapses,
    the_lock_doubles_with_each_further_failure,
    instances_sharing_the_store_count_the_same_failures,
);

/// Two server processes on one SQLite file, as two instances behind a proxy: a logout on one
/// is refused by the other at once, and by a third started afterwards with the same secret.
#[test]
fn two_server_processes_on_one_sqlite_file_agree_on_a_logout_at_once_and_after_a_restart() {
    use crate::process::Server;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("clinic.db").display());
    let env = [
        (
            "MEDISLOT_SESSION_SECRET",
            "two-instances-share-this-secret-0123456789",
        ),
        ("MEDISLOT_AUTH_ATTEMPTS_PER_MINUTE", "0"),
    ];
    let first = Server::start(&["--database-url", &url], &env);
    let second = Server::start(&["--database-url", &url], &env);
    let register =
        json!({"email": "pat@example.com", "password": "patient-password", "name": "Pat"});
    let reply = first
        .request("POST", "/api/v1/auth/register", None, &register.to_string())
        .unwrap();
    assert_eq!(reply.status, 201, "{reply:?}");
    let login = json!({"email": "pat@example.com", "password": "patient-password"}).to_string();
    let token = |server: &Server| {
        let reply = server
            .request("POST", "/api/v1/auth/login", None, &login)
            .unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()["token"].as_str().unwrap().to_owned()
    };
    let status = |server: &Server, method: &str, path: &str, token: &str| {
        server
            .request(method, path, Some(token), "{}")
            .unwrap()
            .status
    };
    let ended = token(&first);
    let kept = token(&second);
    assert_eq!(status(&second, "GET", "/api/v1/me", &ended), 200);
    assert_eq!(status(&first, "POST", "/api/v1/auth/logout", &ended), 204);
    assert_eq!(status(&second, "GET", "/api/v1/me", &ended), 401);
    assert_eq!(status(&second, "GET", "/api/v1/me", &kept), 200);

    first.stop();
    second.stop();
    let restarted = Server::start(&["--database-url", &url], &env);
    assert_eq!(status(&restarted, "GET", "/api/v1/me", &ended), 401);
    assert_eq!(status(&restarted, "GET", "/api/v1/me", &kept), 200);
}
