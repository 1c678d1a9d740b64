//! The outbox: the messages committed changes owe the world, kept in the store beside the change
//! that caused them until someone delivers them.
//!
//! Every [journal entry](crate::JournalEntry) whose kind [is a message](crate::EntryKind::is_message)
//! is queued in the same transaction as the change, so a rolled-back change leaves no message
//! and a committed one always has its message. A deliverer (the server's worker, or an embedding
//! application) [claims](crate::BookingEngine::claim_messages) due messages for a lease, delivers
//! them, and [settles](crate::BookingEngine::settle_message) each: delivered, or failed (tried
//! again later, with exponential backoff and jitter, until [`MAX_ATTEMPTS`], then dead).
//! A claim excludes other deliverers until its lease ends; a deliverer that crashes loses its
//! claim when the lease ends and the message is claimed again. Delivery is therefore at least
//! once; the message id ([`EntryId`]) is stable, so receivers drop duplicates.
//!
//! A message may leave by several [channels](Channel) (a webhook, an email): it is queued once
//! per channel that carries its kind, and each channel's copy is claimed, retried and settled
//! on its own, so a webhook that took a message never marks its email sent, and an email that
//! failed never sends the webhook again.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, StoreError};
use crate::ids::EntryId;
use crate::journal::{EntryKind, JournalCursor, JournalEntry};

/// A way messages leave MediSlot. Each channel keeps its own delivery state of each message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A signed `POST` to the clinic's other systems.
    Webhook,
    /// An email to the booking's patient.
    Email,
    /// A message published to a broker (NATS JetStream in the server), so a clinic's other
    /// systems subscribe instead of polling.
    Broker,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 3] = [Channel::Webhook, Channel::Email, Channel::Broker];

    /// The channel as stored and shown: `webhook`, `email` or `broker`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Email => "email",
            Channel::Broker => "broker",
        }
    }

    /// Whether an entry of `kind` is queued on this channel. Webhooks and the broker carry
    /// every [message](EntryKind::is_message) but a password reset request, which is the
    /// account holder's business alone; email leaves out the end of a clinic cancel's
    /// buffer, which changes nothing for the patient, who was told of the cancel.
    pub const fn carries(self, kind: EntryKind) -> bool {
        match self {
            Channel::Webhook | Channel::Broker => {
                kind.is_message() && !matches!(kind, EntryKind::AccountPasswordResetRequested)
            }
            Channel::Email => kind.is_message() && !matches!(kind, EntryKind::BookingBufferEnded),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, StoreError> {
        Channel::ALL
            .into_iter()
            .find(|channel| channel.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown channel {s:?}")))
    }
}

/// How many times a message is tried before it is dead.
pub const MAX_ATTEMPTS: u32 = 8;

/// The first retry's delay; each later one doubles it, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::seconds(10);

/// The longest delay between two tries.
pub const MAX_BACKOFF: Duration = Duration::hours(1);

/// The longest accepted delivery error text, in characters; longer ones are cut.
pub const MAX_ERROR_CHARS: usize = 1000;

/// A message in the outbox with its delivery state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutboxMessage {
    /// The journal entry the message tells of; its id is the message id.
    pub entry: JournalEntry,
    /// The channel this copy of the message leaves by.
    pub channel: Channel,
    /// Where delivery stands.
    pub delivery: Delivery,
}

/// The decision a store applies to one message under its lock: the new delivery state from the
/// current one ([`Delivery::settle`]).
pub type Settle<'a> = dyn Fn(&Delivery) -> Result<Delivery> + Send + Sync + 'a;

/// Where a message's delivery stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// How many times it was claimed for delivery.
    pub attempts: u32,
    /// When it is next due (for a pending message).
    pub due_at: DateTime<Utc>,
    /// Until when the current claim excludes other deliverers, if claimed.
    pub claimed_until: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was given up on.
    pub dead_at: Option<DateTime<Utc>>,
    /// When it was withdrawn unsent ([`Settlement::Withdrawn`]).
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Why the last try failed.
    pub last_error: Option<String>,
}

impl Delivery {
    /// A message just queued at `at`: due at once.
    pub fn queued(at: DateTime<Utc>) -> Self {
        Self {
            attempts: 0,
            due_at: at,
            claimed_until: None,
            delivered_at: None,
            dead_at: None,
            withdrawn_at: None,
            last_error: None,
        }
    }

    /// The message's state.
    pub fn state(&self) -> MessageState {
        match (self.delivered_at, self.withdrawn_at, self.dead_at) {
            (Some(_), _, _) => MessageState::Delivered,
            (None, Some(_), _) => MessageState::Withdrawn,
            (None, None, Some(_)) => MessageState::Dead,
            (None, None, None) => MessageState::Pending,
        }
    }

    /// Whether a deliverer may claim it at `now`: pending, due, and not claimed by another.
    pub fn is_claimable_at(&self, now: DateTime<Utc>) -> bool {
        self.state() == MessageState::Pending
            && self.due_at <= now
            && self.claimed_until.is_none_or(|until| until <= now)
    }

    /// The delivery state after `settlement` at `now`. A [`Settlement::Failed`] is retried
    /// after [`backoff`] unless it was the last attempt, when the message is dead. Settling a
    /// delivered message as delivered again changes nothing (a deliverer's retry).
    ///
    /// # Errors
    /// [`Error::Validation`] on `state` when the settlement does not fit the message: a
    /// delivered or dead message cannot fail, only a dead one can be retried, a dead one cannot
    /// be delivered (retry it first).
    pub fn settle(
        &self,
        id: EntryId,
        settlement: &Settlement,
        now: DateTime<Utc>,
    ) -> Result<Delivery> {
        let mut next = self.clone();
        next.claimed_until = None;
        match (settlement, self.state()) {
            (Settlement::Delivered, MessageState::Delivered) => return Ok(self.clone()),
            (Settlement::Delivered, MessageState::Pending) => next.delivered_at = Some(now),
            (Settlement::Withdrawn, MessageState::Pending) => next.withdrawn_at = Some(now),
            (Settlement::Failed { error }, MessageState::Pending) => {
                next.last_error = Some(error.chars().take(MAX_ERROR_CHARS).collect());
                if self.attempts >= MAX_ATTEMPTS {
                    next.dead_at = Some(now);
                } else {
                    next.due_at = now + backoff(id, self.attempts);
                }
            }
            (Settlement::Retry, MessageState::Dead) => {
                next.dead_at = None;
                next.attempts = 0;
                next.due_at = now;
            }
            (Settlement::Delivered, MessageState::Dead | MessageState::Withdrawn)
            | (
                Settlement::Withdrawn,
                MessageState::Delivered | MessageState::Dead | MessageState::Withdrawn,
            )
            | (
                Settlement::Failed { .. },
                MessageState::Delivered | MessageState::Dead | MessageState::Withdrawn,
            )
            | (
                Settlement::Retry,
                MessageState::Pending | MessageState::Delivered | MessageState::Withdrawn,
            ) => {
                return Err(Error::validation(
                    "state",
                    format!("the message is {}", self.state().as_str()),
                ))
            }
        }
        Ok(next)
    }
}

/// A message's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Waiting to be delivered (due now or later, claimed or not).
    Pending,
    /// Delivered.
    Delivered,
    /// Tried [`MAX_ATTEMPTS`] times without success; an admin may retry it.
    Dead,
    /// Withdrawn unsent, for good: what it told of no longer holds (a
    /// [reminder](crate::reminder) whose booking was cancelled or moved).
    Withdrawn,
}

impl MessageState {
    /// Every state.
    pub const ALL: [MessageState; 4] = [
        MessageState::Pending,
        MessageState::Delivered,
        MessageState::Dead,
        MessageState::Withdrawn,
    ];

    /// The state as stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageState::Pending => "pending",
            MessageState::Delivered => "delivered",
            MessageState::Dead => "dead",
            MessageState::Withdrawn => "withdrawn",
        }
    }
}

/// How a claimed (or dead) message's delivery ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Delivered: never claimed again.
    Delivered,
    /// The try failed: tried again later, or dead after the last attempt.
    Failed {
        /// What went wrong, for the admin's view.
        error: String,
    },
    /// An admin asks for a dead message to be tried again, from its first attempt.
    Retry,
    /// Nothing is to be sent any more (a [reminder](crate::reminder) whose booking was
    /// cancelled or moved): the message becomes [`MessageState::Withdrawn`], never claimed
    /// again. Only a pending message can be withdrawn.
    Withdrawn,
}

/// The delay before the next try of message `id` after its `attempts`-th failed one:
/// [`FIRST_BACKOFF`] doubled per attempt, capped at [`MAX_BACKOFF`], then scaled by a jitter
/// between 50% and 100% so that messages that failed together are not all retried together.
/// The jitter is drawn from the message id, so it is spread across messages yet repeatable.
pub fn backoff(id: EntryId, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    let base = (FIRST_BACKOFF * 2_i32.pow(doublings)).min(MAX_BACKOFF);
    let bytes = id.as_uuid().into_bytes();
    let seed = u64::from(bytes[15]) ^ (u64::from(bytes[14]) << 8) ^ (u64::from(attempts) * 0x9e37);
    let per_mille = 500 + (seed % 501) as i64;
    Duration::milliseconds(base.num_milliseconds() * per_mille / 1000)
}

/// Which outbox messages to list, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageQuery {
    /// The channel whose copies to list.
    pub channel: Channel,
    /// Only messages in this state.
    pub state: Option<MessageState>,
    /// Continue after this message.
    pub after: Option<JournalCursor>,
    /// At most this many.
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_attempt_within_its_jitter_and_stops_at_the_cap() {
        for _ in 0..50 {
            let id = EntryId::new();
            for attempts in 1..=MAX_ATTEMPTS {
                let base = (FIRST_BACKOFF * 2_i32.pow(attempts - 1)).min(MAX_BACKOFF);
                let delay = backoff(id, attempts);
                assert!(delay >= base / 2 && delay <= base, "{attempts}: {delay}");
            }
            assert!(backoff(id, 40) <= MAX_BACKOFF);
        }
    }

    #[test]
    fn email_carries_every_message_but_the_end_of_a_buffer_the_others_all_but_a_reset_request_and_channels_round_trip(
    ) {
        for kind in EntryKind::ALL {
            let public = kind.is_message() && kind != EntryKind::AccountPasswordResetRequested;
            assert_eq!(Channel::Webhook.carries(kind), public, "{kind}");
            assert_eq!(Channel::Broker.carries(kind), public, "{kind}");
            assert_eq!(
                Channel::Email.carries(kind),
                kind.is_message() && kind != EntryKind::BookingBufferEnded,
                "{kind}"
            );
        }
        for channel in Channel::ALL {
            assert_eq!(channel.as_str().parse::<Channel>().unwrap(), channel);
        }
        assert!("pigeon".parse::<Channel>().is_err());
    }

    #[test]
    fn a_withdrawn_message_is_settled_unsent_and_only_a_pending_one_can_be() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
        let id = EntryId::new();
        let withdrawn = Delivery::queued(now)
            .settle(id, &Settlement::Withdrawn, now)
            .expect("pending withdraws");
        assert_eq!(withdrawn.state(), MessageState::Withdrawn);
        assert_eq!(withdrawn.withdrawn_at, Some(now));
        assert_eq!(withdrawn.delivered_at, None);
        assert!(!withdrawn.is_claimable_at(now));
        for settlement in [
            Settlement::Withdrawn,
            Settlement::Delivered,
            Settlement::Retry,
            Settlement::Failed {
                error: "late".into(),
            },
        ] {
            assert!(
                withdrawn.settle(id, &settlement, now).is_err(),
                "{settlement:?}"
            );
        }
        let delivered = Delivery::queued(now)
            .settle(id, &Settlement::Delivered, now)
            .expect("pending delivers");
        assert!(delivered.settle(id, &Settlement::Withdrawn, now).is_err());
    }

    #[test]
    fn backoff_jitter_differs_between_messages() {
        let delays: std::collections::HashSet<_> =
            (0..20).map(|_| backoff(EntryId::new(), 3)).collect();
        assert!(delays.len() > 5, "{delays:?}");
    }

    #[test]
    fn a_failed_message_is_retried_later_until_the_last_attempt_kills_it() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
        let id = EntryId::new();
        let failed = Settlement::Failed {
            error: "smtp refused".into(),
        };
        let mut delivery = Delivery::queued(now);
        delivery.attempts = 1;
        let next = delivery.settle(id, &failed, now).expect("pending fails");
        assert_eq!(next.state(), MessageState::Pending);
        assert!(next.due_at > now);
        assert_eq!(next.last_error.as_deref(), Some("smtp refused"));
        delivery.attempts = MAX_ATTEMPTS;
        let dead = delivery.settle(id, &failed, now).expect("pending fails");
        assert_eq!(dead.state(), MessageState::Dead);
        assert!(dead.settle(id, &Settlement::Delivered, now).is_err());
        assert!(next.settle(id, &Settlement::Retry, now).is_err());
        let revived = dead
            .settle(id, &Settlement::Retry, now)
            .expect("dead revives");
        assert_eq!(revived.state(), MessageState::Pending);
        assert!(revived.is_claimable_at(now));
        assert_eq!(revived.attempts, 0);
    }
}
