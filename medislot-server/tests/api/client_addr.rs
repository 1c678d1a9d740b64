//! The client's address (for rate limits and logs) comes from `X-Forwarded-For` only when the
//! TCP peer is a configured trusted proxy, and then from its rightmost untrusted entry.

use crate::process::Server;

const LOGIN: &str = r#"{"email":"nobody@example.com","password":"not the password"}"#;

/// A sign-in attempt as forwarded for `forwarded_for`; its status (401 or 429).
fn attempt(server: &Server, forwarded_for: &str) -> u16 {
    crate::process::request_with_headers(
        server.port,
        "POST",
        "/api/v1/auth/login",
        &[("X-Forwarded-For", forwarded_for)],
        LOGIN,
    )
    .expect("an answer")
    .status
}

#[test]
fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_sign_in_limit() {
    let server = Server::start(
        &[
            "--store",
            "memory",
            "--auth-attempts-per-minute",
            "1",
            "--trusted-proxy",
            "127.0.0.0/8",
        ],
        &[("MEDISLOT_LOG", "medislot_server=warn")],
    );
    assert_eq!(attempt(&server, "198.51.100.1"), 401);
    assert_eq!(
        attempt(&server, "198.51.100.1"),
        429,
        "the same client again"
    );
    assert_eq!(attempt(&server, "198.51.100.2"), 401, "another client");
    // What the client wrote itself (the left of the list) is not believed.
    assert_eq!(attempt(&server, "203.0.113.77, 198.51.100.2"), 429);
    // Proxies in the chain are skipped: the client is the rightmost untrusted address.
    assert_eq!(attempt(&server, "198.51.100.3, 127.0.0.9"), 401);
    let log = String::from_utf8_lossy(&server.stop().stderr).into_owned();
    assert!(
        log.contains("198.51.100.1") && log.contains("rate limit"),
        "the log names the forwarded client: {log}"
    );
    assert!(!log.contains("203.0.113.77"), "{log}");
}

#[test]
fn without_a_trusted_proxy_forwarded_addresses_are_ignored() {
    let server = Server::start(
        &["--store", "memory", "--auth-attempts-per-minute", "1"],
        &[("MEDISLOT_LOG", "medislot_server=warn")],
    );
    assert_eq!(attempt(&server, "198.51.100.1"), 401);
    assert_eq!(
        attempt(&server, "198.51.100.2"),
        429,
        "the peer (127.0.0.1) is the client, whatever it forwards"
    );
    let log = String::from_utf8_lossy(&server.stop().stderr).into_owned();
    assert!(log.contains("127.0.0.1"), "{log}");
    assert!(!log.contains("198.51.100"), "{log}");
}
