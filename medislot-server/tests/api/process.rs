//! The server binary as a separate process, spoken to over plain HTTP/1.1 on loopback.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_medislot-server");

/// A running `medislot-server` process on a free loopback port. Dropped (say, by a failing
/// assertion) while still running, it is killed, so no test leaves a server behind.
pub(crate) struct Server {
    child: Option<Child>,
    pub(crate) port: u16,
}

impl Server {
    /// Starts the binary with `args` (plus `--listen`) and `env`, and waits until `/healthz`
    /// answers.
    pub(crate) fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(BIN)
            .args(args)
            .args(["--listen", &listen])
            .env_remove("DATABASE_URL")
            .env_remove("MEDISLOT_STORE")
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let server = Server {
            child: Some(child),
            port,
        };
        let started = Instant::now();
        while server.request("GET", "/healthz", None, "").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server never answered"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Sends one request (`Connection: close`) and reads the whole answer; `None` when the
    /// server could not be reached or the connection broke.
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        json: &str,
    ) -> Option<Reply> {
        request(self.port, method, path, bearer, json)
    }

    /// Ends the process with SIGKILL: no shutdown code runs.
    pub(crate) fn kill(mut self) {
        let mut child = self.child.take().expect("the server is running");
        child.kill().expect("SIGKILL");
        child.wait().expect("the killed server is reaped");
    }

    /// Asks the process to stop with SIGTERM and returns what it printed.
    pub(crate) fn stop(mut self) -> Output {
        let child = self.child.take().expect("the server is running");
        // The shell's own `kill`: `/usr/bin/kill` (procps) is missing from slim images.
        let term = Command::new("sh")
            .args(["-c", "kill -TERM \"$1\"", "sh", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        child.wait_with_output().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A loopback port that was free a moment ago.
/// A loopback port free now, for a process a test starts. It is taken below the kernel's
/// ephemeral range (32768 and up by default): a port the kernel handed out from that range
/// could be given to a parallel test's outgoing connection before the process binds it. Never
/// the same port twice in one test binary.
pub(crate) fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let candidate = 20_000 + (uuid::Uuid::new_v4().as_u128() % 12_000) as u16;
        if !given.contains(&candidate) && TcpListener::bind(("127.0.0.1", candidate)).is_ok() {
            given.push(candidate);
            return candidate;
        }
    }
}

/// An HTTP answer: status and raw body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// The status line and headers, as received.
    pub(crate) head: String,
    pub(crate) body: String,
}

impl Reply {
    /// The value of header `name` (case-insensitive), when the answer has it.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("a JSON body ({e}): {}", self.body))
    }
}

/// See [`Server::request`].
pub(crate) fn request(
    port: u16,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    json: &str,
) -> Option<Reply> {
    let auth = bearer.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|auth| ("Authorization", auth))
        .into_iter()
        .collect();
    request_with_headers(port, method, path, &headers, json)
}

/// As [`request`], sending `headers` (name, value) as well.
pub(crate) fn request_with_headers(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json: &str,
) -> Option<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        json.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(json.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some(Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}
