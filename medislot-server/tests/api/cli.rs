//! The binary as an operator runs it.

use std::io::Write;
use std::process::{Command, Stdio};

use medislot_core::{Email, Role};

use crate::process::{Server, BIN};

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
fn create_admin_refuses_a_weak_password_naming_the_rule_and_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("clinic.db").display());
    for (weak, rule) in [
        ("short", "at least 10 characters"),
        ("          ", "whitespace"),
        ("1234567890", "most common passwords"),
    ] {
        let refused = create_admin(&url, "boss@example.com", weak);
        assert!(!refused.status.success(), "{weak:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains("password") && stderr.contains(rule),
            "{stderr}"
        );
    }
    let missing = Command::new(BIN)
        .args(["create-admin", "--email", "a@b.co", "--store", "memory"])
        .env_remove("MEDISLOT_ADMIN_PASSWORD")
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--password-stdin"));
}

#[test]
fn the_server_bootstraps_its_admin_says_where_its_data_lives_and_stops_cleanly_on_sigterm() {
    let server = Server::start(
        &["--store", "memory"],
        &[
            ("MEDISLOT_ADMIN_EMAIL", "root@clinic.example"),
            ("MEDISLOT_ADMIN_PASSWORD", "bootstrap-password"),
        ],
    );
    let login = server
        .request(
            "POST",
            "/api/v1/auth/login",
            None,
            r#"{"email":"root@clinic.example","password":"bootstrap-password"}"#,
        )
        .expect("an answer");
    assert_eq!(login.status, 200, "{login:?}");
    assert_eq!(login.json()["user"]["role"], "admin", "{login:?}");
    let output = server.stop();
    assert!(output.status.success(), "{output:?}");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("data is not kept"), "{log}");
    assert!(log.contains("MediSlot stopped"), "{log}");
}

fn backup(url: &str, to: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args([
            "backup",
            "--to",
            to.to_str().unwrap(),
            "--database-url",
            url,
        ])
        .env_remove("DATABASE_URL")
        .env_remove("MEDISLOT_STORE")
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn backup_copies_the_sqlite_store_into_a_file_that_opens_as_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("clinic.db").display());
    assert!(create_admin(&url, "boss@example.com", "admin-password")
        .status
        .success());
    let copy = dir.path().join("copy.db");
    let done = backup(&url, &copy);
    assert!(done.status.success(), "{done:?}");
    assert!(String::from_utf8_lossy(&done.stdout).contains("copy.db"));

    let restored = medislot_server::stores::open(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    let admin = restored
        .accounts
        .account_by_email(&Email::parse("boss@example.com").unwrap())
        .await
        .unwrap()
        .expect("the copy holds the admin");
    assert_eq!(admin.role, Role::Admin);

    // A second backup to the same file is refused and leaves the first one as it was.
    let before = std::fs::read(&copy).unwrap();
    let again = backup(&url, &copy);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&copy).unwrap(), before);
}

#[test]
fn backup_refuses_a_missing_file_and_the_other_stores_naming_what_to_use() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}", dir.path().join("typo.db").display());
    let out = backup(&missing, &dir.path().join("copy.db"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to back up"));
    assert!(
        !dir.path().join("typo.db").exists(),
        "no empty store is created"
    );

    let out = backup(
        "postgres://u:secret@127.0.0.1:1/x",
        &dir.path().join("c.db"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");

    let out = backup("memory:", &dir.path().join("c.db"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("keeps nothing"));
}
