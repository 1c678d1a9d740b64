//! Accounts, in the same database as the bookings. Every operation is one statement, one round
//! trip; the unique index on `lower(email)` decides races between two sign-ups.

use async_trait::async_trait;
use medislot_core::{Account, AccountId, AccountStore, Email, Error, Result, Role};

use crate::rows::{self, ACCOUNT};
use crate::store::{no_rule, PgStore};

#[async_trait]
impl AccountStore for PgStore {
    async fn insert_account(&self, account: &Account) -> Result<()> {
        // `accounts_email_unique` maps to Error::EmailTaken (see error.rs).
        self.retrying("insert_account", &no_rule, move || async move {
            sqlx::query(
                "INSERT INTO accounts (id, email, name, role, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(account.id.as_uuid())
            .bind(account.email.as_str())
            .bind(&account.name)
            .bind(account.role.as_str())
            .bind(&account.password_hash)
            .bind(account.created_at)
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

    async fn set_password_hash(&self, id: AccountId, password_hash: &str) -> Result<()> {
        self.retrying("set_password_hash", &no_rule, move || async move {
            let done = sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(password_hash)
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
