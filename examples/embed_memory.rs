//! Embed the engine on the in-memory store: create a doctor, publish slots, then let 100
//! patients race for the same slot. Exactly one wins.
//!
//! Run: `cargo run --example embed_memory`

use std::sync::Arc;

use chrono::{Duration, Utc};
use medislot_core::{BookingEngine, Error, MemoryStore, NewDoctor, PatientId, TimeRange};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The engine holds the rules; the store only supplies atomicity.
    let engine = BookingEngine::new(Arc::new(MemoryStore::new()));

    let doctor = engine
        .create_doctor(NewDoctor::new(
            "Dr Ada Lovelace",
            "Cardiology",
            "Europe/London",
        )?)
        .await?;

    // Tomorrow morning, three 30-minute slots.
    let start = Utc::now() + Duration::days(1);
    let ranges = (0..3)
        .map(|i| {
            let begin = start + Duration::minutes(30 * i);
            TimeRange::new(begin, begin + Duration::minutes(30))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let slots = engine.publish_slots(doctor.id, &ranges).await?;
    let contested = slots[0].id;

    // 100 patients press "book" at the same instant.
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.book(contested, PatientId::new(), None).await })
        })
        .collect();

    let mut winners = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.expect("booking task panicked") {
            Ok(booking) => winners.push(booking),
            Err(Error::SlotUnavailable(_)) => refused += 1,
            Err(other) => return Err(other),
        }
    }

    assert_eq!(winners.len(), 1, "a slot is never booked twice");
    let winner = &winners[0];
    println!(
        "slot {contested}: booked by patient {} ({}), {refused} patients were told it is taken",
        winner.patient_id,
        winner.status()
    );
    Ok(())
}
