//! What a store writes is in the file: dropped and reopened, the store reads back everything.

mod common;

use std::sync::Arc;

use chrono::Duration;
use medislot_core::{
    Account, AccountId, AccountStore, BookingEngine, BookingQuery, BookingView, Doctor,
    DoctorFilter, Email, ManualClock, NewDoctor, PatientId, Role, SlotQuery, SlotView,
};
use medislot_sqlite::SqliteStore;

/// Everything a client can read back.
#[derive(Debug, PartialEq)]
struct Snapshot {
    doctors: Vec<Doctor>,
    slots: Vec<SlotView>,
    bookings: Vec<BookingView>,
    account: Option<Account>,
}

async fn snapshot(engine: &BookingEngine, store: &SqliteStore, account: AccountId) -> Snapshot {
    let slots = SlotQuery {
        limit: 500,
        ..SlotQuery::default()
    };
    let bookings = BookingQuery {
        limit: 500,
        ..BookingQuery::default()
    };
    Snapshot {
        doctors: engine.doctors(&DoctorFilter::default()).await.unwrap(),
        slots: engine.slots(&slots).await.unwrap().items,
        bookings: engine.bookings(&bookings).await.unwrap().items,
        account: store.account(account).await.unwrap(),
    }
}

/// Writes doctors, slots, bookings in every kind of state and an account; returns what a
/// client reads back and the account's id.
async fn write_history(engine: &BookingEngine, store: &SqliteStore) -> (Snapshot, AccountId) {
    let ada = engine
        .create_doctor(NewDoctor::new("Dr Ada", "Cardiology", "Europe/London").unwrap())
        .await
        .unwrap();
    let bob = engine
        .create_doctor(NewDoctor::new("Dr Bob", "Dermatology", "Asia/Tokyo").unwrap())
        .await
        .unwrap();
    let start = engine.now() + Duration::days(1);
    let ranges: Vec<_> = (0..6)
        .map(|i| {
            let s = start + Duration::minutes(30 * i);
            medislot_core::TimeRange::new(s, s + Duration::minutes(30)).unwrap()
        })
        .collect();
    let slots = engine.publish_slots(ada.id, &ranges).await.unwrap();
    engine.publish_slots(bob.id, &ranges[..1]).await.unwrap();
    let patient = PatientId::new();
    let key = medislot_core::IdempotencyKey::new("retry-1").unwrap();
    engine.book(slots[0].id, patient, Some(key)).await.unwrap();
    let held = engine.hold(slots[1].id, patient).await.unwrap();
    engine.confirm(held.id, patient).await.unwrap();
    let cancelled = engine.book(slots[2].id, patient, None).await.unwrap();
    engine
        .cancel_as_patient(cancelled.id, patient, Some("better time".into()))
        .await
        .unwrap();
    let buffered = engine.book(slots[3].id, patient, None).await.unwrap();
    engine
        .cancel_as_admin(buffered.id, Some("doctor ill".into()))
        .await
        .unwrap();
    engine.hold(slots[4].id, PatientId::new()).await.unwrap();
    engine.withdraw_slot(slots[5].id).await.unwrap();
    engine.delete_doctor(bob.id).await.unwrap();
    let account = Account {
        id: AccountId::new(),
        email: Email::parse("ada@example.com").unwrap(),
        name: "Ada".into(),
        role: Role::Admin,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: engine.now(),
        profile: medislot_core::AccountProfile::default(),
        sessions: medislot_core::SessionGeneration::FIRST,
        login_throttle: medislot_core::LoginThrottle::default(),
    };
    store.insert_account(&account).await.unwrap();
    let written = snapshot(engine, store, account.id).await;
    assert_eq!(written.bookings.len(), 5);
    assert_eq!(written.doctors.len(), 1);
    (written, account.id)
}

async fn reopen_and_compare(close_first: bool) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let store = common::open(&dir).await;
    let engine = BookingEngine::new(Arc::new(store.clone())).with_clock(clock.clone());
    let (written, account) = write_history(&engine, &store).await;
    if close_first {
        store.close().await;
    }
    drop(engine);
    drop(store);

    let store = common::open(&dir).await;
    let engine = BookingEngine::new(Arc::new(store.clone())).with_clock(clock);
    assert_eq!(snapshot(&engine, &store, account).await, written);
}

#[tokio::test]
async fn everything_written_is_read_back_after_the_store_is_dropped_and_reopened() {
    reopen_and_compare(false).await;
}

#[tokio::test]
async fn everything_written_is_read_back_after_the_store_is_closed_and_reopened() {
    reopen_and_compare(true).await;
}

#[tokio::test]
async fn a_backup_taken_while_the_store_is_open_holds_everything_written() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let store = common::open(&dir).await;
    let engine = BookingEngine::new(Arc::new(store.clone())).with_clock(clock.clone());
    let (written, account) = write_history(&engine, &store).await;

    let copy = dir.path().join("backup.db");
    store.back_up_to(&copy).await.unwrap();
    // The store goes on after the backup; what it writes next is not in the copy.
    let later = engine
        .create_doctor(NewDoctor::new("Dr Cy", "Neurology", "Europe/Paris").unwrap())
        .await
        .unwrap();

    let restored = SqliteStore::connect(copy.to_str().unwrap()).await.unwrap();
    restored.migrate().await.unwrap();
    let restored_engine = BookingEngine::new(Arc::new(restored.clone())).with_clock(clock);
    assert_eq!(
        snapshot(&restored_engine, &restored, account).await,
        written
    );
    assert!(!restored_engine
        .doctors(&DoctorFilter::default())
        .await
        .unwrap()
        .iter()
        .any(|d| d.id == later.id));
}

#[tokio::test]
async fn a_backup_never_overwrites_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(&dir).await;
    let existing = dir.path().join("backup.db");
    std::fs::write(&existing, b"keep me").unwrap();
    let error = store.back_up_to(&existing).await.unwrap_err();
    assert!(error.to_string().contains("store failure"), "{error}");
    assert!(format!("{error:?}").contains("already exists"), "{error:?}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
}
