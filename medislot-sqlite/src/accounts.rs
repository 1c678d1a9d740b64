//! [`AccountStore`] for [`SqliteStore`]: accounts live in the same file as the bookings.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medislot_core::{
    journal, password_reset, Account, AccountId, AccountProfile, AccountStore, Audit, Email, Error,
    JournalEntry, LoginThrottle, PasswordReset, Redeemed, Redemption, Result, RevokedSession, Role,
    SessionAccount, SessionGeneration, SessionId, StoredReset,
};
use sqlx::{Row, SqliteConnection};

use crate::error::{corrupt, db, extended_code, SQLITE_CONSTRAINT_UNIQUE};
use crate::rows::{self, account_columns, get, get_instant, get_optional_instant, micros};
use crate::store::{commit, SqliteStore};

/// The account a session names, and whether the session was logged out: one statement, the
/// revocation check riding on the account read (a primary key lookup each).
const SESSION_ACCOUNT: &str = concat!(
    "SELECT ",
    account_columns!(),
    ", EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.id = ?2) AS revoked \
     FROM accounts a WHERE a.id = ?1"
);

/// Forgets logouts whose sessions have expired, along `revoked_sessions_by_expiry`.
const PRUNE_REVOKED: &str = "DELETE FROM revoked_sessions WHERE expires_at <= ?1";

/// The account `id`, with whether `session` was logged out ([`SESSION_ACCOUNT`]).
pub(crate) async fn session_account(
    conn: &mut SqliteConnection,
    id: AccountId,
    session: SessionId,
) -> Result<Option<SessionAccount>> {
    let row = sqlx::query(SESSION_ACCOUNT)
        .bind(id.as_uuid())
        .bind(session.as_uuid())
        .fetch_optional(conn)
        .await
        .map_err(db)?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(SessionAccount {
        account: rows::account(&row)?,
        revoked: row.try_get("revoked").map_err(db)?,
    }))
}

#[tracing::instrument(level = "debug", skip_all, fields(account = %account.id))]
async fn insert_account(conn: &mut SqliteConnection, account: &Account) -> Result<()> {
    sqlx::query(
        "INSERT INTO accounts (id, email, name, role, password_hash, created_at, phone, \
         time_zone, session_generation, failed_logins, locked_until) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .bind(account.id.as_uuid())
    .bind(account.email.as_str())
    .bind(&account.name)
    .bind(account.role.as_str())
    .bind(&account.password_hash)
    .bind(micros(account.created_at))
    .bind(account.profile.phone.as_ref().map(|p| p.as_str()))
    .bind(account.profile.time_zone.map(|tz| tz.name()))
    .bind(account.sessions.get())
    .bind(account.login_throttle.failures)
    .bind(account.login_throttle.locked_until.map(micros))
    .execute(conn)
    .await
    .map_err(|e| {
        // `accounts_email_unique` is the table's only UNIQUE constraint; a clash on the
        // primary key is a different code (`SQLITE_CONSTRAINT_PRIMARYKEY`).
        if extended_code(&e) == Some(SQLITE_CONSTRAINT_UNIQUE) {
            Error::EmailTaken
        } else {
            db(e)
        }
    })?;
    Ok(())
}

/// Raises an account's session generation and returns the new one.
async fn raise_generation(conn: &mut SqliteConnection, id: AccountId) -> Result<SessionGeneration> {
    let row = sqlx::query(
        "UPDATE accounts SET session_generation = session_generation + 1 WHERE id = ?1 \
         RETURNING session_generation",
    )
    .bind(id.as_uuid())
    .fetch_optional(conn)
    .await
    .map_err(db)?
    .ok_or(Error::AccountNotFound(id))?;
    Ok(SessionGeneration::from_stored(row.try_get(0).map_err(db)?))
}

/// Runs one `UPDATE accounts ... WHERE id = ?1` and reports a missing account.
#[tracing::instrument(level = "debug", skip(conn, value))]
async fn update_account(
    conn: &mut SqliteConnection,
    sql: &'static str,
    id: AccountId,
    value: &str,
) -> Result<()> {
    let done = sqlx::query(sql)
        .bind(id.as_uuid())
        .bind(value)
        .execute(conn)
        .await
        .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(Error::AccountNotFound(id));
    }
    Ok(())
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn insert_account(&self, account: &Account) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result = insert_account(&mut tx, account).await;
        commit(tx, result).await
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts a WHERE a.id = ?1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        Ok(row.as_ref().map(rows::account).transpose()?)
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts a WHERE a.email = ?1"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        Ok(row.as_ref().map(rows::account).transpose()?)
    }

    async fn search_accounts(&self, part: &str, limit: u32) -> Result<Vec<Account>> {
        // instr, not LIKE: the text is matched as it is, `%` and `_` included.
        let found = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts a WHERE instr(lower(a.name), lower(?1)) > 0 \
             OR instr(lower(a.email), lower(?1)) > 0 ORDER BY a.email LIMIT ?2"
        ))
        .bind(part)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        Ok(found
            .iter()
            .map(rows::account)
            .collect::<std::result::Result<Vec<_>, _>>()?)
    }

    async fn set_role(&self, id: AccountId, role: Role, audit: &Audit) -> Result<()> {
        // `BEGIN IMMEDIATE` is the lock: the role read is the one the update replaces.
        let mut tx = self.begin_write().await?;
        let result = async {
            let was: String = sqlx::query_scalar("SELECT role FROM accounts WHERE id = ?1")
                .bind(id.as_uuid())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?
                .ok_or(Error::AccountNotFound(id))?;
            let was = Role::from_stored(&was)
                .ok_or_else(|| corrupt(format_args!("unknown role {was:?}")))?;
            let Some(entry) = journal::role_changed(id, was, role, audit) else {
                return Ok(());
            };
            let sql = "UPDATE accounts SET role = ?2 WHERE id = ?1";
            update_account(&mut tx, sql, id, role.as_str()).await?;
            crate::journal::append_entry(&mut tx, entry).await
        }
        .await;
        commit(tx, result).await
    }

    async fn record_account_entry(&self, entry: &JournalEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result = crate::journal::append_entry(&mut tx, entry.clone()).await;
        commit(tx, result).await
    }

    async fn insert_password_reset(&self, reset: &PasswordReset) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "INSERT INTO password_resets (token_hash, account_id, created_at, expires_at) \
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?2)",
        )
        .bind(reset.token_hash.as_str())
        .bind(reset.account.as_uuid())
        .bind(micros(reset.created_at))
        .bind(micros(reset.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db)
        .and_then(|done| match done.rows_affected() {
            0 => Err(Error::AccountNotFound(reset.account)),
            _ => Ok(()),
        });
        commit(tx, result).await
    }

    async fn redeem_password_reset(&self, redemption: &Redemption) -> Result<Redeemed> {
        // `BEGIN IMMEDIATE` is the lock: no other redeem reads the token until this commits.
        let mut tx = self.begin_write().await?;
        let result = async {
            let found = sqlx::query(
                "SELECT r.account_id, a.role, r.expires_at, r.used_at FROM password_resets r \
                 JOIN accounts a ON a.id = r.account_id WHERE r.token_hash = ?1",
            )
            .bind(redemption.token_hash.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .map(|row| -> Result<StoredReset> {
                let role: String = get(&row, "role")?;
                Ok(StoredReset {
                    account: AccountId::from_uuid(get(&row, "account_id")?),
                    role: Role::from_stored(&role)
                        .ok_or_else(|| corrupt(format_args!("unknown role {role:?}")))?,
                    expires_at: get_instant(&row, "expires_at")?,
                    used_at: get_optional_instant(&row, "used_at")?,
                })
            })
            .transpose()?;
            let entry = password_reset::check(found.as_ref(), redemption)?;
            let account = entry.account_id.ok_or(Error::ResetTokenInvalid)?;
            sqlx::query(
                "UPDATE password_resets SET used_at = ?2 WHERE account_id = ?1 AND used_at IS NULL",
            )
            .bind(account.as_uuid())
            .bind(micros(redemption.audit.at))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            let sql = "UPDATE accounts SET password_hash = ?2 WHERE id = ?1";
            update_account(&mut tx, sql, account, &redemption.password_hash).await?;
            let sessions = raise_generation(&mut tx, account).await?;
            crate::journal::append_entry(&mut tx, entry).await?;
            Ok(Redeemed { account, sessions })
        }
        .await;
        commit(tx, result).await
    }

    async fn set_password_hash(
        &self,
        id: AccountId,
        password_hash: &str,
    ) -> Result<SessionGeneration> {
        let mut tx = self.begin_write().await?;
        let sql = "UPDATE accounts SET password_hash = ?2 WHERE id = ?1";
        let result = match update_account(&mut tx, sql, id, password_hash).await {
            Ok(()) => raise_generation(&mut tx, id).await,
            Err(error) => Err(error),
        };
        commit(tx, result).await
    }

    async fn update_profile(
        &self,
        id: AccountId,
        name: &str,
        profile: &AccountProfile,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result =
            sqlx::query("UPDATE accounts SET name = ?2, phone = ?3, time_zone = ?4 WHERE id = ?1")
                .bind(id.as_uuid())
                .bind(name)
                .bind(profile.phone.as_ref().map(|p| p.as_str()))
                .bind(profile.time_zone.map(|tz| tz.name()))
                .execute(&mut *tx)
                .await
                .map_err(db)
                .and_then(|done| match done.rows_affected() {
                    0 => Err(Error::AccountNotFound(id)),
                    _ => Ok(()),
                });
        commit(tx, result).await
    }

    async fn end_sessions(&self, id: AccountId) -> Result<SessionGeneration> {
        let mut tx = self.begin_write().await?;
        let result = raise_generation(&mut tx, id).await;
        commit(tx, result).await
    }

    async fn session_account(
        &self,
        id: AccountId,
        session: SessionId,
    ) -> Result<Option<SessionAccount>> {
        let mut conn = self.reader.acquire().await.map_err(db)?;
        session_account(&mut conn, id, session).await
    }

    async fn revoke_session(&self, session: &RevokedSession) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "INSERT INTO revoked_sessions (id, account_id, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(session.id.as_uuid())
        .bind(session.account.as_uuid())
        .bind(micros(session.expires_at))
        .execute(&mut *tx)
        .await
        .map(drop)
        .map_err(db);
        commit(tx, result).await
    }

    async fn prune_revoked_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(PRUNE_REVOKED)
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map(|done| done.rows_affected())
            .map_err(db);
        commit(tx, result).await
    }

    async fn count_attempt(&self, key: &str, window: DateTime<Utc>) -> Result<u32> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            // SQLite's RETURNING takes no table alias; in DO UPDATE a bare column is the stored
            // row's.
            "INSERT INTO attempt_counts (key, window_start, attempts) VALUES (?1, ?2, 1) \
             ON CONFLICT (key, window_start) DO UPDATE SET attempts = attempts + 1 \
             RETURNING attempts",
        )
        .bind(key)
        .bind(micros(window))
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get::<i64, _>(0))
        .map(|attempts| u32::try_from(attempts).unwrap_or(u32::MAX))
        .map_err(db);
        commit(tx, result).await
    }

    async fn prune_attempts(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query("DELETE FROM attempt_counts WHERE window_start < ?1")
            .bind(micros(before))
            .execute(&mut *tx)
            .await
            .map(|done| done.rows_affected())
            .map_err(db);
        commit(tx, result).await
    }

    async fn record_login_failure(
        &self,
        id: AccountId,
        next: &(dyn Fn(LoginThrottle) -> LoginThrottle + Send + Sync),
    ) -> Result<LoginThrottle> {
        // `BEGIN IMMEDIATE` is the lock: no other writer reads between our read and write.
        let mut tx = self.begin_write().await?;
        let result = async {
            let row = sqlx::query(concat!(
                "SELECT ",
                account_columns!(),
                " FROM accounts a WHERE a.id = ?1"
            ))
            .bind(id.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(Error::AccountNotFound(id))?;
            let throttle = next(rows::account(&row)?.login_throttle);
            sqlx::query("UPDATE accounts SET failed_logins = ?2, locked_until = ?3 WHERE id = ?1")
                .bind(id.as_uuid())
                .bind(throttle.failures)
                .bind(throttle.locked_until.map(micros))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            Ok::<_, Error>(throttle)
        }
        .await;
        commit(tx, result).await
    }

    async fn clear_login_failures(&self, id: AccountId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let result =
            sqlx::query("UPDATE accounts SET failed_logins = 0, locked_until = NULL WHERE id = ?1")
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(db)
                .and_then(|done| match done.rows_affected() {
                    0 => Err(Error::AccountNotFound(id)),
                    _ => Ok(()),
                });
        commit(tx, result).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The read every authenticated request makes, and the sweeper's prune, never scan a table.
    #[tokio::test]
    async fn the_session_read_and_the_prune_go_through_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(dir.path().join("a.db").to_str().unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        for sql in [SESSION_ACCOUNT, PRUNE_REVOKED] {
            let steps = store.query_plan(sql).await;
            assert!(!steps.is_empty(), "{sql}");
            for step in &steps {
                assert!(!step.starts_with("SCAN"), "{sql}\n{steps:#?}");
            }
        }
    }
}
