//! The one place that turns every failure into an HTTP answer: RFC 9457 `application/problem+json`
//! bodies that name the offending field, with the status the failure deserves.
//!
//! - Domain refusals ([`medislot_core::Error`]) map in [`Problem::from_core`].
//! - Request errors raised by poem and poem-openapi (malformed parameters, wrong content type, an
//!   unknown route, a body over the limit) map in [`Problem::from_poem`], applied to every
//!   response by the [`catch_errors`] middleware.
//! - A store outage is 503 with `Retry-After`; anything unexpected is a 500 whose body says
//!   nothing about the cause (the cause goes to the log).
//! - Each operation's error type is an [`ApiError`] whose type parameter lists the statuses the
//!   operation can return (bits of [`errors`]), so the OpenAPI document promises those only.
//! - A 405 carries the `Allow` header that `crate::allow` attached to its error.

use std::fmt;

use medislot_core::{Error, StoreError};
use poem::error::{
    MethodNotAllowedError, NotFoundError, ParsePathError, ReadBodyError, ResponseError,
    SizedLimitError,
};
use poem::http::{header, HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseMultipartError, ParseParamError,
    ParsePathError as ParseOpenApiPathError, ParseRequestPayloadError,
};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Object};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a client is asked to wait after a transient store failure.
const STORE_RETRY_AFTER_SECS: u64 = 1;

/// An RFC 9457 problem details document, as sent on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "Problem")]
pub struct ProblemDetails {
    /// A URI naming the kind of problem (`urn:medislot:problem:<code>`).
    #[oai(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, in words a person understands.
    pub detail: String,
    /// A stable machine-readable code, such as `slot_unavailable` or `validation_failed`.
    pub code: String,
    /// The request field (body property, query parameter or header) at fault, when one is.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
}

/// An error answer: a status and a problem document, plus headers some statuses need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    code: &'static str,
    detail: String,
    field: Option<String>,
    retry_after: Option<u64>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for Problem {}

impl Problem {
    /// A problem with `status`, a stable `code` and a human `detail`.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }

    /// Names the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Asks the client to wait this many seconds before retrying.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 422: a value that is well-formed but not acceptable.
    /// The detail reads "`field` message", so `message` is a predicate such as "is required".
    pub fn validation(field: impl Into<String>, message: impl fmt::Display) -> Self {
        let field = field.into();
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("`{field}` {message}"),
        )
        .with_field(field)
    }

    /// 400: a body that is not JSON at all.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", detail)
    }

    /// 401: no valid session.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    /// 404 for a resource the caller may not see or that does not exist.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// 500 without a word about the cause (which the caller logs).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server could not complete the request; it has been logged",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The field at fault, if any.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The human-readable detail.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The wire form.
    pub fn details(&self) -> ProblemDetails {
        ProblemDetails {
            kind: format!("urn:medislot:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            field: self.field.clone(),
        }
    }

    /// Maps a refusal or failure of the booking engine or a store.
    pub fn from_core(err: Error) -> Self {
        use StatusCode as S;
        match err {
            Error::DoctorNotFound(id) => {
                Self::not_found("doctor_not_found", format!("no doctor with id {id}"))
                    .with_field("doctor_id")
            }
            Error::SlotNotFound(id) => {
                Self::not_found("slot_not_found", format!("no slot with id {id}"))
                    .with_field("slot_id")
            }
            // A booking of another patient is reported exactly like a missing one, so that ids
            // cannot be probed.
            Error::BookingNotFound(id) | Error::NotOwner(id) => {
                Self::not_found("booking_not_found", format!("no booking with id {id}"))
                    .with_field("booking_id")
            }
            Error::AccountNotFound(id) => {
                Self::not_found("account_not_found", format!("no account with id {id}"))
            }
            Error::MessageNotFound(id) => {
                Self::not_found("message_not_found", format!("no message with id {id}"))
                    .with_field("id")
            }
            Error::SessionRefused(why) => Self::unauthorized(why.to_string()),
            Error::SlotUnavailable(id) => Self::new(
                S::CONFLICT,
                "slot_unavailable",
                format!("slot {id} is already taken"),
            )
            .with_field("slot_id"),
            Error::SlotInPast(id) => Self::new(
                S::UNPROCESSABLE_ENTITY,
                "slot_in_past",
                format!("slot {id} has already started"),
            )
            .with_field("slot_id"),
            Error::TooSoon { slot, earliest } => Self::new(
                S::UNPROCESSABLE_ENTITY,
                "too_soon",
                format!(
                    "slot {slot} starts too soon to be booked; the earliest start that may be \
                     booked now is {}",
                    earliest.to_rfc3339()
                ),
            )
            .with_field("slot_id"),
            Error::TooFarAhead { slot, latest } => Self::new(
                S::UNPROCESSABLE_ENTITY,
                "too_far_ahead",
                format!(
                    "slot {slot} starts too far ahead to be booked; the latest start that may \
                     be booked now is {}",
                    latest.to_rfc3339()
                ),
            )
            .with_field("slot_id"),
            err @ Error::InvalidTransition { .. } => {
                Self::new(S::CONFLICT, "invalid_transition", err.to_string())
            }
            err @ Error::HoldExpired(_) => Self::new(S::CONFLICT, "hold_expired", err.to_string()),
            Error::TooLateToChange {
                booking,
                allowed_until,
            } => Self::new(
                S::CONFLICT,
                "too_late_to_change",
                format!(
                    "booking {booking} could be cancelled or rescheduled by its patient only \
                     until {}",
                    allowed_until.to_rfc3339()
                ),
            ),
            Error::SlotOverlap {
                starts_at, ends_at, ..
            } => Self::new(
                S::CONFLICT,
                "slot_overlap",
                format!(
                    "the slot {}..{} overlaps another slot of this doctor",
                    starts_at.to_rfc3339(),
                    ends_at.to_rfc3339()
                ),
            )
            .with_field("slots"),
            err @ Error::DoctorHasActiveBookings(_) => {
                Self::new(S::CONFLICT, "doctor_has_active_bookings", err.to_string())
            }
            err @ Error::SlotHasActiveBooking(_) => {
                Self::new(S::CONFLICT, "slot_has_active_booking", err.to_string())
            }
            Error::EmailTaken => Self::new(
                S::CONFLICT,
                "email_taken",
                "an account with this email already exists",
            )
            .with_field("email"),
            // One answer for unknown, used and expired tokens: none tells more than the others.
            Error::ResetTokenInvalid => Self::new(
                S::UNPROCESSABLE_ENTITY,
                "reset_token_invalid",
                "this password reset link is unknown, already used or expired; ask for a new one",
            )
            .with_field("token"),
            Error::Validation { field, message } => Self::validation(field, message),
            // Another patient's entry is reported exactly like a missing one.
            Error::WaitlistEntryNotFound(id) => Self::not_found(
                "waitlist_entry_not_found",
                format!("no waitlist entry with id {id}"),
            )
            .with_field("id"),
            err @ Error::WaitlistFull { .. } => {
                Self::new(S::CONFLICT, "waitlist_full", err.to_string())
            }
            err @ Error::WaitlistEntryNotWaiting { .. } => {
                Self::new(S::CONFLICT, "waitlist_entry_not_waiting", err.to_string())
            }
            Error::Store(err) => Self::from_store(&err),
            other => {
                tracing::error!(error = %other, "unmapped engine error");
                Self::internal()
            }
        }
    }

    fn from_store(err: &StoreError) -> Self {
        if let StoreError::Unrepresentable(_) = err {
            // The engine's validation should have refused the value: worth a look, not a 500.
            tracing::warn!(error = %err, source = ?std::error::Error::source(err), "store refused a value");
            return Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unrepresentable_value",
                "a value in this request cannot be stored (a control character in text, or an \
                 instant outside 0001-01-02..9999-12-31)",
            );
        }
        if let StoreError::OutcomeUnknown(_) = err {
            tracing::warn!(error = %err, source = ?std::error::Error::source(err), "commit outcome unknown");
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "outcome_unknown",
                "the connection to the database was lost while this change was being committed, \
                 and whether it was could not be learned yet; retry with the same \
                 Idempotency-Key to get the answer",
            )
            .with_retry_after(STORE_RETRY_AFTER_SECS);
        }
        if err.is_transient() {
            tracing::warn!(error = %err, source = ?std::error::Error::source(err), "store unavailable");
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the booking store is unavailable; try again shortly",
            )
            .with_retry_after(STORE_RETRY_AFTER_SECS)
        } else {
            tracing::error!(error = %err, source = ?std::error::Error::source(err), "store failure");
            Self::internal()
        }
    }

    /// Maps an error raised by poem or poem-openapi while routing or parsing the request.
    pub fn from_poem(err: poem::Error) -> Self {
        if let Some(problem) = err.downcast_ref::<Problem>() {
            return problem.clone();
        }
        if let Some(e) = err.downcast_ref::<ParseParamError>() {
            return Self::validation(e.name, format!("is not valid ({})", e.reason));
        }
        if let Some(e) = err.downcast_ref::<ParseOpenApiPathError>() {
            // poem-openapi names path parameters by position (`param0`). Every path parameter
            // of this API is a resource `id`; a route with another one must revisit this.
            return Self::validation("id", format!("is not valid ({})", e.reason));
        }
        if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
            return Self::malformed(format!("the request body is not valid: {}", e.reason));
        }
        if let Some(e) = err.downcast_ref::<ContentTypeError>() {
            return Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("{e}; send `Content-Type: application/json`"),
            )
            .with_field("Content-Type");
        }
        if err.downcast_ref::<AuthorizationError>().is_some() {
            return Self::unauthorized("sign in first");
        }
        if err.is::<NotFoundError>() || err.downcast_ref::<ParsePathError>().is_some() {
            return Self::not_found("not_found", "no such resource");
        }
        if err.is::<MethodNotAllowedError>() {
            return Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this method is not allowed on this resource",
            );
        }
        if let Some(e) = err.downcast_ref::<ReadBodyError>() {
            return match e {
                ReadBodyError::PayloadTooLarge => Self::too_large(),
                _ => Self::malformed("the request body could not be read"),
            };
        }
        if err.downcast_ref::<SizedLimitError>().is_some() {
            return Self::too_large();
        }
        if err.downcast_ref::<ParseMultipartError>().is_some() {
            return Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send `Content-Type: application/json`",
            );
        }
        let status = err.status();
        if status.is_client_error() {
            // Some other request error: keep its status, but not its text, which may quote
            // internals.
            return Self::new(
                status,
                "bad_request",
                status.canonical_reason().unwrap_or("bad request"),
            );
        }
        tracing::error!(error = %err, "unhandled error");
        Self::internal()
    }

    fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than the server accepts",
        )
    }
}

impl From<medislot_core::SessionRefusal> for Problem {
    fn from(why: medislot_core::SessionRefusal) -> Self {
        Self::unauthorized(why.to_string())
    }
}

impl From<Error> for Problem {
    fn from(err: Error) -> Self {
        Self::from_core(err)
    }
}

impl ResponseError for Problem {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        self.clone().into_response()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = self.details().to_json_string();
        let mut response = Response::builder()
            .status(self.status)
            .content_type(PROBLEM_JSON)
            .body(body);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"medislot\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The error answers an operation can give, as bits of a `u16` that [`ApiError`] carries in its
/// type, so that each operation documents only the statuses it can really return.
pub mod errors {
    /// 400: the body is not JSON.
    pub const MALFORMED: u16 = 1 << 0;
    /// 401: no valid session (or, for login, wrong credentials).
    pub const UNAUTHORIZED: u16 = 1 << 1;
    /// 403: not allowed (admin only, or a cookie session without the CSRF header).
    pub const FORBIDDEN: u16 = 1 << 2;
    /// 404: the resource in the path does not exist, or belongs to someone else.
    pub const NOT_FOUND: u16 = 1 << 3;
    /// 409: refused by a booking rule.
    pub const CONFLICT: u16 = 1 << 4;
    /// 413: the body is too large.
    pub const TOO_LARGE: u16 = 1 << 5;
    /// 415: the body is not `application/json`.
    pub const UNSUPPORTED_MEDIA_TYPE: u16 = 1 << 6;
    /// 422: a value is not acceptable.
    pub const INVALID: u16 = 1 << 7;
    /// 429: too many attempts.
    pub const RATE_LIMITED: u16 = 1 << 8;
    /// 503: the store is unavailable.
    pub const UNAVAILABLE: u16 = 1 << 9;

    /// An operation that reads a JSON body.
    pub const BODY: u16 = MALFORMED | TOO_LARGE | UNSUPPORTED_MEDIA_TYPE | INVALID;
    /// An operation that needs a session (which is read from the store).
    pub const SIGNED_IN: u16 = UNAUTHORIZED | UNAVAILABLE;
    /// A state-changing operation that needs a session: a cookie session must send the CSRF
    /// header.
    pub const SIGNED_IN_WRITE: u16 = SIGNED_IN | FORBIDDEN;
    /// An admin-only operation.
    pub const ADMIN: u16 = SIGNED_IN | FORBIDDEN;
}

/// Every documented error status: its bit in [`errors`], its code and its description.
const DOCUMENTED: &[(u16, u16, &str)] = &[
    (
        errors::MALFORMED,
        400,
        "Malformed request: the body is not JSON",
    ),
    (
        errors::UNAUTHORIZED,
        401,
        "No valid session: sign in, or the token is expired, forged or signed out \
         (for login: the email or password is wrong)",
    ),
    (
        errors::FORBIDDEN,
        403,
        "Signed in, but not allowed: admin only, or a cookie session did not send \
         `X-CSRF-Token`",
    ),
    (
        errors::NOT_FOUND,
        404,
        "No such resource, or it belongs to someone else",
    ),
    (
        errors::CONFLICT,
        409,
        "Refused by a booking rule; `code` says which (for example `slot_unavailable`)",
    ),
    (errors::TOO_LARGE, 413, "The request body is too large"),
    (
        errors::UNSUPPORTED_MEDIA_TYPE,
        415,
        "The body is not `application/json`",
    ),
    (
        errors::INVALID,
        422,
        "A value is not acceptable; `field` names it",
    ),
    (
        errors::RATE_LIMITED,
        429,
        "Too many attempts from this client; wait `Retry-After` seconds",
    ),
    (
        errors::UNAVAILABLE,
        503,
        "The store is unavailable; retry after `Retry-After` seconds",
    ),
];

/// The error side of an operation: a [`Problem`], documented as the statuses in `STATUSES`
/// (bits of [`errors`]). The answer is the problem's, whatever its status; the type only
/// decides what the OpenAPI document promises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError<const STATUSES: u16>(pub Problem);

impl<const STATUSES: u16> From<Problem> for ApiError<STATUSES> {
    fn from(problem: Problem) -> Self {
        Self(problem)
    }
}

impl<const STATUSES: u16> From<Error> for ApiError<STATUSES> {
    fn from(err: Error) -> Self {
        Self(Problem::from_core(err))
    }
}

impl<const STATUSES: u16> IntoResponse for ApiError<STATUSES> {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl<const STATUSES: u16> ApiResponse for ApiError<STATUSES> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: DOCUMENTED
                .iter()
                .filter(|(bit, _, _)| STATUSES & bit != 0)
                .map(|(_, status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: PROBLEM_JSON,
                        schema: <ProblemDetails as Type>::schema_ref(),
                    }],
                    headers: if matches!(status, 429 | 503) {
                        vec![MetaHeader {
                            name: "Retry-After".to_owned(),
                            description: Some(
                                "Seconds to wait before retrying (RFC 9110 `delay-seconds`)"
                                    .to_owned(),
                            ),
                            required: true,
                            deprecated: false,
                            schema: <u64 as Type>::schema_ref(),
                        }]
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        <ProblemDetails as Type>::register(registry);
    }
}

impl<const STATUSES: u16> From<ApiError<STATUSES>> for poem::Error {
    fn from(err: ApiError<STATUSES>) -> Self {
        err.0.into()
    }
}

/// Middleware that answers every error that reaches it with problem+json.
pub async fn catch_errors<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    match next.call(req).await {
        Ok(response) => Ok(response.into_response()),
        Err(err) => {
            let pattern = err.data::<poem::PathPattern>().cloned();
            let allow = err.data::<crate::allow::Allow>().cloned();
            let mut response = Problem::from_poem(err).into_response();
            if let Some(allow) = allow {
                response.headers_mut().insert(header::ALLOW, allow.0);
            }
            if let Some(pattern) = pattern {
                response.set_data(pattern);
            }
            Ok(response)
        }
    }
}
