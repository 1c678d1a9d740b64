//! Read-your-writes across stores (`medislot_pg::consistency`): a caller who wrote through one
//! store and brings the position that write answered with reads it through another store,
//! though the replica has not replayed it. Two stores on one database stand for two server
//! processes. On a real replica (`MEDISLOT_REPLICA_URL`, see `medislot_pg::testing::replica`);
//! without one, the tests that need it say so and pass.

use std::sync::Arc;

use medislot_core::testkit::Fixture;
use medislot_core::{FreeSlotFilter, PatientId, SlotStatus, SlotStore as _, TimeRange};
use medislot_pg::consistency::{self, WalPosition};
use medislot_pg::testing::fresh_store;
use medislot_pg::testing::replica::{
    another_instance, current, listed, one_at_a_time, replayed, replica_url, store_with_replica,
    wal_position, ReplayPaused,
};
use medislot_pg::PgStore;
use sqlx::Row as _;

/// How many of `doctor`'s slots `store` counts free over the next three days.
async fn free(store: &PgStore, doctor: medislot_core::DoctorId, fx: &Fixture) -> u64 {
    let now = fx.now();
    let counts = store
        .count_free_slots(
            &FreeSlotFilter {
                doctor_id: Some(doctor),
                ..FreeSlotFilter::default()
            },
            &[TimeRange::new(now, now + chrono::Duration::days(3)).unwrap()],
            now,
        )
        .await
        .expect("count free slots");
    counts[0].free
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_made_through_one_store_is_read_through_another_by_the_caller_who_brings_its_position(
) {
    let Some(url) = replica_url() else { return };
    let _serial = one_at_a_time().await;
    let first = store_with_replica(&url).await;
    let second = another_instance(&first, &url).await;
    let fx = Fixture::new(Arc::new(first.clone()));
    let doctor = fx.doctor("Dr Everywhere", "Cardiology").await;
    let slot = fx.slots(&doctor, 1, chrono::Duration::zero()).await[0];
    current(&first).await;
    // A position the replica has replayed (everything written so far).
    let replayed_already = wal_position(&first).await;
    replayed(&url, replayed_already).await;
    let replayed_already = WalPosition::from_bytes(u64::try_from(replayed_already).unwrap());

    let _paused = ReplayPaused::start(&url).await;
    let (booked, written) =
        consistency::scope(None, fx.engine.book(slot, PatientId::new(), None)).await;
    booked.expect("the patient books through the first store");
    let written = written.expect("a booking in a scope answers its WAL position");
    assert!(written > replayed_already);
    // The position prints as PostgreSQL's pg_lsn does.
    let as_postgres: String = sqlx::raw_sql(&format!(
        "SELECT ('0/0'::pg_lsn + {})::text",
        written.bytes()
    ))
    .fetch_one(first.pool())
    .await
    .unwrap()
    .get(0);
    assert_eq!(written.to_string(), as_postgres);

    let now = fx.now();
    let (seen, nothing_written) = consistency::scope(Some(written), async {
        (
            listed(&second, doctor.id, now).await,
            free(&second, doctor.id, &fx).await,
        )
    })
    .await;
    assert_eq!(
        seen,
        (vec![(slot, SlotStatus::Booked)], 0),
        "with the position, the second store must read the primary"
    );
    assert_eq!(nothing_written, None, "a read writes no position");

    assert_eq!(
        (
            listed(&second, doctor.id, now).await,
            free(&second, doctor.id, &fx).await
        ),
        (vec![(slot, SlotStatus::Available)], 1),
        "without the position, the second store reads the paused replica"
    );
    let (stale, _) = consistency::scope(Some(replayed_already), async {
        listed(&second, doctor.id, now).await
    })
    .await;
    assert_eq!(
        stale,
        vec![(slot, SlotStatus::Available)],
        "a position the replica has replayed leaves the read on the replica"
    );
    assert_eq!(
        listed(&first, doctor.id, now).await,
        vec![(slot, SlotStatus::Booked)],
        "the store that wrote reads its own write, with no position"
    );
}

#[tokio::test]
async fn without_a_replica_a_scope_records_no_position() {
    let store = fresh_store().await;
    let fx = Fixture::new(Arc::new(store));
    let doctor = fx.doctor("Dr Single", "Neurology").await;
    let slot = fx.slots(&doctor, 1, chrono::Duration::zero()).await[0];
    let (booked, written) =
        consistency::scope(None, fx.engine.book(slot, PatientId::new(), None)).await;
    booked.expect("book");
    assert_eq!(
        written, None,
        "only a store with a replica reads its position"
    );
}
