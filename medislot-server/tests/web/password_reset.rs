//! "Forgot your password?" without JavaScript: from the sign-in page to the request form, the
//! same "check your email" page for any address, the admin's outbox showing no usable link,
//! and the reset page from the link (every error at once, then sign in with the new password).

use chrono::Duration;
use poem::http::{header, StatusCode};

use crate::{Page, Web, ADMIN_EMAIL};

const NEW_PASSWORD: &str = "a brand new passphrase";

#[tokio::test]
async fn a_forgotten_password_is_reset_from_the_emailed_link_and_ends_the_old_sessions() {
    let web = Web::start().await;
    let (patient, old_cookie) = web.patient("pat@example.com").await;

    let signin = web.get("/signin", "").await;
    assert!(
        signin.body.contains("href=\"/password-reset\""),
        "{}",
        signin.body
    );
    web.get("/password-reset", "")
        .await
        .assert_html(StatusCode::OK);

    // The same next page whether or not the address has an account.
    for email in ["pat@example.com", "nobody@example.com"] {
        let sent = web.post("/password-reset", "", &[("email", email)]).await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
        assert_eq!(sent.location.as_deref(), Some("/password-reset/sent"));
    }
    let sent = web.get("/password-reset/sent", "").await;
    sent.assert_html(StatusCode::OK);
    assert!(
        sent.body.contains("If an account has this email address"),
        "{}",
        sent.body
    );
    let malformed = web.post("/password-reset", "", &[("email", "nope")]).await;
    malformed.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(malformed.error_for("email").is_some(), "{}", malformed.body);

    // With no SMTP server the admin sees the one email waiting, without a usable link.
    let admin = web.sign_in(ADMIN_EMAIL).await;
    let outbox = web.get("/admin/outbox", &admin).await;
    outbox.assert_html(StatusCode::OK);
    assert!(
        outbox.body.contains("Reset your MediSlot password"),
        "{}",
        outbox.body
    );
    assert!(
        outbox.body.contains("minted when the email is sent"),
        "{}",
        outbox.body
    );
    assert!(!outbox.body.contains("token="), "{}", outbox.body);

    // The deliverer mints the token when it sends the email; here, as it would.
    let token = medislot_server::password_reset::mint(
        web.state.accounts(),
        patient.id,
        web.state.engine().now(),
        Duration::minutes(30),
    )
    .await
    .unwrap();
    let link = format!("/password-reset/confirm?token={token}");
    let form = web.get(&link, "").await;
    form.assert_html(StatusCode::OK);
    assert_eq!(crate::hidden(&form, "token"), token);

    // Every error at once, and the token still works after them.
    let refused = web
        .post(
            "/password-reset/confirm",
            "",
            &[
                ("token", &token),
                ("new_password", "short"),
                ("confirm_password", "different"),
            ],
        )
        .await;
    refused.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.error_for("new_password").is_some(),
        "{}",
        refused.body
    );
    assert!(
        refused.error_for("confirm_password").is_some(),
        "{}",
        refused.body
    );

    let done = reset(&web, &token).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some("/signin?done=password_reset")
    );
    let notice = web.get("/signin?done=password_reset", "").await;
    assert!(
        notice.body.contains("Your new password is set"),
        "{}",
        notice.body
    );

    // The session from before the reset has ended.
    let profile = web.get("/profile", &old_cookie).await;
    assert_eq!(profile.status, StatusCode::SEE_OTHER, "{}", profile.body);
    assert!(
        profile
            .location
            .as_deref()
            .unwrap_or("")
            .starts_with("/signin"),
        "{:?}",
        profile.location
    );

    // The link works once.
    let again = reset(&web, &token).await;
    again.assert_html(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        again.body.contains("already used or expired"),
        "{}",
        again.body
    );

    // The new password signs in.
    let signed_in = web
        .cli
        .post("/signin")
        .form(&[("email", "pat@example.com"), ("password", NEW_PASSWORD)])
        .send()
        .await;
    signed_in.assert_status(StatusCode::SEE_OTHER);
    assert!(signed_in.0.headers().get(header::SET_COOKIE).is_some());
}

async fn reset(web: &Web, token: &str) -> Page {
    web.post(
        "/password-reset/confirm",
        "",
        &[
            ("token", token),
            ("new_password", NEW_PASSWORD),
            ("confirm_password", NEW_PASSWORD),
        ],
    )
    .await
}
