//! Accounts, in the same database as the bookings. Every operation is one statement, one round
//! trip; the unique index on `lower(email)` decides races between two sign-ups.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medislot_core::{
    Account, AccountId, AccountProfile, AccountStore, Email, Error, LoginThrottle, Result,
    RevokedSession, Role, SessionAccount, SessionGeneration, SessionId,
};
use sqlx::Row as _;

use crate::rows::{self, ACCOUNT};
use crate::store::{no_rule, PgStore};

#[async_trait]
impl AccountStore for PgStore {
    async fn insert_account(&self, account: &Account) -> Result<()> {
        // `accounts_email_unique` maps to Error::EmailTaken (see error.rs).
        self.retrying("insert_account", &no_rule, move || async move {
            sqlx::query(
                "INSERT INTO accounts (id, email, name, role, password_hash, created_at, \
                 phone, time_zone, session_generation, failed_logins, locked_until) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(account.id.as_uuid())
            .bind(account.email.as_str())
            .bind(&account.name)
            .bind(account.role.as_str())
            .bind(&account.password_hash)
            .bind(account.created_at)
            .bind(account.profile.phone.as_ref().map(|p| p.as_str()))
            .bind(account.profile.time_zone.map(|tz| tz.name()))
            .bind(account.sessions.get())
            .bind(i32::try_from(account.login_throttle.failures).unwrap_or(i32::MAX))
            .bind(account.login_throttle.locked_until)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        self.retrying("account", &no_rule, move || async move {
            let sql = format!("SELECT {ACCOUNT} FROM accounts WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.as_ref().map(rows::account).transpose()?)
        })
        .await
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>> {
        self.retrying("account_by_email", &no_rule, move || async move {
            let sql = format!("SELECT {ACCOUNT} FROM accounts WHERE lower(email) = lower($1)");
            let row = sqlx::query(&sql)
                .bind(email.as_str())
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.as_ref().map(rows::account).transpose()?)
        })
        .await
    }

    async fn search_accounts(&self, part: &str, limit: u32) -> Result<Vec<Account>> {
        self.retrying("search_accounts", &no_rule, move || async move {
            // strpos, not LIKE: the text is matched as it is, `%` and `_` included.
            let sql = format!(
                "SELECT {ACCOUNT} FROM accounts \
                 WHERE strpos(lower(name), lower($1)) > 0 OR strpos(lower(email), lower($1)) > 0 \
                 ORDER BY email LIMIT $2"
            );
            let found = sqlx::query(&sql)
                .bind(part)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
            Ok(found
                .iter()
                .map(rows::account)
                .collect::<std::result::Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn set_role(&self, id: AccountId, role: Role) -> Result<()> {
        self.retrying("set_role", &no_rule, move || async move {
            let done = sqlx::query("UPDATE accounts SET role = $2 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(role.as_str())
                .execute(&self.pool)
                .await?;
            if done.rows_affected() == 0 {
                return Err(Error::AccountNotFound(id).into());
            }
            Ok(())
        })
        .await
    }

    async fn set_password_hash(
        &self,
        id: AccountId,
        password_hash: &str,
    ) -> Result<SessionGeneration> {
        self.retrying("set_password_hash", &no_rule, move || async move {
            let row = sqlx::query(
                "UPDATE accounts SET password_hash = $2, \
                 session_generation = session_generation + 1 WHERE id = $1 \
                 RETURNING session_generation",
            )
            .bind(id.as_uuid())
            .bind(password_hash)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::AccountNotFound(id))?;
            Ok(SessionGeneration::from_stored(row.try_get(0)?))
        })
        .await
    }

    async fn update_profile(
        &self,
        id: AccountId,
        name: &str,
        profile: &AccountProfile,
    ) -> Result<()> {
        self.retrying("update_profile", &no_rule, move || async move {
            let done = sqlx::query(
                "UPDATE accounts SET name = $2, phone = $3, time_zone = $4 WHERE id = $1",
            )
            .bind(id.as_uuid())
            .bind(name)
            .bind(profile.phone.as_ref().map(|p| p.as_str()))
            .bind(profile.time_zone.map(|tz| tz.name()))
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(Error::AccountNotFound(id).into());
            }
            Ok(())
        })
        .await
    }

    async fn end_sessions(&self, id: AccountId) -> Result<SessionGeneration> {
        self.retrying("end_sessions", &no_rule, move || async move {
            let row = sqlx::query(
                "UPDATE accounts SET session_generation = session_generation + 1 \
                 WHERE id = $1 RETURNING session_generation",
            )
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::AccountNotFound(id))?;
            Ok(SessionGeneration::from_stored(row.try_get(0)?))
        })
        .await
    }

    async fn session_account(
        &self,
        id: AccountId,
        session: SessionId,
    ) -> Result<Option<SessionAccount>> {
        self.retrying("session_account", &no_rule, move || async move {
            // One statement: the revocation check rides on the account read (primary keys both).
            let sql = format!(
                "SELECT {ACCOUNT}, EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.id = $2) \
                 AS revoked FROM accounts WHERE id = $1"
            );
            let row = sqlx::query(&sql)
                .bind(id.as_uuid())
                .bind(session.as_uuid())
                .fetch_optional(&self.pool)
                .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            Ok(Some(SessionAccount {
                account: rows::account(&row)?,
                revoked: row.try_get("revoked")?,
            }))
        })
        .await
    }

    async fn revoke_session(&self, session: &RevokedSession) -> Result<()> {
        self.retrying("revoke_session", &no_rule, move || async move {
            sqlx::query(
                "INSERT INTO revoked_sessions (id, account_id, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(session.id.as_uuid())
            .bind(session.account.as_uuid())
            .bind(session.expires_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn prune_revoked_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        self.retrying("prune_revoked_sessions", &no_rule, move || async move {
            let done = sqlx::query("DELETE FROM revoked_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected())
        })
        .await
    }

    async fn record_login_failure(
        &self,
        id: AccountId,
        next: &(dyn Fn(LoginThrottle) -> LoginThrottle + Send + Sync),
    ) -> Result<LoginThrottle> {
        self.retrying("record_login_failure", &no_rule, move || async move {
            // The row lock serialises failures counted by several instances at once.
            let mut tx = self.pool.begin().await?;
            let sql = format!("SELECT {ACCOUNT} FROM accounts WHERE id = $1 FOR UPDATE");
            let row = sqlx::query(&sql)
                .bind(id.as_uuid())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(Error::AccountNotFound(id))?;
            let throttle = next(rows::account(&row)?.login_throttle);
            sqlx::query("UPDATE accounts SET failed_logins = $2, locked_until = $3 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(i32::try_from(throttle.failures).unwrap_or(i32::MAX))
                .bind(throttle.locked_until)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(throttle)
        })
        .await
    }

    async fn clear_login_failures(&self, id: AccountId) -> Result<()> {
        self.retrying("clear_login_failures", &no_rule, move || async move {
            let done = sqlx::query(
                "UPDATE accounts SET failed_logins = 0, locked_until = NULL WHERE id = $1",
            )
            .bind(id.as_uuid())
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(Error::AccountNotFound(id).into());
            }
            Ok(())
        })
        .await
    }
}
