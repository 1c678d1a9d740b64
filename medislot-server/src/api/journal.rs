//! `/audit` and `/outbox` (admins only): the journal of every change, and the messages those
//! changes owe patients and other systems, with their delivery state.

use chrono::{DateTime, FixedOffset, Utc};
use medislot_core::{
    AccountId, Actor, BookingId, Channel, DoctorId, EntryId, JournalCursor, JournalEntry,
    JournalQuery, MessageQuery, MessageState, OutboxMessage, PatientId, Settlement,
};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::model::{decode_cursor, next_cursor, BookingStatusOut, RoleOut};
use super::ApiTags;
use crate::auth::Admin;
use crate::problem::errors::{ADMIN, CONFLICT, INVALID, NOT_FOUND};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Audit and outbox routes.
pub(crate) struct JournalApi {
    pub(crate) state: AppState,
}

/// Who made a change.
#[derive(Clone, Copy, Debug, Enum, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ActorKindOut {
    /// A patient, on their own booking.
    Patient,
    /// Clinic staff.
    Admin,
    /// MediSlot itself: a hold that lapsed, a buffer that ended.
    System,
}

/// One change, as the audit trail records it.
#[derive(Debug, Object)]
pub(crate) struct AuditEntryOut {
    /// The entry's id; for a booking change, also the id of the message sent about it.
    pub id: Uuid,
    /// When the change was committed.
    pub at: DateTime<Utc>,
    /// What happened: `doctor.created`, `doctor.profile_updated`, `doctor.hours_updated`,
    /// `doctor.deleted`,
    /// `slot.published`, `slot.withdrawn`, `booking.booked`, `booking.held`,
    /// `booking.confirmed`, `booking.cancelled_by_patient`, `booking.cancelled_by_clinic`,
    /// `booking.buffer_ended`, `booking.hold_lapsed`, `booking.rescheduled`,
    /// `booking.created_by_reschedule`, `booking.reminder`, `waitlist.joined`,
    /// `waitlist.left`, `waitlist.offer_made`, `waitlist.offer_lapsed`,
    /// `account.role_changed`, `account.password_reset_requested`, `account.password_reset`.
    pub kind: String,
    // Described on `ActorKindOut`.
    #[allow(missing_docs)]
    pub actor: ActorKindOut,
    /// The patient's or admin's account id (absent for the system, or an admin not named).
    #[oai(skip_serializing_if_is_none)]
    pub actor_id: Option<Uuid>,
    /// The doctor concerned, when known.
    #[oai(skip_serializing_if_is_none)]
    pub doctor_id: Option<Uuid>,
    /// The slot concerned.
    #[oai(skip_serializing_if_is_none)]
    pub slot_id: Option<Uuid>,
    /// The booking concerned.
    #[oai(skip_serializing_if_is_none)]
    pub booking_id: Option<Uuid>,
    /// The booking's patient.
    #[oai(skip_serializing_if_is_none)]
    pub patient_id: Option<Uuid>,
    /// The other booking of a reschedule.
    #[oai(skip_serializing_if_is_none)]
    pub related_booking_id: Option<Uuid>,
    // The booking's status before the change (absent for a new booking); a plain comment, as
    // a documented `$ref` becomes an `allOf` that client generators drop.
    #[allow(missing_docs)]
    #[oai(skip_serializing_if_is_none)]
    pub from_status: Option<BookingStatusOut>,
    // The booking's status after the change.
    #[allow(missing_docs)]
    #[oai(skip_serializing_if_is_none)]
    pub to_status: Option<BookingStatusOut>,
    /// The reason given for a cancellation.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
    /// The `X-Request-Id` of the request that made the change.
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
    /// The account concerned by an account change (a role change, a password reset).
    #[oai(skip_serializing_if_is_none)]
    pub account_id: Option<Uuid>,
    // The account's role before a role change.
    #[allow(missing_docs)]
    #[oai(skip_serializing_if_is_none)]
    pub from_role: Option<RoleOut>,
    // The account's role after a role change.
    #[allow(missing_docs)]
    #[oai(skip_serializing_if_is_none)]
    pub to_role: Option<RoleOut>,
}

impl From<&JournalEntry> for AuditEntryOut {
    fn from(entry: &JournalEntry) -> Self {
        let actor = match entry.actor {
            Actor::Patient(_) => ActorKindOut::Patient,
            Actor::Admin(_) => ActorKindOut::Admin,
            Actor::System => ActorKindOut::System,
        };
        Self {
            id: entry.id.as_uuid(),
            at: entry.at,
            kind: entry.kind.as_str().to_owned(),
            actor,
            actor_id: entry.actor.id(),
            doctor_id: entry.doctor_id.map(Into::into),
            slot_id: entry.slot_id.map(Into::into),
            booking_id: entry.booking_id.map(Into::into),
            patient_id: entry.patient_id.map(Into::into),
            related_booking_id: entry.related_booking_id.map(Into::into),
            from_status: entry.from.map(Into::into),
            to_status: entry.to.map(Into::into),
            reason: entry.reason.clone(),
            request_id: entry.request_id.clone(),
            account_id: entry.account_id.map(|id| id.as_uuid()),
            from_role: entry.from_role.map(RoleOut::from),
            to_role: entry.to_role.map(RoleOut::from),
        }
    }
}

/// A page of the audit trail.
#[derive(Debug, Object)]
pub(crate) struct AuditPage {
    /// The entries, oldest first.
    pub items: Vec<AuditEntryOut>,
    /// Pass as `cursor` to read the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// Where a message's delivery stands.
#[derive(Clone, Copy, Debug, Enum, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub(crate) enum MessageStateOut {
    /// Waiting to be delivered (now or after a backoff).
    Pending,
    /// Delivered.
    Delivered,
    /// Given up on after its last attempt; an admin may retry it.
    Dead,
    /// Withdrawn unsent for good, because what it told of no longer holds (the reminder of a
    /// booking cancelled or moved since).
    Withdrawn,
}

impl From<MessageStateOut> for MessageState {
    fn from(state: MessageStateOut) -> Self {
        match state {
            MessageStateOut::Pending => MessageState::Pending,
            MessageStateOut::Delivered => MessageState::Delivered,
            MessageStateOut::Dead => MessageState::Dead,
            MessageStateOut::Withdrawn => MessageState::Withdrawn,
        }
    }
}

impl From<MessageState> for MessageStateOut {
    fn from(state: MessageState) -> Self {
        match state {
            MessageState::Pending => MessageStateOut::Pending,
            MessageState::Delivered => MessageStateOut::Delivered,
            MessageState::Dead => MessageStateOut::Dead,
            MessageState::Withdrawn => MessageStateOut::Withdrawn,
        }
    }
}

/// A way messages leave: each channel delivers its own copy of a message, and keeps its own
/// delivery state of it.
#[derive(Clone, Copy, Debug, Enum, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ChannelOut {
    /// Signed `POST`s to the configured webhooks.
    Webhook,
    /// Emails to the booking's patient.
    Email,
    /// Messages published to NATS JetStream, for systems that subscribe.
    Broker,
}

impl From<ChannelOut> for Channel {
    fn from(channel: ChannelOut) -> Self {
        match channel {
            ChannelOut::Webhook => Channel::Webhook,
            ChannelOut::Email => Channel::Email,
            ChannelOut::Broker => Channel::Broker,
        }
    }
}

impl From<Channel> for ChannelOut {
    fn from(channel: Channel) -> Self {
        match channel {
            Channel::Webhook => ChannelOut::Webhook,
            Channel::Email => ChannelOut::Email,
            Channel::Broker => ChannelOut::Broker,
        }
    }
}

/// A message in the outbox: the change it tells of, and its delivery on one channel.
#[derive(Debug, Object)]
pub(crate) struct MessageOut {
    /// The message's id (the journal entry's): stable across retries, so receivers can drop
    /// a message delivered twice.
    pub id: Uuid,
    // Described on `ChannelOut`.
    #[allow(missing_docs)]
    pub channel: ChannelOut,
    // The change it tells of.
    #[allow(missing_docs)]
    pub entry: AuditEntryOut,
    // Described on `MessageStateOut`.
    #[allow(missing_docs)]
    pub state: MessageStateOut,
    /// How many times delivery was tried.
    pub attempts: u32,
    /// When it is next due, while pending.
    pub due_at: DateTime<Utc>,
    /// When it was delivered.
    #[oai(skip_serializing_if_is_none)]
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was given up on.
    #[oai(skip_serializing_if_is_none)]
    pub dead_at: Option<DateTime<Utc>>,
    /// When it was withdrawn unsent.
    #[oai(skip_serializing_if_is_none)]
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Why the last try failed.
    #[oai(skip_serializing_if_is_none)]
    pub last_error: Option<String>,
}

impl From<&OutboxMessage> for MessageOut {
    fn from(message: &OutboxMessage) -> Self {
        let delivery = &message.delivery;
        Self {
            id: message.entry.id.as_uuid(),
            channel: message.channel.into(),
            entry: AuditEntryOut::from(&message.entry),
            state: delivery.state().into(),
            attempts: delivery.attempts,
            due_at: delivery.due_at,
            delivered_at: delivery.delivered_at,
            dead_at: delivery.dead_at,
            withdrawn_at: delivery.withdrawn_at,
            last_error: delivery.last_error.clone(),
        }
    }
}

/// A page of outbox messages.
#[derive(Debug, Object)]
pub(crate) struct MessagePage {
    /// The messages, oldest first.
    pub items: Vec<MessageOut>,
    /// Pass as `cursor` to read the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
enum AuditList {
    /// A page of the audit trail; follow `next_cursor` for the next.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<AuditPage>),
}

#[derive(ApiResponse)]
enum MessageList {
    /// A page of outbox messages; follow `next_cursor` for the next.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<MessagePage>),
}

#[derive(ApiResponse)]
enum Retried {
    /// The message is pending again, due at once, from its first attempt.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<MessageOut>),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Audit")]
impl JournalApi {
    /// The audit trail, oldest first: every change to doctors, slots, bookings and the
    /// waitlist, every role change and password reset, who made it, when, from which status
    /// (or role) to which, why, and under which request. Entries are never
    /// changed or removed.
    #[oai(path = "/audit", method = "get", operation_id = "list_audit_entries")]
    #[allow(clippy::too_many_arguments)]
    async fn audit(
        &self,
        _admin: Admin,
        /// Only entries about this booking.
        booking_id: Query<Option<Uuid>>,
        /// Only entries about this patient's bookings.
        patient_id: Query<Option<Uuid>>,
        /// Only entries about this doctor (their profile, slots and bookings).
        doctor_id: Query<Option<Uuid>>,
        /// Only entries by this kind of actor.
        actor: Query<Option<ActorKindOut>>,
        /// With `actor` = `patient` or `admin`: only this account's entries.
        actor_id: Query<Option<Uuid>>,
        /// Only entries about this account (its role changes and password resets).
        account_id: Query<Option<Uuid>>,
        /// Only entries at or after this instant (RFC 3339; write `+` as `%2B`).
        from: Query<Option<DateTime<FixedOffset>>>,
        /// Only entries before this instant (RFC 3339; write `+` as `%2B`).
        to: Query<Option<DateTime<FixedOffset>>>,
        /// Page size.
        #[oai(
            default = "super::model::default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u32>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<AuditList, ApiError<{ ADMIN | INVALID }>> {
        let actor = match (actor.0, actor_id.0) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(
                    Problem::validation("actor_id", "needs `actor` (patient or admin)").into(),
                )
            }
            (Some(ActorKindOut::System), Some(_)) => {
                return Err(Problem::validation("actor_id", "the system has no id").into())
            }
            (Some(ActorKindOut::System), None) => Some(Actor::System),
            (Some(ActorKindOut::Admin), id) => Some(Actor::Admin(id.map(AccountId::from_uuid))),
            (Some(ActorKindOut::Patient), Some(id)) => {
                Some(Actor::Patient(PatientId::from_uuid(id)))
            }
            (Some(ActorKindOut::Patient), None) => {
                return Err(
                    Problem::validation("actor_id", "is needed with `actor` = patient").into(),
                )
            }
        };
        let query = JournalQuery {
            booking_id: booking_id.0.map(BookingId::from_uuid),
            patient_id: patient_id.0.map(PatientId::from_uuid),
            doctor_id: doctor_id.0.map(DoctorId::from_uuid),
            actor,
            account_id: account_id.0.map(AccountId::from_uuid),
            from: from.0.map(|t| t.with_timezone(&Utc)),
            to: to.0.map(|t| t.with_timezone(&Utc)),
            after: decode_cursor::<JournalCursor>(cursor.0.as_deref())?,
            limit: limit.0,
        };
        let page = self.state.engine().journal(&query).await?;
        Ok(AuditList::Ok(Json(AuditPage {
            next_cursor: next_cursor(&page),
            items: page.items.iter().map(AuditEntryOut::from).collect(),
        })))
    }

    /// The outbox, oldest first: the messages changes owe patients and other systems, with
    /// their delivery state. With no delivery channel configured they stay pending here, so
    /// you can see what would have been sent.
    #[oai(
        path = "/outbox",
        method = "get",
        operation_id = "list_outbox_messages"
    )]
    async fn outbox(
        &self,
        _admin: Admin,
        /// The channel whose deliveries to list (`webhook` when left out).
        channel: Query<Option<ChannelOut>>,
        /// Only messages in this state.
        state: Query<Option<MessageStateOut>>,
        /// Page size.
        #[oai(
            default = "super::model::default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u32>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<MessageList, ApiError<{ ADMIN | INVALID }>> {
        let query = MessageQuery {
            channel: channel.0.unwrap_or(ChannelOut::Webhook).into(),
            state: state.0.map(Into::into),
            after: decode_cursor::<JournalCursor>(cursor.0.as_deref())?,
            limit: limit.0,
        };
        let page = self.state.engine().messages(&query).await?;
        Ok(MessageList::Ok(Json(MessagePage {
            next_cursor: next_cursor(&page),
            items: page.items.iter().map(MessageOut::from).collect(),
        })))
    }

    /// Tries a dead message again on one channel, from its first attempt, at once.
    #[oai(
        path = "/outbox/:id/retry",
        method = "post",
        operation_id = "retry_outbox_message"
    )]
    async fn retry(
        &self,
        _admin: Admin,
        /// The message's id.
        id: Path<Uuid>,
        /// The channel to try it on again (`webhook` when left out).
        channel: Query<Option<ChannelOut>>,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<Retried, ApiError<{ ADMIN | NOT_FOUND | CONFLICT | INVALID }>> {
        let message = self
            .state
            .engine()
            .settle_message(
                EntryId::from_uuid(id.0),
                channel.0.unwrap_or(ChannelOut::Webhook).into(),
                &Settlement::Retry,
            )
            .await
            .map_err(|err| match err {
                medislot_core::Error::Validation { .. } => Problem::new(
                    poem::http::StatusCode::CONFLICT,
                    "message_not_dead",
                    "only a dead message can be retried",
                ),
                other => Problem::from(other),
            })?;
        Ok(Retried::Ok(Json(MessageOut::from(&message))))
    }
}
