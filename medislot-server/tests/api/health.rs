use serde_json::json;

use crate::{read, As, TestApp};

async fn healthz_and_readyz_answer_ok() {
    let app = TestApp::new().await;
    assert_eq!(
        app.get("/healthz", As::Anonymous).await.expect(200)["status"],
        "ok"
    );
    assert_eq!(
        app.get("/readyz", As::Anonymous).await.expect(200)["status"],
        "ok"
    );
}

async fn metrics_count_requests_by_route_and_booking_outcomes() {
    let app = TestApp::with_config(|c| c.metrics_token = Some("metrics-token".to_owned())).await;
    let (_, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let other = app.patient().await;
    app.book(&patient, slots[0]).await.expect(201);
    app.book(&other, slots[0]).await.expect(409);
    app.get(
        &format!("/api/v1/bookings/{}", uuid::Uuid::now_v7()),
        As::Bearer(&patient),
    )
    .await
    .expect(404);
    let answer = read(
        app.client
            .get("/metrics")
            .header("authorization", "Bearer metrics-token")
            .send()
            .await
            .0,
    )
    .await;
    assert_eq!(answer.status, 200);
    let text = answer.body.as_str().expect("text").to_owned();
    assert!(
        text.contains(
            r#"medislot_http_requests_total{method="POST",route="/api/v1/bookings",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/v1/bookings/{id}",status="404""#),
        "{text}"
    );
    assert!(text.contains(r#"medislot_booking_outcomes_total{operation="book",outcome="ok"} 1"#));
    assert!(text.contains(
        r#"medislot_booking_outcomes_total{operation="book",outcome="slot_unavailable"} 1"#
    ));
    assert!(text.contains("medislot_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn the_docs_ui_is_served_without_external_assets() {
    let app = TestApp::new().await;
    let response = app.client.get("/docs").send().await.0;
    assert_eq!(response.status(), 200);
    let html = response.into_body().into_string().await.unwrap();
    assert!(html.contains("SwaggerUIBundle"));
    assert!(
        !html.contains("<script src=\"http"),
        "assets must be embedded"
    );
    let _ = json!({});
}

crate::on_every_store!(
    healthz_and_readyz_answer_ok,
    metrics_count_requests_by_route_and_booking_outcomes,
);
