//! A `COMMIT` whose answer is lost. A relay between the store and PostgreSQL forwards every byte
//! until it is armed; then, on the first client message that holds `COMMIT`, it cuts the
//! connection either after forwarding it (the database commits, the store never hears so) or
//! before (the database never sees it and rolls back). Whatever happened, a booking is never
//! answered with an error while it is stored, nor stored twice.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medislot_core::testkit::Fixture;
use medislot_core::{
    BookingEngine, BookingStatus, Error, IdempotencyKey, PatientId, SlotId, StoreError,
};
use medislot_pg::testing::{fresh_store, test_server};
use medislot_pg::{PgStore, PgStoreOptions};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UnixStream};

/// Where the relay cuts, once armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    /// Drops the message holding `COMMIT` and closes both sides.
    BeforeCommit,
    /// Forwards the message holding `COMMIT`, then closes the client's side at once; the
    /// database's answer is read and thrown away.
    AfterCommit,
    /// As [`Cut::AfterCommit`], and from then on the database is out of reach: new connections
    /// are closed at once, until [`Relay::refuse`] says otherwise.
    AfterCommitThenDown,
}

/// What the relay connects to: the test server, over TCP or its Unix socket.
#[derive(Clone, Debug)]
enum Upstream {
    Tcp(String, u16),
    Unix(PathBuf),
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

impl Upstream {
    fn of(options: &PgConnectOptions) -> Upstream {
        let port = options.get_port();
        match options.get_socket() {
            Some(dir) => Upstream::Unix(dir.join(format!(".s.PGSQL.{port}"))),
            None if options.get_host().starts_with('/') => {
                Upstream::Unix(PathBuf::from(options.get_host()).join(format!(".s.PGSQL.{port}")))
            }
            None => Upstream::Tcp(options.get_host().to_owned(), port),
        }
    }

    async fn connect(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(match self {
            Upstream::Tcp(host, port) => {
                let stream = TcpStream::connect((host.as_str(), *port)).await?;
                stream.set_nodelay(true)?;
                Box::new(stream)
            }
            Upstream::Unix(path) => Box::new(UnixStream::connect(path).await?),
        })
    }
}

/// A relay on a loopback port. Stops accepting when dropped.
struct Relay {
    port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    /// The cut the next `COMMIT` gets; taken by the connection that meets it.
    armed: Mutex<Option<Cut>>,
    /// Whether an armed cut was made.
    fired: AtomicBool,
    /// While set, new connections are closed at once (the database is out of reach).
    refusing: AtomicBool,
}

impl Relay {
    async fn start(upstream: Upstream) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let task = {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    if shared.refusing.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let (shared, upstream) = (Arc::clone(&shared), upstream.clone());
                    tokio::spawn(async move {
                        if let Ok(server) = upstream.connect().await {
                            let _ = client.set_nodelay(true);
                            relay(client, server, &shared).await;
                        }
                    });
                }
            })
        };
        Relay { port, shared, task }
    }

    fn arm(&self, cut: Cut) {
        *self.shared.armed.lock().unwrap() = Some(cut);
    }

    fn fired(&self) -> bool {
        self.shared.fired.load(Ordering::SeqCst)
    }

    fn refuse(&self, refusing: bool) {
        self.shared.refusing.store(refusing, Ordering::SeqCst);
    }

    /// A store whose connections all go through the relay (no TLS, so it sees the SQL).
    async fn store(&self, direct: &PgStore, options: PgStoreOptions) -> PgStore {
        let direct = direct.pool().connect_options();
        let through = match direct.get_socket() {
            // Options naming a Unix socket connect there whatever their host says: start from
            // options without one (a socket's authentication needs no password).
            Some(_) => {
                let fresh = PgConnectOptions::new_without_pgpass().username(direct.get_username());
                match direct.get_database() {
                    Some(database) => fresh.database(database),
                    None => fresh,
                }
            }
            None => (*direct).clone(),
        }
        .host("127.0.0.1")
        .port(self.port)
        .ssl_mode(PgSslMode::Disable);
        options
            .pooler(test_server().await.pooler())
            .connect_with(through)
            .await
            .expect("a store through the relay")
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies both ways until either side closes, or an armed cut is made.
async fn relay(mut client: TcpStream, mut server: Box<dyn Stream>, shared: &Shared) {
    let mut from_client = vec![0u8; 64 * 1024];
    let mut from_server = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            read = client.read(&mut from_client) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let chunk = &from_client[..n];
                let cut = if chunk.windows(6).any(|w| w == b"COMMIT") {
                    shared.armed.lock().unwrap().take()
                } else {
                    None
                };
                match cut {
                    None => {
                        if server.write_all(chunk).await.is_err() {
                            return;
                        }
                    }
                    Some(Cut::BeforeCommit) => {
                        shared.fired.store(true, Ordering::SeqCst);
                        return;
                    }
                    Some(cut @ (Cut::AfterCommit | Cut::AfterCommitThenDown)) => {
                        if server.write_all(chunk).await.is_err() {
                            return;
                        }
                        if cut == Cut::AfterCommitThenDown {
                            shared.refusing.store(true, Ordering::SeqCst);
                        }
                        shared.fired.store(true, Ordering::SeqCst);
                        drop(client);
                        // The database answers into the void.
                        let _ = tokio::time::timeout(
                            Duration::from_secs(5),
                            server.read(&mut from_server),
                        )
                        .await;
                        return;
                    }
                }
            }
            read = server.read(&mut from_server) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if client.write_all(&from_server[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A slot made on the direct store, and an engine on the relayed store with the fixture's clock.
struct Setup {
    fx: Fixture,
    slot: SlotId,
    relay: Relay,
    relayed: BookingEngine,
    _direct: PgStore,
}

async fn setup(options: PgStoreOptions) -> Setup {
    let direct = fresh_store().await;
    let fx = Fixture::new(Arc::new(direct.clone()));
    let slot = fx.slot().await;
    let relay = Relay::start(Upstream::of(&direct.pool().connect_options())).await;
    let store = relay.store(&direct, options).await;
    let relayed = BookingEngine::new(Arc::new(store)).with_clock(Arc::new(fx.clock.clone()));
    Setup {
        fx,
        slot,
        relay,
        relayed,
        _direct: direct,
    }
}

/// The slot's bookings that hold it (any status but cancelled or expired), read directly.
async fn holding(fx: &Fixture, slot: SlotId) -> usize {
    fx.bookings_of(slot)
        .await
        .iter()
        .filter(|b| b.status() == BookingStatus::Confirmed)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_whose_commit_answer_is_lost_is_answered_ok_and_stored_once() {
    let s = setup(PgStoreOptions::new().max_connections(2)).await;
    let patient = PatientId::new();
    s.relay.arm(Cut::AfterCommit);
    let booked = s.relayed.book(s.slot, patient, None).await;
    assert!(
        s.relay.fired(),
        "the relay cut a connection after its COMMIT"
    );
    let booking = booked.expect("a committed booking is answered with the booking");
    assert_eq!(booking.status(), BookingStatus::Confirmed);
    let stored = s.fx.bookings_of(s.slot).await;
    assert_eq!(stored.len(), 1, "stored exactly once: {stored:?}");
    assert_eq!(stored[0].id, booking.id);
    assert_eq!(stored[0].patient_id, patient);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_whose_commit_never_reached_the_database_is_never_stored_behind_an_error() {
    let s = setup(PgStoreOptions::new().max_connections(2)).await;
    s.relay.arm(Cut::BeforeCommit);
    let booked = s.relayed.book(s.slot, PatientId::new(), None).await;
    assert!(
        s.relay.fired(),
        "the relay cut a connection before its COMMIT"
    );
    match booked {
        Ok(booking) => {
            let stored = s.fx.bookings_of(s.slot).await;
            assert_eq!(stored.len(), 1, "stored exactly once: {stored:?}");
            assert_eq!(stored[0].id, booking.id);
        }
        Err(error) => {
            assert_eq!(
                holding(&s.fx, s.slot).await,
                0,
                "refused ({error:?}) yet stored"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_commit_answer_while_the_database_is_out_of_reach_is_outcome_unknown_and_a_retry_with_the_key_answers_it(
) {
    let patience = Duration::from_millis(400);
    let s = setup(
        PgStoreOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_millis(200))
            .outcome_patience(patience),
    )
    .await;
    let patient = PatientId::new();
    let key = IdempotencyKey::new("lost-commit-1").unwrap();
    s.relay.arm(Cut::AfterCommitThenDown);
    let started = std::time::Instant::now();
    let booked = s.relayed.book(s.slot, patient, Some(key.clone())).await;
    let waited = started.elapsed();
    assert!(s.relay.fired());
    assert!(
        matches!(booked, Err(Error::Store(StoreError::OutcomeUnknown(_)))),
        "{booked:?}"
    );
    assert!(
        waited >= patience,
        "it waited {waited:?}, less than its patience"
    );
    // It had committed: unknown was the honest answer.
    let stored = s.fx.bookings_of(s.slot).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    // The database is back: the same key answers with the booking, booked once.
    s.relay.refuse(false);
    let replayed = s
        .relayed
        .book_or_replay(s.slot, patient, Some(key), None)
        .await
        .expect("the retry answers");
    assert!(replayed.replayed);
    assert_eq!(replayed.booking.id, stored[0].id);
    assert_eq!(s.fx.bookings_of(s.slot).await.len(), 1);
}
