//! Delivering the outbox: one worker per configured channel (webhooks, email, the NATS
//! JetStream broker) claims that
//! channel's due messages (a lease, so several server instances on one database never send one
//! message at the same time), sends each, and settles that channel's copy: delivered, or failed
//! and tried again after a backoff, until dead. Each channel keeps its own delivery state
//! ([`medislot_core::Channel`]), so a webhook's success never marks an email sent. With no
//! channel configured no worker runs and messages stay pending, visible to admins at
//! `GET /api/v1/outbox`.

mod broker;
mod email;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use medislot_core::{Channel, EntryKind, JournalEntry, OutboxMessage, Settlement};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::state::AppState;

pub use broker::Broker;
pub use email::{Mailer, Preview};
pub use webhook::{sign, Webhooks};

/// A channel's way of sending one message.
#[async_trait]
pub trait Outlet: Send + Sync {
    /// The channel whose copies of messages this outlet sends.
    fn channel(&self) -> Channel;

    /// Whether a send could succeed now. While it could not (the broker's connection is down),
    /// a round claims nothing, so an outage spends none of the messages' attempts.
    fn is_ready(&self) -> bool {
        true
    }

    /// Sends `message`.
    ///
    /// # Errors
    /// Why it was not sent; the message is tried again after a backoff.
    async fn send(&self, state: &AppState, message: &OutboxMessage) -> Result<(), String>;
}

#[async_trait]
impl Outlet for Webhooks {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    async fn send(&self, state: &AppState, message: &OutboxMessage) -> Result<(), String> {
        Webhooks::send(self, message, state.engine().now().timestamp()).await
    }
}

#[async_trait]
impl Outlet for Mailer {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(&self, state: &AppState, message: &OutboxMessage) -> Result<(), String> {
        if message.entry.kind == EntryKind::AccountPasswordResetRequested {
            let config = state.config();
            return self
                .send_reset(
                    state.accounts(),
                    message,
                    state.engine().now(),
                    &config.link_origin,
                    config.password_reset_ttl,
                )
                .await;
        }
        Mailer::send(self, state.engine(), state.accounts(), message).await
    }
}

#[async_trait]
impl Outlet for Broker {
    fn channel(&self) -> Channel {
        Channel::Broker
    }

    fn is_ready(&self) -> bool {
        self.is_connected()
    }

    async fn send(&self, _state: &AppState, message: &OutboxMessage) -> Result<(), String> {
        Broker::send(self, message).await
    }
}

/// What a webhook posts and the broker publishes for a message: its kind, when it happened,
/// and the journal entry.
pub fn event_body(entry: &JournalEntry) -> String {
    json!({
        "type": entry.kind.as_str(),
        "timestamp": entry.at,
        "data": entry,
    })
    .to_string()
}

/// How many messages one round claims.
const BATCH: u32 = 50;

/// How long a claim excludes other deliverers unless told otherwise; a round must finish
/// within it. A deliverer that dies holding a claim delays those messages by at most this.
pub const DEFAULT_LEASE: chrono::Duration = chrono::Duration::minutes(2);

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Messages delivered.
    pub delivered: usize,
    /// Messages that failed (tried again later, or dead).
    pub failed: usize,
    /// Claimed messages withdrawn unsent just before their turn (a reminder whose booking was
    /// cancelled after the claim).
    pub withdrawn: usize,
}

/// Claims `outlet`'s channel's due messages (up to one batch), sends each through `outlet` and
/// settles it on that channel; claims nothing while the outlet [is not ready](Outlet::is_ready).
///
/// # Errors
/// A message when the store could not be reached; messages already claimed are claimed again
/// when their lease ends.
pub async fn deliver_due<O: Outlet + ?Sized>(
    state: &AppState,
    outlet: &O,
) -> Result<Round, String> {
    deliver_due_within(state, outlet, DEFAULT_LEASE).await
}

/// [`deliver_due`], claiming for `lease`.
///
/// # Errors
/// As [`deliver_due`].
pub async fn deliver_due_within<O: Outlet + ?Sized>(
    state: &AppState,
    outlet: &O,
    lease: chrono::Duration,
) -> Result<Round, String> {
    let engine = state.engine();
    let channel = outlet.channel();
    if !outlet.is_ready() {
        tracing::debug!(%channel, "not ready: nothing claimed this round");
        return Ok(Round::default());
    }
    let claimed = engine
        .claim_messages(channel, BATCH, lease)
        .await
        .map_err(|e| e.to_string())?;
    let mut round = Round::default();
    for message in &claimed {
        let id = message.entry.id;
        // The last look before sending: a booking cancelled since the claim (while earlier
        // messages of this batch were sent) withdraws its reminder here.
        match engine.withdraw_if_stale(message).await {
            Ok(false) => {}
            Ok(true) => {
                round.withdrawn += 1;
                continue;
            }
            Err(error) => {
                // Not sent: the claim lapses and the message is looked at again.
                tracing::warn!(message = %id, %error, "could not check a message before sending");
                continue;
            }
        }
        let settlement = match outlet.send(state, message).await {
            Ok(()) => {
                round.delivered += 1;
                Settlement::Delivered
            }
            Err(error) => {
                tracing::warn!(message = %id, %channel, %error, attempts = message.delivery.attempts, "delivery failed");
                round.failed += 1;
                Settlement::Failed { error }
            }
        };
        if let Err(error) = engine.settle_message(id, channel, &settlement).await {
            // The claim lapses and the message is sent again: at least once.
            tracing::warn!(message = %id, %error, "could not record a delivery");
        }
    }
    Ok(round)
}

/// Runs [`deliver_due_within`] `lease` for `outlet` every `every`, and again at once while
/// rounds come back full, until the task is aborted.
pub fn spawn(
    state: AppState,
    outlet: Arc<dyn Outlet>,
    every: Duration,
    lease: chrono::Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            loop {
                match deliver_due_within(&state, &*outlet, lease).await {
                    Ok(round)
                        if round.delivered + round.failed + round.withdrawn == BATCH as usize =>
                    {
                        continue
                    }
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(%error, channel = %outlet.channel(), "claiming messages failed");
                        break;
                    }
                }
            }
        }
    })
}
