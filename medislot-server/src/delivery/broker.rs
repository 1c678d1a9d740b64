//! The event bus: each outbox message published to NATS JetStream, so a clinic's other
//! systems subscribe instead of polling.
//!
//! A message goes to the subject `{prefix}.{kind}` (`medislot.booking.booked`) with the
//! outbox message id as its JetStream message id (`Nats-Msg-Id`), and is settled only once
//! JetStream has acknowledged storing it: at least once, and a retry inside the stream's
//! duplicate window is dropped by JetStream itself. The stream (`MEDISLOT` for the prefix
//! `medislot`) is created on first use when it is missing, on file storage, with a duplicate
//! window of an hour, longer than the outbox's automatic retries take. The body is the
//! webhook's (`{"type", "timestamp", "data"}`).

use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config, StorageType};
use async_nats::jetstream::Context;
use async_nats::{ConnectOptions, ServerAddr};
use medislot_core::OutboxMessage;
use tokio::sync::OnceCell;

/// How long JetStream remembers a message id to drop a retried publish.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(60 * 60);

/// How long a publish may wait for JetStream's acknowledgement before it counts as failed.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to NATS and the stream messages are published to.
pub struct Broker {
    /// The server, without credentials (for logs).
    shown: String,
    prefix: String,
    stream: String,
    client: async_nats::Client,
    jetstream: Context,
    /// Set once the stream is known to exist.
    stream_ready: OnceCell<()>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold credentials: only its host and port are printed.
        f.debug_struct("Broker")
            .field("server", &self.shown)
            .field("subjects", &format!("{}.>", self.prefix))
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// A broker at `url` (`nats://host:4222`, or `nats://user:password@host:4222`) publishing
    /// under `prefix` (dot-separated tokens of letters, digits, `_` and `-`). The connection is
    /// made in the background and kept up (reconnecting after an outage), so the server starts
    /// while NATS is down; publishes fail until it is back, and are retried with the outbox's
    /// backoff. Made inside a Tokio runtime.
    ///
    /// # Errors
    /// A message naming the URL or the prefix when one is unusable.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, String> {
        let prefix = prefix.trim().to_owned();
        let valid_token = |token: &str| {
            !token.is_empty()
                && token
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !prefix.split('.').all(valid_token) {
            return Err(format!(
                "NATS subject prefix {prefix:?}: dot-separated words of letters, digits, `_` \
                 and `-` (such as `medislot` or `clinic.events`)"
            ));
        }
        let address: ServerAddr = url.trim().parse().map_err(|e| format!("NATS URL: {e}"))?;
        let shown = format!("{}:{}", address.host(), address.port());
        let client = async_nats::connect_with_options(
            address,
            ConnectOptions::new()
                .name("medislot-server")
                .retry_on_initial_connect()
                .connection_timeout(Duration::from_secs(5)),
        )
        .await
        .map_err(|e| format!("NATS at {shown}: {e}"))?;
        let mut jetstream = async_nats::jetstream::new(client.clone());
        jetstream.set_timeout(ACK_TIMEOUT);
        Ok(Self {
            shown,
            stream: stream_name(&prefix),
            prefix,
            client,
            jetstream,
            stream_ready: OnceCell::new(),
        })
    }

    /// The subject a message of `kind` is published to.
    pub fn subject(&self, message: &OutboxMessage) -> String {
        format!("{}.{}", self.prefix, message.entry.kind.as_str())
    }

    /// Whether the connection to NATS is up now (it is made, and remade, in the background).
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// The JetStream stream the messages are stored in.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Publishes `message` and waits for JetStream to acknowledge it (a duplicate's
    /// acknowledgement counts: it was stored before).
    ///
    /// # Errors
    /// Why it was not stored: NATS is not connected, the stream could not be made, or no
    /// acknowledgement came in time. The caller tries again later.
    pub async fn send(&self, message: &OutboxMessage) -> Result<(), String> {
        // While disconnected a publish would only wait for its acknowledgement to time out,
        // message after message: fail at once instead.
        if !self.is_connected() {
            return Err(format!("NATS at {} is not connected", self.shown));
        }
        self.stream_ready
            .get_or_try_init(|| async {
                self.jetstream
                    .get_or_create_stream(Config {
                        name: self.stream.clone(),
                        subjects: vec![format!("{}.>", self.prefix)],
                        storage: StorageType::File,
                        duplicate_window: DUPLICATE_WINDOW,
                        ..Config::default()
                    })
                    .await
                    .map(drop)
                    .map_err(|e| format!("NATS stream {}: {e}", self.stream))
            })
            .await?;
        let id = message.entry.id.to_string();
        let ack = self
            .jetstream
            .send_publish(
                self.subject(message),
                PublishMessage::build()
                    .message_id(&id)
                    .header("MediSlot-Type", message.entry.kind.as_str())
                    .payload(super::event_body(&message.entry).into()),
            )
            .await
            .map_err(|e| format!("NATS publish: {e}"))?;
        ack.await
            .map(drop)
            .map_err(|e| format!("NATS acknowledgement: {e}"))
    }
}

/// The stream for a subject prefix: the prefix in capitals, dots and dashes as `_`
/// (`clinic.events` → `CLINIC_EVENTS`).
fn stream_name(prefix: &str) -> String {
    prefix
        .chars()
        .map(|c| match c {
            '.' | '-' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn prefixes_that_are_no_subject_and_unusable_urls_are_refused_by_name() {
        // Nothing listens on port 9; the connection is made in the background.
        assert!(Broker::connect("nats://127.0.0.1:9", "clinic.events")
            .await
            .is_ok());
        for prefix in ["", "a..b", "medi slot", "events.>", "a.*", ".a"] {
            let refused = Broker::connect("nats://127.0.0.1:9", prefix)
                .await
                .unwrap_err();
            assert!(refused.contains("prefix"), "{prefix:?}: {refused}");
        }
        let refused = Broker::connect("http://[::1", "medislot")
            .await
            .unwrap_err();
        assert!(refused.contains("NATS URL"), "{refused}");
    }

    #[test]
    fn the_stream_is_named_after_the_prefix() {
        assert_eq!(stream_name("medislot"), "MEDISLOT");
        assert_eq!(stream_name("clinic.events-v1"), "CLINIC_EVENTS_V1");
    }
}
