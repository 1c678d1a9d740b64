//! Accounts, in the same database as the bookings. Every operation is one statement, one round
//! trip; the unique index on `lower(email)` decides races between two sign-ups.

use async_trait::async_trait;
use medislot_core::{Account, AccountId, AccountStore, Email, Error, Result, Role};

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
                "INSERT INTO accounts (id, email, name, role, password_hash, created_at) VALUES (",
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

    async fn set_role(&self, id: AccountId, role: Role) -> Result<()> {
        self.retrying("set_role", &no_rule, move || async move {
            let mut sql = Sql::new("UPDATE accounts SET role = ");
            sql.bind(Lit::Text(role.as_str()))
                .push(" WHERE id = ")
                .bind(Lit::Uuid(id.as_uuid()));
            if sql.execute(self).await? == 0 {
                return Err(Error::AccountNotFound(id).into());
            }
            Ok(())
        })
        .await
    }

    async fn set_password_hash(&self, id: AccountId, password_hash: &str) -> Result<()> {
        self.retrying("set_password_hash", &no_rule, move || async move {
            let mut sql = Sql::new("UPDATE accounts SET password_hash = ");
            sql.bind(Lit::Text(password_hash))
                .push(" WHERE id = ")
                .bind(Lit::Uuid(id.as_uuid()));
            if sql.execute(self).await? == 0 {
                return Err(Error::AccountNotFound(id).into());
            }
            Ok(())
        })
        .await
    }
}
