//! `/metrics` is not public: the main address serves it only to a request bearing the metrics
//! token, and otherwise not at all; `--metrics-listen` serves it on an address of its own.

use crate::process::{free_port, request_with_headers, Server};
use crate::{read, TestApp};

const TOKEN: &str = "metrics-token-for-tests";

async fn get_metrics(app: &TestApp, authorization: Option<&str>) -> crate::Answer {
    let mut request = app.client.get("/metrics");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    read(request.send().await.0).await
}

#[tokio::test]
async fn without_a_token_the_main_address_serves_no_metrics() {
    let app = TestApp::new().await;
    get_metrics(&app, None)
        .await
        .expect_problem(404, "not_found");
    get_metrics(&app, Some(&format!("Bearer {TOKEN}")))
        .await
        .expect_problem(404, "not_found");
}

#[tokio::test]
async fn with_a_token_the_main_address_serves_metrics_to_its_bearer_only() {
    let app = TestApp::with_config(|c| c.metrics_token = Some(TOKEN.to_owned())).await;
    for refused in [
        None,
        Some("Bearer wrong-token"),
        Some("Bearer "),
        Some(TOKEN),
        Some("Basic bWV0cmljczp4"),
    ] {
        let answer = get_metrics(&app, refused).await;
        answer.expect_problem(401, "unauthorized");
        assert!(
            !answer.body.to_string().contains("medislot_"),
            "{refused:?}"
        );
    }
    let answer = get_metrics(&app, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(answer.status, 200);
    assert!(answer
        .body
        .as_str()
        .unwrap()
        .contains("medislot_http_requests_total"));
    // Metrics are no API operation.
    let doc = read(app.client.get("/api/openapi.json").send().await.0).await;
    assert!(doc.body["paths"].get("/metrics").is_none());
}

#[test]
fn metrics_listen_serves_metrics_on_their_own_address_and_not_on_the_main_one() {
    let metrics_port = free_port();
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let server = Server::start(
        &["--store", "memory", "--metrics-listen", &metrics_listen],
        &[],
    );
    let main = server
        .request("GET", "/metrics", None, "")
        .expect("an answer");
    assert_eq!(main.status, 404, "{main:?}");
    let metrics =
        request_with_headers(metrics_port, "GET", "/metrics", &[], "").expect("an answer");
    assert_eq!(metrics.status, 200, "{metrics:?}");
    assert!(
        metrics.body.contains(
            r#"medislot_http_requests_total{method="GET",route="/healthz",status="200"}"#
        ),
        "the main address's requests are counted: {}",
        metrics.body
    );
    // The metrics address serves metrics only.
    let other = request_with_headers(metrics_port, "GET", "/healthz", &[], "").expect("an answer");
    assert_eq!(other.status, 404, "{other:?}");
    server.stop();
}
