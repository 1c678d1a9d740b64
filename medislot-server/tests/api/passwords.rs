//! A new password has 10 to 256 characters, is not only whitespace, and is not one of the most
//! common passwords, wherever it is set; each refusal is a 422 naming `password` and the rule.

use serde_json::json;

use crate::{As, TestApp};

/// A password that breaks each rule, and words of the refusal that name the rule.
const REFUSED: &[(&str, &str)] = &[
    ("nine-char", "at least 10 characters"),
    ("           ", "whitespace"),
    ("\t\t\t\t\t\t\t\t\t\t\t", "whitespace"),
    ("1234567890", "most common passwords"),
    ("qwertyuiop", "most common passwords"),
    ("Password123", "most common passwords"),
];

async fn signing_up_with_a_weak_password_is_refused_naming_the_rule() {
    let app = TestApp::new().await;
    for (password, rule) in REFUSED {
        let answer = app
            .post(
                "/api/v1/auth/register",
                As::Anonymous,
                json!({"email": "pat@example.com", "password": password, "name": "Pat"}),
            )
            .await;
        let body = answer.expect(422);
        assert_eq!(body["field"], "password", "{password:?}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(rule),
            "{password:?}: {body}"
        );
    }
    // None of them made an account: a good password still can.
    app.register("pat@example.com", "a long, uncommon one")
        .await
        .expect(201);
}

#[tokio::test]
async fn an_admin_password_is_held_to_the_same_rules_when_created_and_when_changed() {
    let app = TestApp::new().await;
    let make_admin = |password: &'static str| {
        medislot_server::accounts::ensure_admin(
            app.state.accounts(),
            app.state.passwords(),
            "boss@example.com",
            password,
            app.now(),
        )
    };
    for (password, rule) in REFUSED {
        let problem = make_admin(password).await.unwrap_err();
        assert_eq!(problem.field(), Some("password"));
        assert!(problem.detail().contains(rule), "{password:?}: {problem}");
    }
    make_admin("the clinic's own phrase")
        .await
        .expect("created");
    // Changing the password of the existing admin: the same rules.
    let problem = make_admin("1234567890").await.unwrap_err();
    assert!(
        problem.detail().contains("most common passwords"),
        "{problem}"
    );
    let login = app
        .login("boss@example.com", "the clinic's own phrase")
        .await;
    login.expect(200);
}

#[tokio::test]
async fn the_document_states_the_length_and_whitespace_rules() {
    let app = TestApp::new().await;
    let doc = crate::read(app.client.get(medislot_server::OPENAPI_PATH).send().await.0)
        .await
        .body;
    let password = &doc["components"]["schemas"]["RegisterRequest"]["properties"]["password"];
    assert_eq!(password["minLength"], 10, "{password}");
    assert_eq!(password["pattern"], "\\S", "{password}");
}

crate::on_every_store!(signing_up_with_a_weak_password_is_refused_naming_the_rule);
