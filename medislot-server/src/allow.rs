//! The `Allow` header of a 405 answer (RFC 9110 section 15.5.6): the methods the route does
//! accept. poem's router answers 405 without it, so the routes here remember their methods:
//!
//! - the web pages are built with this module's [`get`] (then [`Methods::post`]), drop-in for
//!   poem's, which attach [`Allow`] to their 405 error (every form's address also answers GET,
//!   so each page route starts with GET);
//! - the API's routes are read from its own OpenAPI document ([`ApiRoutes`]), and [`api_allow`]
//!   attaches the matching [`Allow`] to its 405 errors.
//!
//! [`crate::problem::catch_errors`] turns the attached value into the header.

use std::collections::HashMap;
use std::sync::Arc;

use poem::error::MethodNotAllowedError;
use poem::http::{HeaderValue, Method};
use poem::{Endpoint, IntoEndpoint, PathPattern, Request, Response, RouteMethod};

/// The methods a route accepts, as the value of an `Allow` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Allow(pub(crate) HeaderValue);

impl Allow {
    /// The header for `methods`; a route that answers GET also answers HEAD (poem serves HEAD
    /// with the GET endpoint).
    fn of(methods: &[Method]) -> Self {
        let mut names: Vec<&str> = methods.iter().map(Method::as_str).collect();
        if methods.contains(&Method::GET) && !methods.contains(&Method::HEAD) {
            names.push(Method::HEAD.as_str());
        }
        // Method names are tokens, which are valid header text.
        Self(HeaderValue::from_str(&names.join(", ")).unwrap_or(HeaderValue::from_static("")))
    }
}

/// A route's endpoints by method, like poem's [`RouteMethod`], that answers a method it does
/// not have with a 405 error carrying [`Allow`].
pub(crate) struct Methods {
    inner: RouteMethod,
    methods: Vec<Method>,
}

/// A route answering GET with `ep` (and HEAD, as poem does).
pub(crate) fn get<E>(ep: E) -> Methods
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    Methods {
        inner: RouteMethod::new(),
        methods: Vec::new(),
    }
    .get(ep)
}

impl Methods {
    /// Also answers GET with `ep`.
    pub(crate) fn get<E>(mut self, ep: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.inner = self.inner.get(ep);
        self.methods.push(Method::GET);
        self
    }

    /// Also answers POST with `ep`.
    pub(crate) fn post<E>(mut self, ep: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.inner = self.inner.post(ep);
        self.methods.push(Method::POST);
        self
    }
}

impl Endpoint for Methods {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        self.inner.call(req).await.map_err(|mut err| {
            if err.is::<MethodNotAllowedError>() {
                err.set_data(Allow::of(&self.methods));
            }
            err
        })
    }
}

/// The methods of every API route, by route shape, read from the API's OpenAPI document, which
/// lists every operation.
#[derive(Clone, Debug, Default)]
pub(crate) struct ApiRoutes(Arc<HashMap<String, Allow>>);

impl ApiRoutes {
    /// The routes of the document `spec` (OpenAPI JSON); empty if it does not parse.
    pub(crate) fn from_spec(spec: &str) -> Self {
        let document: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let mut routes = HashMap::new();
        if let Some(paths) = document["paths"].as_object() {
            for (path, item) in paths {
                let methods: Vec<Method> = item
                    .as_object()
                    .into_iter()
                    .flat_map(|operations| operations.keys())
                    .filter_map(|name| Method::from_bytes(name.to_uppercase().as_bytes()).ok())
                    .collect();
                routes.insert(shape(path), Allow::of(&methods));
            }
        }
        Self(Arc::new(routes))
    }

    fn allow(&self, pattern: &str) -> Option<&Allow> {
        self.0.get(&shape(pattern))
    }
}

/// A route's path with each parameter segment written `:`. The document writes `{id}` where
/// the router's pattern has `:param0` (poem-openapi numbers path parameters), and a nested
/// route's pattern may carry its mount point's slash as well.
fn shape(path: &str) -> String {
    path.trim_start_matches('/')
        .split('/')
        .map(|segment| {
            if segment.starts_with(':') || segment.starts_with('{') {
                ":"
            } else {
                segment
            }
        })
        .fold(String::new(), |shaped, segment| shaped + "/" + segment)
}

/// Middleware for the API: attaches [`Allow`] to a 405 error, found by the matched pattern.
pub(crate) async fn api_allow<E: Endpoint>(
    next: E,
    req: Request,
    routes: ApiRoutes,
) -> poem::Result<E::Output> {
    next.call(req).await.map_err(|mut err| {
        if err.is::<MethodNotAllowedError>() && err.data::<Allow>().is_none() {
            let allow = err
                .data::<PathPattern>()
                .and_then(|pattern| routes.allow(&pattern.0))
                .cloned();
            if let Some(allow) = allow {
                err.set_data(allow);
            }
        }
        err
    })
}
