//! Password reset by email: the same answer for any address, a link emailed through the outbox
//! (a real SMTP server receives it) whose token works once and expires, every session of the
//! account ended on every instance, and the audit trail of account changes.

use mail_parser::MessageParser;
use medislot_server::delivery::{deliver_due, Round};
use serde_json::{json, Value};

use crate::email::SmtpServer;
use crate::{As, TestApp, User};
use medislot_core::Role;

const ORIGIN: &str = "https://clinic.example";
const NEW_PASSWORD: &str = "a brand new passphrase";

async fn app() -> TestApp {
    TestApp::with_config(|config| config.link_origin = ORIGIN.to_owned()).await
}

async fn ask(app: &TestApp, email: &str) -> Value {
    app.post(
        "/api/v1/auth/password-reset",
        As::Anonymous,
        json!({ "email": email }),
    )
    .await
    .expect(202)
    .clone()
}

async fn confirm(app: &TestApp, token: &str, password: &str) -> crate::Answer {
    app.post(
        "/api/v1/auth/password-reset/confirm",
        As::Anonymous,
        json!({ "token": token, "new_password": password }),
    )
    .await
}

/// Delivers the outbox's emails and returns the one reset email's token, after checking who
/// it went to and where its link points.
async fn emailed_token(app: &TestApp, smtp: &mut SmtpServer, to: &str) -> String {
    let round = deliver_due(&app.state, &smtp.mailer).await.unwrap();
    assert_eq!(
        round,
        Round {
            delivered: 1,
            failed: 0,
            withdrawn: 0
        }
    );
    let (recipients, raw) = smtp.next().await;
    assert_eq!(recipients, vec![to.to_owned()]);
    let email = MessageParser::default().parse(&raw[..]).unwrap();
    assert_eq!(email.subject(), Some("Reset your MediSlot password"));
    assert!(email.body_html(0).is_some(), "an HTML body");
    let text = email.body_text(0).unwrap().into_owned();
    let prefix = format!("{ORIGIN}/password-reset/confirm?token=");
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("a link in {text}"))
        + prefix.len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43, "{text}");
    token
}

async fn audit_of(app: &TestApp, admin: &User, account: uuid::Uuid) -> Vec<Value> {
    app.get(
        &format!("/api/v1/audit?account_id={account}"),
        As::Bearer(admin),
    )
    .await
    .expect(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn a_reset_link_works_once_and_ends_every_session_on_every_instance() {
    let app = app().await;
    let patient = app.patient().await;
    let other = app.another_instance().await;
    let mut smtp = SmtpServer::start();

    // The same answer for an address with an account, one without, and in another case.
    let known = ask(&app, &patient.email).await;
    let unknown = ask(&app, "nobody-here@example.com").await;
    assert_eq!(known, unknown);
    let token = emailed_token(&app, &mut smtp, &patient.email).await;
    smtp.nothing_more();

    // Neither the outbox nor the audit trail holds the token.
    let admin = app.admin().await;
    let outbox = app
        .get("/api/v1/outbox?channel=email", As::Bearer(&admin))
        .await;
    assert!(!outbox.expect(200).to_string().contains(&token));
    let audit = audit_of(&app, &admin, patient.id).await;
    assert!(!Value::Array(audit.clone()).to_string().contains(&token));
    // The other channels never carry a reset request.
    let webhooks = app
        .get("/api/v1/outbox?channel=webhook", As::Bearer(&admin))
        .await;
    assert_eq!(webhooks.expect(200)["items"], json!([]));

    // A password that breaks the rules is refused on its field, and the token still works.
    confirm(&app, &token, "password")
        .await
        .expect_problem(422, "validation_failed");
    confirm(&app, &token, NEW_PASSWORD).await.expect(204);

    // Every earlier session ended, on this instance and on another sharing the store.
    app.get("/api/v1/me", As::Bearer(&patient))
        .await
        .expect(401);
    other
        .get("/api/v1/me", As::Bearer(&patient))
        .await
        .expect(401);
    app.login(&patient.email, "patient-password")
        .await
        .expect(401);
    app.signed_in(&patient.email, NEW_PASSWORD).await;

    // Once only, on either instance.
    for instance in [&app, &other] {
        confirm(instance, &token, "yet another passphrase")
            .await
            .expect_problem(422, "reset_token_invalid");
    }
    let kinds: Vec<_> = audit_of(&app, &admin, patient.id)
        .await
        .iter()
        .map(|e| (e["kind"].clone(), e["actor"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (json!("account.password_reset_requested"), json!("system")),
            (json!("account.password_reset"), json!("patient")),
        ]
    );
}

async fn an_expired_or_unknown_reset_link_is_refused_and_changes_nothing() {
    let app = app().await;
    let patient = app.patient().await;
    let mut smtp = SmtpServer::start();
    ask(&app, &patient.email).await;
    let token = emailed_token(&app, &mut smtp, &patient.email).await;
    app.clock.advance(chrono::Duration::minutes(30));
    confirm(&app, &token, NEW_PASSWORD)
        .await
        .expect_problem(422, "reset_token_invalid");
    let unknown = "A".repeat(43);
    confirm(&app, &unknown, NEW_PASSWORD)
        .await
        .expect_problem(422, "reset_token_invalid");
    confirm(&app, "short", NEW_PASSWORD)
        .await
        .expect_problem(422, "reset_token_invalid");
    app.get("/api/v1/me", As::Bearer(&patient))
        .await
        .expect(200);
    app.signed_in(&patient.email, "patient-password").await;
}

async fn a_malformed_address_is_refused_on_its_field() {
    let app = app().await;
    let answer = app
        .post(
            "/api/v1/auth/password-reset",
            As::Anonymous,
            json!({ "email": "not an address" }),
        )
        .await;
    assert_eq!(
        answer.expect_problem(422, "validation_failed")["field"],
        "email"
    );
}

async fn a_role_change_is_audited_with_who_and_both_roles() {
    let app = app().await;
    let admin = app.admin().await;
    let patient = app.patient().await;
    app.set_role(&patient, Role::Admin).await;
    let audit = audit_of(&app, &admin, patient.id).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    let entry = &audit[0];
    assert_eq!(entry["kind"], "account.role_changed");
    assert_eq!(entry["actor"], "system");
    assert_eq!(entry["account_id"], patient.id.to_string());
    assert_eq!(entry["from_role"], "patient");
    assert_eq!(entry["to_role"], "admin");
}

on_every_store!(
    a_reset_link_works_once_and_ends_every_session_on_every_instance,
    an_expired_or_unknown_reset_link_is_refused_and_changes_nothing,
    a_malformed_address_is_refused_on_its_field,
    a_role_change_is_audited_with_who_and_both_roles,
);
