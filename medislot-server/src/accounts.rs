//! Account operations shared by the API, the command line and the web UI: sign up, sign in,
//! and making an admin.

use chrono::{DateTime, Utc};
use medislot_core::{Account, AccountId, AccountStore, Email, Role, MAX_NAME_CHARS};

use crate::auth::{check_password_rules, Passwords};
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
    };
    state.accounts().insert_account(&account).await?;
    tracing::info!(account = %account.id, "patient registered");
    Ok(account)
}

/// The account these credentials open. An unknown or malformed email costs the same hashing
/// work as a wrong password and gets the same answer.
///
/// # Errors
/// 401 `invalid_credentials`; 503 when the store is down.
pub async fn authenticate(
    state: &AppState,
    email: &str,
    password: &str,
) -> Result<Account, Problem> {
    let account = match Email::parse(email) {
        Ok(email) => state.accounts().account_by_email(&email).await?,
        Err(_) => None,
    };
    let stored = account.as_ref().map(|a| a.password_hash.as_str());
    if state.passwords().verify(stored, password).await {
        if let Some(account) = account {
            return Ok(account);
        }
    }
    Err(Problem::new(
        poem::http::StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "the email or password is wrong",
    ))
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
        accounts.set_role(account.id, Role::Admin).await?;
        accounts
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
