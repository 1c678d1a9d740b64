//! The command line: every setting is a flag and an environment variable (see `--help`).

use std::net::SocketAddr;

use chrono::Duration;
use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use medislot_core::Policy;

use crate::auth::Sessions;
use crate::client_addr::parse_trusted_proxy;
use crate::state::AppConfig;
use crate::stores::MEMORY_URL;

/// The store used when neither `--database-url` nor `--store` is given: a SQLite file in the
/// working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://medislot.db";

/// MediSlot's booking server: a JSON API with its OpenAPI document at /api/openapi.json and
/// interactive docs at /docs.
#[derive(Debug, Parser)]
#[command(name = "medislot-server", version, about, long_about = None)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every command.
    #[command(flatten)]
    pub settings: Settings,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Create an admin account in the configured store, or promote an existing account and set
    /// its password.
    CreateAdmin(CreateAdmin),
    /// Copy the SQLite store to a new file while the server runs (for PostgreSQL, use pg_dump).
    Backup(Backup),
}

/// Arguments of `backup`.
#[derive(Debug, Args)]
pub struct Backup {
    /// The file to write; it must not exist yet.
    #[arg(long)]
    pub to: std::path::PathBuf,
}

/// Arguments of `create-admin`.
#[derive(Debug, Args)]
pub struct CreateAdmin {
    /// The admin's email.
    #[arg(long)]
    pub email: String,
    /// Read the password from the first line of standard input (otherwise it is taken from
    /// MEDISLOT_ADMIN_PASSWORD).
    #[arg(long)]
    pub password_stdin: bool,
}

/// Which kind of store to use, overriding `--database-url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// Keep everything in memory; data is not kept when the server stops.
    Memory,
}

/// Settings of the server.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(
        long,
        env = "MEDISLOT_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,
    /// Where the data lives: `sqlite://PATH` (the default is ./medislot.db), `postgres://...`,
    /// or `memory:` (nothing is kept).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// A streaming replica of the PostgreSQL database (`postgres://...`) to serve the reads
    /// that tolerate lag from: slot listings, availability and next available, the doctor
    /// list. Everything else, and any of these right after this process wrote (or after the
    /// write whose MediSlot-Written-At the request brings back as MediSlot-Read-After, or in
    /// the medislot_read_after cookie), reads the primary; when the replica is down, the
    /// primary serves them all.
    #[arg(
        long,
        env = "MEDISLOT_REPLICA_URL",
        global = true,
        hide_env_values = true
    )]
    pub replica_url: Option<String>,
    /// `memory` keeps everything in this process, whatever --database-url says.
    #[arg(long, env = "MEDISLOT_STORE", value_enum, global = true)]
    pub store: Option<StoreKind>,
    /// Key that signs session tokens (at least 32 bytes). Without it a random key is used and
    /// sessions end when the server restarts.
    #[arg(
        long,
        env = "MEDISLOT_SESSION_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub session_secret: Option<String>,
    /// How long a session lasts, in minutes.
    #[arg(
        long,
        env = "MEDISLOT_SESSION_TTL_MINUTES",
        default_value_t = 720,
        global = true
    )]
    pub session_ttl_minutes: u32,
    /// The server is reached over HTTPS: mark the session cookie Secure and send
    /// Strict-Transport-Security (HSTS, one year) on every response.
    #[arg(long, env = "MEDISLOT_COOKIE_SECURE", global = true)]
    pub cookie_secure: bool,
    /// The origin browsers reach the server at (`https://clinic.example`). A form post's Origin
    /// header must name it; without it, the request's own Host. Set it behind a proxy that
    /// rewrites Host.
    #[arg(long, env = "MEDISLOT_PUBLIC_ORIGIN", global = true)]
    pub public_origin: Option<String>,
    /// A proxy (IP address or CIDR network) whose X-Forwarded-For names the client, for rate
    /// limits and logs. Repeat the flag, or separate with commas in the variable. Without it,
    /// X-Forwarded-For is ignored and the client is the TCP peer.
    #[arg(
        long = "trusted-proxy",
        env = "MEDISLOT_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_trusted_proxy,
        global = true
    )]
    pub trusted_proxies: Vec<IpNet>,
    /// Serve /metrics on this address only (for example 127.0.0.1:9090), apart from the API.
    #[arg(long, env = "MEDISLOT_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,
    /// Bearer token that /metrics asks for. With it, the main address serves /metrics too, to
    /// requests with `Authorization: Bearer <token>`; without it and without --metrics-listen,
    /// no metrics are served.
    #[arg(
        long,
        env = "MEDISLOT_METRICS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub metrics_token: Option<String>,
    /// Origins allowed to call the API from browsers (comma-separated). Empty: CORS is off.
    #[arg(
        long,
        env = "MEDISLOT_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_origins: Vec<String>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MEDISLOT_BODY_LIMIT_BYTES", default_value_t = 64 * 1024, global = true)]
    pub body_limit_bytes: usize,
    /// Sign-in and sign-up attempts allowed per client address per minute (0: unlimited).
    #[arg(
        long,
        env = "MEDISLOT_AUTH_ATTEMPTS_PER_MINUTE",
        default_value_t = 10,
        global = true
    )]
    pub auth_attempts_per_minute: u32,
    /// How long a password reset link works, in minutes.
    #[arg(
        long,
        env = "MEDISLOT_PASSWORD_RESET_MINUTES",
        default_value_t = 30,
        global = true
    )]
    pub password_reset_minutes: u32,
    /// How long a hold keeps a slot, in minutes.
    #[arg(
        long,
        env = "MEDISLOT_HOLD_MINUTES",
        default_value_t = 5,
        global = true
    )]
    pub hold_minutes: u32,
    /// How long an admin's cancellation keeps the slot out of the pool, in minutes.
    #[arg(
        long,
        env = "MEDISLOT_BUFFER_MINUTES",
        default_value_t = 10,
        global = true
    )]
    pub buffer_minutes: u32,
    /// How long before a slot starts a patient may last cancel or reschedule a confirmed
    /// booking, in minutes (0: until it starts). An admin always may.
    #[arg(
        long,
        env = "MEDISLOT_CHANGE_CUTOFF_MINUTES",
        default_value_t = 0,
        global = true
    )]
    pub change_cutoff_minutes: u32,
    /// How long a waitlist offer (a hold made for the first waiting patient) lasts, in minutes.
    #[arg(
        long,
        env = "MEDISLOT_OFFER_WINDOW_MINUTES",
        default_value_t = 15,
        global = true
    )]
    pub offer_window_minutes: u32,
    /// How many active waitlist entries a patient may have.
    #[arg(
        long,
        env = "MEDISLOT_WAITLIST_LIMIT",
        default_value_t = 5,
        global = true
    )]
    pub waitlist_limit: u32,
    /// How soon a patient may book: no booking, hold or reschedule to a slot starting within
    /// this many minutes (0: any slot that has not started). An admin's reschedule may.
    #[arg(
        long,
        env = "MEDISLOT_MIN_NOTICE_MINUTES",
        default_value_t = 0,
        global = true
    )]
    pub min_notice_minutes: u32,
    /// How far ahead a patient may book, in days: no booking, hold or reschedule to a slot
    /// starting later than this. An admin's reschedule may.
    #[arg(
        long,
        env = "MEDISLOT_BOOKING_HORIZON_DAYS",
        default_value_t = 56,
        global = true
    )]
    pub booking_horizon_days: u32,
    /// How long before a confirmed appointment its reminder email is due, in minutes (0: no
    /// reminders). A booking confirmed later than that before its start gets none.
    #[arg(
        long,
        env = "MEDISLOT_REMINDER_LEAD_MINUTES",
        default_value_t = 24 * 60,
        global = true
    )]
    pub reminder_lead_minutes: u32,
    /// How many weeks ahead slots are kept made from each doctor's saved working hours (the
    /// rolling horizon, 1 to 52): saving hours makes them, and the sweeper rolls it forward.
    #[arg(
        long,
        env = "MEDISLOT_HORIZON_WEEKS",
        default_value_t = medislot_core::DEFAULT_HORIZON_WEEKS,
        global = true
    )]
    pub horizon_weeks: u32,
    /// Seconds between sweeps that tidy expired holds and buffers.
    #[arg(
        long,
        env = "MEDISLOT_SWEEP_INTERVAL_SECS",
        default_value_t = 30,
        global = true
    )]
    pub sweep_interval_secs: u64,
    /// Seconds to let in-flight requests finish on shutdown.
    #[arg(
        long,
        env = "MEDISLOT_SHUTDOWN_GRACE_SECS",
        default_value_t = 20,
        global = true
    )]
    pub shutdown_grace_secs: u64,
    /// At start-up, create or promote this admin (with MEDISLOT_ADMIN_PASSWORD).
    #[arg(long, env = "MEDISLOT_ADMIN_EMAIL", global = true)]
    pub admin_email: Option<String>,
    /// The bootstrap admin's password. Prefer the environment variable to the flag, which
    /// other users of the machine can see.
    #[arg(
        long,
        env = "MEDISLOT_ADMIN_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub admin_password: Option<String>,
    /// Send every booking event as a signed POST to this URL (repeatable; comma-separated in
    /// the environment). Needs --webhook-secret.
    #[arg(
        long = "webhook-url",
        env = "MEDISLOT_WEBHOOK_URLS",
        value_delimiter = ',',
        global = true
    )]
    pub webhook_urls: Vec<String>,
    /// The webhooks' signing secret: `whsec_` and base64 (Standard Webhooks), or 24+ bytes.
    #[arg(
        long,
        env = "MEDISLOT_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub webhook_secret: Option<String>,
    /// Also trust the CA certificates in this PEM file for https webhooks (a clinic's own CA);
    /// the Web PKI roots are always trusted.
    #[arg(long, env = "MEDISLOT_WEBHOOK_CA_FILE", global = true)]
    pub webhook_ca_file: Option<std::path::PathBuf>,
    /// Email each booking event to its patient through this SMTP server:
    /// `smtps://user:pass@host:465`, `smtp://user:pass@host:587?tls=required`, or plain
    /// `smtp://host:25`. Needs --mail-from.
    #[arg(long, env = "MEDISLOT_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,
    /// The sender of emails: an address, or `Name <address>`.
    #[arg(long, env = "MEDISLOT_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// Publish every booking event to this NATS server's JetStream (`nats://host:4222`, or
    /// `nats://user:password@host:4222`), on subjects under --nats-subject-prefix.
    #[arg(long, env = "MEDISLOT_NATS_URL", hide_env_values = true, global = true)]
    pub nats_url: Option<String>,
    /// The subjects' prefix: events go to `{prefix}.{type}` (`medislot.booking.booked`), stored
    /// in the JetStream stream named after it (`MEDISLOT`), made when missing.
    #[arg(
        long,
        env = "MEDISLOT_NATS_SUBJECT_PREFIX",
        default_value = "medislot",
        global = true
    )]
    pub nats_subject_prefix: String,
    /// Seconds between rounds of message delivery.
    #[arg(
        long,
        env = "MEDISLOT_DELIVERY_INTERVAL_SECS",
        default_value_t = 2,
        global = true
    )]
    pub delivery_interval_secs: u64,
    /// Seconds a delivery round keeps its messages from other instances (the lease). A server
    /// that dies mid-round delays those messages by at most this; a round must finish within
    /// it (50 messages).
    #[arg(
        long,
        env = "MEDISLOT_DELIVERY_LEASE_SECS",
        default_value_t = 120,
        global = true
    )]
    pub delivery_lease_secs: u32,
    /// Log filter, in tracing's EnvFilter syntax (RUST_LOG also works).
    #[arg(long, env = "MEDISLOT_LOG", default_value = "info", global = true)]
    pub log: String,
}

impl Settings {
    /// The store URL these settings select.
    pub fn store_url(&self) -> String {
        match self.store {
            Some(StoreKind::Memory) => MEMORY_URL.to_owned(),
            None => self
                .database_url
                .clone()
                .filter(|url| !url.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
        }
    }

    /// The read replica's URL, if one is configured.
    pub fn replica_url(&self) -> Option<&str> {
        self.replica_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
    }

    /// The webhooks to deliver messages to, if any are configured.
    ///
    /// # Errors
    /// A message naming the unusable URL or secret, or saying the secret is missing.
    pub fn webhooks(&self) -> Result<Option<crate::delivery::Webhooks>, String> {
        let urls: Vec<String> = self
            .webhook_urls
            .iter()
            .filter(|u| !u.trim().is_empty())
            .cloned()
            .collect();
        match (urls.is_empty(), self.webhook_secret.as_deref()) {
            (true, _) => Ok(None),
            (false, Some(secret)) => {
                let ca_pem = match &self.webhook_ca_file {
                    Some(path) => std::fs::read(path)
                        .map_err(|e| format!("--webhook-ca-file {}: {e}", path.display()))?,
                    None => Vec::new(),
                };
                crate::delivery::Webhooks::trusting(&urls, secret, &ca_pem).map(Some)
            }
            (false, None) => Err(
                "--webhook-url needs --webhook-secret (MEDISLOT_WEBHOOK_SECRET) to sign with"
                    .to_owned(),
            ),
        }
    }

    /// The mailer to email messages with, if an SMTP server is configured.
    ///
    /// # Errors
    /// A message naming the unusable URL or sender, or saying the sender is missing.
    pub fn mailer(&self) -> Result<Option<crate::delivery::Mailer>, String> {
        let url = self.smtp_url.as_deref().filter(|u| !u.trim().is_empty());
        match (url, self.mail_from.as_deref()) {
            (None, _) => Ok(None),
            (Some(url), Some(from)) => crate::delivery::Mailer::new(url, from).map(Some),
            (Some(_), None) => {
                Err("--smtp-url needs --mail-from (MEDISLOT_MAIL_FROM) to send as".to_owned())
            }
        }
    }

    /// The NATS JetStream broker to publish messages to, if one is configured. Connects in
    /// the background: NATS may be down at start-up.
    ///
    /// # Errors
    /// A message naming the unusable URL or subject prefix.
    pub async fn broker(&self) -> Result<Option<crate::delivery::Broker>, String> {
        match self.nats_url.as_deref().filter(|u| !u.trim().is_empty()) {
            None => Ok(None),
            Some(url) => crate::delivery::Broker::connect(url, &self.nats_subject_prefix)
                .await
                .map(Some),
        }
    }

    /// How long a delivery round's claim lasts (at least 5 seconds).
    pub fn delivery_lease(&self) -> Duration {
        Duration::seconds(i64::from(self.delivery_lease_secs.max(5)))
    }

    /// Whether the session secret was given (otherwise a random one is used).
    pub fn has_session_secret(&self) -> bool {
        self.session_secret.is_some()
    }

    /// The application configuration these settings describe.
    pub fn app_config(&self) -> AppConfig {
        let public_origin = self
            .public_origin
            .as_deref()
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty());
        AppConfig {
            link_origin: public_origin
                .clone()
                .unwrap_or_else(|| format!("http://{}", self.listen)),
            session_secret: self
                .session_secret
                .as_ref()
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_else(Sessions::random_secret),
            session_ttl: Duration::minutes(i64::from(self.session_ttl_minutes.max(1))),
            password_reset_ttl: Duration::minutes(i64::from(self.password_reset_minutes.max(1))),
            cookie_secure: self.cookie_secure,
            auth_attempts_per_minute: self.auth_attempts_per_minute,
            body_limit_bytes: self.body_limit_bytes,
            cors_origins: self
                .cors_origins
                .iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            horizon_weeks: self.horizon_weeks,
            policy: Policy {
                hold: Duration::minutes(i64::from(self.hold_minutes)),
                buffer: Duration::minutes(i64::from(self.buffer_minutes)),
                change_cutoff: Duration::minutes(i64::from(self.change_cutoff_minutes)),
                offer_window: Duration::minutes(i64::from(self.offer_window_minutes)),
                waitlist_limit: self.waitlist_limit,
                min_notice: Duration::minutes(i64::from(self.min_notice_minutes)),
                horizon: Duration::days(i64::from(self.booking_horizon_days)),
                reminder_lead: (self.reminder_lead_minutes > 0)
                    .then(|| Duration::minutes(i64::from(self.reminder_lead_minutes))),
            },
            public_origin,
            metrics_token: self.metrics_token.clone().filter(|t| !t.trim().is_empty()),
            trusted_proxies: self.trusted_proxies.clone(),
            delivered_channels: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_url_the_store_is_the_default_sqlite_file() {
        let mut cli = Cli::try_parse_from(["medislot-server"]).unwrap();
        assert!(cli.command.is_none());
        // DATABASE_URL may be set in the environment (CI sets it): clear what it gave.
        cli.settings.database_url = None;
        cli.settings.store = None;
        assert_eq!(cli.settings.store_url(), DEFAULT_DATABASE_URL);
    }

    #[test]
    fn the_replica_url_is_taken_from_the_flag_and_an_empty_one_is_none() {
        let cli = Cli::try_parse_from([
            "medislot-server",
            "--database-url",
            "postgres://x@y/z",
            "--replica-url",
            "postgres://x@replica/z",
        ])
        .unwrap();
        assert_eq!(cli.settings.replica_url(), Some("postgres://x@replica/z"));
        let cli = Cli::try_parse_from(["medislot-server", "--replica-url", " "]).unwrap();
        assert_eq!(cli.settings.replica_url(), None);
    }

    #[test]
    fn store_memory_overrides_the_database_url() {
        let cli = Cli::try_parse_from([
            "medislot-server",
            "--database-url",
            "postgres://x@y/z",
            "--store",
            "memory",
        ])
        .unwrap();
        assert_eq!(cli.settings.store_url(), MEMORY_URL);
    }

    #[test]
    fn create_admin_takes_its_email_and_global_settings() {
        let cli = Cli::try_parse_from([
            "medislot-server",
            "create-admin",
            "--email",
            "a@b.co",
            "--password-stdin",
            "--store",
            "memory",
        ])
        .unwrap();
        match cli.command {
            Some(Command::CreateAdmin(args)) => {
                assert_eq!(args.email, "a@b.co");
                assert!(args.password_stdin);
            }
            other => panic!("expected create-admin, got {other:?}"),
        }
    }

    #[test]
    fn trusted_proxies_repeat_and_refuse_what_is_not_an_address() {
        let cli = Cli::try_parse_from([
            "medislot-server",
            "--trusted-proxy",
            "10.0.0.0/8",
            "--trusted-proxy",
            "::1",
        ])
        .unwrap();
        assert_eq!(cli.settings.app_config().trusted_proxies.len(), 2);
        assert!(Cli::try_parse_from(["medislot-server", "--trusted-proxy", "proxy"]).is_err());
    }

    #[test]
    fn a_webhook_url_without_a_secret_is_refused_at_start() {
        let cli = Cli::try_parse_from([
            "medislot-server",
            "--webhook-url",
            "http://127.0.0.1:9000/hook",
        ])
        .unwrap();
        // MEDISLOT_WEBHOOK_SECRET may be set in the environment: the flag wins only when given.
        if cli.settings.webhook_secret.is_none() {
            let refused = cli.settings.webhooks().unwrap_err();
            assert!(refused.contains("--webhook-secret"), "{refused}");
        }
        let cli = Cli::try_parse_from([
            "medislot-server",
            "--webhook-url",
            "http://127.0.0.1:9000/a,http://127.0.0.1:9000/b",
            "--webhook-secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ])
        .unwrap();
        assert_eq!(cli.settings.webhook_urls.len(), 2);
        assert!(cli.settings.webhooks().unwrap().is_some());
    }

    // The mailer's connection pool lives on the Tokio runtime.
    #[tokio::test]
    async fn an_smtp_url_needs_a_sender_and_both_must_be_usable() {
        let cli = Cli::try_parse_from(["medislot-server", "--smtp-url", "smtp://127.0.0.1:2525"])
            .unwrap();
        // MEDISLOT_MAIL_FROM may be set in the environment: the flag wins only when given.
        if cli.settings.mail_from.is_none() {
            let refused = cli.settings.mailer().unwrap_err();
            assert!(refused.contains("--mail-from"), "{refused}");
        }
        let cli = Cli::try_parse_from([
            "medislot-server",
            "--smtp-url",
            "smtp://127.0.0.1:2525",
            "--mail-from",
            "Clinic <clinic@example.com>",
        ])
        .unwrap();
        assert!(cli.settings.mailer().unwrap().is_some());
        let cli = Cli::try_parse_from([
            "medislot-server",
            "--smtp-url",
            "gopher://host",
            "--mail-from",
            "clinic@example.com",
        ])
        .unwrap();
        assert!(cli.settings.mailer().unwrap_err().contains("SMTP URL"));
        let cli = Cli::try_parse_from([
            "medislot-server",
            "--smtp-url",
            "smtp://127.0.0.1:2525",
            "--mail-from",
            "not an address",
        ])
        .unwrap();
        assert!(cli.settings.mailer().unwrap_err().contains("sender"));
    }

    #[test]
    fn the_reminder_lead_defaults_to_a_day_and_zero_turns_reminders_off() {
        let cli =
            Cli::try_parse_from(["medislot-server", "--reminder-lead-minutes", "90"]).unwrap();
        assert_eq!(
            cli.settings.app_config().policy.reminder_lead,
            Some(Duration::minutes(90))
        );
        let cli = Cli::try_parse_from(["medislot-server", "--reminder-lead-minutes", "0"]).unwrap();
        assert_eq!(cli.settings.app_config().policy.reminder_lead, None);
        if std::env::var_os("MEDISLOT_REMINDER_LEAD_MINUTES").is_none() {
            let cli = Cli::try_parse_from(["medislot-server"]).unwrap();
            assert_eq!(
                cli.settings.app_config().policy.reminder_lead,
                Some(Duration::hours(24))
            );
        }
    }

    #[test]
    fn the_booking_window_flags_set_the_policy_and_default_to_the_horizon() {
        let cli = Cli::try_parse_from([
            "medislot-server",
            "--min-notice-minutes",
            "90",
            "--booking-horizon-days",
            "14",
        ])
        .unwrap();
        let policy = cli.settings.app_config().policy;
        assert_eq!(policy.min_notice, Duration::minutes(90));
        assert_eq!(policy.horizon, Duration::days(14));
        let defaults = Policy::default();
        assert_eq!(defaults.min_notice, Duration::zero());
        assert_eq!(defaults.horizon, medislot_core::DEFAULT_HORIZON);
        // The environment may set them (as any flag); without it the defaults are the core's.
        let cli = Cli::try_parse_from(["medislot-server"]).unwrap();
        if std::env::var_os("MEDISLOT_MIN_NOTICE_MINUTES").is_none()
            && std::env::var_os("MEDISLOT_BOOKING_HORIZON_DAYS").is_none()
        {
            let policy = cli.settings.app_config().policy;
            assert_eq!(
                (policy.min_notice, policy.horizon),
                (defaults.min_notice, defaults.horizon)
            );
        }
    }

    #[test]
    fn the_horizon_flag_sets_the_weeks_of_slots_kept_made() {
        let cli = Cli::try_parse_from(["medislot-server", "--horizon-weeks", "3"]).unwrap();
        assert_eq!(cli.settings.app_config().horizon_weeks, 3);
        if std::env::var_os("MEDISLOT_HORIZON_WEEKS").is_none() {
            let cli = Cli::try_parse_from(["medislot-server"]).unwrap();
            assert_eq!(cli.settings.app_config().horizon_weeks, 8);
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
