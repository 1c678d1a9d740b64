use std::path::PathBuf;

use crate::{read, TestApp};

/// The committed document must match the served one, so that every API change shows in review.
/// Run with `UPDATE_OPENAPI=1` to rewrite the file.
#[tokio::test]
async fn the_committed_openapi_json_equals_the_served_document() {
    let app = TestApp::new().await;
    let answer = read(app.client.get("/api/openapi.json").send().await.0).await;
    assert_eq!(answer.status, 200);
    let served = serde_json::to_string_pretty(&answer.body).unwrap() + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &served).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == served,
        "medislot-server/openapi.json differs from the served document; \
         rerun with UPDATE_OPENAPI=1 and commit the file"
    );
}

#[tokio::test]
async fn the_document_declares_both_session_schemes_and_problem_responses() {
    let app = TestApp::new().await;
    let doc = read(app.client.get("/api/openapi.json").send().await.0)
        .await
        .body;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session_cookie"]["in"], "cookie");
    let book = &doc["paths"]["/api/v1/bookings"]["post"];
    assert!(book["responses"]["409"]["content"]["application/problem+json"].is_object());
    assert!(book["responses"]["201"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let params = book["parameters"].as_array().unwrap();
    assert!(params.iter().any(|p| p["name"] == "Idempotency-Key"));
}
