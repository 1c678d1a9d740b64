//! The outbox's promises, proven on PostgreSQL with the server binary as separate processes and
//! a webhook receiver that counts what it is sent, per message id:
//!
//! - killed with SIGKILL while it delivers under a booking rush and started again, the server
//!   delivers every committed transition's message, and none for a refused booking;
//! - two instances on one database deliver a rush's messages with no message sent by both,
//!   and never one message by two at the same time (the receiver holds each request open a
//!   moment and watches for a second copy arriving meanwhile).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use medislot_core::{
    BookingEngine, BookingQuery, Channel, MessageQuery, MessageState, NewDoctor, OutboxMessage,
    SlotId, TimeRange,
};
use medislot_pg::{PgStore, Pooler};
use poem::http::{HeaderMap, StatusCode};
use poem::listener::TcpAcceptor;
use poem::web::{Data, Path};
use poem::{handler, EndpointExt, Route};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::process::{request, Server};

const ADMIN_EMAIL: &str = "root@clinic.example";
const ADMIN_PASSWORD: &str = "bootstrap-password";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// Sends per message id.
    sends: HashMap<String, usize>,
    /// Sends per instance (the path the instance posts to).
    per_instance: HashMap<String, usize>,
    /// Requests open now, per message id.
    open: HashMap<String, usize>,
    /// Requests open now, in all.
    open_now: usize,
    /// The most requests open at once.
    most_open: usize,
    /// Message ids that arrived while a copy of them was still open.
    overlaps: Vec<String>,
    /// Each message's body.
    bodies: HashMap<String, Value>,
}

struct Receiver {
    seen: Mutex<Seen>,
    /// How long each request is held open before it is answered.
    hold: Duration,
}

#[handler]
async fn receive(
    Path(instance): Path<String>,
    headers: &HeaderMap,
    body: String,
    Data(receiver): Data<&Arc<Receiver>>,
) -> StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    {
        let mut seen = receiver.seen.lock().unwrap();
        let open = seen.open.entry(id.clone()).or_default();
        *open += 1;
        if *open > 1 {
            seen.overlaps.push(id.clone());
        }
        seen.open_now += 1;
        seen.most_open = seen.most_open.max(seen.open_now);
        *seen.sends.entry(id.clone()).or_default() += 1;
        *seen.per_instance.entry(instance).or_default() += 1;
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        seen.bodies.insert(id.clone(), body);
    }
    tokio::time::sleep(receiver.hold).await;
    let mut seen = receiver.seen.lock().unwrap();
    *seen.open.get_mut(&id).expect("opened above") -= 1;
    seen.open_now -= 1;
    StatusCode::NO_CONTENT
}

/// A receiver on a free loopback port; instance `name` posts to `{base}/{name}`.
async fn receiver(hold: Duration) -> (Arc<Receiver>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = Arc::new(Receiver {
        seen: Mutex::default(),
        hold,
    });
    let app = Route::new()
        .at("/hook/:instance", receive)
        .data(receiver.clone());
    tokio::spawn(
        poem::Server::new_with_acceptor(TcpAcceptor::from_tokio(listener).unwrap()).run(app),
    );
    (receiver, format!("http://127.0.0.1:{port}/hook"))
}

/// The URL the server binary opens the test's database with.
fn database_url(store: &PgStore) -> String {
    let options = store.pool().connect_options();
    let database = options.get_database().expect("a test database");
    let mut url = match options.get_socket() {
        Some(folder) => format!(
            "postgres://{}@localhost:{}/{database}?host={}",
            options.get_username(),
            options.get_port(),
            folder.display()
        ),
        None => format!(
            "postgres://{}@{}:{}/{database}?",
            options.get_username(),
            options.get_host(),
            options.get_port()
        ),
    };
    if store.pooler() != Pooler::None {
        url.push_str(&format!("&pooler={}", store.pooler().as_str()));
    }
    url
}

/// A fresh database with a doctor and `count` slots, published before any server opens it.
async fn clinic(count: usize) -> (PgStore, Vec<SlotId>) {
    let store = medislot_pg::testing::fresh_store().await;
    let engine = BookingEngine::new(Arc::new(store.clone()));
    let doctor = engine
        .create_doctor(NewDoctor::new("Dr Rush", "Cardiology", "Europe/Paris").unwrap())
        .await
        .unwrap();
    let first = Utc::now() + chrono::Duration::days(1);
    let ranges: Vec<TimeRange> = (0..count as i64)
        .map(|i| {
            let start = first + chrono::Duration::minutes(15 * i);
            TimeRange::new(start, start + chrono::Duration::minutes(15)).unwrap()
        })
        .collect();
    let slots = engine.publish_slots(doctor.id, &ranges).await.unwrap();
    (store, slots.into_iter().map(|s| s.id).collect())
}

/// Starts the server binary on `url`, posting webhooks to `hook`.
fn start(url: &str, hook: &str, lease_secs: &str) -> Server {
    Server::start(
        &[
            "--database-url",
            url,
            "--webhook-url",
            hook,
            "--delivery-interval-secs",
            "1",
            "--delivery-lease-secs",
            lease_secs,
            // Reminders fall due a day before each slot, long after this proof ends: it
            // counts the messages of the transitions themselves.
            "--reminder-lead-minutes",
            "0",
        ],
        &[
            ("MEDISLOT_ADMIN_EMAIL", ADMIN_EMAIL),
            ("MEDISLOT_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("MEDISLOT_WEBHOOK_SECRET", SECRET),
            (
                "MEDISLOT_SESSION_SECRET",
                "two-instances-share-this-secret-0123456789",
            ),
            // Every patient signs up from 127.0.0.1.
            ("MEDISLOT_AUTH_ATTEMPTS_PER_MINUTE", "0"),
        ],
    )
}

/// Registers `count` patients through `server` and signs each in.
fn patients(server: &Server, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let email = format!("patient{i}@example.com");
            let body = json!({ "email": email, "password": "patient-password", "name": "P" });
            let reply = server
                .request("POST", "/api/v1/auth/register", None, &body.to_string())
                .expect("an answer");
            assert_eq!(reply.status, 201, "{reply:?}");
            let body = json!({ "email": email, "password": "patient-password" });
            let reply = server
                .request("POST", "/api/v1/auth/login", None, &body.to_string())
                .expect("an answer");
            assert_eq!(reply.status, 200, "{reply:?}");
            reply.json()["token"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// What a rush got answered: the bookings made (201), refusals (409), cancels (200).
#[derive(Default)]
struct Answered {
    booked: Mutex<Vec<Uuid>>,
    refused: AtomicUsize,
    cancelled: AtomicUsize,
}

/// Each patient (a thread) walks the slots in the same order, so they race for each one,
/// through the server on `ports[i % len]`, and cancels every fifth booking it makes. A thread
/// stops when its server is gone.
fn rush(
    ports: Vec<u16>,
    tokens: Vec<String>,
    slots: Arc<Vec<SlotId>>,
    answered: Arc<Answered>,
) -> Vec<std::thread::JoinHandle<()>> {
    tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let port = ports[i % ports.len()];
            let (slots, answered) = (Arc::clone(&slots), Arc::clone(&answered));
            std::thread::spawn(move || {
                let mut mine = 0;
                for slot in slots.iter() {
                    let body = json!({ "slot_id": slot }).to_string();
                    let Some(reply) =
                        request(port, "POST", "/api/v1/bookings", Some(&token), &body)
                    else {
                        return;
                    };
                    match reply.status {
                        201 => {
                            let id: Uuid = reply.json()["id"].as_str().unwrap().parse().unwrap();
                            answered.booked.lock().unwrap().push(id);
                            mine += 1;
                            if mine % 5 == 0 {
                                let path = format!("/api/v1/bookings/{id}/cancel");
                                let Some(reply) = request(port, "POST", &path, Some(&token), "{}")
                                else {
                                    return;
                                };
                                assert_eq!(reply.status, 200, "{reply:?}");
                                answered.cancelled.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        409 => {
                            answered.refused.fetch_add(1, Ordering::SeqCst);
                        }
                        other => panic!("a booking answered {other}: {}", reply.body),
                    }
                }
            })
        })
        .collect()
}

/// Every webhook copy in the outbox, read straight from the database.
async fn webhook_messages(engine: &BookingEngine) -> Vec<OutboxMessage> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = engine
            .messages(&MessageQuery {
                channel: Channel::Webhook,
                state: None,
                after,
                limit: 500,
            })
            .await
            .unwrap();
        all.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
}

/// Waits until no webhook message is pending; fails after `limit`.
async fn until_all_delivered(engine: &BookingEngine, limit: Duration) {
    let started = Instant::now();
    loop {
        let pending = webhook_messages(engine)
            .await
            .iter()
            .filter(|m| m.delivery.state() != MessageState::Delivered)
            .count();
        if pending == 0 {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{pending} messages still pending after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn join(threads: Vec<std::thread::JoinHandle<()>>) {
    tokio::task::spawn_blocking(move || {
        for thread in threads {
            thread.join().expect("a rush thread panicked");
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_while_delivering_loses_no_committed_message_and_sends_none_for_a_refusal() {
    // Enough for the rush to outlast the first deliveries: with 150, a booking path that got
    // faster booked every slot before ten messages were sent (CI, 2026-12-01).
    const SLOTS: usize = 300;
    let (store, slots) = clinic(SLOTS).await;
    let url = database_url(&store);
    let engine = BookingEngine::new(Arc::new(store.clone()));
    // Each request is held a moment, so deliveries trail the rush and are in flight when the
    // server is killed.
    let (receiver, hook) = receiver(Duration::from_millis(15)).await;
    let hook = format!("{hook}/only");
    // A short lease: the killed server's claims lapse within the test.
    let server = start(&url, &hook, "5");
    let tokens = patients(&server, 6);
    let answered = Arc::new(Answered::default());
    let threads = rush(
        vec![server.port],
        tokens,
        Arc::new(slots.clone()),
        answered.clone(),
    );

    // Kill it mid-rush, once deliveries are under way.
    let started = Instant::now();
    loop {
        let sent: usize = receiver.seen.lock().unwrap().sends.len();
        let booked = answered.booked.lock().unwrap().len();
        if sent >= 10 && booked >= SLOTS / 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the rush stalled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    join(threads).await;
    let pending_at_kill = webhook_messages(&engine)
        .await
        .iter()
        .filter(|m| m.delivery.state() == MessageState::Pending)
        .count();
    assert!(
        pending_at_kill > 0,
        "the kill came while messages were waiting"
    );
    assert!(
        answered.booked.lock().unwrap().len() < SLOTS,
        "the kill came before the rush ended"
    );

    // Started again, it delivers everything the first left.
    let server = start(&url, &hook, "5");
    until_all_delivered(&engine, Duration::from_secs(40)).await;
    drop(server);

    let queued = webhook_messages(&engine).await;
    let queued_ids: HashSet<String> = queued.iter().map(|m| m.entry.id.to_string()).collect();
    // What the receiver saw, taken whole: no lock is held across the reads below.
    let seen = std::mem::take(&mut *receiver.seen.lock().unwrap());
    let received: HashSet<String> = seen.sends.keys().cloned().collect();
    assert_eq!(
        received, queued_ids,
        "the receiver got exactly the committed transitions' messages"
    );
    // Every booking the rush was answered 201 for was announced, and the number of
    // `booking.booked` messages is the number of bookings stored: a refused one has none.
    let booked_messages: HashSet<String> = seen
        .bodies
        .values()
        .filter(|body| body["type"] == "booking.booked")
        .map(|body| body["data"]["booking_id"].as_str().unwrap().to_owned())
        .collect();
    for id in answered.booked.lock().unwrap().iter() {
        assert!(
            booked_messages.contains(&id.to_string()),
            "booking {id} (answered 201) was never announced"
        );
    }
    let stored = engine
        .bookings(&BookingQuery {
            limit: 500,
            ..BookingQuery::default()
        })
        .await
        .unwrap()
        .items
        .len();
    assert_eq!(booked_messages.len(), stored);
    assert!(
        answered.refused.load(Ordering::SeqCst) > 0,
        "the rush raced"
    );
    let cancels = seen
        .bodies
        .values()
        .filter(|body| body["type"] == "booking.cancelled_by_patient")
        .count();
    assert!(cancels >= answered.cancelled.load(Ordering::SeqCst));
    eprintln!(
        "{} messages, {} sends ({} again after the kill), {} refused bookings",
        queued.len(),
        seen.sends.values().sum::<usize>(),
        seen.sends.values().filter(|n| **n > 1).count(),
        answered.refused.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_never_send_one_message_both() {
    const SLOTS: usize = 200;
    let (store, slots) = clinic(SLOTS).await;
    let url = database_url(&store);
    let engine = BookingEngine::new(Arc::new(store.clone()));
    // Each request is held open long enough for the other instance to send the same message
    // meanwhile, if it could.
    let (receiver, hook) = receiver(Duration::from_millis(20)).await;
    let first = start(&url, &format!("{hook}/first"), "120");
    let second = start(&url, &format!("{hook}/second"), "120");
    let tokens = patients(&first, 6);
    let answered = Arc::new(Answered::default());
    let threads = rush(
        vec![first.port, second.port],
        tokens,
        Arc::new(slots),
        answered.clone(),
    );
    join(threads).await;
    until_all_delivered(&engine, Duration::from_secs(40)).await;
    drop((first, second));

    let queued = webhook_messages(&engine).await;
    // What the receiver saw, taken whole: no lock is held across the reads below.
    let seen = std::mem::take(&mut *receiver.seen.lock().unwrap());
    assert!(
        seen.overlaps.is_empty(),
        "sent by both at once: {:?}",
        seen.overlaps
    );
    for message in &queued {
        let id = message.entry.id.to_string();
        assert_eq!(
            seen.sends.get(&id).copied(),
            Some(1),
            "{} {id} was sent once",
            message.entry.kind
        );
    }
    assert_eq!(seen.sends.len(), queued.len());
    // The proof could have failed: both instances delivered, at the same time.
    let first_sent = seen.per_instance.get("first").copied().unwrap_or(0);
    let second_sent = seen.per_instance.get("second").copied().unwrap_or(0);
    assert!(
        first_sent > 0 && second_sent > 0,
        "both instances delivered: {first_sent} and {second_sent}"
    );
    assert!(seen.most_open >= 2, "the instances delivered side by side");
    eprintln!(
        "{} messages: {first_sent} sent by the first instance, {second_sent} by the second",
        queued.len()
    );
}
