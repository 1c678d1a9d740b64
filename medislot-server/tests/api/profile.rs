//! `GET/PUT /api/v1/me`: a person's own name, phone number and time zone.

use serde_json::json;

use crate::{As, TestApp};

async fn a_new_account_has_no_phone_and_no_zone() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    let me = app.get("/api/v1/me", As::Bearer(&user)).await;
    let body = me.expect(200);
    assert_eq!(body["name"], "Pat Ient");
    assert!(body.get("phone").is_none(), "{body}");
    assert!(body.get("time_zone").is_none(), "{body}");
}

async fn the_profile_is_replaced_and_read_back_normalised() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    let saved = app
        .put(
            "/api/v1/me",
            As::Bearer(&user),
            json!({"name": "  Grace Hopper ", "phone": "+1 (415) 555-0100", "time_zone": "Asia/Kolkata"}),
        )
        .await;
    let body = saved.expect(200);
    assert_eq!(body["name"], "Grace Hopper");
    assert_eq!(body["phone"], "+14155550100");
    assert_eq!(body["time_zone"], "Asia/Kolkata");
    let me = app.get("/api/v1/me", As::Bearer(&user)).await;
    assert_eq!(me.expect(200), body);
    // Left out or empty: removed.
    let cleared = app
        .put(
            "/api/v1/me",
            As::Bearer(&user),
            json!({"name": "Grace Hopper", "phone": ""}),
        )
        .await;
    let body = cleared.expect(200);
    assert!(body.get("phone").is_none(), "{body}");
    assert!(body.get("time_zone").is_none(), "{body}");
}

async fn a_malformed_phone_number_returns_422_naming_phone() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    for phone in ["020 7946 0958", "+12", "+44 20 7946 0958 ext 2", "call me"] {
        let refused = app
            .put(
                "/api/v1/me",
                As::Bearer(&user),
                json!({"name": "Grace", "phone": phone}),
            )
            .await;
        let body = refused.expect_problem(422, "validation_failed");
        assert_eq!(body["field"], "phone", "{phone}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("+44 20 7946 0958"),
            "the detail shows the expected form: {body}"
        );
    }
    let me = app.get("/api/v1/me", As::Bearer(&user)).await;
    assert_eq!(me.expect(200)["name"], "Pat Ient", "nothing was saved");
}

async fn an_unknown_zone_or_a_blank_name_returns_422_naming_the_field() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    let zone = app
        .put(
            "/api/v1/me",
            As::Bearer(&user),
            json!({"name": "Grace", "time_zone": "Mars/Olympus"}),
        )
        .await;
    assert_eq!(
        zone.expect_problem(422, "validation_failed")["field"],
        "time_zone"
    );
    let name = app
        .put("/api/v1/me", As::Bearer(&user), json!({"name": "   "}))
        .await;
    assert_eq!(name.expect(422)["field"], "name");
}

async fn changing_the_profile_needs_a_session_and_the_csrf_token_with_a_cookie() {
    let app = TestApp::new().await;
    let user = app.patient().await;
    let body = json!({"name": "Grace"});
    app.put("/api/v1/me", As::Anonymous, body.clone())
        .await
        .expect(401);
    app.put("/api/v1/me", As::Cookie(&user, false), body.clone())
        .await
        .expect_problem(403, "csrf_failed");
    app.put("/api/v1/me", As::Cookie(&user, true), body)
        .await
        .expect(200);
}

crate::on_every_store!(
    a_new_account_has_no_phone_and_no_zone,
    the_profile_is_replaced_and_read_back_normalised,
    a_malformed_phone_number_returns_422_naming_phone,
    an_unknown_zone_or_a_blank_name_returns_422_naming_the_field,
    changing_the_profile_needs_a_session_and_the_csrf_token_with_a_cookie,
);
