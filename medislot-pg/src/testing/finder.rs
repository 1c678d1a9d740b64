//! Finding a PostgreSQL server for the tests: `DATABASE_URL`, the local server, a throwaway
//! cluster, a container, in that order (see the module docs of [`crate::testing`]).

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};
use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::testcontainers::runners::AsyncRunner as _;
use testcontainers_modules::testcontainers::ContainerAsync;
use tokio::sync::OnceCell;

use super::cluster::Cluster;
use super::scratch;
use crate::{split_pooler, PgStore, PgStoreOptions, Pooler};

/// How long a candidate local server has to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Where Unix sockets are looked for when `PGHOST` is unset: Debian's folder, then libpq's
/// built-in default.
const SOCKET_FOLDERS: [&str; 2] = ["/var/run/postgresql", "/tmp"];
/// The role tried after the login user when `PGUSER` is unset: the packages' superuser.
const PACKAGE_SUPERUSER: &str = "postgres";

/// What the finder reads from the machine, passed explicitly so that a test can describe
/// another machine (say, one where nothing listens) without changing its process's
/// environment, which its other threads share. [`ServerSettings::from_env`] reads the real one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerSettings {
    /// `DATABASE_URL`: when set, the server to use, with no other tried.
    pub database_url: Option<String>,
    /// `PGHOST`: host names, addresses or socket folders (starting with `/`), separated by
    /// commas. Unset: the Unix socket in `/var/run/postgresql` or `/tmp` when there is one,
    /// then TCP on 127.0.0.1.
    pub pghost: Option<String>,
    /// `PGPORT`; 5432 when unset.
    pub pgport: Option<String>,
    /// `PGUSER`. Unset: the login user, then `postgres`.
    pub pguser: Option<String>,
    /// `PGPASSWORD`.
    pub pgpassword: Option<String>,
    /// `PGDATABASE`: where the tests connect to create their databases; `postgres` when unset.
    pub pgdatabase: Option<String>,
    /// The login user's name (`USER`, else `LOGNAME`).
    pub login_user: Option<String>,
    /// `PATH`: searched first for `initdb`, `pg_ctl` and `postgres`.
    pub path: Option<OsString>,
    /// Whether to try testcontainers when nothing else worked (true from the environment).
    pub containers: bool,
}

impl ServerSettings {
    /// This process's environment. Empty variables count as unset, as libpq counts them.
    pub fn from_env() -> ServerSettings {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        ServerSettings {
            database_url: var("DATABASE_URL"),
            pghost: var("PGHOST"),
            pgport: var("PGPORT"),
            pguser: var("PGUSER"),
            pgpassword: var("PGPASSWORD"),
            pgdatabase: var("PGDATABASE"),
            login_user: var("USER").or_else(|| var("LOGNAME")),
            path: std::env::var_os("PATH"),
            containers: true,
        }
    }

    /// The folder a throwaway cluster would take `initdb`, `pg_ctl` and `postgres` from:
    /// the first on [`ServerSettings::path`] that holds all three, else the newest under the
    /// distributions' usual folders; `None` when PostgreSQL is not installed.
    pub fn postgres_binaries(&self) -> Option<PathBuf> {
        super::cluster::find_binaries(self.path.as_deref()).ok()
    }
}

/// Where a [`TestServer`] came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerSource {
    /// The server `DATABASE_URL` names.
    DatabaseUrl,
    /// A server already running on this machine, found as libpq would find it.
    Local {
        /// The host or socket folder that answered.
        host: String,
        /// Its port.
        port: u16,
        /// The role used, one that may create databases.
        user: String,
    },
    /// A throwaway cluster this process started; it stops when the process ends.
    Cluster {
        /// Its folder: data, Unix socket and logs.
        folder: PathBuf,
        /// Where its `initdb`, `pg_ctl` and `postgres` came from.
        bin: PathBuf,
    },
    /// A PostgreSQL container started through testcontainers.
    Container,
}

impl fmt::Display for ServerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerSource::DatabaseUrl => write!(f, "the server DATABASE_URL names"),
            ServerSource::Local { host, port, user } => {
                write!(f, "the local server at {host}:{port} as {user}")
            }
            ServerSource::Cluster { folder, bin } => write!(
                f,
                "a throwaway cluster in {} (binaries from {})",
                folder.display(),
                bin.display()
            ),
            ServerSource::Container => write!(f, "a testcontainers PostgreSQL"),
        }
    }
}

/// No server could be found or started; the message lists what was tried and says what to
/// install or set.
#[derive(Debug, thiserror::Error)]
#[error(
    "the PostgreSQL tests found no server. Tried, in order:\n{}\n\
     Install PostgreSQL (Debian, Ubuntu: `apt-get install postgresql`): the tests use the \
     local server when it runs, else start a throwaway one from its initdb and postgres. \
     Or set DATABASE_URL (for example postgres://postgres@127.0.0.1:5432/postgres, a role \
     that may CREATE DATABASE), or run Docker for testcontainers.",
    .tried.iter().map(|t| format!("  - {t}")).collect::<Vec<_>>().join("\n")
)]
pub struct NoServer {
    tried: Vec<String>,
}

impl NoServer {
    /// Each way tried, with why it failed.
    pub fn tried(&self) -> &[String] {
        &self.tried
    }
}

/// A PostgreSQL server the tests may create databases on, and what keeps it running.
#[derive(Debug)]
pub struct TestServer {
    admin: PgConnectOptions,
    /// What `DATABASE_URL`'s `pooler` parameter says stands in front of the server.
    pooler: Pooler,
    source: ServerSource,
    swept: OnceCell<()>,
    _keep: Keep,
}

/// What a server needs kept alive: the cluster or container this process started. Dropping
/// it stops them.
#[derive(Debug)]
enum Keep {
    Nothing,
    Cluster {
        _cluster: Cluster,
    },
    Container {
        _container: Box<ContainerAsync<Postgres>>,
    },
}

impl TestServer {
    /// Finds a server, in this order: `DATABASE_URL` when set (used as it is); the local
    /// server as libpq finds it, when it answers and the role may create databases; a
    /// throwaway cluster from the PostgreSQL binaries installed here; a testcontainers
    /// PostgreSQL when `settings.containers` and Docker runs.
    ///
    /// # Errors
    /// [`NoServer`] when none of them works, listing why each failed.
    pub async fn find(settings: &ServerSettings) -> Result<TestServer, NoServer> {
        let mut tried = Vec::new();
        if let Some(url) = &settings.database_url {
            let refused = |why: String| NoServer {
                tried: vec![format!("DATABASE_URL: {why}")],
            };
            let (url, pooler) = split_pooler(url).map_err(|e| refused(e.to_string()))?;
            return match PgConnectOptions::from_str(&url) {
                Ok(admin) => {
                    let mut server =
                        TestServer::new(admin, ServerSource::DatabaseUrl, Keep::Nothing);
                    server.pooler = pooler.unwrap_or_default();
                    Ok(server)
                }
                Err(e) => Err(refused(format!("not a PostgreSQL URL ({e})"))),
            };
        }
        tried.push("DATABASE_URL: not set".to_owned());

        match find_local(settings).await {
            Ok((admin, source)) => return Ok(TestServer::new(admin, source, Keep::Nothing)),
            Err(failures) => tried.extend(failures),
        }

        let path = settings.path.clone();
        match tokio::task::spawn_blocking(move || Cluster::start(path.as_deref())).await {
            Ok(Ok(cluster)) => {
                let source = ServerSource::Cluster {
                    folder: cluster.folder().to_owned(),
                    bin: cluster.bin().to_owned(),
                };
                return Ok(TestServer::new(
                    cluster.connect_options(),
                    source,
                    Keep::Cluster { _cluster: cluster },
                ));
            }
            Ok(Err(e)) => tried.push(format!("a throwaway cluster: {e}")),
            Err(e) => tried.push(format!("a throwaway cluster: {e}")),
        }

        if settings.containers {
            match start_container().await {
                Ok((admin, container)) => {
                    let keep = Keep::Container {
                        _container: Box::new(container),
                    };
                    return Ok(TestServer::new(admin, ServerSource::Container, keep));
                }
                Err(e) => tried.push(format!("testcontainers: {e}")),
            }
        } else {
            tried.push("testcontainers: not asked for".to_owned());
        }
        Err(NoServer { tried })
    }

    fn new(admin: PgConnectOptions, source: ServerSource, keep: Keep) -> TestServer {
        tracing::info!(%source, "PostgreSQL server for the tests");
        TestServer {
            admin: admin.disable_statement_logging(),
            pooler: Pooler::None,
            source,
            swept: OnceCell::new(),
            _keep: keep,
        }
    }

    /// Where this server came from.
    pub fn source(&self) -> &ServerSource {
        &self.source
    }

    /// Connection options for the database where test databases are created.
    pub fn admin_options(&self) -> &PgConnectOptions {
        &self.admin
    }

    /// The pooler in front of the server (`DATABASE_URL`'s `pooler` parameter), which every
    /// store [`TestServer::fresh_store_with`] makes is set up for.
    pub fn pooler(&self) -> Pooler {
        self.pooler
    }

    /// A new, empty, migrated database on this server, with a pool set up by `options` (and
    /// for the server's [`pooler`](TestServer::pooler), if any); it is dropped when the
    /// store's last clone is dropped.
    ///
    /// # Panics
    /// When the server refuses (these helpers are for tests).
    pub async fn fresh_store_with(&self, options: PgStoreOptions) -> PgStore {
        let options = match self.pooler {
            Pooler::None => options,
            pooler => options.pooler(pooler),
        };
        self.swept
            .get_or_init(|| scratch::drop_leftovers(&self.admin))
            .await;
        scratch::fresh_store(&self.admin, options).await
    }

    /// [`TestServer::fresh_store_with`] the default options.
    ///
    /// # Panics
    /// As [`TestServer::fresh_store_with`].
    pub async fn fresh_store(&self) -> PgStore {
        self.fresh_store_with(PgStoreOptions::default()).await
    }
}

/// The local server as libpq would find it: each host of `PGHOST` (or the default socket
/// folders that hold a socket, then 127.0.0.1), as `PGUSER` (or the login user, then
/// `postgres`), taking the first that answers with a role that may create databases.
async fn find_local(
    settings: &ServerSettings,
) -> Result<(PgConnectOptions, ServerSource), Vec<String>> {
    let port = match settings.pgport.as_deref().map(str::parse::<u16>) {
        None => 5432,
        Some(Ok(port)) => port,
        Some(Err(_)) => return Err(vec!["the local server: PGPORT is not a port".to_owned()]),
    };
    let hosts: Vec<String> = match &settings.pghost {
        Some(hosts) => hosts.split(',').map(|h| h.trim().to_owned()).collect(),
        None => SOCKET_FOLDERS
            .iter()
            .filter(|folder| {
                std::path::Path::new(folder)
                    .join(format!(".s.PGSQL.{port}"))
                    .exists()
            })
            .map(|folder| (*folder).to_owned())
            .chain(["127.0.0.1".to_owned()])
            .collect(),
    };
    let users: Vec<String> = match &settings.pguser {
        Some(user) => vec![user.clone()],
        None => {
            let mut users: Vec<String> = settings.login_user.iter().cloned().collect();
            if !users.iter().any(|u| u == PACKAGE_SUPERUSER) {
                users.push(PACKAGE_SUPERUSER.to_owned());
            }
            users
        }
    };
    let database = settings.pgdatabase.as_deref().unwrap_or("postgres");
    let mut failures = Vec::new();
    for host in &hosts {
        for user in &users {
            let mut options = PgConnectOptions::new_without_pgpass()
                .port(port)
                .username(user)
                .database(database);
            options = if host.starts_with('/') {
                options.socket(host)
            } else {
                options.host(host)
            };
            if let Some(password) = &settings.pgpassword {
                options = options.password(password);
            }
            match may_create_databases(&options).await {
                Ok(()) => {
                    let source = ServerSource::Local {
                        host: host.clone(),
                        port,
                        user: user.clone(),
                    };
                    return Ok((options, source));
                }
                Err(why) => failures.push(format!(
                    "the local server at {host}:{port} as {user}: {why}"
                )),
            }
        }
    }
    Err(failures)
}

/// Whether the server answers and the role may create databases.
async fn may_create_databases(options: &PgConnectOptions) -> Result<(), String> {
    let options = options.clone().disable_statement_logging();
    let mut conn = tokio::time::timeout(PROBE_TIMEOUT, options.connect())
        .await
        .map_err(|_| format!("no answer within {PROBE_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    let allowed: Result<bool, _> = sqlx::query_scalar(
        "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut conn)
    .await;
    let _ = conn.close().await;
    match allowed {
        Ok(true) => Ok(()),
        Ok(false) => Err("the role may not CREATE DATABASE".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// A PostgreSQL container and the options to reach it.
async fn start_container() -> Result<(PgConnectOptions, ContainerAsync<Postgres>), String> {
    let container = Postgres::default()
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let host = container.get_host().await.map_err(|e| e.to_string())?;
    let port = container
        .get_host_port_ipv4(5432)
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("postgres://postgres:postgres@{host}:{port}/postgres");
    let admin = PgConnectOptions::from_str(&url).map_err(|e| e.to_string())?;
    Ok((admin, container))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_variables_count_as_unset_and_containers_are_allowed() {
        let settings = ServerSettings::from_env();
        assert!(settings.containers);
        for value in [
            &settings.database_url,
            &settings.pghost,
            &settings.pgport,
            &settings.pguser,
        ] {
            assert!(value.as_deref().is_none_or(|v| !v.trim().is_empty()));
        }
    }

    #[tokio::test]
    async fn a_bad_port_is_named() {
        let settings = ServerSettings {
            pgport: Some("post".to_owned()),
            ..ServerSettings::default()
        };
        let failures = find_local(&settings).await.unwrap_err();
        assert_eq!(failures, ["the local server: PGPORT is not a port"]);
    }

    #[tokio::test]
    async fn a_bad_database_url_is_refused_without_trying_anything_else() {
        let settings = ServerSettings {
            database_url: Some("not a URL".to_owned()),
            pghost: Some("127.0.0.1".to_owned()),
            ..ServerSettings::default()
        };
        let error = TestServer::find(&settings).await.unwrap_err();
        assert_eq!(error.tried().len(), 1, "{error}");
        assert!(error.tried()[0].starts_with("DATABASE_URL"), "{error}");
    }
}
