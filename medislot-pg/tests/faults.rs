//! Lost connections: the database ends the store's connections (`pg_terminate_backend`, as a
//! restart or an administrator would), and the store answers the next operations anyway.

use std::sync::Arc;

use medislot_core::testkit::Fixture;
use medislot_core::{BookingStatus, DoctorFilter, PatientId, SlotStore as _};
use medislot_pg::testing::fresh_store_with;
use medislot_pg::{PgStore, PgStoreOptions};
use sqlx::Row as _;

/// Ends every other connection to the store's database; how many. Sent over the simple-query
/// protocol, so it works through a transaction pooler too.
async fn terminate_the_others(store: &PgStore) -> i64 {
    sqlx::raw_sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(store.pool())
    .await
    .expect("terminate the other backends")
    .get(0)
}

/// Keeps `n` connections busy at once, so that the pool (and a pooler in front of the server)
/// opens as many server connections, then leaves them idle.
async fn fill_the_pool(store: &PgStore, n: usize) {
    let busy = (0..n).map(|_| sqlx::raw_sql("SELECT pg_sleep(0.05)").execute(store.pool()));
    // A connection the last round left dead may fail here: finding those is the store's job.
    let _ = futures::future::join_all(busy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_bookings_succeed_right_after_every_idle_connection_was_terminated() {
    let store = fresh_store_with(PgStoreOptions::new().max_connections(5)).await;
    let fx = Fixture::new(Arc::new(store.clone()));
    let slot = fx.slot().await;

    for round in 0..3 {
        fill_the_pool(&store, 5).await;
        assert!(terminate_the_others(&store).await >= 1, "round {round}");
        // The first read finds a dead connection, and the next, and the next: each is
        // retried on another, so the caller sees none of them.
        store
            .list_doctors(&DoctorFilter::default())
            .await
            .unwrap_or_else(|e| panic!("round {round}: the read after the kill failed: {e:?}"));
    }

    fill_the_pool(&store, 5).await;
    terminate_the_others(&store).await;
    let booking = fx
        .engine
        .book(slot, PatientId::new(), None)
        .await
        .expect("a booking whose connection was dead before BEGIN is sent again");
    assert_eq!(booking.status(), BookingStatus::Confirmed);
}
