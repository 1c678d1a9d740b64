//! Target `api_input`: arbitrary requests through the whole HTTP application of medislot-server,
//! in process, on the in-memory store: arbitrary methods, paths, ids, query strings, headers
//! and bodies (raw bytes, or JSON built from the API's own field names so the fuzzer gets past
//! the parser). The server must never panic and never answer 5xx.
//!
//! Each input starts from a world of its own: one doctor with three future slots, two patients
//! and an admin with sessions issued directly (no password hashing per input), and the manual
//! clock back at the epoch, which the input may move. The application itself is shared by a few
//! thousand inputs (`REBUILD_EVERY`), so listings also see earlier inputs' data: an input
//! that fails only after others is rare, and replaying it alone may not fail.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use arbitrary::{Arbitrary, Unstructured};
use chrono::{DateTime, Duration, Utc};
use medislot_core::{Account, AccountId, Email, ManualClock, NewDoctor, Role, TimeRange};
use medislot_server::{app, AppConfig, AppState, Stores};
use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderName, HeaderValue, Method, Uri};
use poem::test::TestClient;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::time::epoch;

/// Requests past this many are ignored, so that one input stays fast to run.
const MAX_REQUESTS: usize = 32;
/// JSON nested deeper than this is cut off (the server's parser has its own limit; this one
/// keeps the harness's recursion small).
const MAX_DEPTH: usize = 8;
/// A small body limit, so that inputs of a few kilobytes reach the 413 path.
const BODY_LIMIT: usize = 1024;

/// Runs one input: decodes `data` and sends every request.
///
/// # Panics
/// When the server panics or answers 5xx; that is the finding.
pub fn run(data: &[u8]) {
    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        check(&input);
    }
}

/// The requests to send, in order.
#[derive(Arbitrary, Debug)]
pub struct Input {
    requests: Vec<Request>,
}

#[derive(Arbitrary, Debug)]
struct Request {
    /// Minutes to move the clock by before sending (either way).
    clock_minutes: i8,
    method: Verb,
    route: Route,
    query: Query,
    caller: Caller,
    headers: Vec<(HeaderPick, String)>,
    body: Body,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl Verb {
    fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Patch => Method::PATCH,
            Verb::Delete => Method::DELETE,
            Verb::Head => Method::HEAD,
            Verb::Options => Method::OPTIONS,
        }
    }
}

/// Every route the server serves, with an id where it takes one, or any path at all.
#[derive(Arbitrary, Debug)]
enum Route {
    Healthz,
    Readyz,
    Metrics,
    OpenApi,
    Docs,
    Register,
    Login,
    Logout,
    Me,
    Doctors,
    Doctor(Id),
    DoctorSlots(Id),
    Slots,
    Slot(Id),
    SlotHold(Id),
    Bookings,
    Booking(Id),
    BookingConfirm(Id),
    BookingCancel(Id),
    Raw(String),
}

/// An id in a path or a body: one of the world's, or anything.
#[derive(Arbitrary, Debug, Clone)]
enum Id {
    Doctor,
    Slot(u8),
    /// A booking made earlier in this input, by index.
    Booking(u8),
    Account(u8),
    Uuid(u128),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Query {
    None,
    Raw(String),
    Pairs(Vec<(QueryKey, QueryValue)>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum QueryKey {
    Status,
    DoctorId,
    Patient,
    From,
    To,
    Limit,
    Cursor,
    Available,
    Specialization,
    Q,
}

impl QueryKey {
    fn name(self) -> &'static str {
        match self {
            QueryKey::Status => "status",
            QueryKey::DoctorId => "doctor_id",
            QueryKey::Patient => "patient",
            QueryKey::From => "from",
            QueryKey::To => "to",
            QueryKey::Limit => "limit",
            QueryKey::Cursor => "cursor",
            QueryKey::Available => "available",
            QueryKey::Specialization => "specialization",
            QueryKey::Q => "q",
        }
    }
}

#[derive(Arbitrary, Debug)]
enum QueryValue {
    Text(String),
    Id(Id),
    /// Seconds from the epoch, as RFC 3339 (any i64: most are out of range).
    Time(i64),
    Number(i64),
    /// A cursor the server itself would make, but made up.
    SlotCursor(i64, u128),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Caller {
    Nobody,
    Patient(bool),
    Admin,
    /// The session cookie instead of a Bearer token, with or without the CSRF token.
    Cookie {
        admin: bool,
        csrf: bool,
    },
    /// A token of a session that expired or that was signed for another account.
    Expired,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum HeaderPick {
    ContentType,
    ContentLength,
    Authorization,
    Cookie,
    Csrf,
    IdempotencyKey,
    Accept,
    Origin,
    XForwardedFor,
}

impl HeaderPick {
    fn name(self) -> &'static str {
        match self {
            HeaderPick::ContentType => "content-type",
            HeaderPick::ContentLength => "content-length",
            HeaderPick::Authorization => "authorization",
            HeaderPick::Cookie => "cookie",
            HeaderPick::Csrf => "x-csrf-token",
            HeaderPick::IdempotencyKey => "idempotency-key",
            HeaderPick::Accept => "accept",
            HeaderPick::Origin => "origin",
            HeaderPick::XForwardedFor => "x-forwarded-for",
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Body {
    None,
    Raw(Vec<u8>),
    /// JSON sent as `application/json`.
    Json(Json),
}

#[derive(Arbitrary, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Id(Id),
    Time(i64),
    Array(Vec<Json>),
    Object(Vec<(Key, Json)>),
}

#[derive(Arbitrary, Debug)]
enum Key {
    SlotId,
    Reason,
    Name,
    Specialization,
    Timezone,
    Slots,
    StartsAt,
    EndsAt,
    Email,
    Password,
    Raw(String),
}

impl Key {
    fn name(&self) -> &str {
        match self {
            Key::SlotId => "slot_id",
            Key::Reason => "reason",
            Key::Name => "name",
            Key::Specialization => "specialization",
            Key::Timezone => "timezone",
            Key::Slots => "slots",
            Key::StartsAt => "starts_at",
            Key::EndsAt => "ends_at",
            Key::Email => "email",
            Key::Password => "password",
            Key::Raw(raw) => raw,
        }
    }
}

type Client = TestClient<BoxEndpoint<'static, poem::Response>>;

/// The application under test, shared by many inputs. Building one costs an argon2 hash (the
/// server's dummy hash for timing-safe logins), which would cap the fuzzer at a few dozen
/// inputs a second; so one is built per `REBUILD_EVERY` inputs, and each input makes its own
/// doctor, slots and accounts in it.
struct Server {
    state: AppState,
    client: Client,
    clock: ManualClock,
    inputs: u64,
}

/// Inputs per application: bounds how much earlier inputs' data can pile up.
const REBUILD_EVERY: u64 = 2_000;

impl Server {
    fn new() -> Self {
        let clock = ManualClock::new(epoch());
        let config = AppConfig {
            // Fixed, so that tokens do not depend on the run.
            session_secret: vec![7; 32],
            body_limit_bytes: BODY_LIMIT,
            ..AppConfig::default()
        };
        let state = setup(
            "build the app state",
            AppState::with_clock(Stores::memory(), config, Arc::new(clock.clone())),
        );
        Self {
            client: TestClient::new(app(state.clone())),
            state,
            clock,
            inputs: 0,
        }
    }
}

thread_local! {
    static SERVER: RefCell<Option<Server>> = const { RefCell::new(None) };
}

/// One input's view of the server: the ids and sessions it made.
struct World<'a> {
    client: &'a Client,
    clock: &'a ManualClock,
    doctor: Uuid,
    slots: Vec<Uuid>,
    accounts: Vec<Uuid>,
    /// Bearer tokens and CSRF tokens: patient 0, patient 1, admin.
    sessions: Vec<(String, String)>,
    expired: String,
    /// Ids of bookings the server answered with.
    bookings: Vec<Uuid>,
}

/// One runtime for the whole process: the server needs tokio (for `spawn_blocking`).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime (the harness cannot run without one)")
    })
}

/// Checks one input.
///
/// # Panics
/// When the server panics or answers 5xx.
pub fn check(input: &Input) {
    SERVER.with(|cell| {
        let mut server = cell.borrow_mut();
        if server.as_ref().is_none_or(|s| s.inputs >= REBUILD_EVERY) {
            *server = Some(Server::new());
        }
        let Some(server) = server.as_mut() else {
            unreachable!("the server was just built");
        };
        server.inputs += 1;
        runtime().block_on(async {
            let mut world = World::new(server).await;
            for request in input.requests.iter().take(MAX_REQUESTS) {
                world.send(request).await;
            }
        });
    });
}

fn setup<T, E: std::fmt::Debug>(step: &str, result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("setup failed to {step}: {e:?}"),
    }
}

impl<'a> World<'a> {
    /// A doctor with three slots, two patients and an admin, made for this input, with the
    /// clock back at the epoch.
    async fn new(server: &'a Server) -> Self {
        let now = epoch();
        server.clock.set(now);
        let state = &server.state;
        let engine = state.engine();
        let doctor = setup(
            "name a doctor",
            NewDoctor::new("Dr Fuzz", "Cardiology", "Pacific/Chatham"),
        );
        let doctor = setup("create a doctor", engine.create_doctor(doctor).await);
        let ranges: Vec<TimeRange> = [30, 60, 90]
            .iter()
            .map(|m| {
                let start = now + Duration::minutes(*m);
                setup(
                    "make a range",
                    TimeRange::new(start, start + Duration::minutes(30)),
                )
            })
            .collect();
        let slots = setup(
            "publish slots",
            engine.publish_slots(doctor.id, &ranges).await,
        );
        let mut accounts = Vec::new();
        let mut sessions = Vec::new();
        for (i, role) in [Role::Patient, Role::Patient, Role::Admin]
            .into_iter()
            .enumerate()
        {
            let id = AccountId::new();
            let email = format!("user{i}-{}@example.com", id.as_uuid().simple());
            let account = Account {
                id,
                email: setup("parse an email", Email::parse(&email)),
                name: format!("User {i}"),
                role,
                // Never verified: sessions are issued directly below.
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".to_owned(),
                created_at: now,
                profile: medislot_core::AccountProfile::default(),
                sessions: medislot_core::SessionGeneration::FIRST,
                login_throttle: medislot_core::LoginThrottle::default(),
            };
            setup(
                "insert an account",
                state.accounts().insert_account(&account).await,
            );
            let session = setup(
                "issue a session",
                state
                    .sessions()
                    .issue(id, medislot_core::SessionGeneration::FIRST, now),
            );
            accounts.push(id.as_uuid());
            sessions.push((session.token, session.claims.csrf.clone()));
        }
        let expired = setup(
            "issue an old session",
            state.sessions().issue(
                AccountId::from_uuid(accounts[0]),
                medislot_core::SessionGeneration::FIRST,
                now - Duration::days(30),
            ),
        )
        .token;
        Self {
            client: &server.client,
            clock: &server.clock,
            doctor: doctor.id.as_uuid(),
            slots: slots.iter().map(|s| s.id.as_uuid()).collect(),
            accounts,
            sessions,
            expired,
            bookings: Vec::new(),
        }
    }

    fn id(&self, id: &Id) -> String {
        match id {
            Id::Doctor => self.doctor.to_string(),
            Id::Slot(i) => pick(&self.slots, *i).to_string(),
            Id::Booking(i) => pick(&self.bookings, *i).to_string(),
            Id::Account(i) => pick(&self.accounts, *i).to_string(),
            Id::Uuid(n) => Uuid::from_u128(*n).to_string(),
            Id::Raw(raw) => raw.clone(),
        }
    }

    fn path(&self, route: &Route) -> String {
        let with_id = |prefix: &str, id: &Id, suffix: &str| {
            format!("/api/v1/{prefix}/{}{suffix}", encode(&self.id(id), b"-"))
        };
        match route {
            Route::Healthz => "/healthz".to_owned(),
            Route::Readyz => "/readyz".to_owned(),
            Route::Metrics => "/metrics".to_owned(),
            Route::OpenApi => "/api/openapi.json".to_owned(),
            Route::Docs => "/docs".to_owned(),
            Route::Register => "/api/v1/auth/register".to_owned(),
            Route::Login => "/api/v1/auth/login".to_owned(),
            Route::Logout => "/api/v1/auth/logout".to_owned(),
            Route::Me => "/api/v1/me".to_owned(),
            Route::Doctors => "/api/v1/doctors".to_owned(),
            Route::Doctor(id) => with_id("doctors", id, ""),
            Route::DoctorSlots(id) => with_id("doctors", id, "/slots"),
            Route::Slots => "/api/v1/slots".to_owned(),
            Route::Slot(id) => with_id("slots", id, ""),
            Route::SlotHold(id) => with_id("slots", id, "/hold"),
            Route::Bookings => "/api/v1/bookings".to_owned(),
            Route::Booking(id) => with_id("bookings", id, ""),
            Route::BookingConfirm(id) => with_id("bookings", id, "/confirm"),
            Route::BookingCancel(id) => with_id("bookings", id, "/cancel"),
            Route::Raw(raw) => format!("/{}", encode(raw, b"/-._~")),
        }
    }

    fn query(&self, query: &Query) -> String {
        match query {
            Query::None => String::new(),
            Query::Raw(raw) => format!("?{}", encode(raw, b"=&-._~")),
            Query::Pairs(pairs) => {
                let pairs: Vec<String> = pairs
                    .iter()
                    .map(|(key, value)| {
                        let value = match value {
                            QueryValue::Text(text) => text.clone(),
                            QueryValue::Id(id) => self.id(id),
                            QueryValue::Time(seconds) => time_text(*seconds),
                            QueryValue::Number(n) => n.to_string(),
                            QueryValue::SlotCursor(micros, id) => {
                                format!("{micros}_{}", Uuid::from_u128(*id))
                            }
                        };
                        format!("{}={}", key.name(), encode(&value, b"-._~"))
                    })
                    .collect();
                format!("?{}", pairs.join("&"))
            }
        }
    }

    fn json(&self, json: &Json, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(n) => Value::from(*n),
            Json::Float(f) => Value::from(*f),
            Json::Text(text) => Value::from(text.as_str()),
            Json::Id(id) => Value::from(self.id(id)),
            Json::Time(seconds) => Value::from(time_text(*seconds)),
            Json::Array(items) => items.iter().map(|j| self.json(j, depth + 1)).collect(),
            Json::Object(fields) => {
                let map: Map<String, Value> = fields
                    .iter()
                    .map(|(k, v)| (k.name().to_owned(), self.json(v, depth + 1)))
                    .collect();
                Value::Object(map)
            }
        }
    }

    async fn send(&mut self, request: &Request) {
        self.clock
            .advance(Duration::minutes(i64::from(request.clock_minutes)));
        let uri = format!(
            "{}{}",
            self.path(&request.route),
            self.query(&request.query)
        );
        // Paths and queries are percent-encoded above; a few bytes can still make an invalid
        // URI (none a real client could send), so those requests are skipped.
        if uri.parse::<Uri>().is_err() {
            return;
        }
        let method = request.method.method();
        let mut builder = self.client.request(method.clone(), uri.clone());
        let bearer = |token: &str| format!("Bearer {token}");
        let (auth, cookie, csrf) = match request.caller {
            Caller::Nobody => (None, None, None),
            Caller::Patient(second) => {
                let (token, _) = &self.sessions[usize::from(second)];
                (Some(bearer(token)), None, None)
            }
            Caller::Admin => (Some(bearer(&self.sessions[2].0)), None, None),
            Caller::Cookie { admin, csrf } => {
                let (token, csrf_token) = &self.sessions[if admin { 2 } else { 0 }];
                let cookie = format!("medislot_session={token}");
                (None, Some(cookie), csrf.then(|| csrf_token.clone()))
            }
            Caller::Expired => (Some(bearer(&self.expired)), None, None),
        };
        for (name, value) in [
            ("authorization", auth),
            ("cookie", cookie),
            ("x-csrf-token", csrf),
        ] {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                builder = builder.header(HeaderName::from_static(name), value);
            }
        }
        for (pick, value) in &request.headers {
            // A value that is not a valid header cannot be sent by an HTTP client either.
            if let Ok(value) = HeaderValue::from_str(value) {
                builder = builder.header(HeaderName::from_static(pick.name()), value);
            }
        }
        builder = match &request.body {
            Body::None => builder,
            Body::Raw(bytes) => builder.body(bytes.clone()),
            Body::Json(json) => builder
                .content_type("application/json")
                .body(self.json(json, 0).to_string()),
        };
        let response = builder.send().await;
        let status = response.0.status();
        let body = response
            .0
            .into_body()
            .into_bytes()
            .await
            .unwrap_or_default();
        assert!(
            !status.is_server_error(),
            "{method} {uri} answered {status}: {}\nrequest: {request:#?}",
            String::from_utf8_lossy(&body)
        );
        // Remember bookings the server made, so later requests can name them.
        if let Ok(Value::Object(answer)) = serde_json::from_slice::<Value>(&body) {
            let id = answer.get("id").and_then(Value::as_str);
            let is_booking = answer.contains_key("patient_id");
            if let (Some(id), true) = (id.and_then(|i| i.parse().ok()), is_booking) {
                if !self.bookings.contains(&id) {
                    self.bookings.push(id);
                }
            }
        }
    }
}

/// The `index`th of `ids` modulo one past their number; past the end, an id nobody has.
fn pick(ids: &[Uuid], index: u8) -> Uuid {
    let index = usize::from(index) % (ids.len() + 1);
    ids.get(index).copied().unwrap_or(Uuid::max())
}

/// `seconds` from the epoch as RFC 3339, or a plainly wrong timestamp when out of range.
fn time_text(seconds: i64) -> String {
    epoch()
        .timestamp()
        .checked_add(seconds)
        .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
        .map_or_else(|| format!("{seconds}-13-45T99:00:00Z"), |t| t.to_rfc3339())
}

/// Percent-encodes every byte but ASCII letters, digits and `keep`.
fn encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
