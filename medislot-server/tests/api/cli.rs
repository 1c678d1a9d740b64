//! The binary as an operator runs it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use medislot_core::{Email, Role};

const BIN: &str = env!("CARGO_BIN_EXE_medislot-server");

fn create_admin(url: &str, email: &str, password: &str) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args([
            "create-admin",
            "--email",
            email,
            "--password-stdin",
            "--database-url",
            url,
        ])
        .env_remove("DATABASE_URL")
        .env_remove("MEDISLOT_STORE")
        .env_remove("MEDISLOT_ADMIN_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn create_admin_creates_then_promotes_an_admin_in_the_configured_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("clinic.db").display());
    let first = create_admin(&url, "Boss@Example.com", "admin-password");
    assert!(first.status.success(), "{first:?}");
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains("admin boss@example.com created"),
        "{stdout}"
    );
    assert!(stdout.contains("clinic.db"), "{stdout}");
    let again = create_admin(&url, "boss@example.com", "new-admin-password");
    assert!(String::from_utf8_lossy(&again.stdout).contains("promoted"));

    let stores = medislot_server::stores::open(&url).await.unwrap();
    let account = stores
        .accounts
        .account_by_email(&Email::parse("boss@example.com").unwrap())
        .await
        .unwrap()
        .expect("the admin exists");
    assert_eq!(account.role, Role::Admin);
    assert!(!account.password_hash.contains("new-admin-password"));
}

#[test]
fn create_admin_refuses_a_short_password_and_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("clinic.db").display());
    let short = create_admin(&url, "boss@example.com", "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));
    let missing = Command::new(BIN)
        .args(["create-admin", "--email", "a@b.co", "--store", "memory"])
        .env_remove("MEDISLOT_ADMIN_PASSWORD")
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--password-stdin"));
}

fn request(port: u16, method: &str, path: &str, json: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        json.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(json.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

fn get(port: u16, path: &str) -> Option<String> {
    request(port, "GET", path, "")
}

#[test]
fn the_server_bootstraps_its_admin_says_where_its_data_lives_and_stops_cleanly_on_sigterm() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .args([
            "--store",
            "memory",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env_remove("DATABASE_URL")
        .env("MEDISLOT_ADMIN_EMAIL", "root@clinic.example")
        .env("MEDISLOT_ADMIN_PASSWORD", "bootstrap-password")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let started = Instant::now();
    let health = loop {
        if let Some(answer) = get(port, "/healthz") {
            break answer;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let login = request(
        port,
        "POST",
        "/api/v1/auth/login",
        r#"{"email":"root@clinic.example","password":"bootstrap-password"}"#,
    )
    .expect("an answer");
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    assert!(login.contains(r#""role":"admin""#), "{login}");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("data is not kept"), "{log}");
    assert!(log.contains("MediSlot stopped"), "{log}");
}
