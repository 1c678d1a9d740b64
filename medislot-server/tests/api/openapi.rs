use std::path::PathBuf;

use medislot_core::{
    IdempotencyKey, DEFAULT_PAGE_SIZE, MAX_NAME_CHARS, MAX_PAGE_SIZE, MAX_SLOTS_PER_PUBLISH,
};
use medislot_server::auth::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use medislot_server::read_your_writes::{READ_AFTER_HEADER, WRITTEN_AT_HEADER};
use serde_json::{json, Value};

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

/// Read-your-writes (`read_your_writes.rs`): the description explains both headers, and the
/// reads they matter to name the request header.
#[tokio::test]
async fn the_document_describes_the_position_headers() {
    let doc = document().await;
    let description = doc["info"]["description"].as_str().unwrap();
    assert!(description.contains(WRITTEN_AT_HEADER), "{description}");
    assert!(description.contains(READ_AFTER_HEADER), "{description}");
    for path in [
        "/api/v1/slots",
        "/api/v1/availability",
        "/api/v1/next-available",
        "/api/v1/doctors",
    ] {
        let operation = &doc["paths"][path]["get"];
        assert_eq!(
            parameter(operation, READ_AFTER_HEADER)["in"],
            "header",
            "{path}"
        );
    }
}

async fn document() -> Value {
    let app = TestApp::new().await;
    read(app.client.get("/api/openapi.json").send().await.0)
        .await
        .body
}

/// Every operation of the document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            found.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    found
}

fn parameter<'a>(operation: &'a Value, name: &str) -> &'a Value {
    operation["parameters"]
        .as_array()
        .and_then(|params| params.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no parameter {name} in {operation}"))
}

/// Generators such as openapi-python-client drop a model whose property wraps a `$ref` in
/// `allOf`; every reference must be plain.
#[tokio::test]
async fn every_reference_in_the_document_is_a_plain_ref() {
    fn walk(value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                assert!(!map.contains_key("allOf"), "allOf at {at}");
                if map.contains_key("$ref") {
                    assert_eq!(map.len(), 1, "a $ref with siblings at {at}");
                }
                for (key, child) in map {
                    walk(child, &format!("{at}/{key}"));
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }
    let doc = document().await;
    walk(&doc, "");
    let role = &doc["components"]["schemas"]["Account"]["properties"]["role"];
    assert_eq!(role, &json!({"$ref": "#/components/schemas/Role"}));
    assert!(doc["components"]["schemas"]["Role"]["description"].is_string());
}

#[tokio::test]
async fn every_enforced_bound_is_in_the_document() {
    let doc = document().await;
    for path in ["/api/v1/slots", "/api/v1/bookings"] {
        let limit = &parameter(&doc["paths"][path]["get"], "limit")["schema"];
        assert_eq!(limit["minimum"].as_f64(), Some(1.0), "{path}");
        assert_eq!(
            limit["maximum"].as_f64(),
            Some(f64::from(MAX_PAGE_SIZE)),
            "{path}"
        );
        assert_eq!(limit["default"], DEFAULT_PAGE_SIZE, "{path}");
    }
    let key = &parameter(&doc["paths"]["/api/v1/bookings"]["post"], "Idempotency-Key")["schema"];
    assert_eq!(key["minLength"], 1);
    assert_eq!(key["maxLength"], IdempotencyKey::MAX_LEN);
    // The pattern accepts exactly the characters the core accepts.
    let pattern = regex::Regex::new(key["pattern"].as_str().unwrap()).unwrap();
    for byte in 0u8..=255 {
        let text = char::from(byte).to_string();
        assert_eq!(
            pattern.is_match(&text),
            IdempotencyKey::new(&text).is_ok(),
            "byte {byte}"
        );
    }
    let schemas = &doc["components"]["schemas"];
    let password = &schemas["RegisterRequest"]["properties"]["password"];
    assert_eq!(password["minLength"], MIN_PASSWORD_CHARS);
    assert_eq!(password["maxLength"], MAX_PASSWORD_CHARS);
    let slots = &schemas["PublishSlots"]["properties"]["slots"];
    assert_eq!(slots["minItems"], 1);
    assert_eq!(slots["maxItems"], MAX_SLOTS_PER_PUBLISH);
    for (schema, field) in [
        ("RegisterRequest", "name"),
        ("CreateDoctor", "name"),
        ("CreateDoctor", "specialization"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["maxLength"],
            MAX_NAME_CHARS
        );
    }
}

/// Each answer has a description; success bodies are `application/json` (metrics and the
/// calendar file excepted),
/// errors `application/problem+json`; an operation lists only errors it can return.
#[tokio::test]
async fn each_operation_documents_only_the_answers_it_can_give() {
    let doc = document().await;
    for (method, path, operation) in operations(&doc) {
        let at = format!("{method} {path}");
        let responses = operation["responses"].as_object().unwrap();
        let has_body = operation.get("requestBody").is_some();
        let signed_in = operation.get("security").is_some();
        for (status, response) in responses {
            let description = response["description"].as_str().unwrap_or("");
            assert!(!description.is_empty(), "{at} {status} has no description");
            let content = response["content"].as_object();
            let types: Vec<&String> = content.map(|c| c.keys().collect()).unwrap_or_default();
            if status.starts_with('2') {
                let calendar = path.ends_with("/calendar.ics");
                assert!(
                    types.iter().all(|t| if calendar {
                        *t == "text/calendar"
                    } else {
                        *t == "application/json"
                    }),
                    "{at} {status}: {types:?}"
                );
            } else {
                assert_eq!(types, ["application/problem+json"], "{at} {status}");
            }
            if status == "429" || status == "503" {
                assert!(
                    response["headers"]["Retry-After"].is_object(),
                    "{at} {status} without Retry-After"
                );
            }
        }
        for status in ["400", "413", "415"] {
            assert_eq!(
                responses.contains_key(status),
                has_body,
                "{at}: {status} is documented exactly when there is a body"
            );
        }
        assert_eq!(
            responses.contains_key("401"),
            signed_in || path == "/api/v1/auth/login",
            "{at}: 401"
        );
        if signed_in && method != "get" {
            let csrf = parameter(&operation, "X-CSRF-Token");
            assert_eq!(csrf["in"], "header", "{at}");
        }
        for (name, param) in operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| (p["name"].as_str().unwrap(), p))
        {
            assert!(
                param["description"].is_string(),
                "{at}: {name} has no description"
            );
        }
    }
    assert!(doc["info"]["license"]["name"].is_string());
    assert!(doc["servers"][0]["url"].is_string());
}
