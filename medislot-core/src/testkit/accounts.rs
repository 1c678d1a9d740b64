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

/// Accounts are found by part of a name or an email, ignoring case, by email, up to the limit;
/// `%` and `_` are plain characters, not patterns.
pub async fn accounts_are_found_by_part_of_a_name_or_email<S: AccountStore + 'static>(
    store: Arc<S>,
) {
    let mut grace = account("grace@navy.example");
    grace.name = "Grace Hopper".into();
    let mut alan = account("alan@example.com");
    alan.name = "Alan Turing".into();
    let mut odd = account("under_score@example.com");
    odd.name = "100% Odd".into();
    for a in [&grace, &alan, &odd] {
        store.insert_account(a).await.unwrap();
    }
    let emails = |found: Vec<Account>| {
        found
            .into_iter()
            .map(|a| a.email.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        emails(store.search_accounts("hopp", 10).await.unwrap()),
        ["grace@navy.example"]
    );
    assert_eq!(
        emails(store.search_accounts("ALAN@EXA", 10).await.unwrap()),
        ["alan@example.com"]
    );
    assert_eq!(
        emails(store.search_accounts("example.com", 10).await.unwrap()),
        ["alan@example.com", "under_score@example.com"]
    );
    assert_eq!(
        emails(store.search_accounts("example.com", 1).await.unwrap()),
        ["alan@example.com"]
    );
    assert_eq!(
        emails(store.search_accounts("_", 10).await.unwrap()),
        ["under_score@example.com"]
    );
    assert_eq!(
        emails(store.search_accounts("0%", 10).await.unwrap()),
        ["under_score@example.com"]
    );
    assert!(store
        .search_accounts("nobody", 10)
        .await
        .unwrap()
        .is_empty());
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
