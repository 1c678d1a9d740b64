//! Checks on account storage.

use std::sync::Arc;

use chrono::Utc;

use super::support::race;
use crate::{Account, AccountId, AccountStore, Email, Error, Role};

fn account(email: &str) -> Account {
    Account {
        id: AccountId::new(),
        email: Email::parse(email).expect("valid email"),
        name: "Ada Lovelace".into(),
        role: Role::Patient,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        // Microsecond precision, as databases keep it.
        created_at: chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
            .expect("now is in range"),
    }
}

/// An account reads back whole by id and by email.
pub async fn accounts_are_stored_and_found_by_email<S: AccountStore + 'static>(store: Arc<S>) {
    let a = account("ada@example.com");
    store.insert_account(&a).await.unwrap();
    assert_eq!(store.account(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.account_by_email(&a.email).await.unwrap(), Some(a));
    let nobody = Email::parse("nobody@example.com").unwrap();
    assert_eq!(store.account_by_email(&nobody).await.unwrap(), None);
    assert_eq!(store.account(AccountId::new()).await.unwrap(), None);
}

/// Two accounts can never share an email, even when created at the same instant.
pub async fn duplicate_email_is_refused<S: AccountStore + 'static>(store: Arc<S>) {
    store
        .insert_account(&account("ada@example.com"))
        .await
        .unwrap();
    assert!(matches!(
        store.insert_account(&account("ADA@example.com")).await,
        Err(Error::EmailTaken)
    ));
    let results = race(10, |_| {
        let store = Arc::clone(&store);
        async move { store.insert_account(&account("grace@example.com")).await }
    })
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(()) | Err(Error::EmailTaken))));
}

/// Roles and password hashes change in place; unknown accounts are reported.
pub async fn roles_and_password_hashes_can_change<S: AccountStore + 'static>(store: Arc<S>) {
    let a = account("ada@example.com");
    store.insert_account(&a).await.unwrap();
    store.set_role(a.id, Role::Admin).await.unwrap();
    store
        .set_password_hash(a.id, "$argon2id$new")
        .await
        .unwrap();
    let stored = store.account(a.id).await.unwrap().unwrap();
    assert_eq!(stored.role, Role::Admin);
    assert_eq!(stored.password_hash, "$argon2id$new");
    let unknown = AccountId::new();
    assert!(matches!(
        store.set_role(unknown, Role::Admin).await,
        Err(Error::AccountNotFound(id)) if id == unknown
    ));
    assert!(matches!(
        store.set_password_hash(unknown, "x").await,
        Err(Error::AccountNotFound(_))
    ));
}
