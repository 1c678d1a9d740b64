//! `/auth/register`, `/auth/login`, `/auth/logout` and `/me`.

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::body::JsonBody;
use super::model::AccountOut;
use super::ApiTags;
use crate::accounts;
use crate::auth::Caller;
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

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create a patient account.
    #[oai(path = "/auth/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        req: &Request,
        body: JsonBody<RegisterRequest>,
    ) -> Result<RegisterResponse, ApiError<{ BODY | CONFLICT | RATE_LIMITED | UNAVAILABLE }>> {
        self.state.auth_limiter().check(req)?;
        let JsonBody(body) = body;
        let account =
            accounts::register_patient(&self.state, &body.email, &body.password, &body.name)
                .await?;
        Ok(RegisterResponse::Created(Json(AccountOut::from(&account))))
    }

    /// Sign in
    ///
    /// Answers with a session token and sets the session cookie. An unknown email and a wrong
    /// password get the same answer.
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        req: &Request,
        body: JsonBody<LoginRequest>,
    ) -> Result<LoginResponse, ApiError<{ BODY | UNAUTHORIZED | RATE_LIMITED | UNAVAILABLE }>> {
        self.state.auth_limiter().check(req)?;
        let JsonBody(body) = body;
        let account = accounts::authenticate(&self.state, &body.email, &body.password).await?;
        let session = self
            .state
            .sessions()
            .issue(account.id, self.state.engine().now())?;
        let cookie = self.state.sessions().cookie(&session);
        tracing::info!(account = %account.id, "signed in");
        Ok(LoginResponse::Ok(
            Json(LoginResult {
                expires_at: session.claims.expires_at(),
                csrf_token: session.claims.csrf.clone(),
                token: session.token,
                token_type: "Bearer".to_owned(),
                user: AccountOut::from(&account),
            }),
            cookie,
        ))
    }

    /// Sign out
    ///
    /// The session token stops working and the cookie is removed.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        caller: Caller,
        /// With the session cookie (not a Bearer token): the login's `csrf_token`.
        #[oai(name = "X-CSRF-Token")]
        _csrf: Header<Option<String>>,
    ) -> Result<LogoutResponse, ApiError<SIGNED_IN_WRITE>> {
        self.state.sessions().revoke(&caller.claims);
        Ok(LogoutResponse::Done(self.state.sessions().removal_cookie()))
    }

    /// The signed-in account.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, caller: Caller) -> Result<MeResponse, ApiError<SIGNED_IN>> {
        Ok(MeResponse::Ok(Json(AccountOut::from(&caller.account))))
    }
}
