//! Checks on account storage.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::support::race;
use crate::{
    parse_time_zone, Account, AccountId, AccountProfile, AccountStore, Email, Error, LoginBackoff,
    LoginThrottle, PhoneNumber, RevokedSession, Role, SessionGeneration, SessionId,
};

/// Now, at the microsecond precision databases keep.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).expect("now is in range")
}

fn account(email: &str) -> Account {
    Account {
        id: AccountId::new(),
        email: Email::parse(email).expect("valid email"),
        name: "Ada Lovelace".into(),
        role: Role::Patient,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: now(),
        profile: AccountProfile::default(),
        sessions: SessionGeneration::FIRST,
        login_throttle: LoginThrottle::default(),
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
    let generation = store
        .set_password_hash(a.id, "$argon2id$new")
        .await
        .unwrap();
    assert_eq!(generation, SessionGeneration::FIRST.next());
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

/// A phone number and a time zone are stored with the account, read back whole, and replaced
/// with the name; an unknown account is reported.
pub async fn profiles_are_stored_and_replaced<S: AccountStore + 'static>(store: Arc<S>) {
    let mut a = account("ada@example.com");
    a.profile = AccountProfile {
        phone: Some(PhoneNumber::parse("+44 20 7946 0958").unwrap()),
        time_zone: Some(parse_time_zone("Asia/Kolkata").unwrap()),
    };
    store.insert_account(&a).await.unwrap();
    assert_eq!(store.account(a.id).await.unwrap(), Some(a.clone()));

    let changed = AccountProfile {
        phone: None,
        time_zone: Some(parse_time_zone("America/New_York").unwrap()),
    };
    store
        .update_profile(a.id, "Ada King", &changed)
        .await
        .unwrap();
    let stored = store.account(a.id).await.unwrap().unwrap();
    assert_eq!(stored.name, "Ada King");
    assert_eq!(stored.profile, changed);
    assert_eq!(stored.password_hash, a.password_hash);

    store
        .update_profile(a.id, "Ada King", &AccountProfile::default())
        .await
        .unwrap();
    let stored = store.account_by_email(&a.email).await.unwrap().unwrap();
    assert_eq!(stored.profile, AccountProfile::default());

    let unknown = AccountId::new();
    assert!(matches!(
        store.update_profile(unknown, "X", &changed).await,
        Err(Error::AccountNotFound(id)) if id == unknown
    ));
}

/// Ending an account's sessions raises its generation, racing calls each count, and a new
/// password raises it too; the account read shows the generation.
pub async fn ending_sessions_raises_the_generation<S: AccountStore + 'static>(store: Arc<S>) {
    let a = account("ada@example.com");
    store.insert_account(&a).await.unwrap();
    let first = store.end_sessions(a.id).await.unwrap();
    assert_eq!(first, SessionGeneration::FIRST.next());
    let results = race(8, |_| {
        let store = Arc::clone(&store);
        async move { store.end_sessions(a.id).await }
    })
    .await;
    assert!(results.iter().all(Result::is_ok));
    let stored = store.account(a.id).await.unwrap().unwrap();
    assert_eq!(stored.sessions, SessionGeneration::from_stored(9));
    let after_password = store.set_password_hash(a.id, "$argon2id$x").await.unwrap();
    assert_eq!(after_password, SessionGeneration::from_stored(10));
    let unknown = AccountId::new();
    assert!(matches!(
        store.end_sessions(unknown).await,
        Err(Error::AccountNotFound(id)) if id == unknown
    ));
}

/// A logged-out session is reported on the account read that every request makes, only for
/// that session, until it expires and is pruned.
pub async fn revoked_sessions_are_seen_on_the_account_read_until_pruned<
    S: AccountStore + 'static,
>(
    store: Arc<S>,
) {
    let a = account("ada@example.com");
    store.insert_account(&a).await.unwrap();
    let now = now();
    let ended = RevokedSession {
        id: SessionId::from_uuid(uuid::Uuid::now_v7()),
        account: a.id,
        expires_at: now + Duration::hours(1),
    };
    let other = SessionId::from_uuid(uuid::Uuid::now_v7());
    let read = store
        .session_account(a.id, ended.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.account, a);
    assert!(!read.revoked);

    store.revoke_session(&ended).await.unwrap();
    store.revoke_session(&ended).await.unwrap();
    let read = store
        .session_account(a.id, ended.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.account, a);
    assert!(read.revoked);
    let read = store.session_account(a.id, other).await.unwrap().unwrap();
    assert!(!read.revoked);
    assert_eq!(
        store
            .session_account(AccountId::new(), ended.id)
            .await
            .unwrap(),
        None
    );

    assert_eq!(store.prune_revoked_sessions(now).await.unwrap(), 0);
    assert!(
        store
            .session_account(a.id, ended.id)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert_eq!(
        store
            .prune_revoked_sessions(ended.expires_at)
            .await
            .unwrap(),
        1
    );
    assert!(
        !store
            .session_account(a.id, ended.id)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
}

/// Failed sign-ins racing on one account are all counted (as on several instances), the lock
/// they set reads back, and a successful sign-in clears them.
pub async fn login_failures_are_all_counted_and_cleared<S: AccountStore + 'static>(store: Arc<S>) {
    let a = account("ada@example.com");
    store.insert_account(&a).await.unwrap();
    let at = now();
    let policy = LoginBackoff::default();
    let results = race(12, |_| {
        let store = Arc::clone(&store);
        async move {
            store
                .record_login_failure(a.id, &move |t| t.after_failure(at, &policy))
                .await
        }
    })
    .await;
    assert!(results.iter().all(Result::is_ok));
    let stored = store.account(a.id).await.unwrap().unwrap();
    assert_eq!(stored.login_throttle.failures, 12);
    assert_eq!(
        stored.login_throttle.locked_until,
        Some(at + policy.lock_after(12).unwrap())
    );
    let by_email = store.account_by_email(&a.email).await.unwrap().unwrap();
    assert_eq!(by_email.login_throttle, stored.login_throttle);

    store.clear_login_failures(a.id).await.unwrap();
    let stored = store.account(a.id).await.unwrap().unwrap();
    assert_eq!(stored.login_throttle, LoginThrottle::default());

    let unknown = AccountId::new();
    assert!(matches!(
        store.record_login_failure(unknown, &|t| t).await,
        Err(Error::AccountNotFound(id)) if id == unknown
    ));
    assert!(matches!(
        store.clear_login_failures(unknown).await,
        Err(Error::AccountNotFound(_))
    ));
}

/// Attempts racing on one key and window are each counted once (the sign-in rate limit that
/// several server instances share); other keys and windows count apart; old windows are
/// pruned.
pub async fn racing_attempts_are_each_counted_once_per_key_and_window<S: AccountStore + 'static>(
    store: Arc<S>,
) {
    let window = now();
    let key = "login:203.0.113.7";
    let counts = race(16, |_| {
        let store = Arc::clone(&store);
        async move { store.count_attempt(key, window).await.unwrap() }
    })
    .await;
    let mut counts = counts;
    counts.sort_unstable();
    assert_eq!(counts, (1..=16).collect::<Vec<u32>>());

    assert_eq!(
        store
            .count_attempt("login:198.51.100.1", window)
            .await
            .unwrap(),
        1
    );
    let next = window + Duration::minutes(1);
    assert_eq!(store.count_attempt(key, next).await.unwrap(), 1);
    assert_eq!(store.count_attempt(key, window).await.unwrap(), 17);

    assert_eq!(store.prune_attempts(window).await.unwrap(), 0);
    assert_eq!(store.prune_attempts(next).await.unwrap(), 2);
    assert_eq!(store.count_attempt(key, window).await.unwrap(), 1);
    assert_eq!(store.count_attempt(key, next).await.unwrap(), 2);
}
