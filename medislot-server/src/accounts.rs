//! Account operations shared by the API, the command line and the web UI: sign up, sign in
//! (with the per-account throttle kept in the store), the profile, a new password, and making
//! an admin.

use chrono::{DateTime, Utc};
use medislot_core::{
    parse_time_zone, Account, AccountId, AccountProfile, AccountStore, Actor, Audit, Email,
    LoginBackoff, LoginThrottle, PhoneNumber, Role, SessionGeneration, MAX_NAME_CHARS,
};
use poem::http::StatusCode;

use crate::auth::{check_password_rules, Caller, IssuedSession, Passwords};
use crate::problem::Problem;
use crate::state::AppState;

/// Every reason the sign-up fields are unacceptable, one per field (name, email, password),
/// so that a form can show them all at once; empty when [`register_patient`] would accept
/// them (its email may still be taken).
pub fn sign_up_problems(email: &str, password: &str, name: &str) -> Vec<Problem> {
    [
        check_name(name).err(),
        Email::parse(email).err().map(Problem::from),
        check_password_rules(password).err(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Creates a patient account.
///
/// # Errors
/// 422 naming `email`, `password` or `name` when one is unacceptable; 409 `email_taken`.
pub async fn register_patient(
    state: &AppState,
    email: &str,
    password: &str,
    name: &str,
) -> Result<Account, Problem> {
    let email = Email::parse(email)?;
    check_password_rules(password)?;
    let name = check_name(name)?;
    let account = Account {
        id: AccountId::new(),
        email,
        name,
        role: Role::Patient,
        password_hash: state.passwords().hash(password).await?,
        created_at: state.engine().now(),
        profile: AccountProfile::default(),
        sessions: SessionGeneration::FIRST,
        login_throttle: LoginThrottle::default(),
    };
    state.accounts().insert_account(&account).await?;
    tracing::info!(account = %account.id, "patient registered");
    Ok(account)
}

/// The account these credentials open. An unknown or malformed email costs the same hashing
/// work as a wrong password and gets the same answer.
///
/// Each account's failed sign-ins are counted in the store (so every instance counts the same
/// ones, whatever address they come from): after [`LoginBackoff::default`]'s four free failures the account
/// refuses sign-ins for a while, doubling with each further failure; a successful sign-in
/// clears the count.
///
/// # Errors
/// 401 `invalid_credentials`; 429 `account_locked` with `Retry-After` while the account is
/// locked; 503 when the store is down.
pub async fn authenticate(
    state: &AppState,
    email: &str,
    password: &str,
) -> Result<Account, Problem> {
    let account = match Email::parse(email) {
        Ok(email) => state.accounts().account_by_email(&email).await?,
        Err(_) => None,
    };
    match account {
        Some(account) => {
            check_password(state, &account, password).await?;
            Ok(account)
        }
        None => {
            // The same hashing work as a known account, and the same answer.
            state.passwords().verify(None, password).await;
            Err(invalid_credentials())
        }
    }
}

/// Whether `password` is `account`'s, under the account's sign-in throttle: refused at once
/// while locked, a failure counted, a success clearing earlier failures.
async fn check_password(
    state: &AppState,
    account: &Account,
    password: &str,
) -> Result<(), Problem> {
    let now = state.engine().now();
    if let Some(wait) = account.login_throttle.wait_at(now) {
        return Err(locked(wait));
    }
    if state
        .passwords()
        .verify(Some(&account.password_hash), password)
        .await
    {
        if account.login_throttle != LoginThrottle::default() {
            state.accounts().clear_login_failures(account.id).await?;
        }
        return Ok(());
    }
    let throttle = state
        .accounts()
        .record_login_failure(account.id, &move |t| {
            t.after_failure(now, &LoginBackoff::default())
        })
        .await?;
    tracing::info!(
        account = %account.id,
        failures = throttle.failures,
        locked = throttle.locked_until.is_some(),
        "sign-in refused: wrong password"
    );
    Err(invalid_credentials())
}

fn invalid_credentials() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "the email or password is wrong",
    )
}

fn locked(wait: chrono::Duration) -> Problem {
    // Whole seconds, rounded up: a client that waits `Retry-After` finds the account open.
    let whole = wait.num_seconds();
    let seconds = if wait > chrono::Duration::seconds(whole) {
        whole + 1
    } else {
        whole
    };
    let seconds = u64::try_from(seconds).unwrap_or(0).max(1);
    Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "account_locked",
        format!(
            "too many wrong passwords for this account; sign-in is refused for {seconds} more \
             seconds"
        ),
    )
    .with_retry_after(seconds)
}

/// The fields a person may change about themselves, as sent: each checked once here.
#[derive(Debug, Default, Clone)]
pub struct ProfileChange {
    /// Display name, required.
    pub name: String,
    /// A phone number, or blank for none.
    pub phone: String,
    /// An IANA zone name, or blank to use the browser's.
    pub time_zone: String,
}

/// Every reason the profile fields are unacceptable, one per field, so that a form shows them
/// all at once; on success, the checked name and profile.
///
/// # Errors
/// The 422 problems, each naming `name`, `phone` or `time_zone`.
pub fn check_profile(change: &ProfileChange) -> Result<(String, AccountProfile), Vec<Problem>> {
    let name = check_name(&change.name);
    let phone = match change.phone.trim() {
        "" => Ok(None),
        phone => PhoneNumber::parse(phone).map(Some).map_err(Problem::from),
    };
    let time_zone = match change.time_zone.trim() {
        "" => Ok(None),
        zone => parse_time_zone(zone).map(Some).map_err(Problem::from),
    };
    match (name, phone, time_zone) {
        (Ok(name), Ok(phone), Ok(time_zone)) => Ok((name, AccountProfile { phone, time_zone })),
        (name, phone, time_zone) => Err([name.err(), phone.err(), time_zone.err()]
            .into_iter()
            .flatten()
            .collect()),
    }
}

/// Replaces the caller's name, phone number and time zone; returns the account as stored.
///
/// # Errors
/// 422 naming the first unacceptable field; 503 when the store is down.
pub async fn update_profile(
    state: &AppState,
    caller: &Caller,
    change: &ProfileChange,
) -> Result<Account, Problem> {
    let (name, profile) = check_profile(change).map_err(|problems| {
        problems
            .into_iter()
            .next()
            .unwrap_or_else(Problem::internal)
    })?;
    state
        .accounts()
        .update_profile(caller.account.id, &name, &profile)
        .await?;
    let mut account = caller.account.clone();
    account.name = name;
    account.profile = profile;
    tracing::info!(account = %account.id, "profile changed");
    Ok(account)
}

/// Changes the caller's password: the current one must be given (and counts against the
/// sign-in throttle when wrong). Every session of the account ends, on every instance; the
/// returned session replaces the caller's.
///
/// # Errors
/// 401 `invalid_credentials` naming `current_password`; 429 `account_locked`; 422 on
/// `new_password`; 503 when the store is down.
pub async fn change_password(
    state: &AppState,
    caller: &Caller,
    current_password: &str,
    new_password: &str,
) -> Result<IssuedSession, Problem> {
    check_password(state, &caller.account, current_password)
        .await
        .map_err(|problem| match problem.status() {
            StatusCode::UNAUTHORIZED => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "the current password is wrong",
            )
            .with_field("current_password"),
            _ => problem,
        })?;
    check_password_rules(new_password).map_err(|p| p.with_field("new_password"))?;
    let hash = state.passwords().hash(new_password).await?;
    let generation = state
        .accounts()
        .set_password_hash(caller.account.id, &hash)
        .await?;
    tracing::info!(account = %caller.account.id, "password changed; other sessions ended");
    state
        .sessions()
        .issue(caller.account.id, generation, state.engine().now())
}

/// Ends every session of the caller's account, this one included, on every instance.
///
/// # Errors
/// 503 when the store is down.
pub async fn sign_out_everywhere(state: &AppState, caller: &Caller) -> Result<(), Problem> {
    state.accounts().end_sessions(caller.account.id).await?;
    tracing::info!(account = %caller.account.id, "signed out everywhere");
    Ok(())
}

/// What [`ensure_admin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminOutcome {
    /// A new admin account was created.
    Created,
    /// An existing account was made admin (or stayed admin) and given the password.
    Promoted,
}

/// Creates an admin account, or promotes the account with this email and sets its password.
///
/// # Errors
/// 422 naming `email` or `password`; 503 when the store is down.
pub async fn ensure_admin(
    accounts: &dyn AccountStore,
    passwords: &Passwords,
    email: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<(Account, AdminOutcome), Problem> {
    let email = Email::parse(email)?;
    check_password_rules(password)?;
    let password_hash = passwords.hash(password).await?;
    if let Some(mut account) = accounts.account_by_email(&email).await? {
        // The operator's bootstrap, not a signed-in admin: the system's doing.
        let audit = Audit {
            actor: Actor::System,
            at: now,
            request_id: None,
        };
        accounts.set_role(account.id, Role::Admin, &audit).await?;
        // A new password ends every session the account had, as any password change does.
        account.sessions = accounts
            .set_password_hash(account.id, &password_hash)
            .await?;
        account.role = Role::Admin;
        account.password_hash = password_hash;
        return Ok((account, AdminOutcome::Promoted));
    }
    let name = email
        .as_str()
        .split('@')
        .next()
        .unwrap_or("admin")
        .to_owned();
    let account = Account {
        id: AccountId::new(),
        email,
        name,
        role: Role::Admin,
        password_hash,
        created_at: now,
        profile: AccountProfile::default(),
        sessions: SessionGeneration::FIRST,
        login_throttle: LoginThrottle::default(),
    };
    accounts.insert_account(&account).await?;
    Ok((account, AdminOutcome::Created))
}

fn check_name(name: &str) -> Result<String, Problem> {
    Ok(medislot_core::text::required_line(
        "name",
        name,
        MAX_NAME_CHARS,
    )?)
}
