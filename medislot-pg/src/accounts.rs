//! Accounts, in the same database as the bookings. Every operation is one statement, one round
//! trip (a sign-in failure: a read and a compare-and-set write); the unique index on
//! `lower(email)` decides races between two sign-ups.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medislot_core::{
    journal, password_reset, Account, AccountId, AccountProfile, AccountStore, Audit, Email, Error,
    JournalEntry, LoginThrottle, PasswordReset, Redeemed, Redemption, Result, RevokedSession, Role,
    SessionAccount, SessionGeneration, SessionId, StoreError, StoredReset,
};
use sqlx::{Executor as _, Row as _};

use crate::error::corrupt;

/// A role as stored.
fn stored_role(role: &str) -> Result<Role, sqlx::Error> {
    Role::from_stored(role)
        .ok_or_else(|| corrupt(StoreError::Corrupt(format!("unknown role {role:?}"))))
}

use crate::query::Sql;
use crate::rows::{self, ACCOUNT};
use crate::script::Lit;
use crate::store::{no_rule, PgStore};

#[async_trait]
impl AccountStore for PgStore {
    async fn insert_account(&self, account: &Account) -> Result<()> {
        // `accounts_email_unique` maps to Error::EmailTaken (see error.rs).
        self.retrying("insert_account", &no_rule, move || async move {
            let mut sql = Sql::new(
                "INSERT INTO accounts (id, email, name, role, password_hash, created_at, \
                 phone, time_zone, session_generation, failed_logins, locked_until) VALUES (",
            );
            sql.bind(Lit::Uuid(account.id.as_uuid()))
                .push(", ")
                .bind(Lit::Text(account.email.as_str()))
                .push(", ")
                .bind(Lit::Text(&account.name))
                .push(", ")
                .bind(Lit::Text(account.role.as_str()))
                .push(", ")
                .bind(Lit::Text(&account.password_hash))
                .push(", ")
                .bind(Lit::Ts(account.created_at))
                .push(", ")
                .bind(Lit::OptText(
                    account.profile.phone.as_ref().map(|p| p.as_str()),
                ))
                .push(", ")
                .bind(Lit::OptText(account.profile.time_zone.map(|tz| tz.name())))
                .push(", ")
                .bind(Lit::Int(account.sessions.get()))
                .push(", ")
                .bind(Lit::Int(i64::from(account.login_throttle.failures)))
                .push(", ")
                .bind(Lit::OptTs(account.login_throttle.locked_until))
                .push(")");
            sql.execute(self).await?;
            Ok(())
        })
        .await
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        self.retrying("account", &no_rule, move || async move {
            let mut sql = Sql::new("SELECT ");
            sql.push(ACCOUNT)
                .push(" FROM accounts WHERE id = ")
                .bind(Lit::Uuid(id.as_uuid()));
            let row = sql.fetch_optional(self).await?;
            Ok(row.as_ref().map(rows::account).transpose()?)
        })
        .await
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>> {
        self.retrying("account_by_email", &no_rule, move || async move {
            let mut sql = Sql::new("SELECT ");
            sql.push(ACCOUNT)
                .push(" FROM accounts WHERE lower(email) = lower(")
                .bind(Lit::Text(email.as_str()))
                .push(")");
            let row = sql.fetch_optional(self).await?;
            Ok(row.as_ref().map(rows::account).transpose()?)
        })
        .await
    }

    async fn search_accounts(&self, part: &str, limit: u32) -> Result<Vec<Account>> {
        self.retrying("search_accounts", &no_rule, move || async move {
            // strpos, not LIKE: the text is matched as it is, `%` and `_` included.
            let mut sql = Sql::new("SELECT ");
            sql.push(ACCOUNT)
                .push(" FROM accounts WHERE strpos(lower(name), lower(")
                .bind(Lit::Text(part))
                .push(")) > 0 OR strpos(lower(email), lower(")
                .bind(Lit::Text(part))
                .push(")) > 0 ORDER BY email LIMIT ")
                .bind(Lit::Int(i64::from(limit)));
            let found = sql.fetch_all(self).await?;
            Ok(found
                .iter()
                .map(rows::account)
                .collect::<std::result::Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn set_role(&self, id: AccountId, role: Role, audit: &Audit) -> Result<()> {
        self.retrying("set_role", &no_rule, move || async move {
            // Read the role, then change it and journal the change in one statement only if
            // no one changed it in between (compare and set, as a sign-in failure is
            // counted); a lost race reads again.
            loop {
                let mut read = Sql::new("SELECT role FROM accounts WHERE id = ");
                read.bind(Lit::Uuid(id.as_uuid()));
                let row = read
                    .fetch_optional(self)
                    .await?
                    .ok_or(Error::AccountNotFound(id))?;
                let was = stored_role(&row.try_get::<String, _>(0)?)?;
                let Some(entry) = journal::role_changed(id, was, role, audit) else {
                    return Ok(());
                };
                let mut write = Sql::new("WITH changed AS (UPDATE accounts SET role = ");
                write
                    .bind(Lit::Text(role.as_str()))
                    .push(" WHERE id = ")
                    .bind(Lit::Uuid(id.as_uuid()))
                    .push(" AND role = ")
                    .bind(Lit::Text(was.as_str()))
                    .push(" RETURNING id) ")
                    .push(crate::journal::ACCOUNT_ENTRY_COLUMNS);
                crate::journal::select_account_entry(&mut write, &entry);
                write.push(" FROM changed");
                if write.execute(self).await? == 1 {
                    return Ok(());
                }
            }
        })
        .await
    }

    async fn record_account_entry(&self, entry: &JournalEntry) -> Result<()> {
        let script = crate::journal::account_entry_script(entry.clone());
        let sql = script.as_sql();
        self.retrying("record_account_entry", &no_rule, move || async move {
            // Both statements in one simple query: one implicit transaction.
            self.pool.execute(sqlx::raw_sql(sql)).await?;
            Ok(())
        })
        .await
    }

    async fn insert_password_reset(&self, reset: &PasswordReset) -> Result<()> {
        self.retrying("insert_password_reset", &no_rule, move || async move {
            let mut sql = Sql::new(
                "INSERT INTO password_resets (token_hash, account_id, created_at, expires_at) \
                 SELECT ",
            );
            sql.bind(Lit::Text(reset.token_hash.as_str()))
                .push("::text, ")
                .bind(Lit::Uuid(reset.account.as_uuid()))
                .push("::uuid, ")
                .bind(Lit::Ts(reset.created_at))
                .push("::timestamptz, ")
                .bind(Lit::Ts(reset.expires_at))
                .push("::timestamptz WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ")
                .bind(Lit::Uuid(reset.account.as_uuid()))
                .push(")");
            if sql.execute(self).await? == 0 {
                return Err(Error::AccountNotFound(reset.account).into());
            }
            Ok(())
        })
        .await
    }

    async fn redeem_password_reset(&self, redemption: &Redemption) -> Result<Redeemed> {
        self.retrying("redeem_password_reset", &no_rule, move || async move {
            let hash = redemption.token_hash.as_str();
            let at = redemption.audit.at;
            let mut read = Sql::new(
                "SELECT r.account_id, a.role, r.expires_at, r.used_at FROM password_resets r \
                 JOIN accounts a ON a.id = r.account_id WHERE r.token_hash = ",
            );
            read.bind(Lit::Text(hash));
            let found = match read.fetch_optional(self).await? {
                Some(row) => Some(StoredReset {
                    account: AccountId::from_uuid(row.try_get("account_id")?),
                    role: stored_role(&row.try_get::<String, _>("role")?)?,
                    expires_at: row.try_get("expires_at")?,
                    used_at: row.try_get("used_at")?,
                }),
                None => None,
            };
            let entry = password_reset::check(found.as_ref(), redemption)?;
            let account = entry.account_id.ok_or(Error::ResetTokenInvalid)?;
            // One statement, so one transaction: the token is taken only if still unused and
            // unexpired (a racing redeem that took it first leaves `used` empty here, and
            // then nothing else happens), the account's other tokens end, the password and
            // session generation change, and the entry is journalled.
            let mut write = Sql::new("WITH used AS (UPDATE password_resets SET used_at = ");
            write
                .bind(Lit::Ts(at))
                .push(" WHERE token_hash = ")
                .bind(Lit::Text(hash))
                .push(" AND used_at IS NULL AND expires_at > ")
                .bind(Lit::Ts(at))
                .push(
                    " RETURNING account_id), \
                     others AS (UPDATE password_resets SET used_at = ",
                )
                .bind(Lit::Ts(at))
                .push(" WHERE account_id = ")
                .bind(Lit::Uuid(account.as_uuid()))
                .push(" AND used_at IS NULL AND token_hash <> ")
                .bind(Lit::Text(hash))
                .push(
                    " AND EXISTS (SELECT 1 FROM used)), \
                     reset AS (UPDATE accounts SET password_hash = ",
                )
                .bind(Lit::Text(&redemption.password_hash))
                .push(
                    ", session_generation = session_generation + 1 \
                     WHERE id IN (SELECT account_id FROM used) RETURNING session_generation), \
                     logged AS (",
                )
                .push(crate::journal::ACCOUNT_ENTRY_COLUMNS);
            crate::journal::select_account_entry(&mut write, &entry);
            write.push(" FROM reset) SELECT session_generation FROM reset");
            match write.fetch_optional(self).await? {
                Some(row) => Ok(Redeemed {
                    account,
                    sessions: SessionGeneration::from_stored(row.try_get(0)?),
                }),
                None => Err(Error::ResetTokenInvalid.into()),
            }
        })
        .await
    }

    async fn set_password_hash(
        &self,
        id: AccountId,
        password_hash: &str,
    ) -> Result<SessionGeneration> {
        self.retrying("set_password_hash", &no_rule, move || async move {
            let mut sql = Sql::new("UPDATE accounts SET password_hash = ");
            sql.bind(Lit::Text(password_hash))
                .push(
                    ", session_generation = session_generation + 1 \
                     WHERE id = ",
                )
                .bind(Lit::Uuid(id.as_uuid()))
                .push(" RETURNING session_generation");
            let row = sql
                .fetch_optional(self)
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
            let mut sql = Sql::new("UPDATE accounts SET name = ");
            sql.bind(Lit::Text(name))
                .push(", phone = ")
                .bind(Lit::OptText(profile.phone.as_ref().map(|p| p.as_str())))
                .push(", time_zone = ")
                .bind(Lit::OptText(profile.time_zone.map(|tz| tz.name())))
                .push(" WHERE id = ")
                .bind(Lit::Uuid(id.as_uuid()));
            if sql.execute(self).await? == 0 {
                return Err(Error::AccountNotFound(id).into());
            }
            Ok(())
        })
        .await
    }

    async fn end_sessions(&self, id: AccountId) -> Result<SessionGeneration> {
        self.retrying("end_sessions", &no_rule, move || async move {
            let mut sql = Sql::new(
                "UPDATE accounts SET session_generation = session_generation + 1 WHERE id = ",
            );
            sql.bind(Lit::Uuid(id.as_uuid()))
                .push(" RETURNING session_generation");
            let row = sql
                .fetch_optional(self)
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
            let mut sql = Sql::new("SELECT ");
            sql.push(ACCOUNT)
                .push(", EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.id = ")
                .bind(Lit::Uuid(session.as_uuid()))
                .push(") AS revoked FROM accounts WHERE id = ")
                .bind(Lit::Uuid(id.as_uuid()));
            let Some(row) = sql.fetch_optional(self).await? else {
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
            let mut sql =
                Sql::new("INSERT INTO revoked_sessions (id, account_id, expires_at) VALUES (");
            sql.bind(Lit::Uuid(session.id.as_uuid()))
                .push(", ")
                .bind(Lit::Uuid(session.account.as_uuid()))
                .push(", ")
                .bind(Lit::Ts(session.expires_at))
                .push(") ON CONFLICT (id) DO NOTHING");
            sql.execute(self).await?;
            Ok(())
        })
        .await
    }

    async fn prune_revoked_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        self.retrying("prune_revoked_sessions", &no_rule, move || async move {
            let mut sql = Sql::new("DELETE FROM revoked_sessions WHERE expires_at <= ");
            sql.bind(Lit::Ts(now));
            Ok(sql.execute(self).await?)
        })
        .await
    }

    async fn record_login_failure(
        &self,
        id: AccountId,
        next: &(dyn Fn(LoginThrottle) -> LoginThrottle + Send + Sync),
    ) -> Result<LoginThrottle> {
        self.retrying("record_login_failure", &no_rule, move || async move {
            // Read, decide, then write only if no other instance counted a failure in between
            // (compare and set: one statement each, no transaction, so it also works behind a
            // transaction pooler); a lost race reads again.
            loop {
                let mut read = Sql::new("SELECT ");
                read.push(ACCOUNT)
                    .push(" FROM accounts WHERE id = ")
                    .bind(Lit::Uuid(id.as_uuid()));
                let row = read
                    .fetch_optional(self)
                    .await?
                    .ok_or(Error::AccountNotFound(id))?;
                let was = rows::account(&row)?.login_throttle;
                let throttle = next(was);
                let mut write = Sql::new("UPDATE accounts SET failed_logins = ");
                write
                    .bind(Lit::Int(i64::from(throttle.failures)))
                    .push(", locked_until = ")
                    .bind(Lit::OptTs(throttle.locked_until))
                    .push(" WHERE id = ")
                    .bind(Lit::Uuid(id.as_uuid()))
                    .push(" AND failed_logins = ")
                    .bind(Lit::Int(i64::from(was.failures)))
                    .push(" AND locked_until IS NOT DISTINCT FROM ")
                    .bind(Lit::OptTs(was.locked_until));
                if write.execute(self).await? == 1 {
                    return Ok(throttle);
                }
            }
        })
        .await
    }

    async fn clear_login_failures(&self, id: AccountId) -> Result<()> {
        self.retrying("clear_login_failures", &no_rule, move || async move {
            let mut sql =
                Sql::new("UPDATE accounts SET failed_logins = 0, locked_until = NULL WHERE id = ");
            sql.bind(Lit::Uuid(id.as_uuid()));
            if sql.execute(self).await? == 0 {
                return Err(Error::AccountNotFound(id).into());
            }
            Ok(())
        })
        .await
    }

    async fn count_attempt(&self, key: &str, window: DateTime<Utc>) -> Result<u32> {
        // One statement: the upsert takes the row's lock, so racing instances count in turn.
        self.retrying("count_attempt", &no_rule, move || async move {
            let mut sql =
                Sql::new("INSERT INTO attempt_counts AS c (key, window_start, attempts) VALUES (");
            sql.bind(Lit::Text(key))
                .push(", ")
                .bind(Lit::Ts(window))
                .push(
                    ", 1) ON CONFLICT (key, window_start) \
                     DO UPDATE SET attempts = c.attempts + 1 RETURNING c.attempts",
                );
            let row = sql.fetch_optional(self).await?;
            // An upsert with RETURNING always returns its row.
            let attempts: i32 = row.map_or(Ok(1), |row| row.try_get(0))?;
            Ok(u32::try_from(attempts).unwrap_or(u32::MAX))
        })
        .await
    }

    async fn prune_attempts(&self, before: DateTime<Utc>) -> Result<u64> {
        self.retrying("prune_attempts", &no_rule, move || async move {
            let mut sql = Sql::new("DELETE FROM attempt_counts WHERE window_start < ");
            sql.bind(Lit::Ts(before));
            Ok(sql.execute(self).await?)
        })
        .await
    }
}
