//! Two stores on one file, as two processes would open it, racing for the same slots.

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use medislot_core::{
    BookingEngine, BookingQuery, Error, NewDoctor, PatientId, SlotQuery, StoreError, TimeRange,
};
use tokio::sync::Barrier;

const SLOTS: usize = 40;
const BOOKERS_PER_SLOT: usize = 8;
const READERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_racing_on_one_file_book_each_slot_exactly_once() {
    let first = common::temp_store().await;
    let second = common::second(&first).await;
    let engines = [
        BookingEngine::new(Arc::new((*first).clone())),
        BookingEngine::new(Arc::new(second)),
    ];

    let doctor = engines[0]
        .create_doctor(NewDoctor::new("Dr Race", "Cardiology", "UTC").unwrap())
        .await
        .unwrap();
    let start = Utc::now() + Duration::days(1);
    let ranges: Vec<TimeRange> = (0..SLOTS as i64)
        .map(|i| {
            let s = start + Duration::minutes(30 * i);
            TimeRange::new(s, s + Duration::minutes(30)).unwrap()
        })
        .collect();
    let slots = engines[0].publish_slots(doctor.id, &ranges).await.unwrap();

    // Every slot is wanted by bookers of both stores, while readers of both list slots.
    let bookers = SLOTS * BOOKERS_PER_SLOT;
    let barrier = Arc::new(Barrier::new(bookers + READERS));
    let mut booking_tasks = Vec::new();
    for i in 0..bookers {
        let engine = engines[i % 2].clone();
        let slot = slots[(i / 2) % SLOTS].id;
        let barrier = Arc::clone(&barrier);
        booking_tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            (slot, engine.book(slot, PatientId::new(), None).await)
        }));
    }
    let mut reading_tasks = Vec::new();
    for i in 0..READERS {
        let engine = engines[i % 2].clone();
        let barrier = Arc::clone(&barrier);
        reading_tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            for _ in 0..20 {
                let query = SlotQuery {
                    limit: 50,
                    ..SlotQuery::default()
                };
                engine.slots(&query).await.expect("reads never fail");
                tokio::task::yield_now().await;
            }
        }));
    }

    let mut wins = vec![0; SLOTS];
    let mut busy = 0;
    for task in booking_tasks {
        let (slot, result) = task.await.unwrap();
        match result {
            Ok(_) => wins[slots.iter().position(|s| s.id == slot).unwrap()] += 1,
            Err(Error::SlotUnavailable(_)) => {}
            // Allowed (the server answers 503), but with a 5 s busy timeout it should not occur.
            Err(Error::Store(StoreError::Busy(_))) => busy += 1,
            Err(other) => panic!("a booker got {other:?}"),
        }
    }
    for task in reading_tasks {
        task.await.unwrap();
    }
    assert_eq!(busy, 0, "lock waits should have been absorbed");
    assert!(wins.iter().all(|w| *w == 1), "wins per slot: {wins:?}");

    // Both stores see the same file: one booking per slot, every one of them confirmed.
    for engine in &engines {
        for slot in &slots {
            let query = BookingQuery {
                slot_id: Some(slot.id),
                limit: 100,
                ..BookingQuery::default()
            };
            let page = engine.bookings(&query).await.unwrap();
            assert_eq!(page.items.len(), 1, "slot {}", slot.id);
        }
        let free = SlotQuery {
            available: Some(true),
            limit: 100,
            ..SlotQuery::default()
        };
        assert!(engine.slots(&free).await.unwrap().items.is_empty());
    }
}
