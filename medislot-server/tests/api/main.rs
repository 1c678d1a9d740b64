//! HTTP tests of the whole application, run in-process with poem's test client on a fresh
//! store per test.

// Helpers shared by the test modules; their names say what they are.
#![allow(missing_docs)]

/// Runs each named test (an `async fn()` of the module) once per store: in memory, on a SQLite
/// file and on PostgreSQL (a fresh database each; see `medislot_pg::testing`).
macro_rules! on_every_store {
    ($($test:ident),+ $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $test() {
                crate::on_store(crate::StoreKind::Memory, super::$test()).await
            })+
        }
        mod sqlite {
            $(#[tokio::test]
            async fn $test() {
                crate::on_store(crate::StoreKind::Sqlite, super::$test()).await
            })+
        }
        mod postgres {
            $(#[tokio::test]
            async fn $test() {
                crate::on_store(crate::StoreKind::Postgres, super::$test()).await
            })+
        }
    };
}
pub(crate) use on_every_store;

mod audit;
mod auth;
mod bookings;
mod broker;
mod calendar;
mod cli;
mod client_addr;
mod cluster;
mod delivery;
mod doctors;
mod edge;
mod email;
mod errors;
mod faults;
mod finding;
mod generated_slots;
mod health;
mod idempotency;
mod metrics;
mod openapi;
mod outage;
mod password_reset;
mod passwords;
mod pg_restart;
mod process;
mod profile;
mod read_your_writes;
mod reschedule;
mod restart;
mod security_headers;
mod sessions;
mod slots;
mod waitlist;
mod webhooks;
mod working_hours;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use medislot_core::{ManualClock, Role};
use medislot_server::{app, AppConfig, AppState, Stores};
use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderMap, Method, StatusCode};
use poem::test::TestClient;
use poem::Response;
use serde_json::{json, Value};
use uuid::Uuid;

/// Which store a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    Sqlite,
    Postgres,
}

tokio::task_local! {
    static STORE: StoreKind;
}

/// Runs a test with every `TestApp` it makes on `kind`.
pub async fn on_store(kind: StoreKind, test: impl std::future::Future<Output = ()>) {
    STORE.scope(kind, test).await
}

/// A fresh store of the kind the running test asked for (memory outside [`on_store`]), and how
/// another server instance would open the same data.
async fn fresh_stores() -> (Stores, Option<tempfile::TempDir>, Reopen) {
    match STORE.try_with(|kind| *kind).unwrap_or(StoreKind::Memory) {
        StoreKind::Memory => {
            let stores = Stores::memory();
            (stores.clone(), None, Reopen::Share(stores))
        }
        StoreKind::Sqlite => {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let url = format!("sqlite://{}", dir.path().join("test.db").display());
            let stores = medislot_server::stores::open(&url)
                .await
                .expect("a SQLite store");
            (stores, Some(dir), Reopen::Url(url))
        }
        StoreKind::Postgres => {
            let store = medislot_pg::testing::fresh_store().await;
            let first = store.clone();
            (
                Stores::from_store(Arc::new(store), "test PostgreSQL"),
                None,
                Reopen::Postgres(first),
            )
        }
    }
}

/// How a second server instance opens the data a test app's store holds: its own pool on
/// the same SQLite file or PostgreSQL database (the memory store can only be shared).
#[derive(Clone)]
enum Reopen {
    Share(Stores),
    Url(String),
    Postgres(medislot_pg::PgStore),
}

impl Reopen {
    async fn open(&self) -> Stores {
        match self {
            Reopen::Share(stores) => stores.clone(),
            Reopen::Url(url) => medislot_server::stores::open(url)
                .await
                .expect("the SQLite file again"),
            Reopen::Postgres(first) => {
                let options = first.pool().connect_options().as_ref().clone();
                let store = medislot_pg::PgStoreOptions::default()
                    .pooler(first.pooler())
                    .connect_with(options)
                    .await
                    .expect("the test database again");
                Stores::from_store(Arc::new(store), "test PostgreSQL, second pool")
            }
        }
    }
}

/// The session secret every test app signs with.
pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

/// A running application on a fresh store, with a clock the test moves.
pub struct TestApp {
    pub client: TestClient<BoxEndpoint<'static, Response>>,
    pub state: AppState,
    pub clock: ManualClock,
    /// Keeps a SQLite test file until the app is dropped.
    _dir: Option<Arc<tempfile::TempDir>>,
    /// How another instance opens this app's data.
    reopen: Option<Reopen>,
}

/// A signed-in account.
#[derive(Clone, Debug)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub token: String,
    pub csrf: String,
}

/// How a request proves who sends it.
#[derive(Clone, Copy)]
pub enum As<'a> {
    Anonymous,
    Bearer(&'a User),
    /// The session cookie, with or without the CSRF header.
    Cookie(&'a User, bool),
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// Asserts the status and, for errors, that the body is problem+json.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        if status >= 400 {
            self.assert_problem();
        }
        &self.body
    }

    /// Asserts an RFC 9457 body with this status and `code`.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) -> &Value {
        self.expect(status);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        &self.body
    }

    #[track_caller]
    fn assert_problem(&self) {
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(
            content_type, "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], self.status.as_u16());
        assert!(self.body["title"].is_string());
        assert!(self.body["detail"].is_string());
        assert!(self.body["type"].is_string());
    }

    /// The `id` of the body, as a UUID.
    #[track_caller]
    pub fn id(&self) -> Uuid {
        uuid_of(&self.body["id"])
    }
}

#[track_caller]
pub fn uuid_of(value: &Value) -> Uuid {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a uuid: {value}"))
}

impl TestApp {
    /// An app on a fresh in-memory store, with no rate limit.
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// An app whose configuration `adjust` changes first.
    pub async fn with_config(adjust: impl FnOnce(&mut AppConfig)) -> Self {
        let (stores, dir, reopen) = fresh_stores().await;
        let mut app = Self::on_stores(stores, adjust).await;
        app._dir = dir.map(Arc::new);
        app.reopen = Some(reopen);
        app
    }

    /// Another server instance on the same data, as a second process behind a proxy (or
    /// this one restarted) would be: its own state, clock and pool; the same session secret.
    pub async fn another_instance(&self) -> TestApp {
        let reopen = self
            .reopen
            .clone()
            .expect("an app made by TestApp::new or with_config");
        let mut app = Self::on_stores(reopen.open().await, |_| {}).await;
        app.clock.set(self.now());
        app._dir = self._dir.clone();
        app.reopen = Some(reopen);
        app
    }

    /// An app on the given stores.
    pub async fn on_stores(stores: Stores, adjust: impl FnOnce(&mut AppConfig)) -> Self {
        let mut config = AppConfig {
            session_secret: SECRET.to_vec(),
            auth_attempts_per_minute: 0,
            ..AppConfig::default()
        };
        adjust(&mut config);
        let clock = ManualClock::starting_now();
        let state = AppState::with_clock(stores, config, Arc::new(clock.clone()))
            .expect("a valid configuration");
        Self {
            client: TestClient::new(app(state.clone())),
            state,
            clock,
            _dir: None,
            reopen: None,
        }
    }

    /// The app's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.state.engine().now()
    }

    /// Sends a request.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        who: As<'_>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.client.request(method, path);
        match who {
            As::Anonymous => {}
            As::Bearer(user) => {
                request = request.header("authorization", format!("Bearer {}", user.token));
            }
            As::Cookie(user, with_csrf) => {
                request = request.header("cookie", format!("medislot_session={}", user.token));
                if with_csrf {
                    request = request.header("x-csrf-token", &user.csrf);
                }
            }
        }
        if let Some(body) = body {
            request = request.body_json(&body);
        }
        read(request.send().await.0).await
    }

    pub async fn get(&self, path: &str, who: As<'_>) -> Answer {
        self.send(Method::GET, path, who, None).await
    }

    pub async fn post(&self, path: &str, who: As<'_>, body: Value) -> Answer {
        self.send(Method::POST, path, who, Some(body)).await
    }

    pub async fn put(&self, path: &str, who: As<'_>, body: Value) -> Answer {
        self.send(Method::PUT, path, who, Some(body)).await
    }

    pub async fn delete(&self, path: &str, who: As<'_>) -> Answer {
        self.send(Method::DELETE, path, who, None).await
    }

    /// Registers a patient through the API.
    pub async fn register(&self, email: &str, password: &str) -> Answer {
        self.post(
            "/api/v1/auth/register",
            As::Anonymous,
            json!({"email": email, "password": password, "name": "Pat Ient"}),
        )
        .await
    }

    /// Signs in through the API.
    pub async fn login(&self, email: &str, password: &str) -> Answer {
        self.post(
            "/api/v1/auth/login",
            As::Anonymous,
            json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn signed_in(&self, email: &str, password: &str) -> User {
        let answer = self.login(email, password).await;
        let body = answer.expect(200);
        User {
            id: uuid_of(&body["user"]["id"]),
            email: email.to_owned(),
            token: body["token"].as_str().expect("a token").to_owned(),
            csrf: body["csrf_token"]
                .as_str()
                .expect("a csrf token")
                .to_owned(),
        }
    }

    /// A new signed-in patient.
    pub async fn patient(&self) -> User {
        let email = format!("patient-{}@example.com", Uuid::now_v7().simple());
        self.register(&email, "patient-password").await.expect(201);
        self.signed_in(&email, "patient-password").await
    }

    /// A new signed-in admin (made the way `create-admin` does).
    pub async fn admin(&self) -> User {
        let email = format!("admin-{}@example.com", Uuid::now_v7().simple());
        medislot_server::accounts::ensure_admin(
            self.state.accounts(),
            self.state.passwords(),
            &email,
            "admin-password",
            self.now(),
        )
        .await
        .expect("admin created");
        self.signed_in(&email, "admin-password").await
    }

    /// Changes an account's role directly in the store, as the system.
    pub async fn set_role(&self, user: &User, role: Role) {
        let audit = medislot_core::Audit {
            actor: medislot_core::Actor::System,
            at: self.now(),
            request_id: None,
        };
        self.state
            .accounts()
            .set_role(medislot_core::AccountId::from_uuid(user.id), role, &audit)
            .await
            .expect("role changed");
    }

    /// A new doctor, created by `admin`.
    pub async fn doctor(&self, admin: &User, timezone: &str) -> Uuid {
        let created = self
            .post(
                "/api/v1/doctors",
                As::Bearer(admin),
                json!({"name": "Dr Ada Lovelace", "specialization": "Cardiology", "timezone": timezone}),
            )
            .await;
        uuid_of(&created.expect(201)["id"])
    }

    /// `count` back-to-back 30-minute slots for `doctor`, starting one day from now.
    pub async fn slots(&self, admin: &User, doctor: Uuid, count: usize) -> Vec<Uuid> {
        let start = self.now() + Duration::days(1);
        let slots: Vec<Value> = (0..count)
            .map(|i| {
                let starts = start + Duration::minutes(30 * i as i64);
                json!({"starts_at": starts.to_rfc3339(), "ends_at": (starts + Duration::minutes(30)).to_rfc3339()})
            })
            .collect();
        let answer = self
            .post(
                &format!("/api/v1/doctors/{doctor}/slots"),
                As::Bearer(admin),
                json!({ "slots": slots }),
            )
            .await;
        answer
            .expect(201)
            .as_array()
            .expect("an array of slots")
            .iter()
            .map(|s| uuid_of(&s["id"]))
            .collect()
    }

    /// A doctor with `count` free slots, and the admin who made them.
    pub async fn clinic(&self, count: usize) -> (User, Uuid, Vec<Uuid>) {
        let admin = self.admin().await;
        let doctor = self.doctor(&admin, "Europe/Paris").await;
        let slots = self.slots(&admin, doctor, count).await;
        (admin, doctor, slots)
    }

    /// Holds `slot` for `user`.
    pub async fn hold(&self, user: &User, slot: Uuid) -> Answer {
        self.post(
            &format!("/api/v1/slots/{slot}/hold"),
            As::Bearer(user),
            json!({}),
        )
        .await
    }

    /// Confirms `user`'s hold `booking`.
    pub async fn confirm(&self, user: &User, booking: Uuid) -> Answer {
        self.post(
            &format!("/api/v1/bookings/{booking}/confirm"),
            As::Bearer(user),
            json!({}),
        )
        .await
    }

    /// Books `slot` for `user`.
    pub async fn book(&self, user: &User, slot: Uuid) -> Answer {
        self.post(
            "/api/v1/bookings",
            As::Bearer(user),
            json!({ "slot_id": slot }),
        )
        .await
    }
}

/// Reads a response whole.
pub async fn read(response: Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .into_bytes()
        .await
        .expect("a readable body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Answer {
        status,
        headers,
        body,
    }
}
