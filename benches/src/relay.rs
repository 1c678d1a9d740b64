//! Counting round trips: a TCP relay between a pool and PostgreSQL that counts how often the
//! client speaks again after the server answered. One client at a time, so the count per
//! booking is exact up to packet splitting (which only overcounts, never hides a trip).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use medislot_core::PatientId;
use medislot_pg::PgStoreOptions;
use medislot_server::Stores;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::http::Server;
use crate::options::Strategy;
use crate::pg::Database;
use crate::raw::{RawPath, RawPg};
use crate::target::Target;
use crate::BenchError;

/// Bookings each path makes through the relay.
const PROBES: usize = 50;

/// A relay on a loopback port; counts client bursts until dropped.
struct Relay {
    addr: SocketAddr,
    trips: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let trips = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&trips);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        pipe(client, server, counter).await;
                    }
                });
            }
        });
        Ok(Self { addr, trips, task })
    }

    fn trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies both ways; a client read that follows a server write is one more round trip.
async fn pipe(client: TcpStream, server: TcpStream, trips: Arc<AtomicU64>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // True while the server spoke last.
    let server_spoke = Arc::new(AtomicBool::new(true));
    let upstream = {
        let server_spoke = Arc::clone(&server_spoke);
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if server_spoke.swap(false, Ordering::AcqRel) {
                    trips.fetch_add(1, Ordering::Relaxed);
                }
                if server_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = server_write.shutdown().await;
        }
    };
    let downstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            server_spoke.store(true, Ordering::Release);
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

/// Round trips per successful booking, by path: the engine on `PgStore` and the raw ceilings.
pub(crate) async fn measure(db: &Database) -> Result<Vec<(String, f64)>, BenchError> {
    let options: &PgConnectOptions = db.options();
    let upstream = tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await?
        .next()
        .ok_or_else(|| BenchError::Http("the database host does not resolve".into()))?;
    let mut figures = Vec::new();
    for path in [
        "engine (PgStore)",
        "raw for-update",
        "raw for-update, pipelined",
        "http (PgStore)",
    ] {
        let relay = Relay::start(upstream).await?;
        let through = options.clone().host("127.0.0.1").port(relay.addr.port());
        let mut server = None;
        let target = if path.starts_with("http") {
            let store = PgStoreOptions::new()
                .max_connections(1)
                .connect_with(through)
                .await?;
            let started = Server::start(Stores::from_store(Arc::new(store), "relayed")).await?;
            let client = started.patients(1).await?;
            server = Some(started);
            Target::Http(client)
        } else if path.starts_with("engine") {
            let store = PgStoreOptions::new()
                .max_connections(1)
                .connect_with(through)
                .await?;
            Target::Engine(crate::target::engine(Arc::new(store)))
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .connect_with(through)
                .await?;
            let raw = if path.ends_with("pipelined") {
                RawPath::Pipelined
            } else {
                RawPath::Strategy(Strategy::ForUpdate)
            };
            Target::RawPg(RawPg::new(pool, raw))
        };
        let calendar = db.calendar(PROBES + 1).await?;
        // The first booking warms the connection (statement preparation); count the rest.
        let _ = target.book(calendar.slots[0].0, PatientId::new()).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let before = relay.trips();
        let mut booked = 0u64;
        for (slot, _) in &calendar.slots[1..] {
            if let (crate::stats::Outcome::Ok, _) = target.book(*slot, PatientId::new()).await {
                booked += 1;
            }
        }
        // A connection is pinged after it goes back to the pool: let the last one land.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let trips = relay.trips() - before;
        // The same slots again: each attempt is refused (the slot is taken).
        let before = relay.trips();
        let mut refused = 0u64;
        for (slot, _) in &calendar.slots[1..] {
            if let (crate::stats::Outcome::Rejected(_), _) =
                target.book(*slot, PatientId::new()).await
            {
                refused += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let refused_trips = relay.trips() - before;
        if let Some(server) = server {
            server.stop().await;
        }
        let per_booking = trips as f64 / booked.max(1) as f64;
        let per_refusal = refused_trips as f64 / refused.max(1) as f64;
        tracing::info!(
            path,
            per_booking,
            booked,
            per_refusal,
            refused,
            "round trips counted"
        );
        figures.push((path.to_owned(), per_booking));
        figures.push((format!("{path}, refused"), per_refusal));
    }
    Ok(figures)
}
