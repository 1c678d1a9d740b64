//! The HTTP scenario: the server's whole application in this process on a loopback port, driven
//! by keep-alive HTTP/1.1 connections (one per request in flight) carrying real patients'
//! bearer tokens, so the figures include routing, JSON, authentication and the answer's read.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use medislot_core::{BookingId, PatientId, SlotId};
use medislot_server::{app, AppConfig, AppState, Stores};
use poem::listener::{Acceptor as _, Listener as _, TcpListener};
use tokio::sync::oneshot;

use crate::stats::Outcome;
use crate::BenchError;

/// The benchmark patients' password (accounts live only in the run's own store).
const PASSWORD: &str = "slot-rush benchmark patient";

/// The server running in this process, stopped by [`Server::stop`].
pub(crate) struct Server {
    pub(crate) state: AppState,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Starts the application on `stores` at a free loopback port.
    pub(crate) async fn start(stores: Stores) -> Result<Self, BenchError> {
        let config = AppConfig {
            // Every account signs in from 127.0.0.1; the rush is not a brute-force attack.
            auth_attempts_per_minute: 1_000_000,
            policy: crate::target::policy(),
            ..AppConfig::default()
        };
        let state = AppState::new(stores, config).map_err(BenchError::Http)?;
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| BenchError::Http("the listener has no TCP address".into()))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let endpoint = app(state.clone());
        let task = tokio::spawn(async move {
            poem::Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    endpoint,
                    async {
                        let _ = stopped.await;
                    },
                    Some(Duration::from_secs(5)),
                )
                .await
        });
        tracing::info!(%addr, "server started in process");
        Ok(Self {
            state,
            addr,
            stop,
            task,
        })
    }

    /// Registers `count` patients and signs each in; returns a client holding their tokens.
    pub(crate) async fn patients(&self, count: usize) -> Result<HttpClient, BenchError> {
        let client = HttpClient {
            addr: self.addr,
            tokens: Arc::new(Vec::new()),
            idle: Arc::default(),
        };
        let run = uuid::Uuid::now_v7().simple().to_string();
        let mut tokens = Vec::with_capacity(count);
        // Password hashing is the server's slowest work; two at a time keeps both cores busy.
        for chunk in (0..count).collect::<Vec<_>>().chunks(2) {
            let signed_in = chunk.iter().map(|i| {
                let client = client.clone();
                let email = format!("patient{i}-{run}@bench.invalid");
                async move { client.sign_up(&email).await }
            });
            for token in futures::future::join_all(signed_in).await {
                tokens.push(token?);
            }
        }
        tracing::info!(count, "patients registered and signed in");
        Ok(HttpClient {
            tokens: Arc::new(tokens),
            ..client
        })
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server task.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the server failed"),
            Err(e) => tracing::error!(error = %e, "the server task panicked"),
        }
    }
}

/// Keep-alive connections to the server, and the patients' tokens.
#[derive(Clone, Debug)]
pub(crate) struct HttpClient {
    addr: SocketAddr,
    tokens: Arc<Vec<String>>,
    idle: Arc<Mutex<Vec<SendRequest<Full<Bytes>>>>>,
}

impl HttpClient {
    async fn sign_up(&self, email: &str) -> Result<String, BenchError> {
        let account =
            serde_json::json!({ "email": email, "password": PASSWORD, "name": "Bench Patient" });
        let (status, body) = self
            .send(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(account.to_string()),
            )
            .await
            .map_err(BenchError::Http)?;
        if status != StatusCode::CREATED {
            return Err(BenchError::Http(format!(
                "register answered {status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        let login = serde_json::json!({ "email": email, "password": PASSWORD });
        let (status, body) = self
            .send(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(login.to_string()),
            )
            .await
            .map_err(BenchError::Http)?;
        if status != StatusCode::OK {
            return Err(BenchError::Http(format!(
                "login answered {status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        let answer: serde_json::Value = serde_json::from_slice(&body)?;
        answer["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| BenchError::Http("login answered without a token".into()))
    }

    /// The token of the account that plays `patient`.
    fn token(&self, patient: PatientId) -> Option<&str> {
        let n = self.tokens.len() as u128;
        if n == 0 {
            return None;
        }
        let i = usize::try_from(patient.as_uuid().as_u128() % n).unwrap_or(0);
        self.tokens.get(i).map(String::as_str)
    }

    /// `POST /api/v1/bookings` as the account playing `patient`.
    pub(crate) async fn book(
        &self,
        slot: SlotId,
        patient: PatientId,
    ) -> (Outcome, Option<BookingId>) {
        let body = format!(r#"{{"slot_id":"{slot}"}}"#);
        let answer = self
            .send(
                Method::POST,
                "/api/v1/bookings",
                self.token(patient),
                Some(body),
            )
            .await;
        let (status, body) = match answer {
            Ok(answer) => answer,
            Err(e) => return (Outcome::Error(e), None),
        };
        if status == StatusCode::CREATED {
            let id = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["id"].as_str().and_then(|s| s.parse().ok()))
                .map(BookingId::from_uuid);
            return (Outcome::Ok, id);
        }
        (failure(status, &body), None)
    }

    async fn checkout(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(sender) = idle {
            return Ok(sender);
        }
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes the connection.
            let _ = connection.await;
        });
        Ok(sender)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Result<(StatusCode, Bytes), String> {
        let mut sender = self.checkout().await?;
        sender.ready().await.map_err(|e| e.to_string())?;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        // Only a connection that answered whole goes back for reuse.
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sender);
        Ok((status, body))
    }
}

/// A refusal (4xx, named by its problem `code`) or an error (5xx).
fn failure(status: StatusCode, body: &[u8]) -> Outcome {
    if status.is_server_error() {
        return Outcome::Error(format!("HTTP {status}: {}", String::from_utf8_lossy(body)));
    }
    let code = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned));
    Outcome::Rejected(match code.as_deref() {
        Some("slot_unavailable") => "slot_unavailable",
        Some("slot_not_found") => "slot_not_found",
        Some("slot_in_past") => "slot_in_past",
        Some("unauthorized" | "unauthenticated") => "unauthorized",
        Some("rate_limited") => "rate_limited",
        _ if status == StatusCode::TOO_MANY_REQUESTS => "http_429",
        _ if status == StatusCode::NOT_FOUND => "http_404",
        _ => "http_4xx",
    })
}
