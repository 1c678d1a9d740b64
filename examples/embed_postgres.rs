//! Embed the engine on PostgreSQL: apply the migrations, create a doctor, publish slots, then let
//! 100 patients race for the same slot. Exactly one wins; the database's own constraints back
//! the engine up.
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/medislot cargo run --example embed_postgres`

use std::sync::Arc;

use chrono::{Duration, Utc};
use medislot_core::{BookingEngine, Error, NewDoctor, PatientId, TimeRange};
use medislot_pg::PgStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/medislot")?;
    let store = PgStore::connect(&url).await?;
    // Creates or upgrades the schema; harmless when it is already there.
    store.migrate().await?;
    let engine = BookingEngine::new(Arc::new(store));

    let doctor = engine
        .create_doctor(NewDoctor::new(
            "Dr Ada Lovelace",
            "Cardiology",
            "Europe/London",
        )?)
        .await?;
    let start = Utc::now() + Duration::days(1);
    let slots = engine
        .publish_slots(
            doctor.id,
            &[TimeRange::new(start, start + Duration::minutes(30))?],
        )
        .await?;
    let contested = slots[0].id;

    // 100 patients press "book" at once; each booking is a FOR UPDATE transaction.
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.book(contested, PatientId::new(), None).await })
        })
        .collect();
    let mut winners = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await? {
            Ok(booking) => winners.push(booking),
            Err(Error::SlotUnavailable(_)) => refused += 1,
            Err(other) => return Err(other.into()),
        }
    }
    assert_eq!(winners.len(), 1, "a slot is never booked twice");
    println!(
        "slot {contested}: booked by patient {}, {refused} patients were told it is taken",
        winners[0].patient_id
    );
    Ok(())
}
