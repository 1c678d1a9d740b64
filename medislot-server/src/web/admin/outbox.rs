//! The outbox: the messages changes owe patients and other systems, one channel at a time, with
//! their delivery (status, attempts, next try, last error), filtered by status; a dead message
//! is retried from here. Each message shows what is (or, with the channel not configured,
//! would be) sent: the email's recipient, subject and text, or the event a webhook posts and
//! the broker publishes, so a newcomer running without SMTP, webhooks or NATS sees them.

use askama::Template;
use chrono_tz::Tz;
use medislot_core::{
    Channel, Cursor, EntryId, JournalCursor, MessageQuery, MessageState, OutboxMessage, Settlement,
};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Request, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::PAGE_SIZE;
use crate::delivery::{event_body, Preview};
use crate::state::AppState;
use crate::web::page::{
    self, parse_form, parse_query, query_string, redirect, respond, Errors, Flash, Layout,
    PageError,
};
use crate::web::time;

/// The channel the page opens on: the one a newcomer most wants to read.
const DEFAULT_CHANNEL: Channel = Channel::Email;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
struct OutboxFilters {
    channel: String,
    status: String,
    cursor: String,
    /// What the last post did: `retried` or `not_dead`.
    done: String,
}

impl OutboxFilters {
    fn query(&self, cursor: &str) -> String {
        query_string(&[
            ("channel", &self.channel),
            ("status", &self.status),
            ("cursor", cursor),
        ])
    }
}

/// A channel as the page offers it.
struct ChannelChoice {
    value: &'static str,
    label: &'static str,
}

/// A status as the page offers it.
struct StatusChoice {
    value: &'static str,
    label: &'static str,
}

/// What a message sends, as the page shows it.
enum Shown {
    /// The email: to whom, subject, plain text.
    Email(Preview),
    /// The patient has no account: nothing is emailed.
    NoRecipient,
    /// The email could not be written (why).
    Unwritten(String),
    /// The event a webhook posts and the broker publishes (pretty JSON).
    Event(String),
}

/// One message's row.
struct MessageRow {
    id: String,
    kind: &'static str,
    at: String,
    booking_id: Option<String>,
    /// `pending`, `delivered` or `dead`.
    state: &'static str,
    /// The state in words.
    state_label: &'static str,
    /// The badge's colour class.
    badge: &'static str,
    attempts: u32,
    /// When it is next tried, for a pending message.
    next_try: Option<String>,
    delivered_at: Option<String>,
    dead_at: Option<String>,
    last_error: Option<String>,
    shown: Shown,
}

#[derive(Template)]
#[template(path = "admin/outbox.html")]
struct OutboxPage {
    layout: Layout,
    channels: Vec<ChannelChoice>,
    statuses: Vec<StatusChoice>,
    /// The channel listed.
    channel: &'static str,
    channel_label: &'static str,
    /// The status filter (empty: any).
    status: String,
    /// Whether this server delivers the channel listed.
    delivered: bool,
    errors: Errors,
    rows: Vec<MessageRow>,
    next_page: Option<String>,
    first_page: Option<String>,
}

fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "Email",
        Channel::Webhook => "Webhook",
        Channel::Broker => "Broker (NATS)",
    }
}

fn state_words(state: MessageState) -> (&'static str, &'static str) {
    match state {
        MessageState::Pending => ("Waiting to be sent", "PENDING"),
        MessageState::Delivered => ("Sent", "CONFIRMED"),
        MessageState::Dead => ("Given up: retry it", "CANCELLED"),
        MessageState::Withdrawn => ("Withdrawn: no longer true, never sent", "EXPIRED"),
    }
}

fn parse_state(value: &str) -> Option<MessageState> {
    MessageState::ALL
        .into_iter()
        .find(|state| state.as_str() == value)
}

async fn row(state: &AppState, message: &OutboxMessage, tz: Tz) -> MessageRow {
    let delivery = &message.delivery;
    let entry = &message.entry;
    let message_state = delivery.state();
    let (state_label, badge) = state_words(message_state);
    let shown = match message.channel {
        Channel::Email => match Preview::of(state.engine(), state.accounts(), message).await {
            Ok(Some(preview)) => Shown::Email(preview),
            Ok(None) => Shown::NoRecipient,
            Err(why) => Shown::Unwritten(why),
        },
        Channel::Webhook | Channel::Broker => {
            let body = event_body(entry);
            let pretty = serde_json::from_str::<serde_json::Value>(&body)
                .and_then(|value| serde_json::to_string_pretty(&value))
                .unwrap_or(body);
            Shown::Event(pretty)
        }
    };
    MessageRow {
        id: entry.id.to_string(),
        kind: entry.kind.as_str(),
        at: time::when(entry.at, tz),
        booking_id: entry.booking_id.map(|id| id.to_string()),
        state: message_state.as_str(),
        state_label,
        badge,
        attempts: delivery.attempts,
        next_try: (message_state == MessageState::Pending).then(|| time::when(delivery.due_at, tz)),
        delivered_at: delivery.delivered_at.map(|at| time::when(at, tz)),
        dead_at: delivery.dead_at.map(|at| time::when(at, tz)),
        last_error: delivery.last_error.clone(),
        shown,
    }
}

/// `GET /admin/outbox`: one channel's messages, oldest first, filtered by status, with what
/// each sends.
#[handler]
pub(crate) async fn outbox_page(req: &Request, Data(state): Data<&AppState>) -> Response {
    respond(
        async {
            let caller = page::admin(state, req).await?;
            let filters: OutboxFilters = parse_query(req)?;
            let tz = page::viewer_tz(req, "");
            let mut errors = Errors::default();
            let channel = match filters.channel.trim() {
                "" => DEFAULT_CHANNEL,
                name => name.parse::<Channel>().unwrap_or_else(|_| {
                    errors.add("channel", "Choose a channel from the list.");
                    DEFAULT_CHANNEL
                }),
            };
            let status = match filters.status.trim() {
                "" => None,
                name => {
                    let parsed = parse_state(name);
                    if parsed.is_none() {
                        errors.add("status", "Choose a status from the list.");
                    }
                    parsed
                }
            };
            let flash = match filters.done.as_str() {
                "retried" => Some(Flash::ok(
                    "The message is waiting to be sent again, from its first attempt.",
                )),
                "not_dead" => Some(Flash::error(
                    "That message was not retried: only a message given up on can be.",
                )),
                _ => None,
            };
            let (rows, next) = if errors.any() {
                (Vec::new(), None)
            } else {
                let page = state
                    .engine()
                    .messages(&MessageQuery {
                        channel,
                        state: status,
                        after: JournalCursor::decode(&filters.cursor),
                        limit: PAGE_SIZE,
                    })
                    .await?;
                let mut rows = Vec::with_capacity(page.items.len());
                for message in &page.items {
                    rows.push(row(state, message, tz).await);
                }
                (rows, page.next)
            };
            let listed = OutboxFilters {
                channel: channel.as_str().to_owned(),
                status: status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                ..OutboxFilters::default()
            };
            page::page(
                if errors.any() {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::OK
                },
                &OutboxPage {
                    layout: Layout::new("Outbox", "outbox", Some(&caller), tz).with_flash(flash),
                    channels: Channel::ALL
                        .into_iter()
                        .map(|c| ChannelChoice {
                            value: c.as_str(),
                            label: channel_label(c),
                        })
                        .collect(),
                    statuses: MessageState::ALL
                        .into_iter()
                        .map(|s| StatusChoice {
                            value: s.as_str(),
                            label: state_words(s).0,
                        })
                        .collect(),
                    channel: channel.as_str(),
                    channel_label: channel_label(channel),
                    status: listed.status.clone(),
                    delivered: state.config().delivered_channels.contains(&channel),
                    errors,
                    rows,
                    next_page: next.map(|c| format!("/admin/outbox?{}", listed.query(&c.encode()))),
                    first_page: (!filters.cursor.is_empty())
                        .then(|| format!("/admin/outbox?{}", listed.query(""))),
                },
            )
        }
        .await,
    )
}

/// The retry form: the channel whose copy to retry, and the list to return to.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RetryForm {
    channel: String,
    status: String,
}

/// `GET /admin/outbox/{id}/retry`: the form's address, opened again: the outbox.
#[handler]
pub(crate) fn retry_address() -> Response {
    redirect("/admin/outbox")
}

/// `POST /admin/outbox/{id}/retry`: tries a dead message again on one channel, from its first
/// attempt, then shows the outbox again (post/redirect/get).
#[handler]
pub(crate) async fn retry_message(
    req: &Request,
    Data(state): Data<&AppState>,
    Path(id): Path<String>,
    body: Vec<u8>,
) -> Response {
    respond(
        async {
            page::admin(state, req).await?;
            let form: RetryForm = parse_form(&body)?;
            let id = Uuid::parse_str(id.trim())
                .map(EntryId::from_uuid)
                .map_err(|_| PageError::NotFound)?;
            let channel = form
                .channel
                .parse::<Channel>()
                .map_err(|_| PageError::NotFound)?;
            let status = parse_state(form.status.trim()).map_or("", MessageState::as_str);
            let back = |done: &str| {
                format!(
                    "/admin/outbox?{}",
                    query_string(&[
                        ("channel", channel.as_str()),
                        ("status", status),
                        ("done", done)
                    ])
                )
            };
            match state
                .engine()
                .settle_message(id, channel, &Settlement::Retry)
                .await
            {
                Ok(_) => {
                    tracing::info!(message = %id, %channel, "outbox message retried on the web");
                    Ok(redirect(&back("retried")))
                }
                Err(medislot_core::Error::Validation { .. }) => Ok(redirect(&back("not_dead"))),
                Err(err) => Err(err.into()),
            }
        }
        .await,
    )
}
