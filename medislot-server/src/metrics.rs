//! Prometheus metrics, served as text at `/metrics`: requests by route and status, request
//! latency by route, and the outcome of every booking operation. The same middleware logs each
//! request at debug level.

use std::time::Instant;

use poem::PathPattern;
use poem::{Endpoint, IntoResponse, Request, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::state::AppState;

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
        tracing::debug!(%method, %route, status, ms = seconds * 1000.0, "request");
    }
    Ok(response)
}
