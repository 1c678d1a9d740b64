//! Plug in your own storage: a store that wraps another store and logs every change, and proof
//! that it keeps the rules by running the conformance kit against it.
//!
//! Run the demo: `cargo run --example custom_store`
//! Run the kit on it: `cargo test -p medislot-examples --example custom_store`
//!
//! A store that only watches or disturbs another one's calls (logging, metrics, fault
//! injection) is a [`Layer`]: [`Layered`] passes every method of `SlotStore` and `AccountStore`
//! to the inner store between the layer's two hooks. Every change reaches a store through one
//! method, `SlotStore::mutate`, so this layer logs them all in one place. A real backend
//! implements the same two traits over its own storage; the kit is the contract.

use std::fmt::Debug;
use std::sync::Arc;

use chrono::{Duration, Utc};
use medislot_core::{
    BookingEngine, Call, Error, Layer, Layered, MemoryStore, NewDoctor, PatientId, Result,
    TimeRange,
};

/// Logs each write to the store it wraps, and its outcome, with `tracing`.
#[derive(Debug, Default)]
pub struct Logging;

impl Layer for Logging {
    fn after(&self, call: Call, outcome: std::result::Result<&dyn Debug, &Error>) {
        if !call.writes() {
            return;
        }
        // A mutation's answer is what it committed: the changes and the booking it answers
        // with. (An account's debug form leaves its password hash out.)
        match outcome {
            Ok(answer) => tracing::info!(?call, ?answer, "committed"),
            Err(error) => tracing::info!(?call, %error, "refused"),
        }
    }
}

/// Any store, with every write logged.
pub type LoggingStore<S> = Layered<S, Logging>;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt().with_target(false).init();

    let engine = BookingEngine::new(Arc::new(Layered::new(MemoryStore::new(), Logging)));
    let doctor = engine
        .create_doctor(NewDoctor::new("Dr Custom", "Dermatology", "Asia/Tokyo")?)
        .await?;
    let start = Utc::now() + Duration::days(2);
    let slot = engine
        .publish_slots(
            doctor.id,
            &[TimeRange::new(start, start + Duration::minutes(15))?],
        )
        .await?[0]
        .id;
    let patient = PatientId::new();
    let hold = engine.hold(slot, patient).await?;
    engine.confirm(hold.id, patient).await?;
    let refused = engine.book(slot, PatientId::new(), None).await;
    assert!(matches!(refused, Err(Error::SlotUnavailable(_))));
    engine.cancel_as_patient(hold.id, patient, None).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fresh_store() -> LoggingStore<MemoryStore> {
        Layered::new(MemoryStore::new(), Logging)
    }

    // Every check of the conformance kit, run against the logging store.
    medislot_core::slot_store_conformance!(fresh_store);
}
