//! Prometheus metrics, served as text at `/metrics`: requests by route and status, request
//! latency by route, and the outcome of every booking operation. The same middleware logs each
//! request at debug level.
//!
//! Metrics say how busy the clinic is and which routes fail, so they are not public: they are
//! served on their own address (`--metrics-listen`, [`metrics_app`]), or on the main one only to
//! a request that bears the metrics token (`--metrics-token`), and not at all otherwise. With a
//! token, both places ask for it.

use std::time::Instant;

use poem::endpoint::BoxEndpoint;
use poem::http::header;
use poem::web::Data;
use poem::{handler, PathPattern};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use subtle::ConstantTimeEq;

use crate::problem::Problem;
use crate::state::AppState;

/// Where the metrics are served.
pub const METRICS_PATH: &str = "/metrics";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    operation: &'static str,
    outcome: &'static str,
}

type HistogramFamily = Family<LatencyLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms to about 8 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

/// The server's metrics and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    bookings: Family<OutcomeLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh, registered metrics.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("medislot");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = HistogramFamily::new_with_constructor(latency_histogram as fn() -> Histogram);
        let bookings = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            latency.clone(),
        );
        registry.register(
            "booking_outcomes",
            "Booking operations (book, hold, confirm, cancel, reschedule) by outcome code",
            bookings.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            bookings,
        }
    }

    /// Counts one booking operation's outcome: `ok` or the problem code.
    pub fn booking_outcome(&self, operation: &'static str, outcome: &'static str) {
        self.bookings
            .get_or_create(&OutcomeLabels { operation, outcome })
            .inc();
    }

    fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %err, "encoding metrics failed");
        }
        out
    }
}

/// The route as the OpenAPI document spells it: poem-openapi names path parameters by
/// position (`:param0`), and every path parameter of this API is an `{id}`.
fn route_label(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| {
            if segment.starts_with(':') {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Middleware recording each request's route pattern (never the raw path, which would let
/// ids explode the label set), status and latency.
pub async fn track<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let state = req.data::<AppState>().cloned();
    let method = req.method().as_str().to_owned();
    let client = crate::client_addr::client_ip(&req);
    let started = Instant::now();
    let result = next.call(req).await;
    let response = match result {
        Ok(response) => response.into_response(),
        Err(err) => err.into_response(),
    };
    if let Some(state) = state {
        let route = response
            .data::<PathPattern>()
            .map(|p| route_label(&p.0))
            .unwrap_or_else(|| "unmatched".to_owned());
        let seconds = started.elapsed().as_secs_f64();
        let status = response.status().as_u16();
        state.metrics().request(&method, &route, status, seconds);
        // The route pattern, never the raw URI: queries can hold emails and cursors.
        tracing::debug!(%method, %route, status, %client, ms = seconds * 1000.0, "request");
    }
    Ok(response)
}

/// `GET /metrics`: the text exposition, to a request bearing the metrics token when one is
/// configured.
#[handler]
pub(crate) fn exposition(req: &Request, Data(state): Data<&AppState>) -> Result<Response, Problem> {
    if let Some(token) = &state.config().metrics_token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
            return Err(Problem::unauthorized(
                "send the metrics token as `Authorization: Bearer <token>`",
            ));
        }
    }
    Ok(Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics().render()))
}

/// The application served on `--metrics-listen`: `/metrics` only, with the same security
/// headers and error answers as the main one.
pub fn metrics_app(state: AppState) -> BoxEndpoint<'static, Response> {
    let hsts = state.config().cookie_secure;
    Route::new()
        .at(METRICS_PATH, crate::allow::get(exposition))
        .around(crate::problem::catch_errors)
        .around(move |next, req| crate::security_headers::apply(next, req, hsts))
        .data(state)
        .boxed()
}
