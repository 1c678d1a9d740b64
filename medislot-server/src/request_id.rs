//! The request id a caller sends (`X-Request-Id`, as proxies and tracing systems set it), kept
//! with each change the request makes in the journal, so an audit entry can be matched with the
//! proxy's and the client's logs.

use poem::Request;

/// The header that carries it.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// The request's id when it sent a usable one: 1 to
/// [`MAX_REQUEST_ID_CHARS`](medislot_core::journal::MAX_REQUEST_ID_CHARS) printable characters.
/// Anything else is left out of the journal rather than refusing the request: the id is for
/// matching logs, not for the request's meaning.
pub fn of(req: &Request) -> Option<String> {
    let id = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?.trim();
    medislot_core::Context::new(None, Some(id))
        .ok()
        .map(|_| id.to_owned())
}
