//! Two operating-system processes on one file, racing for the same slots: SQLite's file locks,
//! not anything inside one process, keep each slot booked once.
//!
//! The test binary runs itself twice as the children (the ignored `child_books_every_slot`
//! test, told the file by an environment variable). Each child opens its own store, says
//! `ready` on its standard error (standard output is the test harness's), waits for `go` on its
//! standard input, and books; the parent starts both races at once and checks the answers and
//! the file.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::Arc;

use chrono::{Duration, Utc};
use medislot_core::{
    BookingEngine, BookingQuery, Error, NewDoctor, PatientId, SlotId, StoreError, TimeRange,
};
use medislot_sqlite::SqliteStore;

const DATABASE: &str = "MEDISLOT_SQLITE_CHILD_DATABASE";
const SLOTS: usize = 30;
const BOOKERS_PER_SLOT: usize = 4;

#[test]
fn two_processes_racing_on_one_file_book_each_slot_exactly_once() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, slots) = runtime.block_on(async {
        let store = common::open(&dir).await;
        let engine = BookingEngine::new(Arc::new(store.clone()));
        let doctor = engine
            .create_doctor(NewDoctor::new("Dr Fork", "GP", "UTC").unwrap())
            .await
            .unwrap();
        let start = Utc::now() + Duration::days(1);
        let ranges: Vec<TimeRange> = (0..SLOTS as i64)
            .map(|i| {
                let s = start + Duration::minutes(30 * i);
                TimeRange::new(s, s + Duration::minutes(30)).unwrap()
            })
            .collect();
        let slots = engine.publish_slots(doctor.id, &ranges).await.unwrap();
        (store, slots)
    });
    let path = dir.path().join("medislot.db");

    let mut children: Vec<(Child, BufReader<ChildStderr>)> = (0..2)
        .map(|_| {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--ignored",
                    "--exact",
                    "child_books_every_slot",
                    "--nocapture",
                ])
                .arg("--test-threads=1")
                .env(DATABASE, &path)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stderr = BufReader::new(child.stderr.take().unwrap());
            (child, stderr)
        })
        .collect();
    for (_, stderr) in &mut children {
        let ready = stderr
            .lines()
            .map(Result::unwrap)
            .find(|line| line == "ready");
        assert!(ready.is_some(), "a child ended before it was ready");
    }
    for (child, _) in &mut children {
        writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
    }

    let mut wins: HashMap<SlotId, usize> = HashMap::new();
    for (mut child, stderr) in children {
        for line in stderr.lines().map(Result::unwrap) {
            let Some(answer) = line.strip_prefix("answer ") else {
                continue;
            };
            let (slot, outcome) = answer.split_once(' ').unwrap();
            match outcome {
                "booked" => *wins.entry(slot.parse().unwrap()).or_default() += 1,
                "unavailable" => {}
                other => panic!("a child got {other}"),
            }
        }
        assert!(child.wait().unwrap().success(), "a child failed");
    }

    assert_eq!(wins.len(), SLOTS, "every slot was booked");
    assert!(wins.values().all(|w| *w == 1), "wins per slot: {wins:?}");
    runtime.block_on(async {
        let engine = BookingEngine::new(Arc::new(store));
        for slot in &slots {
            let query = BookingQuery {
                slot_id: Some(slot.id),
                limit: 10,
                ..BookingQuery::default()
            };
            assert_eq!(engine.bookings(&query).await.unwrap().items.len(), 1);
        }
    });
}

/// One of the two racing processes; does nothing unless started by the test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of two_processes_racing_on_one_file_book_each_slot_exactly_once"]
async fn child_books_every_slot() {
    let Ok(path) = std::env::var(DATABASE) else {
        return;
    };
    let store = SqliteStore::connect(&path).await.unwrap();
    let engine = BookingEngine::new(Arc::new(store));
    let query = medislot_core::SlotQuery {
        limit: 500,
        ..medislot_core::SlotQuery::default()
    };
    let slots: Vec<SlotId> = engine
        .slots(&query)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|v| v.slot.id)
        .collect();
    eprintln!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();

    let tasks: Vec<_> = (0..slots.len() * BOOKERS_PER_SLOT)
        .map(|i| {
            let engine = engine.clone();
            let slot = slots[i % slots.len()];
            tokio::spawn(async move { (slot, engine.book(slot, PatientId::new(), None).await) })
        })
        .collect();
    for task in tasks {
        let (slot, result) = task.await.unwrap();
        let outcome = match result {
            Ok(_) => "booked".to_owned(),
            Err(Error::SlotUnavailable(_)) => "unavailable".to_owned(),
            Err(Error::Store(StoreError::Busy(e))) => format!("busy: {e}"),
            Err(other) => format!("error: {other:?}"),
        };
        eprintln!("answer {slot} {outcome}");
    }
}
