//! Delivering the outbox: a worker claims due messages (a lease, so several server instances on
//! one database never send one message at the same time), sends each to the configured
//! channels, and settles it: delivered, or failed and tried again after a backoff, until dead.
//! With no channel configured the worker does not run and messages stay pending, visible to
//! admins at `GET /api/v1/outbox`.

mod webhook;

use std::time::Duration;

use medislot_core::{BookingEngine, Settlement};
use tokio::task::JoinHandle;

pub use webhook::{sign, Webhooks};

/// How many messages one round claims.
const BATCH: u32 = 50;

/// How long a claim excludes other deliverers; a round must finish within it.
const LEASE: chrono::Duration = chrono::Duration::minutes(2);

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Messages delivered.
    pub delivered: usize,
    /// Messages that failed (tried again later, or dead).
    pub failed: usize,
}

/// Claims the due messages (up to one batch), sends each through `webhooks` and settles it.
///
/// # Errors
/// A message when the store could not be reached; messages already claimed are claimed again
/// when their lease ends.
pub async fn deliver_due(engine: &BookingEngine, webhooks: &Webhooks) -> Result<Round, String> {
    let claimed = engine
        .claim_messages(BATCH, LEASE)
        .await
        .map_err(|e| e.to_string())?;
    let mut round = Round::default();
    for message in &claimed {
        let id = message.entry.id;
        let settlement = match webhooks.send(message, engine.now().timestamp()).await {
            Ok(()) => {
                round.delivered += 1;
                Settlement::Delivered
            }
            Err(error) => {
                tracing::warn!(message = %id, %error, attempts = message.delivery.attempts, "webhook delivery failed");
                round.failed += 1;
                Settlement::Failed { error }
            }
        };
        if let Err(error) = engine.settle_message(id, &settlement).await {
            // The claim lapses and the message is sent again: at least once.
            tracing::warn!(message = %id, %error, "could not record a delivery");
        }
    }
    Ok(round)
}

/// Runs [`deliver_due`] every `every`, and again at once while rounds come back full, until the
/// task is aborted.
pub fn spawn(engine: BookingEngine, webhooks: Webhooks, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            loop {
                match deliver_due(&engine, &webhooks).await {
                    Ok(round) if round.delivered + round.failed == BATCH as usize => continue,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(%error, "claiming messages failed");
                        break;
                    }
                }
            }
        }
    })
}
