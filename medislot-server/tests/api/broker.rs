//! Publishing the outbox to NATS JetStream: a subscriber sees every event of a booking's life
//! at least once, under its outbox id (`Nats-Msg-Id`, so JetStream drops a republished
//! message), and what is queued while the broker is down arrives once it is back.
//!
//! Each test starts its own `nats-server` on a free port with its own storage folder, so it
//! disturbs no other NATS. Without `nats-server` installed the tests say so and pass, unless
//! `MEDISLOT_REQUIRE_NATS=1`, when they fail.

use std::collections::HashMap;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::pull;
use chrono::Duration as Span;
use medislot_core::{Channel, MessageQuery, MessageState, OutboxMessage};
use medislot_server::delivery::{deliver_due, Broker, Round};
use serde_json::{json, Value};

use crate::process::free_port;
use crate::{uuid_of, As, TestApp};

const PREFIX: &str = "medislot-test";
const STREAM: &str = "MEDISLOT_TEST";

/// A `nats-server` with JetStream of this test's own, on a free loopback port, storing in a
/// temporary folder that outlives restarts. Killed when dropped.
pub(crate) struct NatsServer {
    binary: String,
    child: Option<Child>,
    pub(crate) port: u16,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts one; `None` (and a note) when `nats-server` is not installed, unless
    /// `MEDISLOT_REQUIRE_NATS=1`, when that is a failure.
    pub(crate) fn start() -> Option<NatsServer> {
        let required = std::env::var("MEDISLOT_REQUIRE_NATS").is_ok_and(|v| v == "1");
        let candidates = std::env::var("MEDISLOT_NATS_SERVER").into_iter().chain(
            [
                "nats-server",
                "/usr/sbin/nats-server",
                "/usr/bin/nats-server",
            ]
            .map(str::to_owned),
        );
        let binary = candidates.into_iter().find(|binary| {
            Command::new(binary)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        let Some(binary) = binary else {
            assert!(
                !required,
                "MEDISLOT_REQUIRE_NATS=1 but no nats-server was found (apt-get install \
                 nats-server, or set MEDISLOT_NATS_SERVER to its path)"
            );
            eprintln!("nats-server is not installed: the broker test is left out");
            return None;
        };
        let mut server = NatsServer {
            binary,
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("a storage folder"),
        };
        server.run();
        Some(server)
    }

    fn run(&mut self) {
        let child = Command::new(&self.binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nats-server never listened"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (its stored messages stay in its folder).
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and folder.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a JetStream subscriber reads from the stream, from its start: each message's
/// `Nats-Msg-Id`, subject and body, in stream order.
async fn subscriber_reads(url: &str) -> Vec<(String, String, Value)> {
    let client = async_nats::connect(url)
        .await
        .expect("the subscriber connects");
    let jetstream = async_nats::jetstream::new(client);
    let stream = jetstream
        .get_stream(STREAM)
        .await
        .expect("the stream exists");
    let consumer = stream
        .create_consumer(pull::Config::default())
        .await
        .expect("a consumer");
    let mut read = Vec::new();
    loop {
        use futures::StreamExt as _;
        let mut batch = consumer
            .fetch()
            .max_messages(500)
            .messages()
            .await
            .expect("a fetch");
        let before = read.len();
        while let Some(message) = batch.next().await {
            let message = message.expect("a message");
            let id = message
                .headers
                .as_ref()
                .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_else(|| panic!("no Nats-Msg-Id: {:?}", message.headers));
            let body: Value = serde_json::from_slice(&message.payload).expect("a JSON body");
            read.push((id, message.subject.to_string(), body));
            message.ack().await.expect("acked");
        }
        if read.len() == before {
            return read;
        }
    }
}

/// Every broker copy in the outbox.
async fn broker_messages(app: &TestApp) -> Vec<OutboxMessage> {
    app.state
        .engine()
        .messages(&MessageQuery {
            channel: Channel::Broker,
            state: None,
            after: None,
            limit: 500,
        })
        .await
        .unwrap()
        .items
}

/// Delivers until no broker message is pending (the client may still be connecting, or
/// JetStream starting: a try that fails waits out its backoff on the test's clock). Fails
/// after 30 s.
async fn deliver_everything(app: &TestApp, broker: &Broker) {
    let started = Instant::now();
    loop {
        deliver_due(&app.state, broker).await.unwrap();
        let pending = broker_messages(app)
            .await
            .into_iter()
            .filter(|m| m.delivery.state() != MessageState::Delivered)
            .count();
        if pending == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{pending} messages never reached NATS"
        );
        app.clock.advance(Span::hours(2));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn every_event_of_a_bookings_life_reaches_a_jetstream_subscriber_under_its_id() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(3).await;
    let patient = app.patient().await;
    // Held, confirmed, moved, cancelled by the patient; another booked and cancelled by the
    // clinic.
    let held = uuid_of(&app.hold(&patient, slots[0]).await.expect(201)["id"]);
    app.confirm(&patient, held).await.expect(200);
    let moved = app
        .post(
            &format!("/api/v1/bookings/{held}/reschedule"),
            As::Bearer(&patient),
            json!({ "slot_id": slots[1] }),
        )
        .await;
    let moved = uuid_of(&moved.expect(201)["id"]);
    app.post(
        &format!("/api/v1/bookings/{moved}/cancel"),
        As::Bearer(&patient),
        json!({ "reason": "better" }),
    )
    .await
    .expect(200);
    let booked = uuid_of(&app.book(&patient, slots[2]).await.expect(201)["id"]);
    app.post(
        &format!("/api/v1/bookings/{booked}/cancel"),
        As::Bearer(&admin),
        json!({ "reason": "the doctor is ill" }),
    )
    .await
    .expect(200);

    let broker = Broker::connect(&nats.url(), PREFIX).await.unwrap();
    assert_eq!(broker.stream(), STREAM);
    deliver_everything(&app, &broker).await;
    let queued = broker_messages(&app).await;
    let kinds: Vec<&str> = queued.iter().map(|m| m.entry.kind.as_str()).collect();
    for kind in [
        "booking.held",
        "booking.confirmed",
        "booking.rescheduled",
        "booking.cancelled_by_patient",
        "booking.booked",
        "booking.cancelled_by_clinic",
    ] {
        assert!(kinds.contains(&kind), "{kind} was queued: {kinds:?}");
    }

    // Published again (a deliverer that died before recording the delivery): JetStream drops
    // it by its id.
    broker.send(&queued[0]).await.unwrap();

    let read = subscriber_reads(&nats.url()).await;
    let by_id: HashMap<&str, (&str, &Value)> = read
        .iter()
        .map(|(id, subject, body)| (id.as_str(), (subject.as_str(), body)))
        .collect();
    assert_eq!(
        read.len(),
        queued.len(),
        "one stored message per id: {read:?}"
    );
    for message in &queued {
        let id = message.entry.id.to_string();
        let kind = message.entry.kind.as_str();
        let (subject, body) = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{kind} {id} never reached the subscriber"));
        assert_eq!(*subject, format!("{PREFIX}.{kind}"));
        assert_eq!(body["type"], kind);
        assert_eq!(body["data"]["id"], id);
    }
}

async fn events_queued_while_the_broker_is_down_arrive_once_it_is_back() {
    let Some(mut nats) = NatsServer::start() else {
        return;
    };
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(2).await;
    let patient = app.patient().await;
    let first = uuid_of(&app.book(&patient, slots[0]).await.expect(201)["id"]);
    let broker = Broker::connect(&nats.url(), PREFIX).await.unwrap();
    deliver_everything(&app, &broker).await;

    nats.stop();
    app.post(
        &format!("/api/v1/bookings/{first}/cancel"),
        As::Bearer(&patient),
        json!({}),
    )
    .await
    .expect(200);
    app.book(&patient, slots[1]).await.expect(201);
    let started = Instant::now();
    while broker.is_connected() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the client never noticed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // While NATS is down nothing is claimed, so the outage spends no attempt; a publish tried
    // anyway fails at once, saying why.
    assert_eq!(
        deliver_due(&app.state, &broker).await.unwrap(),
        Round::default()
    );
    let waiting: Vec<OutboxMessage> = broker_messages(&app)
        .await
        .into_iter()
        .filter(|m| m.delivery.state() == MessageState::Pending)
        .collect();
    assert_eq!(waiting.len(), 2);
    assert!(waiting.iter().all(|m| m.delivery.attempts == 0));
    let error = broker.send(&waiting[0]).await.unwrap_err();
    assert!(
        error.contains("NATS") && error.contains("not connected"),
        "{error}"
    );

    nats.restart();
    deliver_everything(&app, &broker).await;
    let read = subscriber_reads(&nats.url()).await;
    let ids: Vec<&str> = read.iter().map(|(id, _, _)| id.as_str()).collect();
    for message in broker_messages(&app).await {
        let id = message.entry.id.to_string();
        assert!(
            ids.contains(&id.as_str()),
            "{} {id} is missing after the restart: {ids:?}",
            message.entry.kind
        );
    }
    assert_eq!(
        read.len(),
        3,
        "the first, kept across the restart, and two more"
    );
}

crate::on_every_store!(
    every_event_of_a_bookings_life_reaches_a_jetstream_subscriber_under_its_id,
    events_queued_while_the_broker_is_down_arrive_once_it_is_back,
);
