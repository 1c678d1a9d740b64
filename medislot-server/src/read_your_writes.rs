//! Read-your-writes across server instances (issue 19), when lag-tolerant reads come from a
//! PostgreSQL read replica (`--replica-url`).
//!
//! Each instance reads its own writes (see `medislot_pg::PgStore::with_replica`), but behind a
//! proxy the next request may reach another instance, whose listings could still come from a
//! replica that has not replayed the write. So the caller carries the write's position:
//!
//! - A request that wrote (a committed mutation) is answered with
//!   `MediSlot-Written-At: <lsn>`, the primary's WAL position after its commit in
//!   PostgreSQL's text form (`16/B374D848`), and with the same value in the cookie
//!   `medislot_read_after` (HttpOnly, SameSite=Lax, Secure with `--cookie-secure`), which
//!   lasts [`COOKIE_MAX_AGE_SECS`]: by then any replica worth reading has long replayed it.
//! - A request that sends `MediSlot-Read-After: <lsn>` (an API client sends back the last
//!   `MediSlot-Written-At` it got), or the cookie (a browser does so by itself), has its
//!   lag-tolerant reads served by the replica only once it has replayed that position; else by
//!   the primary. With both, the later position counts.
//!
//! A malformed `MediSlot-Read-After` is refused, 422 problem+json naming the header, by the
//! listings that may read the replica (`api::read_after`), on every store: a client whose
//! position was mangled would otherwise read stale listings without knowing, and a client tried
//! against a server without a replica finds its bug there too. The refusal is the operation's,
//! after routing, so a route or method the API does not serve keeps its 404 or 405. Elsewhere
//! the header is not read; a malformed one here sends the request's replica reads to the
//! primary, which is never stale. A malformed cookie is ignored (the request reads as if it had
//! none): a browser cannot be told to fix a cookie, and the cookie only ever holds what this
//! server wrote, so a bad one was not written here. Without a replica no position is read, so no answer carries either.

use medislot_pg::consistency::{self, WalPosition};
use poem::http::header;
use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::problem::Problem;

/// The request header that carries the caller's position.
pub const READ_AFTER_HEADER: &str = "MediSlot-Read-After";

/// The response header that carries a write's position.
pub const WRITTEN_AT_HEADER: &str = "MediSlot-Written-At";

/// The cookie that carries a browser's position.
pub const COOKIE: &str = "medislot_read_after";

/// How long the cookie lasts, in seconds: a replica that lags by minutes is not one to read.
pub const COOKIE_MAX_AGE_SECS: u32 = 300;

/// Middleware: with a read replica (`replica`), runs the request in a [`consistency::scope`]
/// with the caller's position and, when it wrote, answers with the write's position (the header
/// and the cookie, `Secure` when `cookie_secure`). Errors must already be responses (it runs
/// outside `problem::catch_errors`).
pub(crate) async fn around<E: Endpoint>(
    next: E,
    req: Request,
    replica: bool,
    cookie_secure: bool,
) -> poem::Result<Response> {
    if !replica {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    // A malformed position: every replica read of the request goes to the primary (the
    // listings that take the header refuse it before reading anything).
    let from_header = read_after_header(&req).unwrap_or(Some(WalPosition::from_bytes(u64::MAX)));
    let read_after = from_header.max(read_after_cookie(&req));
    let (answer, written) = consistency::scope(read_after, next.call(req)).await;
    let mut response = answer?.into_response();
    if let Some(written) = written {
        let headers = response.headers_mut();
        // An LSN is hexadecimal digits and a slash: always a valid header value.
        if let Ok(value) = HeaderValue::from_str(&written.to_string()) {
            headers.insert(WRITTEN_AT_HEADER, value);
        }
        if let Ok(value) = HeaderValue::from_str(&cookie(written, cookie_secure)) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// The position in `MediSlot-Read-After`, if the request sent one.
///
/// # Errors
/// A 422 [`Problem`] naming the header when it was sent more than once or is not a position.
pub(crate) fn read_after_header(req: &Request) -> Result<Option<WalPosition>, Problem> {
    let mut values = req.headers().get_all(READ_AFTER_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Problem::validation(
            READ_AFTER_HEADER,
            "must be sent once; the request sent it more than once",
        ));
    }
    let text = value.to_str().map_err(|_| {
        Problem::validation(
            READ_AFTER_HEADER,
            "must be a WAL position such as 16/B374D848; the request sent other bytes",
        )
    })?;
    text.trim_matches([' ', '\t'])
        .parse()
        .map(Some)
        .map_err(|error| {
            Problem::validation(
                READ_AFTER_HEADER,
                format_args!("must be the `{WRITTEN_AT_HEADER}` of an earlier answer: {error}"),
            )
        })
}

/// The position in the cookie, if the request sent a well-formed one.
fn read_after_cookie(req: &Request) -> Option<WalPosition> {
    crate::cookies::get(req, COOKIE)?.parse().ok()
}

/// The `Set-Cookie` value that keeps `written` in a browser.
fn cookie(written: WalPosition, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={written}; Path=/; Max-Age={COOKIE_MAX_AGE_SECS}; HttpOnly; SameSite=Lax{secure}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_short_lived_out_of_scripts_reach_and_secure_when_asked() {
        let written = WalPosition::from_bytes(0x16_B374_D848);
        assert_eq!(
            cookie(written, false),
            "medislot_read_after=16/B374D848; Path=/; Max-Age=300; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            cookie(written, true),
            "medislot_read_after=16/B374D848; Path=/; Max-Age=300; HttpOnly; SameSite=Lax; Secure"
        );
    }
}
