//! Reading a request's cookies by name (the session, the pages' time zones, the
//! read-your-writes position); each reader decides what a malformed value means.

use poem::http::header;
use poem::Request;

/// The values of the cookies named `name` the request carries, in order.
pub(crate) fn all<'a>(req: &'a Request, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// The value of the first cookie named `name` the request carries, if any.
pub(crate) fn get<'a>(req: &'a Request, name: &'a str) -> Option<&'a str> {
    all(req, name).next()
}
