use std::sync::Arc;

use medislot_core::{
    AccountId, Call, Error, Layer, Layered, MemoryStore, Result, SessionGeneration, StoreError,
};
use medislot_server::Stores;
use serde_json::json;

use crate::{As, TestApp, User};

/// Fails every call the way `fail` says, before it reaches the store.
struct Broken {
    fail: fn() -> StoreError,
}

impl Layer for Broken {
    fn before(&self, _: Call) -> Result<()> {
        Err(Error::Store((self.fail)()))
    }
}

async fn broken_app(fail: fn() -> StoreError) -> (TestApp, User) {
    let stores = Stores::from_store(
        Arc::new(Layered::new(MemoryStore::new(), Broken { fail })),
        "broken",
    );
    let app = TestApp::on_stores(stores, |_| {}).await;
    // A correctly signed session for an account the store cannot read.
    let session = app
        .state
        .sessions()
        .issue(AccountId::new(), SessionGeneration::FIRST, app.now())
        .unwrap();
    let user = User {
        id: session.claims.sub,
        email: "ghost@example.com".into(),
        token: session.token,
        csrf: session.claims.csrf,
    };
    (app, user)
}

fn unavailable() -> StoreError {
    StoreError::Unavailable("connection refused to db.internal:5432".into())
}

fn corrupt() -> StoreError {
    StoreError::Corrupt("bookings.status = 'WEIRD' at row 42".into())
}

#[tokio::test]
async fn a_store_outage_answers_503_with_retry_after_on_every_kind_of_route() {
    let (app, user) = broken_app(unavailable).await;
    let answers = [
        app.get("/readyz", As::Anonymous).await,
        app.get("/api/v1/slots", As::Anonymous).await,
        app.get("/api/v1/doctors", As::Anonymous).await,
        app.login("a@example.com", "whatever1").await,
        app.register("a@example.com", "long enough").await,
        app.get("/api/v1/me", As::Bearer(&user)).await,
    ];
    for answer in answers {
        answer.expect_problem(503, "store_unavailable");
        assert_eq!(answer.headers["retry-after"], "1");
        assert!(!answer.body.to_string().contains("db.internal"));
    }
    // Liveness does not depend on the store.
    app.get("/healthz", As::Anonymous).await.expect(200);
}

#[tokio::test]
async fn a_corrupt_store_answers_500_without_internal_detail() {
    let (app, user) = broken_app(corrupt).await;
    for answer in [
        app.get("/api/v1/slots", As::Anonymous).await,
        app.post(
            "/api/v1/bookings",
            As::Bearer(&user),
            json!({"slot_id": uuid::Uuid::now_v7()}),
        )
        .await,
    ] {
        answer.expect_problem(500, "internal_error");
        let text = answer.body.to_string();
        assert!(
            !text.contains("WEIRD") && !text.contains("row 42"),
            "{text}"
        );
    }
}
