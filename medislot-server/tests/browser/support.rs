//! The browser test harness: the real server in-process on a random port, and a real headless
//! Chromium driven through chromedriver (WebDriver) with fantoccini.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{Duration as Span, Utc};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use medislot_core::{Account, BookingEngine, Doctor, NewDoctor, Policy, Slot, TimeRange};
use medislot_pg::PgStoreOptions;
use medislot_server::{accounts, app, AppConfig, AppState, Stores};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::Server;
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;

/// Where Debian's chromium-driver installs chromedriver (`MEDISLOT_CHROMEDRIVER` overrides).
fn chromedriver() -> String {
    std::env::var("MEDISLOT_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned())
}

/// Debian's chromium (`MEDISLOT_CHROMIUM` overrides).
fn chromium() -> String {
    std::env::var("MEDISLOT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}
/// Set to `1` where the browser tests must run (CI): then a missing Chromium or chromedriver
/// fails them instead of skipping them.
const REQUIRE_VAR: &str = "MEDISLOT_REQUIRE_BROWSER";

/// How long a page may take to show what a test waits for (generous: CI machines are shared).
pub(crate) const PAGE_WAIT: Duration = Duration::from_secs(60);

/// The admin every test app has.
pub(crate) const ADMIN_EMAIL: &str = "admin@clinic.example";
pub(crate) const ADMIN_PASSWORD: &str = "admin-password-1";

/// Scenarios at once: the machines running these tests have two cores, and each scenario
/// runs a server, a database and one or two browsers.
fn scenario_slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| Semaphore::new(2))
}

/// Waits for this scenario's turn; the turn lasts while the guard lives.
pub(crate) async fn take_turn() -> tokio::sync::SemaphorePermit<'static> {
    scenario_slots()
        .acquire()
        .await
        .expect("scenario semaphore")
}

/// Whether Chromium and chromedriver are installed. When they are not, the running test says
/// on one line that it is skipped and what to install, and should return; with
/// `MEDISLOT_REQUIRE_BROWSER=1` it fails instead.
pub(crate) fn browser_available() -> bool {
    let (driver, browser) = (chromedriver(), chromium());
    let missing: Vec<&str> = [&browser, &driver]
        .into_iter()
        .filter(|path| !std::path::Path::new(path).exists())
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return true;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a browser test")
        .to_owned();
    let why = format!(
        "no {} (install them: `apt-get install chromium chromium-driver`, or set \
         MEDISLOT_CHROMIUM and MEDISLOT_CHROMEDRIVER)",
        missing.join(" nor ")
    );
    assert!(
        std::env::var(REQUIRE_VAR).as_deref() != Ok("1"),
        "{test}: {why}; {REQUIRE_VAR}=1 requires the browser tests to run"
    );
    // Straight to stderr, past the harness's capture, so that the line shows in a passing run.
    let _ = writeln!(
        std::io::stderr().lock(),
        "skipped {test}: {why} ({REQUIRE_VAR}=1 makes this a failure)"
    );
    false
}

/// The store a scenario runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StoreKind {
    Memory,
    Postgres,
}

impl StoreKind {
    fn name(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
            StoreKind::Postgres => "postgres",
        }
    }
}

/// The running server and its state, for setting up data and checking the store afterwards.
pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) state: AppState,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    /// The whole application on a fresh in-memory store, listening on a random port, with an
    /// admin account.
    pub(crate) async fn start(kind: StoreKind) -> Self {
        Self::start_with_policy(kind, Policy::default()).await
    }

    /// As [`TestApp::start`], with these hold and buffer durations (a hold that lapses within
    /// seconds, for a page to show it lapsing).
    pub(crate) async fn start_with_policy(kind: StoreKind, policy: Policy) -> Self {
        let config = AppConfig {
            // The tests sign in many times from one address.
            auth_attempts_per_minute: 0,
            policy,
            ..AppConfig::default()
        };
        let stores = match kind {
            StoreKind::Memory => Stores::memory(),
            // A small pool: several test binaries may share the PostgreSQL server.
            StoreKind::Postgres => Stores::from_store(
                Arc::new(
                    medislot_pg::testing::fresh_store_with(
                        PgStoreOptions::new().max_connections(4),
                    )
                    .await,
                ),
                "test PostgreSQL",
            ),
        };
        let state = AppState::new(stores, config).expect("app state");
        accounts::ensure_admin(
            state.accounts(),
            state.passwords(),
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
            state.engine().now(),
        )
        .await
        .expect("admin account");
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind a port");
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .expect("a TCP address");
        let endpoint = app(state.clone());
        let server = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(endpoint).await;
        });
        Self {
            base: format!("http://{addr}"),
            state,
            server,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn engine(&self) -> &BookingEngine {
        self.state.engine()
    }

    pub(crate) async fn doctor(&self, name: &str, specialization: &str, zone: &str) -> Doctor {
        self.engine()
            .create_doctor(NewDoctor::new(name, specialization, zone).expect("doctor fields"))
            .await
            .expect("create doctor")
    }

    /// `count` back-to-back 30-minute slots starting `days_ahead` days from now at 09:00 UTC.
    pub(crate) async fn slots(&self, doctor: &Doctor, days_ahead: i64, count: usize) -> Vec<Slot> {
        let day = (Utc::now() + Span::days(days_ahead)).date_naive();
        let first = day.and_hms_opt(9, 0, 0).expect("09:00").and_utc();
        let ranges: Vec<TimeRange> = (0..count)
            .map(|i| {
                let start = first + Span::minutes(30 * i as i64);
                TimeRange::new(start, start + Span::minutes(30)).expect("range")
            })
            .collect();
        self.engine()
            .publish_slots(doctor.id, &ranges)
            .await
            .expect("publish slots")
    }

    /// One 30-minute slot starting at `start`.
    pub(crate) async fn slot_at(&self, doctor: &Doctor, start: chrono::DateTime<Utc>) -> Slot {
        let range = TimeRange::new(start, start + Span::minutes(30)).expect("range");
        self.engine()
            .publish_slots(doctor.id, &[range])
            .await
            .expect("publish slot")
            .remove(0)
    }

    pub(crate) async fn patient(&self, name: &str, email: &str) -> Account {
        accounts::register_patient(&self.state, email, "patient-password-1", name)
            .await
            .expect("register patient")
    }
}

/// A chromedriver process with one headless Chromium session.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    _profile: TempDir,
}

impl Drop for Browser {
    /// Stops chromedriver and every Chromium process it started: they share its process group.
    /// Killing chromedriver alone left its Chromium running whenever a test ended without
    /// [`Browser::close`] (a failed assertion, or a test that never closes): CI once ended with
    /// seven orphaned Chromium processes of about 220 MB each.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver on a free port and opens a desktop-sized headless Chromium with a
    /// fresh profile.
    pub(crate) async fn open() -> Self {
        Self::launch(None).await
    }

    /// As [`Browser::open`], with the browser's time zone set to `zone` (as a person abroad).
    pub(crate) async fn open_in_zone(zone: &str) -> Self {
        Self::launch(Some(zone)).await
    }

    /// As [`Browser::open`], with JavaScript switched off (every page must work without it).
    pub(crate) async fn open_without_javascript() -> Self {
        Self::launch_with(None, false).await
    }

    async fn launch(zone: Option<&str>) -> Self {
        Self::launch_with(zone, true).await
    }

    async fn launch_with(zone: Option<&str>, javascript: bool) -> Self {
        let port = free_port();
        let mut command = Command::new(chromedriver());
        if let Some(zone) = zone {
            // Chromium inherits it from chromedriver; Intl then reports this zone.
            command.env("TZ", zone);
        }
        // Its own process group, which its Chromium joins: see `Drop for Browser`.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)));
        let profile = TempDir::new("medislot-chromium");
        let mut caps = Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chromium(),
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path.display()),
                ],
                // 2: blocked, for every site.
                "prefs": {
                    "profile.managed_default_content_settings.javascript":
                        if javascript { 1 } else { 2 },
                },
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("open a Chromium session through chromedriver");
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Waits for an element matching `css` to appear.
    pub(crate) async fn wait_for(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(PAGE_WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("{css} never appeared: {err}"))
    }

    pub(crate) async fn find(&self, css: &str) -> Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no {css}: {err}"))
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    pub(crate) async fn fill(&self, css: &str, value: &str) {
        let input = self.find(css).await;
        input.clear().await.expect("clear input");
        input.send_keys(value).await.expect("type into input");
    }

    /// Sets an input's value directly (date and time inputs take locale-dependent keystrokes).
    pub(crate) async fn set_value(&self, css: &str, value: &str) {
        self.client
            .execute(
                "document.querySelector(arguments[0]).value = arguments[1];",
                vec![json!(css), json!(value)],
            )
            .await
            .expect("set input value");
    }

    /// The address bar: path and query.
    pub(crate) async fn address(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits until the address bar shows `expected` (path and query): the sign that a form's
    /// post/redirect/get has landed, where an element may still be the previous page's.
    pub(crate) async fn wait_for_address(&self, expected: &str) {
        let deadline = std::time::Instant::now() + PAGE_WAIT;
        loop {
            let now = self.address().await;
            if now == expected {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the address stayed {now}, never {expected}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A form control's current value.
    pub(crate) async fn value(&self, css: &str) -> String {
        self.find(css)
            .await
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    /// Whether an element matching `css` exists now (no waiting).
    pub(crate) async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// The `data-*-id` values of the elements matching `css`, in page order.
    pub(crate) async fn ids(&self, css: &str, attr: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.client.find_all(Locator::Css(css)).await.expect("find") {
            out.push(e.attr(attr).await.expect("attr").unwrap_or_default());
        }
        out
    }

    /// Presses Tab once from the focused element; returns the newly focused element's classes.
    pub(crate) async fn tab(&self) -> String {
        let focused = self.client.active_element().await.expect("focus");
        focused
            .send_keys(&fantoccini::key::Key::Tab.to_string())
            .await
            .expect("Tab");
        let now = self.client.active_element().await.expect("focus");
        now.attr("class").await.expect("class").unwrap_or_default()
    }

    pub(crate) async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// The page's visible text.
    pub(crate) async fn page_text(&self) -> String {
        self.text("body").await
    }

    pub(crate) async fn heading(&self) -> String {
        self.text("h1").await
    }

    pub(crate) async fn sign_in(&self, app: &TestApp, email: &str, password: &str) {
        self.goto(&app.url("/signin")).await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("form[action='/signin'] button[type=submit]")
            .await;
        self.wait_for("form[action='/signout']").await;
    }

    /// Evaluates a script and returns its value.
    pub(crate) async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .expect("script")
    }

    /// Saves the page as `target/browser-screenshots/<store>-<name>.png` (under `CARGO_TARGET_DIR`
    /// when set), and returns the path.
    pub(crate) async fn screenshot(&self, store: StoreKind, name: &str) -> PathBuf {
        let dir = target_dir().join("browser-screenshots");
        self.save_screenshot(&dir, &format!("{}-{name}", store.name()))
            .await
    }

    pub(crate) async fn save_screenshot(&self, dir: &std::path::Path, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(dir).expect("screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// Ends the WebDriver session (then dropping stops chromedriver).
    pub(crate) async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// The cargo target directory: `CARGO_TARGET_DIR` if set, else the one holding this test
/// binary (`<target>/debug/deps/browser-...`).
pub(crate) fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something listens on `addr` (chromedriver has started).
fn wait_for_port(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not start listening on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A directory removed when dropped (a fresh Chromium profile per browser).
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Presses Tab until the focused element matches `css` (at most 60 times); panics otherwise.
pub(crate) async fn tab_to(browser: &Browser, css: &str) {
    for _ in 0..60 {
        let at = browser
            .client
            .execute(
                "return document.activeElement && document.activeElement.matches(arguments[0]);",
                vec![serde_json::json!(css)],
            )
            .await
            .expect("script");
        if at.as_bool() == Some(true) {
            return;
        }
        press(browser, &fantoccini::key::Key::Tab.to_string()).await;
    }
    panic!("Tab never reached {css}");
}

/// Sends keys to the focused element.
pub(crate) async fn press(browser: &Browser, keys: &str) {
    browser
        .client
        .active_element()
        .await
        .expect("focus")
        .send_keys(keys)
        .await
        .expect("keys");
}
