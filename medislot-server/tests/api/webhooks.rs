//! Delivering the outbox to webhooks: signed, once per message id when the receiver takes it,
//! again (same id) after a failure.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use medislot_server::delivery::{deliver_due, sign, Round, Webhooks};
use poem::http::{HeaderMap, StatusCode};
use poem::listener::TcpAcceptor;
use poem::web::Data;
use poem::{handler, EndpointExt, Route, Server};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

use crate::{uuid_of, As, TestApp};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// What the receiver saw, and what it answers.
#[derive(Default)]
struct Receiver {
    seen: Mutex<Vec<(HeaderMap, String)>>,
    failing: Mutex<bool>,
}

#[handler]
fn receive(headers: &HeaderMap, body: String, Data(receiver): Data<&Arc<Receiver>>) -> StatusCode {
    receiver.seen.lock().unwrap().push((headers.clone(), body));
    if *receiver.failing.lock().unwrap() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

/// A webhook receiver on a free loopback port, and webhooks pointing at it.
async fn receiver() -> (Arc<Receiver>, Webhooks) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = Arc::new(Receiver::default());
    let app = Route::new().at("/hook", receive).data(receiver.clone());
    tokio::spawn(Server::new_with_acceptor(TcpAcceptor::from_tokio(listener).unwrap()).run(app));
    let webhooks = Webhooks::new(&[format!("http://127.0.0.1:{port}/hook")], SECRET).unwrap();
    (receiver, webhooks)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).unwrap().to_str().unwrap()
}

async fn each_booking_event_reaches_the_webhook_signed_and_is_marked_delivered() {
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    let booking = uuid_of(&app.book(&patient, slots[0]).await.expect(201)["id"]);
    let (receiver, webhooks) = receiver().await;

    let round = deliver_due(&app.state, &webhooks).await.unwrap();
    assert_eq!(
        round,
        Round {
            delivered: 1,
            failed: 0,
            withdrawn: 0
        }
    );
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (headers, body) = &seen[0];
    let id = header(headers, "webhook-id");
    let timestamp: i64 = header(headers, "webhook-timestamp").parse().unwrap();
    assert_eq!(timestamp, app.now().timestamp());
    let secret = base64_secret();
    assert_eq!(
        header(headers, "webhook-signature"),
        sign(&secret, id, timestamp, body),
        "the signature covers id, timestamp and body"
    );
    let payload: Value = serde_json::from_str(body).unwrap();
    assert_eq!(payload["type"], "booking.booked");
    assert_eq!(uuid_of(&payload["data"]["booking_id"]), booking);
    assert_eq!(payload["data"]["id"], id);

    let delivered = app
        .get("/api/v1/outbox?state=delivered", As::Bearer(&admin))
        .await
        .expect(200)
        .clone();
    assert_eq!(delivered["items"][0]["id"], id);
    assert_eq!(
        deliver_due(&app.state, &webhooks).await.unwrap(),
        Round::default(),
        "a delivered message is never sent again"
    );
}

async fn a_refused_delivery_is_retried_after_its_backoff_with_the_same_id() {
    let app = TestApp::new().await;
    let (admin, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    app.book(&patient, slots[0]).await.expect(201);
    let (receiver, webhooks) = receiver().await;
    *receiver.failing.lock().unwrap() = true;

    assert_eq!(
        deliver_due(&app.state, &webhooks).await.unwrap(),
        Round {
            delivered: 0,
            failed: 1,
            withdrawn: 0
        }
    );
    let pending = app
        .get("/api/v1/outbox?state=pending", As::Bearer(&admin))
        .await
        .expect(200)
        .clone();
    let message = &pending["items"][0];
    assert_eq!(message["attempts"], 1);
    assert!(
        message["last_error"].as_str().unwrap().contains("500"),
        "{message}"
    );
    assert_eq!(
        deliver_due(&app.state, &webhooks).await.unwrap(),
        Round::default(),
        "not due again before its backoff"
    );

    *receiver.failing.lock().unwrap() = false;
    app.clock.advance(Duration::minutes(1));
    assert_eq!(
        deliver_due(&app.state, &webhooks).await.unwrap(),
        Round {
            delivered: 1,
            failed: 0,
            withdrawn: 0
        }
    );
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        header(&seen[0].0, "webhook-id"),
        header(&seen[1].0, "webhook-id"),
        "a retry carries the same id, so the receiver can drop a duplicate"
    );
}

fn base64_secret() -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap()
}

/// An https webhook receiver on a free loopback port, serving the test certificate for
/// 127.0.0.1 (signed by `tests/fixtures/tls/ca.pem`, a CA made for these tests alone); its URL.
async fn https_receiver(receiver: Arc<Receiver>) -> String {
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
    let certs = CertificateDer::pem_file_iter(format!("{FIXTURES}/receiver.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{FIXTURES}/receiver.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, receiver) = (acceptor.clone(), receiver.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let serve = service_fn(move |request: hyper::Request<Incoming>| {
                    let receiver = receiver.clone();
                    async move {
                        let headers = request.headers().clone();
                        let body = request.into_body().collect().await?.to_bytes();
                        let body = String::from_utf8(body.to_vec()).unwrap();
                        receiver.seen.lock().unwrap().push((headers, body));
                        let mut answer = hyper::Response::new(Empty::<bytes::Bytes>::new());
                        *answer.status_mut() = StatusCode::NO_CONTENT;
                        Ok::<_, hyper::Error>(answer)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), serve)
                    .await;
            });
        }
    });
    format!("https://127.0.0.1:{port}/hook")
}

async fn an_https_webhook_is_delivered_to_a_receiver_whose_ca_is_trusted_and_to_no_other() {
    let app = TestApp::new().await;
    let (_, _, slots) = app.clinic(1).await;
    let patient = app.patient().await;
    app.book(&patient, slots[0]).await.expect(201);
    let receiver = Arc::new(Receiver::default());
    let url = https_receiver(receiver.clone()).await;

    // The receiver's CA is not a Web PKI root: the certificate is refused, nothing is sent,
    // and the message waits for its next try.
    let untrusting = Webhooks::new(std::slice::from_ref(&url), SECRET).unwrap();
    let round = deliver_due(&app.state, &untrusting).await.unwrap();
    assert_eq!(round.failed, 1, "{round:?}");
    assert!(receiver.seen.lock().unwrap().is_empty());
    let admin = app.admin().await;
    let outbox = app
        .get("/api/v1/outbox?channel=webhook", As::Bearer(&admin))
        .await
        .expect(200)
        .clone();
    let error = outbox["items"][0]["last_error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains(&url), "{error}");
    assert_eq!(outbox["items"][0]["state"], "pending");

    // Trusting the clinic's CA, the next try reaches it, signed.
    let ca = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tls/ca.pem"
    ))
    .unwrap();
    let trusting = Webhooks::trusting(std::slice::from_ref(&url), SECRET, &ca).unwrap();
    app.clock.advance(Duration::hours(2));
    let round = deliver_due(&app.state, &trusting).await.unwrap();
    assert_eq!(round.delivered, 1, "{round:?}");
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (headers, body) = &seen[0];
    let id = header(headers, "webhook-id");
    let timestamp: i64 = header(headers, "webhook-timestamp").parse().unwrap();
    assert_eq!(
        header(headers, "webhook-signature"),
        sign(&base64_secret(), id, timestamp, body)
    );
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap()["type"],
        "booking.booked"
    );
}

crate::on_every_store!(
    each_booking_event_reaches_the_webhook_signed_and_is_marked_delivered,
    a_refused_delivery_is_retried_after_its_backoff_with_the_same_id,
    an_https_webhook_is_delivered_to_a_receiver_whose_ca_is_trusted_and_to_no_other,
);
