//! The read replica, on a real streaming replica (`deploy/replica/start.sh`) named by
//! `MEDISLOT_REPLICA_URL` (its database is replaced by each test's scratch database). Without it
//! these tests say so and pass, unless `MEDISLOT_REQUIRE_REPLICA=1`: then they fail.
//!
//! Replay is paused (`pg_wal_replay_pause()`) to make the replica stale on purpose, so the tests
//! run one at a time (the pause is the whole replica's), and replay is resumed when a test
//! ends, however it ends. See `medislot_pg::testing::replica`.

use std::sync::Arc;
use std::time::Duration;

use medislot_core::testkit::Fixture;
use medislot_core::{BookingEngine, BookingQuery, Error, PatientId, SlotStatus, SlotStore as _};
use medislot_pg::testing::fresh_store;
use medislot_pg::testing::replica::{
    current, listed, one_at_a_time, replica_url, store_with_replica, ReplayPaused,
};
use medislot_pg::{PgStore, PgStoreOptions, ReplicaStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_come_from_the_replica_until_this_store_writes_then_from_the_primary() {
    let Some(url) = replica_url() else { return };
    let _serial = one_at_a_time().await;
    let store = store_with_replica(&url).await;
    let fx = Fixture::new(Arc::new(store.clone()));
    let doctor = fx.doctor("Dr Replica", "Cardiology").await;
    let first = fx.slots(&doctor, 1, chrono::Duration::zero()).await[0];
    current(&store).await;

    let paused = ReplayPaused::start(&url).await;
    // Another instance (a store on the primary alone) publishes a slot.
    let elsewhere = Fixture::new(Arc::new(PgStore::from_pool(store.pool().clone())));
    let second = elsewhere
        .slots(&doctor, 1, chrono::Duration::hours(2))
        .await[0];
    let now = fx.now();
    assert_eq!(
        listed(&store, doctor.id, now).await,
        vec![(first, SlotStatus::Available)],
        "the listing should come from the paused replica, which has not seen the new slot"
    );
    let free = store
        .count_free_slots(
            &medislot_core::FreeSlotFilter {
                doctor_id: Some(doctor.id),
                ..Default::default()
            },
            &[medislot_core::TimeRange::new(now, now + chrono::Duration::days(3)).unwrap()],
            now,
        )
        .await
        .unwrap();
    assert_eq!(free[0].free, 1, "availability comes from the replica too");
    assert_eq!(store.replica_status().await, Some(ReplicaStatus::Current));

    // The patient books the slot the replica does not know: the booking locks and reads it on
    // the primary.
    let patient = PatientId::new();
    let booking = fx.engine.book(second, patient, None).await.expect("book");
    // Their own bookings come from the primary.
    let mine = store
        .list_bookings(
            &BookingQuery {
                patient_id: Some(patient),
                limit: 10,
                ..BookingQuery::default()
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        mine.items.iter().map(|v| v.booking.id).collect::<Vec<_>>(),
        vec![booking.id]
    );
    // And after their write the lag-tolerant listing reads the primary: it sees the slot,
    // booked, while the replica is still paused.
    assert_eq!(store.replica_status().await, Some(ReplicaStatus::Behind));
    assert_eq!(
        listed(&store, doctor.id, now).await,
        vec![(first, SlotStatus::Available), (second, SlotStatus::Booked)],
        "after this store's write the listing must come from the primary"
    );
    drop(paused);

    current(&store).await;
    assert_eq!(
        listed(&store, doctor.id, now).await,
        vec![(first, SlotStatus::Available), (second, SlotStatus::Booked)],
        "the replica, resumed, has it all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_replay_paused_a_slot_taken_on_the_primary_is_refused_and_nothing_is_booked_twice() {
    let Some(url) = replica_url() else { return };
    let _serial = one_at_a_time().await;
    let store = store_with_replica(&url).await;
    let fx = Fixture::new(Arc::new(store.clone()));
    let doctor = fx.doctor("Dr Stale", "Dermatology").await;
    let slots = fx.slots(&doctor, 2, chrono::Duration::zero()).await;
    let (taken, raced) = (slots[0], slots[1]);
    current(&store).await;

    let _paused = ReplayPaused::start(&url).await;
    let elsewhere: Arc<PgStore> = Arc::new(PgStore::from_pool(store.pool().clone()));
    let other = BookingEngine::new(elsewhere.clone());
    other
        .book(taken, PatientId::new(), None)
        .await
        .expect("another instance books the slot");
    let now = fx.now();
    assert!(
        listed(&store, doctor.id, now)
            .await
            .contains(&(taken, SlotStatus::Available)),
        "the paused replica still lists the taken slot as free"
    );
    let refused = fx.engine.book(taken, PatientId::new(), None).await;
    assert!(
        matches!(refused, Err(Error::SlotUnavailable(slot)) if slot == taken),
        "a stale listing must not reach the decision: {refused:?}"
    );

    // A rush on one slot from both instances while the replica is stale: one booking.
    let attempts = (0..16).map(|i| {
        let engine = if i % 2 == 0 {
            fx.engine.clone()
        } else {
            other.clone()
        };
        tokio::spawn(async move { engine.book(raced, PatientId::new(), None).await })
    });
    let answers = futures::future::join_all(attempts).await;
    let booked = answers
        .iter()
        .filter(|answer| matches!(answer, Ok(Ok(_))))
        .count();
    for answer in &answers {
        match answer {
            Ok(Ok(_)) | Ok(Err(Error::SlotUnavailable(_))) => {}
            other => panic!("unexpected answer: {other:?}"),
        }
    }
    assert_eq!(booked, 1);
    let stored = fx.assert_at_most_one_occupant(raced).await;
    assert!(stored.is_some());
    assert_eq!(fx.bookings_of(taken).await.len(), 1);
}

#[tokio::test]
async fn a_replica_that_does_not_answer_leaves_reads_to_the_primary() {
    let primary = fresh_store().await;
    // Nothing listens on port 1.
    let replica = PgStoreOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy("postgres://postgres@127.0.0.1:1/postgres")
        .unwrap();
    let store = primary.with_replica(replica);
    // Before any write the replica would do: the read fails there and runs on the primary.
    let none = store
        .list_doctors(&medislot_core::DoctorFilter::default())
        .await
        .expect("the primary answers for the replica");
    assert!(none.is_empty());
    let fx = Fixture::new(Arc::new(store.clone()));
    let doctor = fx.doctor("Dr Alone", "Neurology").await;
    let slot = fx.slots(&doctor, 1, chrono::Duration::zero()).await[0];
    assert_eq!(
        store.replica_status().await,
        Some(ReplicaStatus::Unavailable)
    );
    assert_eq!(
        listed(&store, doctor.id, fx.now()).await,
        vec![(slot, SlotStatus::Available)]
    );
    let doctors = store
        .list_doctors(&medislot_core::DoctorFilter::default())
        .await
        .unwrap();
    assert_eq!(doctors.len(), 1);
}
