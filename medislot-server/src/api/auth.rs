//! `/auth/register`, `/auth/login`, `/auth/logout`, `/auth/logout-everywhere`,
//! `/auth/password-reset` (asking for a link, then setting a password from it), and the
//! signed-in person's own account: `/me` (read and change the profile) and `/me/password`.

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::body::JsonBody;
use super::model::AccountOut;
use super::ApiTags;
use crate::accounts::{self, ProfileChange};
use crate::auth::{Caller, IssuedSession};
use crate::problem::errors::{
    BODY, CONFLICT, RATE_LIMITED, SIGNED_IN, SIGNED_IN_WRITE, UNAUTHORIZED, UNAVAILABLE,
};
use crate::problem::ApiError;
use crate::state::AppState;

/// Account routes.
pub(crate) struct AuthApi {
    pub(crate) state: AppState,
}

/// A new patient account.
#[derive(Debug, Object)]
#[oai(example)]
struct RegisterRequest {
    /// Login email (visible ASCII, one `@`, a dot in the domain); stored lower-cased.
    #[oai(validator(
        max_length = 254,
        pattern = r"^[!-?A-~]+@[!-\-/-?A-~][!-?A-~]*\.[!-?A-~]*[!-\-/-?A-~]$"
    ))]
    email: String,
    /// 10 to 256 characters, not only whitespace, and not one of the most common passwords nor
    /// too easy to guess (by zxcvbn's estimate); a 422 on `password` names the rule broken.
    #[oai(validator(min_length = 10, max_length = 256, pattern = r"\S"))]
    password: String,
    /// Display name: not blank, no control characters; surrounding spaces are trimmed.
    #[oai(validator(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*$"
    ))]
    name: String,
}

impl Example for RegisterRequest {
    fn example() -> Self {
        Self {
            email: "grace@example.com".to_owned(),
            password: "correct horse battery staple".to_owned(),
            name: "Grace".to_owned(),
        }
    }
}

/// Credentials.
#[derive(Debug, Object)]
#[oai(example)]
struct LoginRequest {
    /// Login email.
    #[oai(validator(max_length = 254))]
    email: String,
    /// Password.
    #[oai(validator(max_length = 256))]
    password: String,
}

impl Example for LoginRequest {
    fn example() -> Self {
        let new = RegisterRequest::example();
        Self {
            email: new.email,
            password: new.password,
        }
    }
}

/// A session.
#[derive(Debug, Object)]
struct LoginResult {
    /// Send as `Authorization: Bearer <token>`. Also set as the HttpOnly session cookie.
    token: String,
    /// Always `Bearer`.
    token_type: String,
    /// When the session ends.
    expires_at: DateTime<Utc>,
    /// Send in `X-CSRF-Token` on state-changing requests that rely on the cookie.
    csrf_token: String,
    // Described on `Account`: a plain `$ref` (see `AccountOut::role`).
    user: AccountOut,
}

#[derive(ApiResponse)]
enum RegisterResponse {
    /// The account was created (role `patient`).
    #[oai(status = 201, content_type = "application/json")]
    Created(Json<AccountOut>),
}

#[derive(ApiResponse)]
enum LoginResponse {
    /// Signed in; the session cookie is set.
    #[oai(status = 200, content_type = "application/json")]
    Ok(
        Json<LoginResult>,
        /// The HttpOnly, SameSite=Strict session cookie.
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

#[derive(ApiResponse)]
enum LogoutResponse {
    /// Signed out; the session cookie is removed and the token no longer works.
    #[oai(status = 204)]
    Done(
        /// Removes the session cookie.
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

#[derive(ApiResponse)]
enum MeResponse {
    /// The account of the session.
    #[oai(status = 200, content_type = "application/json")]
    Ok(Json<AccountOut>),
}

/// What a person may change about themselves. The whole profile is replaced: a phone number or
/// zone left out (or sent empty) is removed.
#[derive(Debug, Object)]
#[oai(example)]
struct ProfileRequest {
    /// Display name: not blank, no control characters; surrounding spaces are trimmed.
    #[oai(validator(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*$"
    ))]
    name: String,
    /// A phone number in international form: `+`, the country code and the number, 8 to 15
    /// digits in all; spaces, dashes, dots and brackets between digits are dropped. Empty or
    /// absent: none.
    #[oai(validator(max_length = 40))]
    phone: Option<String>,
    /// The IANA zone to show times in (for example `Europe/Paris`). Empty or absent: the
    /// browser's.
    #[oai(validator(max_length = 64))]
    time_zone: Option<String>,
}

impl Example for ProfileRequest {
    fn example() -> Self {
        Self {
            name: "Grace Hopper".to_owned(),
            phone: Some("+44 20 7946 0958".to_owned()),
            time_zone: Some("Europe/London".to_owned()),
        }
    }
}

/// A new password.
#[derive(Debug, Object)]
#[oai(example)]
struct PasswordRequest {
    /// The password the account has now.
    #[oai(validator(max_length = 256))]
    current_password: String,
    /// The new password: 8 to 256 characters.
    #[oai(validator(max_length = 256))]
    new_password: String,
}

impl Example for PasswordRequest {
    fn example() -> Self {
        Self {
            current_password: RegisterRequest::example().password,
            new_password: "a longer passphrase than before".to_owned(),
        }
    }
}

#[derive(ApiResponse)]
enum PasswordResponse {
    /// The password changed. Every other session of the account has ended; this new session
    /// replaces the one that made the request (its cookie is set).
    #[oai(status = 200, content_type = "application/json")]
    Ok(
        Json<LoginResult>,
        /// The new HttpOnly, SameSite=Strict session cookie.
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

/// Asking for a password reset email.
#[derive(Debug, Object)]
#[oai(example)]
struct ResetRequest {
    /// The account's login email (visible ASCII, one `@`, a dot in the domain: anything else
    /// cannot be an account's, and is refused with 422 on `email`).
    #[oai(validator(
        max_length = 254,
        pattern = r"^[!-?A-~]+@[!-\-/-?A-~][!-?A-~]*\.[!-?A-~]*[!-\-/-?A-~]$"
    ))]
    email: String,
}

impl Example for ResetRequest {
    fn example() -> Self {
        Self {
            email: RegisterRequest::example().email,
        }
    }
}

/// The answer to a reset request, the same whether or not the address has an account.
#[derive(Debug, Object)]
struct ResetAccepted {
    /// What happens next, in words.
    detail: String,
}

/// The words of every reset request's answer.
pub(crate) const RESET_ACCEPTED: &str = "If an account has this email address, an email with a \
     link to choose a new password is on its way. The link works once, for a limited time.";

#[derive(ApiResponse)]
enum ResetRequested {
    /// Accepted: the same answer whether or not an account has the address.
    #[oai(status = 202, content_type = "application/json")]
    Accepted(Json<ResetAccepted>),
}

/// A new password from a reset link.
#[derive(Debug, Object)]
#[oai(example)]
struct ResetConfirmation {
    /// The token from the emailed link (`token` in its query).
    #[oai(validator(max_length = 100))]
    token: String,
    /// The new password, under the same rules as at sign-up.
    #[oai(validator(max_length = 256))]
    new_password: String,
}

impl Example for ResetConfirmation {
    fn example() -> Self {
        Self {
            token: "q5Qq2m6cJ7lq0V8m3kV4n8b2Yx1rT9sW0eZ4uH7aC3d".to_owned(),
            new_password: "a longer passphrase than before".to_owned(),
        }
    }
}

#[derive(ApiResponse)]
enum ResetDone {
    /// The password is set; every session of the account has ended. Sign in with it.
    #[oai(status = 204)]
    Done,
}

impl AuthApi {
    /// The answer that hands a client a new session: token in the body, cookie in the header.
    fn session_result(
        &self,
        session: IssuedSession,
        account: &medislot_core::Account,
    ) -> (Json<LoginResult>, String) {
        let cookie = self.state.sessions().cookie(&session);
        (
            Json(LoginResult {
                expires_at: session.claims.expires_at(),
                csrf_token: session.claims.csrf.clone(),
                token: session.token,
                token_type: "Bearer".to_owned(),
                user: AccountOut::from(account),
            }),
            cookie,
        )
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create a patient account.
    #[oai(path = "/auth/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        req: &Request,
        body: JsonBody<RegisterRequest>,
    ) -> Result<RegisterResponse, ApiError<{ BODY | CONFLICT | RATE_LIMITED | UNAVAILABLE }>> {
        self.state
            .auth_limiter()
            .check(req, self.state.engine().now())
            .await?;
        let JsonBody(body) = body;
        let account =
            accounts::register_patient(&self.state, &body.email, &body.password, &body.name)
                .await?;
        Ok(RegisterResponse::Created(Json(AccountOut::from(&account))))
    }

    /// Sign in
    ///
    /// Answers with a session token and sets the session cookie. An unknown email and a wrong
    /// password get the same answer. After four wrong passwords in a row, the account refuses
    /// sign-ins for 30 seconds, doubling with each further wrong one (at most 15 minutes): 429
    /// `account_locked` with `Retry-After`. A successful sign-in clears the count.
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        req: &Request,
        body: JsonBody<LoginRequest>,
    ) -> Result<LoginResponse, ApiError<{ BODY | UNAUTHORIZED | RATE_LIMITED | UNAVAILABLE }>> {
        self.state
            .auth_limiter()
            .check(req, self.state.engine().now())
            .await?;
        let JsonBody(body) = body;
        let account = accounts::authenticate(&self.state, &body.email, &body.password).await?;
        let session =
            self.state
                .sessions()
                .issue(account.id, account.sessions, self.state.engine().now())?;
        tracing::info!(account = %account.id, "signed in");
        let (body, cookie) = self.session_result(session, &account);
        Ok(LoginResponse::Ok(body, cookie))
    }

    /// Ask for a password reset email
    ///
    /// Emails a single-use link to the reset page when an account has this address. The
    /// answer is the same either way, so it tells nothing about who has an account. Limited
    /// per client address as sign-in is.
    #[oai(
        path = "/auth/password-reset",
        method = "post",
        operation_id = "requestPasswordReset"
    )]
    async fn request_password_reset(
        &self,
        req: &Request,
        body: JsonBody<ResetRequest>,
    ) -> Result<ResetRequested, ApiError<{ BODY | RATE_LIMITED | UNAVAILABLE }>> {
        self.state
            .auth_limiter()
            .check(req, self.state.engine().now())
            .await?;
        let JsonBody(body) = body;
        crate::password_reset::request(&self.state, &body.email, crate::request_id::of(req))
            .await?;
        Ok(ResetRequested::Accepted(Json(ResetAccepted {
            detail: RESET_ACCEPTED.to_owned(),
        })))
    }

    /// Set a new password from a reset link
    ///
    /// Redeems the emailed token: the password is set and every session of the account ends,
    /// on every instance. A token works once; an unknown, used or expired one is refused
    /// with 422 `reset_token_invalid` on `token`.
    #[oai(
        path = "/auth/password-reset/confirm",
        method = "post",
        operation_id = "confirmPasswordReset"
    )]
    async fn confirm_password_reset(
        &self,
        req: &Request,
        body: JsonBody<ResetConfirmation>,
    ) -> Result<ResetDone, ApiError<{ BODY | RATE_LIMITED | UNAVAILABLE }>> {
        self.state
            .auth_limiter()
            .check(req, self.state.engine().now())
            .await?;
        let JsonBody(body) = body;
        crate::password_reset::redeem(
            &self.state,
            &body.token,
            &body.new_password,
            crate::request_id::of(req),
        )
        .await?;
        Ok(ResetDone::Done)
    }

    /// Sign out
    ///
    /// The session token stops working, on every server instance sharing the database, and
    /// the cookie is removed.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        caller: Caller,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<LogoutResponse, ApiError<SIGNED_IN_WRITE>> {
        crate::auth::end_session(&self.state, &caller.claims).await?;
        Ok(LogoutResponse::Done(self.state.sessions().removal_cookie()))
    }

    /// Sign out everywhere
    ///
    /// Every session of the account stops working, this one included, on every device and
    /// every server instance; the cookie is removed.
    #[oai(
        path = "/auth/logout-everywhere",
        method = "post",
        operation_id = "logoutEverywhere"
    )]
    async fn logout_everywhere(
        &self,
        caller: Caller,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<LogoutResponse, ApiError<SIGNED_IN_WRITE>> {
        accounts::sign_out_everywhere(&self.state, &caller).await?;
        Ok(LogoutResponse::Done(self.state.sessions().removal_cookie()))
    }

    /// The signed-in account.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, caller: Caller) -> Result<MeResponse, ApiError<SIGNED_IN>> {
        Ok(MeResponse::Ok(Json(AccountOut::from(&caller.account))))
    }

    /// Change my profile
    ///
    /// Replaces the signed-in person's name, phone number and time zone. A phone number or
    /// zone left out or sent empty is removed.
    #[oai(path = "/me", method = "put", operation_id = "updateMe")]
    async fn update_me(
        &self,
        caller: Caller,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: JsonBody<ProfileRequest>,
    ) -> Result<MeResponse, ApiError<{ BODY | SIGNED_IN_WRITE }>> {
        let JsonBody(body) = body;
        let change = ProfileChange {
            name: body.name,
            phone: body.phone.unwrap_or_default(),
            time_zone: body.time_zone.unwrap_or_default(),
        };
        let account = accounts::update_profile(&self.state, &caller, &change).await?;
        Ok(MeResponse::Ok(Json(AccountOut::from(&account))))
    }

    /// Change my password
    ///
    /// Needs the current password (a wrong one counts against the sign-in limit, as at
    /// sign-in). Every other session of the account ends at once; the answer carries a new
    /// session that replaces the caller's (and sets its cookie).
    #[oai(
        path = "/me/password",
        method = "post",
        operation_id = "changePassword"
    )]
    async fn change_password(
        &self,
        caller: Caller,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
        body: JsonBody<PasswordRequest>,
    ) -> Result<PasswordResponse, ApiError<{ BODY | SIGNED_IN_WRITE | RATE_LIMITED }>> {
        let JsonBody(body) = body;
        let session = accounts::change_password(
            &self.state,
            &caller,
            &body.current_password,
            &body.new_password,
        )
        .await?;
        let (body, cookie) = self.session_result(session, &caller.account);
        Ok(PasswordResponse::Ok(body, cookie))
    }
}
