//! CPU time from Linux's `/proc`: this process's, and that of a PostgreSQL server running on
//! the same machine. Requests/s moves with the machine's load from run to run; CPU per request
//! much less, so two versions of the SQL can be compared by it.

use std::time::Duration;

/// What this module reads of a process's `/proc/<pid>/stat` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat<'a> {
    /// The command name.
    comm: &'a str,
    /// The parent's process id.
    ppid: u32,
    /// User and system time.
    cpu: Duration,
    /// User and system time of the children it waited for (a process that ended).
    children_cpu: Duration,
}

impl<'a> Stat<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        // The command name is in parentheses and may hold spaces and parentheses; the fields
        // after it start at state (field 3): ppid is field 4, utime, stime, cutime and cstime
        // fields 14 to 17, in clock ticks of 1/100 s on Linux.
        let (head, rest) = line.rsplit_once(')')?;
        let (_, comm) = head.split_once('(')?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |index: usize| -> Option<Duration> {
            let ticks: u64 = fields.get(index)?.parse().ok()?;
            Some(Duration::from_millis(ticks * 10))
        };
        Some(Self {
            comm,
            ppid: fields.get(1)?.parse().ok()?,
            cpu: ticks(11)? + ticks(12)?,
            children_cpu: ticks(13)? + ticks(14)?,
        })
    }
}

fn read_stat(pid: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()
}

/// CPU time used so far by this process (all threads).
pub(crate) fn this_process() -> Option<Duration> {
    let line = read_stat("self")?;
    Stat::parse(&line).map(|stat| stat.cpu)
}

/// A PostgreSQL server whose processes this machine's `/proc` shows: its postmaster, and the
/// backends and background workers the postmaster started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DatabaseServer {
    postmaster: u32,
}

impl DatabaseServer {
    /// The server that answers `database_url`: the parent of the backend a new connection
    /// gets. `None` when that backend is not a `postgres` process of this machine (a remote
    /// server, a pooler in front of one, another PID namespace) or there is no `/proc`.
    pub(crate) async fn find(database_url: &str) -> Option<Self> {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(database_url).await.ok()?;
        let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .ok()?;
        let _ = conn.close().await;
        let line = read_stat(&backend.to_string())?;
        let backend = Stat::parse(&line)?;
        let postmaster = read_stat(&backend.ppid.to_string())?;
        (backend.comm == "postgres" && Stat::parse(&postmaster)?.comm == "postgres").then_some(
            Self {
                postmaster: backend.ppid,
            },
        )
    }

    /// CPU time the server has used so far: the postmaster's own, that of every process it
    /// started and still runs, and that of those that ended, which the postmaster collected
    /// when it waited for them. So a backend or worker that exits between two readings
    /// neither drops out of the difference nor takes its earlier CPU time with it. Other
    /// servers on the machine are not counted.
    pub(crate) fn cpu_time(self) -> Option<Duration> {
        // A child reaped while `/proc` is walked would be missed by the walk and by a
        // collected time read before it, or counted by both with one read after it. So the
        // walk is repeated (five times at most, the last reading kept) until the collected
        // time is the same before and after it.
        let mut reading = None;
        for _ in 0..5 {
            let (_, collected_before) = self.postmaster_times()?;
            let running = self.running_children_cpu()?;
            let (own, collected) = self.postmaster_times()?;
            reading = Some(own + collected + running);
            if collected == collected_before {
                break;
            }
        }
        reading
    }

    /// The postmaster's own CPU time, and the time it collected from its ended children.
    fn postmaster_times(self) -> Option<(Duration, Duration)> {
        let line = read_stat(&self.postmaster.to_string())?;
        let stat = Stat::parse(&line)?;
        Some((stat.cpu, stat.children_cpu))
    }

    /// The CPU time of the postmaster's children that are running.
    fn running_children_cpu(self) -> Option<Duration> {
        let mut total = Duration::ZERO;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let Some(line) = read_stat(pid) else { continue };
            if let Some(child) = Stat::parse(&line).filter(|s| s.ppid == self.postmaster) {
                total += child.cpu;
            }
        }
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_the_name_the_parent_and_both_cpu_times() {
        // A command name may hold spaces and parentheses.
        let line = "4242 (postgres: app (x) idle) S 99 4242 4242 0 -1 4194560 1000 0 0 0 \
                    150 25 7 3 20 0 1 0 123456 220000000 3000 18446744073709551615";
        assert_eq!(
            Stat::parse(line),
            Some(Stat {
                comm: "postgres: app (x) idle",
                ppid: 99,
                cpu: Duration::from_millis(1_750),
                children_cpu: Duration::from_millis(100),
            })
        );
        assert_eq!(Stat::parse("4242 (cut short) S 99 1 2"), None);
    }
}
