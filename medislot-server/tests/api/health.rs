use serde_json::json;

use sqlx::Row as _;

use crate::{read, uuid_of, As, TestApp};

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

/// A PostgreSQL app whose read replica is `replica`.
async fn app_with_replica(replica: medislot_pg::PgStore) -> TestApp {
    let primary = medislot_pg::testing::fresh_store().await;
    let stores = medislot_server::Stores::postgres(primary.with_replica(replica), "test");
    TestApp::on_stores(stores, |_| {}).await
}

#[tokio::test]
async fn readyz_stays_ready_when_only_the_replica_is_down_and_the_primary_serves_listings() {
    // Nothing listens on port 1.
    let replica = medislot_pg::PgStoreOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(1))
        .connect_lazy("postgres://postgres@127.0.0.1:1/postgres")
        .unwrap();
    let app = app_with_replica(replica).await;
    let ready = app.get("/readyz", As::Anonymous).await;
    assert_eq!(ready.expect(200)["status"], "ok");
    assert_eq!(ready.body["replica"], "unavailable");
    let (_, doctor, slots) = app.clinic(2).await;
    let listed = app
        .get(&format!("/api/v1/slots?doctor_id={doctor}"), As::Anonymous)
        .await;
    assert_eq!(
        listed.expect(200)["items"].as_array().unwrap().len(),
        slots.len()
    );
    assert_eq!(
        app.get("/api/v1/doctors", As::Anonymous).await.expect(200)["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

/// With `MEDISLOT_REPLICA_URL` (a replica made by `deploy/replica/start.sh`): readiness says
/// where lag-tolerant reads go until the replica has replayed this instance's writes, and the
/// listings answer. (Which server answers a read is proved in `medislot-pg/tests/replica.rs`.)
#[tokio::test]
async fn readyz_reports_a_real_replica_that_serves_the_listings_once_current() {
    let Some(url) = medislot_pg::testing::replica::replica_url() else {
        return;
    };
    // Not while another test has paused replay.
    let _serial = medislot_pg::testing::replica::one_at_a_time().await;
    let primary = medislot_pg::testing::fresh_store().await;
    let database: String = sqlx::raw_sql("SELECT current_database()")
        .fetch_one(primary.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    // The replica's pool connects lazily, so the database need not be replayed yet: until it
    // is, reads fail there and the primary serves them.
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let replica = medislot_pg::PgStoreOptions::new()
        .connect_lazy(&format!(
            "postgres://postgres@{}:{}/{database}",
            options.get_host(),
            options.get_port()
        ))
        .unwrap();
    let stores = medislot_server::Stores::postgres(primary.with_replica(replica), "test");
    let app = TestApp::on_stores(stores, |_| {}).await;
    let (_, doctor, slots) = app.clinic(1).await;
    let started = std::time::Instant::now();
    loop {
        let ready = app.get("/readyz", As::Anonymous).await;
        ready.expect(200);
        if ready.body["replica"] == "current" {
            break;
        }
        // `unavailable` until the replica has replayed the new database, then `behind`.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{:?}",
            ready.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let listed = app
        .get(&format!("/api/v1/slots?doctor_id={doctor}"), As::Anonymous)
        .await;
    assert_eq!(uuid_of(&listed.expect(200)["items"][0]["id"]), slots[0]);
}
