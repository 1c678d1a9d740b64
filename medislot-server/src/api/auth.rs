//! `/auth/register`, `/auth/login`, `/auth/logout` and `/me`.

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::body::JsonBody;
use super::model::AccountOut;
use super::ApiTags;
use crate::accounts;
use crate::auth::Caller;
use crate::problem::Problem;
use crate::state::AppState;

/// Account routes.
pub(crate) struct AuthApi {
    pub(crate) state: AppState,
}

/// A new patient account.
#[derive(Debug, Object)]
struct RegisterRequest {
    /// Login email.
    #[oai(validator(max_length = 254))]
    email: String,
    /// At least 8 characters.
    #[oai(validator(max_length = 256))]
    password: String,
    /// Display name.
    #[oai(validator(max_length = 200))]
    name: String,
}

/// Credentials.
#[derive(Debug, Object)]
struct LoginRequest {
    /// Login email.
    #[oai(validator(max_length = 254))]
    email: String,
    /// Password.
    #[oai(validator(max_length = 256))]
    password: String,
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
    /// The signed-in account.
    user: AccountOut,
}

#[derive(ApiResponse)]
enum RegisterResponse {
    /// The account was created (role `patient`).
    #[oai(status = 201)]
    Created(Json<AccountOut>),
}

#[derive(ApiResponse)]
enum LoginResponse {
    /// Signed in; the session cookie is set.
    #[oai(status = 200)]
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

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create a patient account.
    #[oai(path = "/auth/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        req: &Request,
        body: JsonBody<RegisterRequest>,
    ) -> Result<RegisterResponse, Problem> {
        self.state.auth_limiter().check(req)?;
        let JsonBody(body) = body;
        let account =
            accounts::register_patient(&self.state, &body.email, &body.password, &body.name)
                .await?;
        Ok(RegisterResponse::Created(Json(AccountOut::from(&account))))
    }

    /// Sign in. Unknown email and wrong password get the same answer.
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        req: &Request,
        body: JsonBody<LoginRequest>,
    ) -> Result<LoginResponse, Problem> {
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

    /// Sign out: the session token stops working and the cookie is removed.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, caller: Caller) -> Result<LogoutResponse, Problem> {
        self.state.sessions().revoke(&caller.claims);
        Ok(LogoutResponse::Done(self.state.sessions().removal_cookie()))
    }

    /// The signed-in account.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, caller: Caller) -> Result<Json<AccountOut>, Problem> {
        Ok(Json(AccountOut::from(&caller.account)))
    }
}
