//! A throwaway PostgreSQL cluster for one test process: `initdb` into a new temporary folder,
//! then a server that listens only on a Unix socket in that folder, tuned for speed over
//! durability (nothing in it outlives the tests).
//!
//! Stopping it does not rely on `Drop`, which never runs for the process-wide server kept in a
//! static. A small `sh` supervisor starts the server with `pg_ctl`, then reads its standard
//! input: a pipe whose only writer is the test process. However the test process ends
//! (returns, panics, is killed), the kernel closes that pipe, the supervisor's read returns,
//! and it stops the server (`pg_ctl stop -m fast`) and removes the folder. The supervisor has
//! a process group of its own, so a Ctrl-C aimed at `cargo test` does not stop it before it
//! has cleaned up.
//!
//! PostgreSQL refuses to run as root. When the tests run as root (CI, containers), the folder
//! is given to the `postgres` user (else `nobody`) and `initdb` and the supervisor run as that
//! user.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, BufRead as _, BufReader};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// The superuser `initdb` creates; local connections are trusted.
const SUPERUSER: &str = "postgres";
/// Only names the socket file (`.s.PGSQL.5432`): the server listens on no TCP port.
const PORT: u16 = 5432;
/// The longest Unix socket path Linux accepts (108 bytes with the final NUL).
const MAX_SOCKET_PATH: usize = 107;
/// The socket's file name, as `PORT` makes it.
const SOCKET_FILE: &str = ".s.PGSQL.5432";

/// The programs a cluster needs, all from one folder.
const PROGRAMS: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// Settings for a server whose data is thrown away: no TCP, no fsync, no full page writes.
const SERVER_OPTIONS: &str = "-c listen_addresses='' -c fsync=off -c synchronous_commit=off \
     -c full_page_writes=off -c shared_buffers=32MB";

/// Starts the server (`$1` the folder, `$2` the binaries' folder, `$3` the server's options),
/// says `ready` or `failed` on standard output, waits for standard input to close, then
/// stops the server and removes the folder.
const SUPERVISOR: &str = r#"
dir=$1; bin=$2; options=$3
if "$bin/pg_ctl" start -w -t 60 -s -D "$dir/data" -l "$dir/postgres.log" -o "$options" \
    >>"$dir/pg_ctl.log" 2>&1
then echo ready
else echo failed
fi
cat >/dev/null
"$bin/pg_ctl" stop -w -s -m fast -D "$dir/data" >/dev/null 2>&1
rm -rf "$dir"
"#;

/// Why no throwaway cluster could be started.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    /// No folder holds all of `initdb`, `pg_ctl` and `postgres`.
    #[error(
        "no folder holds initdb, pg_ctl and postgres (looked on PATH and in {})",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoBinaries {
        /// The distribution folders looked in after `PATH`.
        searched: Vec<PathBuf>,
    },
    /// Running as root, and neither a `postgres` nor a `nobody` user exists to run the server.
    #[error("running as root, and no `postgres` or `nobody` user to run PostgreSQL as")]
    NoUnprivilegedUser,
    /// A file operation or a process start failed.
    #[error("cannot {what}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `initdb` failed; its output says why.
    #[error("initdb failed ({status}): {output}")]
    Initdb {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed.
        output: String,
    },
    /// The server did not start; its log says why.
    #[error("the server did not start: {log}")]
    Start {
        /// `pg_ctl`'s output and the server's log.
        log: String,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// A running throwaway cluster. Dropping it stops the server and removes its folder (and waits
/// for both); so does the end of the process, when it is never dropped.
#[derive(Debug)]
pub(crate) struct Cluster {
    folder: PathBuf,
    bin: PathBuf,
    supervisor: Child,
    /// The supervisor's standard input; closing it is the signal to stop.
    lifeline: Option<ChildStdin>,
}

impl Cluster {
    /// Finds the binaries (on `path`, then in the distributions' folders), creates a cluster
    /// in a new temporary folder and starts its server. Blocks until the server accepts
    /// connections: call it from a blocking thread.
    pub(crate) fn start(path: Option<&OsStr>) -> Result<Cluster, ClusterError> {
        let bin = find_binaries(path)?;
        let folder = make_folder()?;
        let run_as = match run_as_for(&folder) {
            Ok(run_as) => run_as,
            Err(e) => {
                let _ = fs::remove_dir_all(&folder);
                return Err(e);
            }
        };
        if let Err(e) = init(&bin, &folder, run_as) {
            let _ = fs::remove_dir_all(&folder);
            return Err(e);
        }
        Self::supervise(bin, folder, run_as)
    }

    /// Starts the supervisor, which starts the server, and waits for its word.
    fn supervise(
        bin: PathBuf,
        folder: PathBuf,
        run_as: Option<User>,
    ) -> Result<Cluster, ClusterError> {
        let mut options = OsString::from("-k '");
        options.push(&folder);
        options.push(format!("' -p {PORT} {SERVER_OPTIONS}"));
        let spawned = command(Path::new("/bin/sh"), run_as)
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("medislot-pg-cluster")
            .arg(&folder)
            .arg(&bin)
            .arg(options)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Out of the terminal's process group: Ctrl-C must not stop it before it cleans up.
            .process_group(0)
            .spawn();
        let mut supervisor = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = fs::remove_dir_all(&folder);
                return Err(io_error("start /bin/sh to supervise the server")(e));
            }
        };
        let lifeline = supervisor.stdin.take();
        let mut word = String::new();
        if let Some(stdout) = supervisor.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut word);
        }
        let log = |name: &str| fs::read_to_string(folder.join(name)).unwrap_or_default();
        let failure = (word.trim() != "ready")
            .then(|| format!("{}{}", log("pg_ctl.log"), log("postgres.log")));
        let cluster = Cluster {
            folder,
            bin,
            supervisor,
            lifeline,
        };
        match failure {
            // Dropping `cluster` stops what started and removes the folder.
            Some(log) => Err(ClusterError::Start { log }),
            None => Ok(cluster),
        }
    }

    /// Connection options for the superuser's `postgres` database, over the socket.
    pub(crate) fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .socket(&self.folder)
            .port(PORT)
            .username(SUPERUSER)
            .database("postgres")
            .ssl_mode(PgSslMode::Disable)
    }

    /// The cluster's folder (data, socket, logs).
    pub(crate) fn folder(&self) -> &Path {
        &self.folder
    }

    /// The folder its binaries came from.
    pub(crate) fn bin(&self) -> &Path {
        &self.bin
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.supervisor.wait();
    }
}

/// The user that runs PostgreSQL when the tests run as root.
#[derive(Clone, Copy, Debug)]
struct User {
    uid: u32,
    gid: u32,
}

/// A command that runs as `run_as` when given, from `/` (readable by any user), without the
/// environment's `PG*` variables (`PGPORT` would move the server's socket, `PGDATA` its data).
fn command(program: &Path, run_as: Option<User>) -> Command {
    let mut command = Command::new(program);
    command.current_dir("/");
    for (name, _) in std::env::vars_os() {
        if name.as_encoded_bytes().starts_with(b"PG") {
            command.env_remove(name);
        }
    }
    if let Some(user) = run_as {
        command.uid(user.uid).gid(user.gid);
    }
    command
}

/// Runs `initdb` for a fast, trusted, throwaway cluster in `folder/data`.
fn init(bin: &Path, folder: &Path, run_as: Option<User>) -> Result<(), ClusterError> {
    let output = command(&bin.join("initdb"), run_as)
        .arg("-D")
        .arg(folder.join("data"))
        .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-locale"])
        // The cluster is thrown away: no need to wait for the disk.
        .arg("--no-sync")
        .stdin(Stdio::null())
        .output()
        .map_err(io_error(format!("run {}", bin.join("initdb").display())))?;
    if output.status.success() {
        return Ok(());
    }
    Err(ClusterError::Initdb {
        status: output.status,
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}

/// The first folder that holds `initdb`, `pg_ctl` and `postgres`: on `path`, then under
/// `/usr/lib/postgresql/<version>/bin` (Debian, Ubuntu), `/usr/pgsql-<version>/bin` (RHEL),
/// newest version first, then `/usr/local/pgsql/bin` (a source build).
pub(crate) fn find_binaries(path: Option<&OsStr>) -> Result<PathBuf, ClusterError> {
    let distribution = distribution_folders();
    path.map(|p| std::env::split_paths(p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        // An empty entry would mean the current folder, which is never where PostgreSQL is.
        .filter(|folder| !folder.as_os_str().is_empty())
        .chain(distribution.iter().cloned())
        .find(|folder| PROGRAMS.iter().all(|p| is_executable(&folder.join(p))))
        .ok_or(ClusterError::NoBinaries {
            searched: distribution,
        })
}

fn distribution_folders() -> Vec<PathBuf> {
    let mut folders = versioned_folders(Path::new("/usr/lib/postgresql"), "");
    folders.extend(versioned_folders(Path::new("/usr"), "pgsql-"));
    folders.push(PathBuf::from("/usr/local/pgsql/bin"));
    folders
}

/// `<parent>/<prefix><version>/bin` for each version there, newest first.
fn versioned_folders(parent: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let version = name
                .strip_prefix(prefix)?
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((version, parent.join(&name).join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, folder)| folder).collect()
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A new, private folder for the cluster. Its socket path must fit Linux's limit, and as root
/// its parent must be one the server's user can enter: `/tmp` then, rather than `TMPDIR`.
fn make_folder() -> Result<PathBuf, ClusterError> {
    let name = format!(
        "medislot-pg-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    );
    let mut parent = std::env::temp_dir();
    let fits = |parent: &Path| {
        parent.join(&name).join(SOCKET_FILE).as_os_str().len() <= MAX_SOCKET_PATH
            && fs::metadata(parent).is_ok_and(|m| m.permissions().mode() & 0o001 != 0)
    };
    if !fits(&parent) {
        parent = PathBuf::from("/tmp");
    }
    let folder = parent.join(name);
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&folder)
        .map_err(io_error(format!("create {}", folder.display())))?;
    Ok(folder)
}

/// `None` when this process is not root (the folder it made is its own); as root, the user
/// that will run PostgreSQL, now the folder's owner.
fn run_as_for(folder: &Path) -> Result<Option<User>, ClusterError> {
    let owner = fs::metadata(folder)
        .map_err(io_error(format!("read {}", folder.display())))?
        .uid();
    if owner != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").map_err(io_error("read /etc/passwd"))?;
    let user = ["postgres", "nobody"]
        .iter()
        .find_map(|wanted| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let _password = fields.next()?;
                let uid = fields.next()?.parse().ok()?;
                let gid = fields.next()?.parse().ok()?;
                (name == *wanted).then_some(User { uid, gid })
            })
        })
        .ok_or(ClusterError::NoUnprivilegedUser)?;
    std::os::unix::fs::chown(folder, Some(user.uid), Some(user.gid)).map_err(io_error(format!(
        "give {} to the server's user",
        folder.display()
    )))?;
    Ok(Some(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_tried_newest_first_and_other_names_ignored() {
        let parent =
            std::env::temp_dir().join(format!("medislot-versions-{}", uuid::Uuid::now_v7()));
        for name in ["9.6", "15", "13", "common", "16beta"] {
            fs::create_dir_all(parent.join(name)).unwrap();
        }
        let found = versioned_folders(&parent, "");
        fs::remove_dir_all(&parent).unwrap();
        assert_eq!(
            found,
            ["15", "13", "9.6"]
                .map(|v| parent.join(v).join("bin"))
                .to_vec()
        );
    }

    #[test]
    fn no_binaries_on_an_empty_path_names_the_folders_searched() {
        let searched = distribution_folders();
        match find_binaries(Some(OsStr::new(""))) {
            Err(ClusterError::NoBinaries { searched: listed }) => assert_eq!(listed, searched),
            // This machine has PostgreSQL installed in a distribution folder.
            Ok(bin) => assert!(searched.contains(&bin)),
            Err(other) => panic!("unexpected {other}"),
        }
    }
}
