//! Webhooks: each outbox message as a signed `POST` to every configured URL, in the style of
//! the Standard Webhooks specification (<https://www.standardwebhooks.com>): the headers
//! `webhook-id` (the message id, stable across retries, so a receiver drops duplicates),
//! `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` then the base64
//! HMAC-SHA256 of `{id}.{timestamp}.{body}` under the shared secret). Receivers are reached
//! over `https://` (certificates checked against the Web PKI roots, plus a clinic's own CA when
//! one is given) or plain `http://`.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use medislot_core::OutboxMessage;
use poem::http::{Request, Uri};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use sha2::Sha256;

/// How long one delivery may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The configured webhook endpoints and their shared secret.
#[derive(Clone)]
pub struct Webhooks {
    urls: Vec<Uri>,
    secret: Vec<u8>,
    client: Client<HttpsConnector<HttpConnector>, Full<bytes::Bytes>>,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("urls", &self.urls)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    /// Webhooks to `urls` (`https://` or `http://`), signed with `secret`: `whsec_` followed by
    /// base64, as Standard Webhooks libraries generate it, or at least 24 bytes of any other
    /// text used as it is. An `https` receiver's certificate must chain to a Web PKI root.
    ///
    /// # Errors
    /// A message naming the URL or the secret when one is unusable.
    pub fn new(urls: &[String], secret: &str) -> Result<Self, String> {
        Self::trusting(urls, secret, &[])
    }

    /// [`new`](Self::new), also trusting the CA certificates in `ca_pem` (PEM, one or more):
    /// a clinic's own CA for receivers on its network.
    ///
    /// # Errors
    /// As [`new`](Self::new), and a message when `ca_pem` holds no usable certificate.
    pub fn trusting(urls: &[String], secret: &str, ca_pem: &[u8]) -> Result<Self, String> {
        let urls = urls
            .iter()
            .map(|url| {
                let uri: Uri = url
                    .trim()
                    .parse()
                    .map_err(|e| format!("webhook URL {url:?}: {e}"))?;
                match (uri.scheme_str(), uri.host()) {
                    (Some("http" | "https"), Some(_)) => Ok(uri),
                    _ => Err(format!(
                        "webhook URL {url:?}: must be https://host/... or http://host/..."
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let secret = match secret.strip_prefix("whsec_") {
            Some(encoded) => STANDARD
                .decode(encoded)
                .map_err(|e| format!("webhook secret: whsec_ must be followed by base64 ({e})"))?,
            None => secret.as_bytes().to_vec(),
        };
        if secret.len() < 24 {
            return Err("webhook secret: at least 24 bytes".to_owned());
        }
        Ok(Self {
            urls,
            secret,
            client: client(ca_pem)?,
        })
    }

    /// Sends `message` to every URL; fails with what went wrong at the first URL that did not
    /// answer 2xx (the message is then tried again later, at every URL: receivers drop the
    /// duplicates by `webhook-id`).
    ///
    /// # Errors
    /// The failing URL and why.
    pub async fn send(&self, message: &OutboxMessage, now: i64) -> Result<(), String> {
        let body = super::event_body(&message.entry);
        let id = message.entry.id.to_string();
        let signature = sign(&self.secret, &id, now, &body);
        for url in &self.urls {
            let request = Request::post(url.clone())
                .header("content-type", "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", now.to_string())
                .header("webhook-signature", &signature)
                .body(Full::new(bytes::Bytes::from(body.clone())))
                .map_err(|e| format!("{url}: {e}"))?;
            let answer = tokio::time::timeout(TIMEOUT, self.client.request(request))
                .await
                .map_err(|_| format!("{url}: no answer within {} s", TIMEOUT.as_secs()))?
                .map_err(|e| format!("{url}: {e}"))?;
            if !answer.status().is_success() {
                return Err(format!("{url}: answered {}", answer.status()));
            }
        }
        Ok(())
    }
}

/// An HTTP client for `http` and `https` that trusts the Web PKI roots and the CA
/// certificates in `ca_pem` (empty for none).
fn client(
    ca_pem: &[u8],
) -> Result<Client<HttpsConnector<HttpConnector>, Full<bytes::Bytes>>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if !ca_pem.is_empty() {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| format!("webhook CA file: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("webhook CA file: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("webhook CA file: no PEM certificate in it".to_owned());
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("webhook TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(TIMEOUT));
    http.enforce_http(false);
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// The `webhook-signature` value for a message: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}`.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    // HMAC accepts a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_the_standard_webhooks_test_vector() {
        // From the Standard Webhooks specification's reference libraries.
        let secret = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn unusable_urls_and_short_secrets_are_refused_by_name() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert!(Webhooks::new(&["http://127.0.0.1:9/hook".into()], secret).is_ok());
        assert!(Webhooks::new(&["https://example.com/hook".into()], secret).is_ok());
        let ftp = Webhooks::new(&["ftp://example.com/hook".into()], secret).unwrap_err();
        assert!(ftp.contains("ftp://example.com/hook"), "{ftp}");
        let no_ca =
            Webhooks::trusting(&["https://example.com/".into()], secret, b"not a pem").unwrap_err();
        assert!(no_ca.contains("webhook CA file"), "{no_ca}");
        let short = Webhooks::new(&["http://127.0.0.1:9/".into()], "tooshort").unwrap_err();
        assert!(short.contains("24 bytes"), "{short}");
        let bad = Webhooks::new(&["http://127.0.0.1:9/".into()], "whsec_!!").unwrap_err();
        assert!(bad.contains("base64"), "{bad}");
    }
}
