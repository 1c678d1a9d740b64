//! An admin cancels a booking: the slot stays out of the public pool for the buffer window, then
//! frees itself with no background job. Time is a `ManualClock`, moved by hand.
//!
//! Run: `cargo run --example buffer_window`

use std::sync::Arc;

use chrono::Duration;
use medislot_core::{
    BookingEngine, Error, ManualClock, MemoryStore, NewDoctor, PatientId, Policy, SlotStatus,
    TimeRange,
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let clock = ManualClock::starting_now();
    let engine = BookingEngine::new(Arc::new(MemoryStore::new()))
        .with_clock(Arc::new(clock.clone()))
        .with_policy(Policy {
            buffer: Duration::minutes(10),
            ..Policy::default()
        })?;

    let doctor = engine
        .create_doctor(NewDoctor::new(
            "Dr Grace Hopper",
            "Neurology",
            "America/New_York",
        )?)
        .await?;
    let start = engine.now() + Duration::hours(3);
    let slot = engine
        .publish_slots(
            doctor.id,
            &[TimeRange::new(start, start + Duration::minutes(20))?],
        )
        .await?[0]
        .id;

    let booking = engine.book(slot, PatientId::new(), None).await?;
    println!(
        "booked:            {} -> slot {:?}",
        booking.status(),
        engine.slot(slot).await?.status
    );

    let cancelled = engine
        .cancel_as_admin(booking.id, Some("doctor called in sick".into()))
        .await?;
    println!(
        "admin cancelled:   {} -> slot {:?}",
        cancelled.status(),
        engine.slot(slot).await?.status
    );

    // Nine minutes later the slot is still held back from the public pool.
    clock.advance(Duration::minutes(9));
    let early = engine.book(slot, PatientId::new(), None).await;
    assert!(matches!(early, Err(Error::SlotUnavailable(_))));
    println!(
        "after 9 minutes:   booking refused ({})",
        early.unwrap_err()
    );

    // Once the window has passed, the slot is free again; no sweeper had to run.
    clock.advance(Duration::minutes(1));
    assert_eq!(engine.slot(slot).await?.status, SlotStatus::Available);
    let rebooked = engine.book(slot, PatientId::new(), None).await?;
    println!(
        "after 10 minutes:  {} by another patient",
        rebooked.status()
    );
    Ok(())
}
