//! Password reset by email, shared by the API and the pages: asking for a link (the same
//! answer whether the address has an account or not), minting the token when the email is
//! sent, and redeeming it.
//!
//! A request writes only a journal entry naming the account
//! ([`EntryKind::AccountPasswordResetRequested`](medislot_core::EntryKind)), queued for the
//! email channel in the same transaction, so the email is never lost. The token is minted by
//! the email deliverer at send time ([`mint`]) and exists only in the email: the outbox, its
//! admin page and the journal never hold a usable secret, and the store keeps only its
//! SHA-256. A retried email mints a second token; older tokens stay valid until they expire
//! or any token of the account is redeemed (see [`medislot_core::password_reset`]).

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use medislot_core::{
    journal, AccountId, AccountStore, Actor, Audit, Email, PasswordReset, Redeemed, Redemption,
    ResetTokenHash,
};
use sha2::{Digest, Sha256};

use crate::auth::check_password_rules;
use crate::problem::Problem;
use crate::state::AppState;

/// The path of the page a reset link opens; the token follows in `?token=`.
pub const RESET_PAGE: &str = "/password-reset/confirm";

/// A token's length in characters: 32 random bytes in unpadded base64url.
const TOKEN_CHARS: usize = 43;

/// Asks for a reset email for `email`. The answer is the same whether or not an account has
/// the address (both read the account; only a known one also queues the email), so it tells
/// nothing about who has an account.
///
/// # Errors
/// 422 on `email` when it is no email address; 503 when the store is down.
pub async fn request(
    state: &AppState,
    email: &str,
    request_id: Option<String>,
) -> Result<(), Problem> {
    let email = Email::parse(email)?;
    let account = state.accounts().account_by_email(&email).await?;
    if let Some(account) = account {
        let audit = Audit {
            actor: Actor::System,
            at: state.engine().now(),
            request_id,
        };
        let entry = journal::password_reset_requested(account.id, &audit);
        state.accounts().record_account_entry(&entry).await?;
        tracing::info!(account = %account.id, message = %entry.id, "password reset email queued");
    }
    Ok(())
}

/// A new token for `account`, valid for `ttl` from `now`; the store keeps only its hash. The
/// token goes into the email and nowhere else.
///
/// # Errors
/// The store's error (the account is gone, or the store is down).
pub async fn mint(
    accounts: &dyn AccountStore,
    account: AccountId,
    now: DateTime<Utc>,
    ttl: Duration,
) -> medislot_core::Result<String> {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    accounts
        .insert_password_reset(&PasswordReset {
            token_hash: hash(&token),
            account,
            created_at: now,
            expires_at: now + ttl,
        })
        .await?;
    Ok(token)
}

/// The link that opens the reset page with `token`.
pub fn link(origin: &str, token: &str) -> String {
    format!("{origin}{RESET_PAGE}?token={token}")
}

/// Every reason the new password is unacceptable, for a form to show them all at once: the
/// password rules on `new_password`, and `confirm` when the two differ.
pub fn password_problems(new_password: &str, confirm: Option<&str>) -> Vec<Problem> {
    let mut problems: Vec<Problem> = new_password_rules(new_password).err().into_iter().collect();
    if confirm.is_some_and(|confirm| confirm != new_password) {
        problems.push(Problem::validation(
            "confirm_password",
            "must match the new password",
        ));
    }
    problems
}

/// Sets the password of the account `token` resets, ending every session of it.
///
/// # Errors
/// 422 on `new_password` when it breaks the password rules; 422 `reset_token_invalid` (on
/// `token`) when the token is unknown, used or expired; 503 when the store is down.
pub async fn redeem(
    state: &AppState,
    token: &str,
    new_password: &str,
    request_id: Option<String>,
) -> Result<Redeemed, Problem> {
    new_password_rules(new_password)?;
    let token = token.trim();
    if token.len() != TOKEN_CHARS {
        return Err(medislot_core::Error::ResetTokenInvalid.into());
    }
    let password_hash = state.passwords().hash(new_password).await?;
    let redeemed = state
        .accounts()
        .redeem_password_reset(&Redemption {
            token_hash: hash(token),
            password_hash,
            audit: Audit {
                actor: Actor::System,
                at: state.engine().now(),
                request_id,
            },
        })
        .await?;
    tracing::info!(account = %redeemed.account, "password reset; every session ended");
    Ok(redeemed)
}

/// The password rules, refusing on `new_password` (the rules name their field `password`).
fn new_password_rules(new_password: &str) -> Result<(), Problem> {
    check_password_rules(new_password).map_err(|problem| {
        let detail = problem.detail();
        Problem::validation(
            "new_password",
            detail.strip_prefix("`password` ").unwrap_or(detail),
        )
    })
}

fn hash(token: &str) -> ResetTokenHash {
    ResetTokenHash::from_digest(Sha256::digest(token.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_carries_the_token_to_the_reset_page() {
        assert_eq!(
            link("https://clinic.example", "abc"),
            "https://clinic.example/password-reset/confirm?token=abc"
        );
    }

    #[test]
    fn a_token_hashes_to_its_sha256() {
        assert_eq!(
            hash("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
