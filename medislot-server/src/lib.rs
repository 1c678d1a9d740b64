//! # medislot-server
//!
//! MediSlot's HTTP service: a JSON API (poem + poem-openapi) over the booking engine of
//! [`medislot_core`], with accounts and roles, signed sessions, its own OpenAPI document and
//! interactive docs, Prometheus metrics, and safe defaults (problem+json errors, a body size
//! limit, rate-limited sign-in, CSRF defence for cookie sessions, CORS off unless configured).
//!
//! [`app`] builds the whole HTTP application from an [`AppState`], so tests run it in-process:
//!
//! ```
//! use medislot_server::{app, AppConfig, AppState, Stores};
//! use poem::test::TestClient;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let state = AppState::new(Stores::memory(), AppConfig::default()).unwrap();
//! let client = TestClient::new(app(state));
//! client.get("/healthz").send().await.assert_status_is_ok();
//! # });
//! ```
//!
//! Map of the crate: [`config`] (command line and environment), [`serve`] (start-up and
//! shutdown), [`stores`] (which store a URL names), [`state`] (what handlers share), [`auth`]
//! (passwords, sessions, CSRF, the authorization decision), [`calendar`] (an appointment as
//! an iCalendar file), [`password_rules`] (what a new
//! password must be), [`accounts`] (sign up, sign in, make admin), [`problem`] (every error's
//! HTTP answer), `allow` (the `Allow` header of a 405), `security_headers` (the
//! Content-Security-Policy and HSTS of every response), [`client_addr`] (who the client is,
//! behind trusted proxies), [`read_your_writes`] (a caller's WAL position carried between
//! instances behind a read replica), `api` (the routes, one module per resource), `web` (the
//! server-rendered pages at `/`, over the same engine and checks), [`metrics`],
//! [`rate_limit`], [`sweeper`].

pub mod accounts;
mod allow;
mod api;
pub mod auth;
pub mod backup;
pub mod calendar;
pub mod client_addr;
pub mod config;
mod cookies;
pub mod delivery;
pub mod metrics;
pub mod password_reset;
pub mod password_rules;
pub mod problem;
pub mod rate_limit;
pub mod read_your_writes;
pub mod request_id;
mod security_headers;
pub mod serve;
pub mod state;
pub mod stores;
pub mod sweeper;
mod web;

pub use api::model;
pub use api::JsonBody;
pub use state::{AppConfig, AppState};
pub use stores::Stores;

use poem::endpoint::BoxEndpoint;
use poem::http::{header, HeaderValue};
use poem::middleware::{Cors, SetHeader};
use poem::{Endpoint, EndpointExt, IntoEndpoint, Request, Response, Route};

use crate::problem::Problem;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The whole HTTP application over `state`: the web UI at `/`, the API under `/api/v1`,
/// `/healthz`, `/readyz`, the OpenAPI document at [`OPENAPI_PATH`] and its interactive UI at
/// `/docs`; `/metrics` too when a metrics token is configured (else see
/// [`metrics::metrics_app`]).
pub fn app(state: AppState) -> BoxEndpoint<'static, Response> {
    let api = api::service(&state);
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let api_routes = allow::ApiRoutes::from_spec(&api.spec());
    let api = api
        .into_endpoint()
        .around(move |next, req| allow::api_allow(next, req, api_routes.clone()));
    let body_limit = state.config().body_limit_bytes;
    let cors_origins = state.config().cors_origins.clone();
    let cookie_secure = state.config().cookie_secure;
    let hsts = cookie_secure;
    let replica = state.reads_from_replica();

    let mut route = Route::new()
        .at(OPENAPI_PATH, spec)
        .nest(security_headers::DOCS_PATH, docs);
    // Without a token, the main address has no metrics (see `metrics`).
    if state.config().metrics_token.is_some() {
        route = route.at(metrics::METRICS_PATH, allow::get(metrics::exposition));
    }
    let route = web::routes(route.nest("/", api));

    let endpoint = route
        .around(move |next, req| limit_body(next, req, body_limit))
        .around(problem::catch_errors)
        .around(move |next, req| read_your_writes::around(next, req, replica, cookie_secure))
        .with(
            SetHeader::new()
                .overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                )
                .overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        )
        .around(metrics::track)
        .data(state);

    let endpoint = if cors_origins.is_empty() {
        endpoint.map_to_response().boxed()
    } else {
        let cors = cors_origins
            .iter()
            .fold(Cors::new(), |cors, origin| {
                cors.allow_origin(origin.as_str())
            })
            .allow_credentials(true)
            .allow_header("content-type")
            .allow_header("authorization")
            .allow_header("idempotency-key")
            .allow_header(auth::CSRF_HEADER)
            .allow_header(read_your_writes::READ_AFTER_HEADER)
            // So that a browser client can tell an idempotent replay from a first booking,
            // and send a write's position back on its next request.
            .expose_header("idempotent-replayed")
            .expose_header(read_your_writes::WRITTEN_AT_HEADER);
        endpoint.with(cors).map_to_response().boxed()
    };
    // Outermost, so that every answer gets them: errors, CORS preflights, the docs.
    endpoint
        .around(move |next, req| security_headers::apply(next, req, hsts))
        .boxed()
}

/// The OpenAPI document the application serves, as pretty JSON.
pub fn openapi_json(state: &AppState) -> String {
    api::service(state).spec()
}

/// Refuses bodies over `max` bytes with 413, whether or not they declare their length.
async fn limit_body<E: Endpoint>(next: E, mut req: Request, max: usize) -> poem::Result<E::Output> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        Problem::new(
            poem::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {max} bytes"),
        )
    };
    if declared.is_some_and(|len| len > max) {
        return Err(too_large().into());
    }
    let body = req.take_body();
    let bytes = body.into_bytes_limit(max).await.map_err(|err| match err {
        poem::error::ReadBodyError::PayloadTooLarge => too_large(),
        _ => Problem::malformed("the request body could not be read"),
    })?;
    req.set_body(bytes);
    next.call(req).await
}
