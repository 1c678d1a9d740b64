//! The `Idempotency-Key` request header, read strictly: a key that is sent is used or refused,
//! never dropped. poem-openapi's own header parameter skips a value that is not visible ASCII
//! and takes the first of two, so a client whose key was mangled on the way would book twice
//! on a retry without knowing; here each of those is a 422 naming the header.

use medislot_core::IdempotencyKey;
use poem::Request;
use poem_openapi::types::Type as _;

use super::header_param::optional_header_param;
use crate::problem::Problem;

/// The header's name, as the document and every refusal spell it.
pub(crate) const HEADER: &str = "Idempotency-Key";

/// The `Idempotency-Key` of a request, if it sent one (as an operation argument, documented as
/// an optional header parameter; give its bounds with `#[oai(validator(...))]`).
#[derive(Debug, Clone)]
pub(crate) struct IdempotencyKeyHeader {
    key: Option<IdempotencyKey>,
    /// The key's text, for poem-openapi's validators.
    raw: Option<String>,
}

impl IdempotencyKeyHeader {
    /// The key, if one was sent.
    pub(crate) fn into_key(self) -> Option<IdempotencyKey> {
        self.key
    }

    /// Reads the header: absent is `None`; sent once with 1 to 200 visible ASCII characters
    /// is the key.
    ///
    /// # Errors
    /// A 422 [`Problem`] on `Idempotency-Key` when it is sent more than once, is not visible
    /// ASCII (a space, a control character, any non-ASCII byte), is empty, or is too long.
    pub(crate) fn read(req: &Request) -> Result<Self, Problem> {
        let mut values = req.headers().get_all(HEADER).iter();
        let Some(value) = values.next() else {
            return Ok(Self {
                key: None,
                raw: None,
            });
        };
        if values.next().is_some() {
            return Err(Problem::validation(
                HEADER,
                "must be sent once; the request sent it more than once",
            ));
        }
        let text = value
            .to_str()
            .ok()
            .filter(|v| v.is_ascii())
            .ok_or_else(|| {
                Problem::validation(
                    HEADER,
                    "must be visible ASCII characters; the request sent other bytes",
                )
            })?;
        if text.trim().is_empty() {
            return Err(Problem::validation(
                HEADER,
                "must not be empty; send a key or no header",
            ));
        }
        let key = IdempotencyKey::new(text)?;
        Ok(Self {
            raw: Some(key.as_str().to_owned()),
            key: Some(key),
        })
    }
}

optional_header_param!(
    IdempotencyKeyHeader,
    schema: String::schema_ref(),
    read: IdempotencyKeyHeader::read,
);
