//! Who is calling, and what they may do. Shared by the JSON API and (later) the web UI.
//!
//! - [`Passwords`]: argon2id with OWASP's parameters, on the blocking pool; a login for an
//!   unknown email still verifies against a dummy hash, so both failures cost the same.
//! - [`Sessions`]: a session is an HS256-signed token (JWT) naming the account, with an expiry,
//!   a CSRF secret and the account's session generation it was issued under. Browsers keep it in an HttpOnly, SameSite=Strict cookie; API clients
//!   send it as `Authorization: Bearer`. Only HS256 with the server's key is accepted (`alg:
//!   none` and other keys are 401); expiry is read from the engine's clock.
//! - [`authenticate`]: turns a request into a [`Caller`], re-reading the account (and so its
//!   role) from the store on every request, in the same read asking whether this session was
//!   logged out, and refusing a session of an earlier generation (the password changed, or the
//!   account signed out everywhere). So a logout or a new password ends sessions on every
//!   instance that shares the store, at once and across restarts. It also enforces the CSRF
//!   rule for cookie sessions:
//!   a state-changing request must echo the session's CSRF token in `X-CSRF-Token`, which a
//!   cross-site form cannot do.
//! - [`Caller::authorize`] is the one place that decides what a role may do.

use std::sync::Arc;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use medislot_core::{
    Account, AccountId, Booking, BookingEngine, Context, PatientId, RevokedSession, Role,
    SessionCheck, SessionGeneration, SessionId,
};
use poem::http::{header, Method};
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::problem::Problem;
use crate::state::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "medislot_session";

/// Header that a cookie-authenticated, state-changing request must carry, holding the session's
/// CSRF token.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

// The rules a new password must meet live in `password_rules`.
pub use crate::password_rules::{check_password_rules, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};

/// Shortest accepted session signing secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

const BEARER_SCHEME: &str = "bearer";
const COOKIE_SCHEME: &str = "session_cookie";

/// Argon2id password hashing with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane).
///
/// At most a few hashes run at once (twice the cores): each takes 19 MiB and a core for tens of
/// milliseconds, so a burst of sign-ins queues instead of exhausting memory.
#[derive(Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    dummy_hash: String,
    running: Arc<Semaphore>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

impl Passwords {
    /// Hashing with OWASP's argon2id parameters: m = 19456 KiB, t = 2, p = 1.
    pub fn owasp() -> Self {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT);
        let salt = SaltString::generate(&mut OsRng);
        // Hashing a fixed password with a fresh salt and valid parameters cannot fail; if it
        // ever did, an empty dummy makes unknown-email logins fail fast, which is still correct.
        let dummy_hash = argon
            .hash_password(b"medislot-dummy-password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default();
        let parallel = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self {
            argon,
            dummy_hash,
            running: Arc::new(Semaphore::new(parallel * 2)),
        }
    }

    /// Hashes a password into a PHC string, off the async threads.
    ///
    /// # Errors
    /// A 500 [`Problem`] if hashing fails (it does not with valid parameters).
    pub async fn hash(&self, password: &str) -> Result<String, Problem> {
        let _permit = self
            .running
            .acquire()
            .await
            .map_err(|_| Problem::internal())?;
        let argon = self.argon.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
        })
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "password hashing task failed");
            Problem::internal()
        })?
        .map_err(|err| {
            tracing::error!(error = %err, "password hashing failed");
            Problem::internal()
        })
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown account) it verifies
    /// against a dummy hash and answers `false`, taking as long as a real check.
    pub async fn verify(&self, stored: Option<&str>, password: &str) -> bool {
        let Ok(_permit) = self.running.acquire().await else {
            return false;
        };
        let known = stored.is_some();
        let hash = stored.unwrap_or(&self.dummy_hash).to_owned();
        let argon = self.argon.clone();
        let password = password.to_owned();
        let matched = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| argon.verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        known && matched
    }
}

/// The signed content of a session token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account id.
    pub sub: Uuid,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// This session's id, for logout.
    pub jti: Uuid,
    /// The session's CSRF token, echoed by cookie-authenticated state-changing requests.
    pub csrf: String,
    /// The account's session generation when this session was issued; the session ends when
    /// the account's generation rises. Tokens issued before generations existed carry none,
    /// which reads as the first.
    #[serde(default)]
    pub generation: i64,
}

impl Claims {
    /// The account this session belongs to.
    pub fn account_id(&self) -> AccountId {
        AccountId::from_uuid(self.sub)
    }

    /// This session's id.
    pub fn session_id(&self) -> SessionId {
        SessionId::from_uuid(self.jti)
    }

    /// The generation this session was issued under.
    pub fn generation(&self) -> SessionGeneration {
        SessionGeneration::from_stored(self.generation)
    }

    /// When the session expires.
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Whether `provided` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, provided: &str) -> bool {
        self.csrf.as_bytes().ct_eq(provided.as_bytes()).into()
    }
}

/// A freshly issued session.
#[derive(Clone, Debug)]
pub struct IssuedSession {
    /// The signed token (never log it).
    pub token: String,
    /// What it says.
    pub claims: Claims,
}

/// Issues session tokens and checks their signature and expiry. Whether a session was ended
/// early (logout, new password) is the store's to say: see [`authenticate`].
pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    cookie_secure: bool,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("ttl", &self.ttl)
            .field("cookie_secure", &self.cookie_secure)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions signed with `secret` (HS256), valid for `ttl`; cookies marked `Secure` when
    /// `cookie_secure`.
    ///
    /// # Errors
    /// A message when the secret is shorter than [`MIN_SECRET_BYTES`].
    pub fn new(secret: &[u8], ttl: Duration, cookie_secure: bool) -> Result<Self, String> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the session secret must be at least {MIN_SECRET_BYTES} bytes"
            ));
        }
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        // Expiry is checked against the engine's clock in `verify`, so that one clock rules.
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iat", "jti"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            cookie_secure,
        })
    }

    /// A random secret of [`MIN_SECRET_BYTES`] bytes.
    pub fn random_secret() -> Vec<u8> {
        let mut secret = vec![0u8; MIN_SECRET_BYTES];
        OsRng.fill_bytes(&mut secret);
        secret
    }

    /// How long a session lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a session for `account` under its session `generation` (as stored), starting
    /// at `now`.
    ///
    /// # Errors
    /// A 500 [`Problem`] if signing fails.
    pub fn issue(
        &self,
        account: AccountId,
        generation: SessionGeneration,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, Problem> {
        let mut csrf = [0u8; 32];
        OsRng.fill_bytes(&mut csrf);
        let claims = Claims {
            sub: account.as_uuid(),
            iat: now.timestamp(),
            exp: (now + self.ttl).timestamp(),
            jti: Uuid::now_v7(),
            csrf: URL_SAFE_NO_PAD.encode(csrf),
            generation: generation.get(),
        };
        let token =
            jsonwebtoken::encode(&Header::default(), &claims, &self.encoding).map_err(|err| {
                tracing::error!(error = %err, "signing a session failed");
                Problem::internal()
            })?;
        Ok(IssuedSession { token, claims })
    }

    /// Checks a token's signature, algorithm and expiry at `now` (not whether it was ended
    /// early: that is [`authenticate`]'s check against the store).
    ///
    /// # Errors
    /// A 401 [`Problem`] otherwise.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, Problem> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|err| {
                tracing::debug!(error = %err, "session token refused");
                Problem::unauthorized("the session token is not valid; sign in again")
            })?
            .claims;
        if claims.exp <= now.timestamp() {
            return Err(Problem::unauthorized(
                "the session has expired; sign in again",
            ));
        }
        Ok(claims)
    }

    /// The `Set-Cookie` value that stores `session` in a browser.
    pub fn cookie(&self, session: &IssuedSession) -> String {
        let max_age = (session.claims.exp - session.claims.iat).max(0);
        self.cookie_with(&session.token, max_age)
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn removal_cookie(&self) -> String {
        self.cookie_with("", 0)
    }

    fn cookie_with(&self, value: &str, max_age: i64) -> String {
        let secure = if self.cookie_secure { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
    }
}

/// How the caller presented their session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// `Authorization: Bearer`.
    Bearer,
    /// The session cookie (CSRF rules apply).
    Cookie,
}

/// An authenticated caller: the account as stored now, and the session it used.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The account, read from the store on this request.
    pub account: Account,
    /// The session's claims.
    pub claims: Claims,
    /// How the session was presented.
    pub via: Via,
    /// The request's id, when it sent one ([`crate::request_id`]).
    pub request_id: Option<String>,
}

/// A presented session whose account is not read yet: the account read travels with the
/// operation's own mutation instead ([`Session::engine`]), which refuses the session there if it
/// ended. As an operation argument it requires a session like [`Caller`], and suits an operation
/// that any signed-in account may do and that is one mutation (booking).
#[derive(Clone, Debug)]
pub struct Session {
    /// The session's claims (signature, expiry and CSRF checked).
    pub claims: Claims,
    /// How the session was presented.
    pub via: Via,
    /// The request's id, when it sent one ([`crate::request_id`]).
    pub request_id: Option<String>,
}

impl Session {
    /// What the store must confirm about this session: its account, id and generation.
    pub fn check(&self) -> SessionCheck {
        SessionCheck {
            account: self.claims.account_id(),
            session: self.claims.session_id(),
            generation: self.claims.generation(),
        }
    }

    /// The id the caller's own bookings carry.
    pub fn patient_id(&self) -> PatientId {
        self.claims.account_id().into()
    }

    /// The engine, journalling the caller's changes with their account and request id, whose
    /// every mutation checks the session in its own transaction
    /// ([`BookingEngine::for_session`]).
    pub fn engine(&self, state: &AppState) -> BookingEngine {
        let context = Context::new(Some(self.claims.account_id()), self.request_id.as_deref())
            .unwrap_or_default();
        state.engine().in_context(context).for_session(self.check())
    }
}

/// What an operation requires of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Any signed-in account.
    SignedIn,
    /// An admin.
    Admin,
}

impl Caller {
    /// The one authorization decision: may this caller do something that needs `access`?
    ///
    /// # Errors
    /// A 403 [`Problem`] when the role does not allow it.
    pub fn authorize(&self, access: Access) -> Result<(), Problem> {
        match (access, self.account.role) {
            (Access::SignedIn, Role::Patient | Role::Admin) | (Access::Admin, Role::Admin) => {
                Ok(())
            }
            (Access::Admin, Role::Patient) => Err(Problem::forbidden(
                "admin_only",
                "only an administrator may do this",
            )),
        }
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.authorize(Access::Admin).is_ok()
    }

    /// The id the caller's own bookings carry.
    pub fn patient_id(&self) -> PatientId {
        self.account.patient_id()
    }

    /// The engine, journalling this caller's changes with their account and request id.
    pub fn engine(&self, state: &AppState) -> BookingEngine {
        let context =
            Context::new(Some(self.account.id), self.request_id.as_deref()).unwrap_or_default();
        state.engine().in_context(context)
    }

    /// Whether the caller may see `booking`: an admin sees every booking, a patient their own.
    pub fn may_see(&self, booking: &Booking) -> bool {
        self.is_admin() || booking.patient_id == self.patient_id()
    }
}

/// Authenticates a request: a Bearer token, else the session cookie (with the CSRF rule for
/// state-changing methods, the token read from the `X-CSRF-Token` header), then the account as
/// stored now.
///
/// # Errors
/// 401 without a valid session or when its account no longer exists; 403 when a
/// cookie-authenticated state-changing request lacks the CSRF token; 503 when the store is down.
pub async fn authenticate(state: &AppState, req: &Request) -> Result<Caller, Problem> {
    let header = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    authenticate_with_csrf(state, req, header).await
}

/// As [`authenticate`], with the CSRF token of a cookie session taken from elsewhere: the web
/// UI's forms send it as a hidden field, since a plain HTML form cannot set headers.
///
/// # Errors
/// As [`authenticate`].
pub async fn authenticate_with_csrf(
    state: &AppState,
    req: &Request,
    csrf_token: Option<&str>,
) -> Result<Caller, Problem> {
    let session = present(state, req, csrf_token)?;
    let read = state
        .accounts()
        .session_account(session.claims.account_id(), session.claims.session_id())
        .await?;
    let account = session.check().admit(read)?;
    Ok(Caller {
        account,
        claims: session.claims,
        via: session.via,
        request_id: session.request_id,
    })
}

/// The session a request presents, with its signature, expiry and (for a cookie session's
/// state-changing request) CSRF token checked, and nothing read from the store yet.
///
/// # Errors
/// 401 without a valid token; 403 when a cookie-authenticated state-changing request lacks the
/// CSRF token.
fn present(state: &AppState, req: &Request, csrf_token: Option<&str>) -> Result<Session, Problem> {
    let (token, via) = presented_token(req)?;
    let now = state.engine().now();
    let claims = state.sessions().verify(token, now)?;
    if via == Via::Cookie
        && !is_safe(req.method())
        && !claims.csrf_matches(csrf_token.unwrap_or(""))
    {
        return Err(Problem::forbidden(
            "csrf_failed",
            format!(
                "a request authenticated by cookie must send the session's CSRF token in {CSRF_HEADER}"
            ),
        )
        .with_field(CSRF_HEADER));
    }
    Ok(Session {
        claims,
        via,
        request_id: crate::request_id::of(req),
    })
}

/// Ends the caller's session on every instance sharing the store: remembered there until it
/// would have expired.
///
/// # Errors
/// 503 when the store is down.
pub async fn end_session(state: &AppState, claims: &Claims) -> Result<(), Problem> {
    state
        .accounts()
        .revoke_session(&RevokedSession {
            id: claims.session_id(),
            account: claims.account_id(),
            expires_at: claims.expires_at(),
        })
        .await?;
    Ok(())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn presented_token(req: &Request) -> Result<(&str, Via), Problem> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| Problem::unauthorized("the Authorization header is not valid"))?;
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(Problem::unauthorized(
                "send the session token as `Authorization: Bearer <token>`",
            ));
        }
        return Ok((token.trim(), Via::Bearer));
    }
    session_cookie(req)
        .map(|token| (token, Via::Cookie))
        .ok_or_else(|| Problem::unauthorized("sign in first"))
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(req: &Request) -> Option<&str> {
    crate::cookies::all(req, SESSION_COOKIE).find(|value| !value.is_empty())
}

fn register_schemes(registry: &mut Registry) {
    registry.create_security_scheme(
        BEARER_SCHEME,
        MetaSecurityScheme {
            ty: "http",
            description: Some("The `token` from `POST /api/v1/auth/login`."),
            name: None,
            key_in: None,
            scheme: Some("bearer"),
            bearer_format: Some("JWT"),
            flows: None,
            openid_connect_url: None,
        },
    );
    registry.create_security_scheme(
        COOKIE_SCHEME,
        MetaSecurityScheme {
            ty: "apiKey",
            description: Some(
                "The HttpOnly session cookie set by login. State-changing requests must also send \
                 the login's `csrf_token` in the `X-CSRF-Token` header.",
            ),
            name: Some(SESSION_COOKIE),
            key_in: Some("cookie"),
            scheme: None,
            bearer_format: None,
            flows: None,
            openid_connect_url: None,
        },
    );
}

fn state_of(req: &Request) -> Result<&AppState, Problem> {
    req.data::<AppState>().ok_or_else(|| {
        tracing::error!(
            "AppState missing from the request; build the app with medislot_server::app"
        );
        Problem::internal()
    })
}

/// Makes `$ty` an operation argument that requires a session (documented as either security
/// scheme), built from the request by `$make` (an expression that may `.await` and `?`).
macro_rules! session_extractor {
    ($ty:ty, |$req:ident| $make:expr) => {
        impl<'a> ApiExtractor<'a> for $ty {
            const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
            type ParamType = ();
            type ParamRawType = ();

            fn register(registry: &mut Registry) {
                register_schemes(registry);
            }

            fn security_schemes() -> Vec<&'static str> {
                vec![BEARER_SCHEME, COOKIE_SCHEME]
            }

            async fn from_request(
                $req: &'a Request,
                _body: &mut RequestBody,
                _param_opts: ExtractParamOptions<Self::ParamType>,
            ) -> poem::Result<Self> {
                Ok($make)
            }
        }
    };
}

session_extractor!(Caller, |req| authenticate(state_of(req)?, req).await?);

// The account is read later, with the operation's own mutation.
session_extractor!(Session, |req| {
    let csrf = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    present(state_of(req)?, req, csrf)?
});

/// A caller who passed [`Caller::authorize`] with [`Access::Admin`]; as an operation argument
/// it makes the route admin-only.
#[derive(Clone, Debug)]
pub struct Admin(pub Caller);

session_extractor!(Admin, |req| {
    let caller = authenticate(state_of(req)?, req).await?;
    caller.authorize(Access::Admin)?;
    Admin(caller)
});

#[cfg(test)]
mod tests {
    use super::*;
    use poem::http::StatusCode;

    fn sessions() -> Sessions {
        Sessions::new(&[7u8; 32], Duration::hours(1), false).unwrap()
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let s = sessions();
        let now = Utc::now();
        let issued = s
            .issue(AccountId::new(), SessionGeneration::FIRST, now)
            .unwrap();
        assert_eq!(s.verify(&issued.token, now).unwrap(), issued.claims);
        let later = now + Duration::hours(1) + Duration::seconds(1);
        assert_eq!(
            s.verify(&issued.token, later).unwrap_err().status(),
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn a_token_carries_its_generation_and_old_tokens_read_as_the_first() {
        let s = sessions();
        let now = Utc::now();
        let generation = SessionGeneration::FIRST.next();
        let issued = s.issue(AccountId::new(), generation, now).unwrap();
        assert_eq!(
            s.verify(&issued.token, now).unwrap().generation(),
            generation
        );
        let old = serde_json::json!({
            "sub": Uuid::now_v7(), "iat": now.timestamp(), "exp": now.timestamp() + 60,
            "jti": Uuid::now_v7(), "csrf": "x"
        });
        let token = jsonwebtoken::encode(&Header::default(), &old, &s.encoding).unwrap();
        assert_eq!(
            s.verify(&token, now).unwrap().generation(),
            SessionGeneration::FIRST
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(Sessions::new(b"short", Duration::hours(1), false).is_err());
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_when_asked() {
        let s = Sessions::new(&[7u8; 32], Duration::hours(1), true).unwrap();
        let issued = s
            .issue(AccountId::new(), SessionGeneration::FIRST, Utc::now())
            .unwrap();
        let cookie = s.cookie(&issued);
        assert!(cookie.contains("HttpOnly"));
        assert!(cookie.contains("SameSite=Strict"));
        assert!(cookie.contains("Secure"));
        assert!(cookie.contains("Max-Age=3600"));
    }

    #[test]
    fn password_rules_name_the_field() {
        let err = check_password_rules("short").unwrap_err();
        assert_eq!(err.field(), Some("password"));
        assert!(check_password_rules("long enough").is_ok());
    }

    #[tokio::test]
    async fn passwords_verify_and_unknown_accounts_never_match() {
        let p = Passwords::owasp();
        let hash = p.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(p.verify(Some(&hash), "correct horse").await);
        assert!(!p.verify(Some(&hash), "wrong horse").await);
        assert!(!p.verify(None, "medislot-dummy-password").await);
    }
}
