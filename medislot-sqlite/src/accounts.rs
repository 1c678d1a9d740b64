//! [`AccountStore`] for [`SqliteStore`]: accounts live in the same file as the bookings.

use async_trait::async_trait;
use medislot_core::{Account, AccountId, AccountStore, Email, Error, Result, Role};
use sqlx::SqliteConnection;

use crate::error::{db, extended_code, SQLITE_CONSTRAINT_UNIQUE};
use crate::rows::{self, account_columns, micros};
use crate::store::{commit, SqliteStore};

#[tracing::instrument(level = "debug", skip_all, fields(account = %account.id))]
async fn insert_account(conn: &mut SqliteConnection, account: &Account) -> Result<()> {
    sqlx::query(
        "INSERT INTO accounts (id, email, name, role, password_hash, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(account.id.as_uuid())
    .bind(account.email.as_str())
    .bind(&account.name)
    .bind(account.role.as_str())
    .bind(&account.password_hash)
    .bind(micros(account.created_at))
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

    async fn set_role(&self, id: AccountId, role: Role) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let sql = "UPDATE accounts SET role = ?2 WHERE id = ?1";
        let result = update_account(&mut tx, sql, id, role.as_str()).await;
        commit(tx, result).await
    }

    async fn set_password_hash(&self, id: AccountId, password_hash: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let sql = "UPDATE accounts SET password_hash = ?2 WHERE id = ?1";
        let result = update_account(&mut tx, sql, id, password_hash).await;
        commit(tx, result).await
    }
}
