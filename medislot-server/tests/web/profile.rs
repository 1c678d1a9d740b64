//! The profile page's forms and the sign-in throttle, over plain HTTP (no JavaScript).

use poem::http::StatusCode;

use crate::{Web, PASSWORD};

/// The `name=value` pair of the session cookie among `set_cookies`.
fn session_cookie(set_cookies: &[String]) -> String {
    set_cookies
        .iter()
        .find(|c| c.starts_with("medislot_session=") && !c.contains("Max-Age=0"))
        .and_then(|c| c.split(';').next())
        .expect("a new session cookie")
        .to_owned()
}

#[tokio::test]
async fn a_refused_profile_names_every_bad_field_at_once_and_saves_nothing() {
    let web = Web::start().await;
    let (account, cookie) = web.patient("prof@example.com").await;
    let page = web.get("/profile", &cookie).await;
    page.assert_html(StatusCode::OK);
    let csrf = page.csrf();
    let refused = web
        .post(
            "/profile",
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("name", "  "),
                ("phone", "0207 946 0958"),
                ("time_zone", "Mars/Olympus"),
            ],
        )
        .await;
    refused.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.error_for("name").is_some(), "{}", refused.body);
    let phone = refused.error_for("phone").expect("a phone error");
    assert!(phone.contains("+44 20 7946 0958"), "{phone}");
    assert!(refused.error_for("time_zone").is_some(), "{}", refused.body);
    assert!(
        refused.body.contains("value=\"0207 946 0958\""),
        "kept as typed"
    );
    let stored = web
        .state
        .accounts()
        .account(account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, "Pat");
    assert_eq!(stored.profile, medislot_core::AccountProfile::default());
}

#[tokio::test]
async fn a_saved_zone_becomes_the_page_zone_and_a_profile_form_needs_its_csrf_token() {
    let web = Web::start().await;
    let (account, cookie) = web.patient("zone@example.com").await;
    let forged = web
        .post(
            "/profile",
            &cookie,
            &[("name", "Mallory"), ("time_zone", "UTC")],
        )
        .await;
    forged.assert_html(StatusCode::FORBIDDEN);
    let csrf = web.get("/profile", &cookie).await.csrf();
    let saved = web
        .post(
            "/profile",
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("name", "Zoe"),
                ("phone", "+33 1 23 45 67 89"),
                ("time_zone", "Asia/Kolkata"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(saved.location.as_deref(), Some("/profile?done=saved"));
    assert!(
        saved
            .set_cookies
            .iter()
            .any(|c| c.starts_with("medislot_zone=Asia/Kolkata;")),
        "{:?}",
        saved.set_cookies
    );
    let stored = web
        .state
        .accounts()
        .account(account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, "Zoe");
    assert_eq!(
        stored
            .profile
            .phone
            .map(|p| p.as_str().to_owned())
            .as_deref(),
        Some("+33123456789")
    );
    // Signing in again, anywhere, brings the profile's zone along.
    let signed_in = web
        .post(
            "/signin",
            "",
            &[("email", "zone@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert!(signed_in
        .set_cookies
        .iter()
        .any(|c| c.starts_with("medislot_zone=Asia/Kolkata;")));
    // A form's address opened again leads to the page.
    let again = web.get("/profile/password", &cookie).await;
    assert_eq!(again.location.as_deref(), Some("/profile"));
}

#[tokio::test]
async fn a_new_password_on_the_page_ends_the_other_sessions_and_keeps_this_browser() {
    let web = Web::start().await;
    let (_, cookie) = web.patient("pw@example.com").await;
    let other_browser = web.sign_in("pw@example.com").await;
    let csrf = web.get("/profile", &cookie).await.csrf();
    let wrong = web
        .post(
            "/profile/password",
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("current_password", "not my password"),
                ("new_password", "a better passphrase"),
            ],
        )
        .await;
    wrong.assert_html(StatusCode::UNAUTHORIZED);
    assert!(
        wrong.error_for("current_password").is_some(),
        "{}",
        wrong.body
    );
    let changed = web
        .post(
            "/profile/password",
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("current_password", PASSWORD),
                ("new_password", "a better passphrase"),
            ],
        )
        .await;
    assert_eq!(changed.location.as_deref(), Some("/profile?done=password"));
    let new_cookie = session_cookie(&changed.set_cookies);
    web.get("/profile", &new_cookie)
        .await
        .assert_html(StatusCode::OK);
    for ended in [&cookie, &other_browser] {
        let page = web.get("/profile", ended).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert!(page
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/signin")));
    }
}

#[tokio::test]
async fn signing_out_everywhere_on_the_page_ends_every_session() {
    let web = Web::start().await;
    let (_, cookie) = web.patient("all@example.com").await;
    let other_browser = web.sign_in("all@example.com").await;
    let csrf = web.get("/profile", &cookie).await.csrf();
    let done = web
        .post(
            "/profile/sessions",
            &cookie,
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(
        done.location.as_deref(),
        Some("/signin?done=signed_out_everywhere")
    );
    for ended in [&cookie, &other_browser] {
        assert_eq!(
            web.get("/profile", ended).await.status,
            StatusCode::SEE_OTHER
        );
    }
}

#[tokio::test]
async fn the_sign_in_page_says_when_wrong_passwords_locked_the_account() {
    let web = Web::start().await;
    web.patient("locked@example.com").await;
    for _ in 0..5 {
        web.post(
            "/signin",
            "",
            &[
                ("email", "locked@example.com"),
                ("password", "wrong-password"),
            ],
        )
        .await
        .assert_html(StatusCode::UNAUTHORIZED);
    }
    let locked = web
        .post(
            "/signin",
            "",
            &[("email", "locked@example.com"), ("password", PASSWORD)],
        )
        .await;
    locked.assert_html(StatusCode::TOO_MANY_REQUESTS);
    assert!(
        locked.body.contains("Too many wrong passwords"),
        "{}",
        locked.body
    );
}
