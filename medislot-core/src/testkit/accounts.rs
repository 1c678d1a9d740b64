//! Checks on account storage.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::support::race;
use crate::journal::{password_reset_requested, Actor, Audit, EntryKind, JournalQuery};
use crate::outbox::{Channel, MessageQuery};
use crate::{
    parse_time_zone, Account, AccountId, AccountProfile, AccountStore, Email, Error, LoginBackoff,
    LoginThrottle, PasswordReset, PhoneNumber, Redeemed, Redemption, ResetTokenHash,
    RevokedSession, Role, SessionCheck, SessionGeneration, SessionId, SessionRefusal, SlotStore,
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
    store.set_role(a.id, Role::Admin, &audit()).await.unwrap();
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
        store.set_role(unknown, Role::Admin, &audit()).await,
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

/// An admin's change, now.
fn audit() -> Audit {
    Audit {
        actor: Actor::Admin(None),
        at: now(),
        request_id: Some("req-kit".into()),
    }
}

/// A token for `account`, expiring `ttl` from now, with its own hash.
fn reset(account: AccountId, ttl: Duration) -> PasswordReset {
    // Distinct per call: two time-ordered ids (their random bits differ).
    let mut digest = [0u8; 32];
    digest[..16].copy_from_slice(uuid::Uuid::now_v7().as_bytes());
    digest[16..].copy_from_slice(uuid::Uuid::now_v7().as_bytes());
    PasswordReset {
        token_hash: ResetTokenHash::from_digest(digest),
        account,
        created_at: now(),
        expires_at: now() + ttl,
    }
}

fn redemption(token: &PasswordReset, password_hash: &str) -> Redemption {
    Redemption {
        token_hash: token.token_hash.clone(),
        password_hash: password_hash.into(),
        audit: Audit {
            actor: Actor::System,
            at: now(),
            request_id: None,
        },
    }
}

/// The journal entries about `account`, oldest first.
async fn account_entries<S: SlotStore>(store: &S, account: AccountId) -> Vec<crate::JournalEntry> {
    store
        .journal(&JournalQuery {
            account_id: Some(account),
            limit: 100,
            ..JournalQuery::default()
        })
        .await
        .expect("read the journal")
        .items
}

/// A reset token sets the password once: the account's sessions end, its other tokens end
/// with it, and the journal records the reset by the account's holder; a second use is
/// refused and changes nothing.
pub async fn a_reset_token_works_once_and_ends_every_session<S>(store: Arc<S>)
where
    S: AccountStore + SlotStore + 'static,
{
    let a = account("ada@example.com");
    store.insert_account(&a).await.unwrap();
    let first = reset(a.id, Duration::minutes(30));
    let second = reset(a.id, Duration::minutes(30));
    store.insert_password_reset(&first).await.unwrap();
    store.insert_password_reset(&second).await.unwrap();
    let redeemed = store
        .redeem_password_reset(&redemption(&second, "$argon2id$reset"))
        .await
        .unwrap();
    assert_eq!(
        redeemed,
        Redeemed {
            account: a.id,
            sessions: SessionGeneration::FIRST.next()
        }
    );
    let stored = store.account(a.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "$argon2id$reset");
    assert_eq!(stored.sessions, SessionGeneration::FIRST.next());
    for used in [&second, &first] {
        assert!(matches!(
            store
                .redeem_password_reset(&redemption(used, "$argon2id$again"))
                .await,
            Err(Error::ResetTokenInvalid)
        ));
    }
    let stored = store.account(a.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "$argon2id$reset");
    assert_eq!(stored.sessions, SessionGeneration::FIRST.next());
    let entries = account_entries(&*store, a.id).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0].kind, EntryKind::AccountPasswordReset);
    assert_eq!(entries[0].actor, Actor::Patient(a.id.into()));
    assert_eq!(entries[0].account_id, Some(a.id));
}

/// Unknown and expired tokens are refused alike and change nothing; a token of an unknown
/// account cannot be stored.
pub async fn unknown_or_expired_reset_tokens_are_refused<S>(store: Arc<S>)
where
    S: AccountStore + SlotStore + 'static,
{
    let a = account("ada@example.com");
    store.insert_account(&a).await.unwrap();
    let expired = reset(a.id, Duration::zero());
    store.insert_password_reset(&expired).await.unwrap();
    let unknown = reset(a.id, Duration::minutes(30));
    for token in [&expired, &unknown] {
        assert!(matches!(
            store
                .redeem_password_reset(&redemption(token, "$argon2id$x"))
                .await,
            Err(Error::ResetTokenInvalid)
        ));
    }
    assert_eq!(store.account(a.id).await.unwrap(), Some(a.clone()));
    assert!(account_entries(&*store, a.id).await.is_empty());
    let nobody = AccountId::new();
    assert!(matches!(
        store
            .insert_password_reset(&reset(nobody, Duration::minutes(30)))
            .await,
        Err(Error::AccountNotFound(id)) if id == nobody
    ));
}

/// Eight tasks redeeming one token at once: exactly one sets its password, the session
/// generation rises once, and one reset is journalled.
pub async fn racing_redeems_of_one_token_one_wins<S>(store: Arc<S>)
where
    S: AccountStore + SlotStore + 'static,
{
    let a = account("ada@example.com");
    store.insert_account(&a).await.unwrap();
    let token = Arc::new(reset(a.id, Duration::minutes(30)));
    store.insert_password_reset(&token).await.unwrap();
    let results = race(8, |i| {
        let store = Arc::clone(&store);
        let token = Arc::clone(&token);
        async move {
            store
                .redeem_password_reset(&redemption(&token, &format!("$argon2id${i}")))
                .await
        }
    })
    .await;
    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(_) | Err(Error::ResetTokenInvalid))));
    let stored = store.account(a.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, format!("$argon2id${}", winners[0]));
    assert_eq!(stored.sessions, SessionGeneration::FIRST.next());
    assert_eq!(account_entries(&*store, a.id).await.len(), 1);
}

/// A role change is journalled in its transaction with who made it, the account and both
/// roles; setting the role it already has records nothing; the journal filters by account.
pub async fn role_changes_are_journalled_with_both_roles<S>(store: Arc<S>)
where
    S: AccountStore + SlotStore + 'static,
{
    let a = account("ada@example.com");
    let other = account("grace@example.com");
    store.insert_account(&a).await.unwrap();
    store.insert_account(&other).await.unwrap();
    let admin = AccountId::new();
    let by_admin = Audit {
        actor: Actor::Admin(Some(admin)),
        ..audit()
    };
    store.set_role(a.id, Role::Admin, &by_admin).await.unwrap();
    store.set_role(a.id, Role::Admin, &by_admin).await.unwrap();
    store
        .set_role(other.id, Role::Admin, &audit())
        .await
        .unwrap();
    store.set_role(a.id, Role::Patient, &audit()).await.unwrap();
    let entries = account_entries(&*store, a.id).await;
    let seen: Vec<_> = entries
        .iter()
        .map(|e| (e.kind, e.actor, e.from_role, e.to_role))
        .collect();
    assert_eq!(
        seen,
        [
            (
                EntryKind::AccountRoleChanged,
                Actor::Admin(Some(admin)),
                Some(Role::Patient),
                Some(Role::Admin)
            ),
            (
                EntryKind::AccountRoleChanged,
                Actor::Admin(None),
                Some(Role::Admin),
                Some(Role::Patient)
            ),
        ]
    );
    assert!(entries
        .iter()
        .all(|e| e.account_id == Some(a.id) && e.request_id.as_deref() == Some("req-kit")));
    assert_eq!(
        store.account(a.id).await.unwrap().unwrap().role,
        Role::Patient
    );
    // Not a message: no channel carries a role change.
    for channel in Channel::ALL {
        let queued = store
            .messages(&MessageQuery {
                channel,
                state: None,
                after: None,
                limit: 100,
            })
            .await
            .unwrap();
        assert!(queued.items.is_empty(), "{channel}: {:?}", queued.items);
    }
}

/// A reset request is journalled with its account and queued for email only: its link is
/// the account holder's alone, never a webhook's or the broker's.
pub async fn a_reset_request_is_queued_for_email_only<S>(store: Arc<S>)
where
    S: AccountStore + SlotStore + 'static,
{
    let a = account("ada@example.com");
    store.insert_account(&a).await.unwrap();
    let entry = password_reset_requested(
        a.id,
        &Audit {
            actor: Actor::System,
            ..audit()
        },
    );
    store.record_account_entry(&entry).await.unwrap();
    assert_eq!(
        account_entries(&*store, a.id).await,
        std::slice::from_ref(&entry)
    );
    for channel in Channel::ALL {
        let queued = store
            .messages(&MessageQuery {
                channel,
                state: None,
                after: None,
                limit: 100,
            })
            .await
            .unwrap();
        let ids: Vec<_> = queued.items.iter().map(|m| m.entry.id).collect();
        let expected = if channel == Channel::Email {
            vec![entry.id]
        } else {
            Vec::new()
        };
        assert_eq!(ids, expected, "{channel}");
    }
}

/// A booking made under a session ([`BookingEngine::for_session`](crate::BookingEngine::for_session))
/// checks the session in its own transaction: a valid one books and answers with the slot and
/// doctor read under the lock; a logged-out, superseded or orphaned one is refused and nothing
/// is written.
pub async fn a_booking_under_a_session_checks_it_in_its_own_transaction<S>(store: Arc<S>)
where
    S: AccountStore + SlotStore + 'static,
{
    let f = super::Fixture::new(store.clone());
    let doctor = f.doctor("Dr Session", "Cardiology").await;
    let slots = f.slots(&doctor, 4, Duration::zero()).await;
    let a = account("ada@example.com");
    store.insert_account(&a).await.unwrap();
    let check = SessionCheck {
        account: a.id,
        session: SessionId::from_uuid(uuid::Uuid::now_v7()),
        generation: a.sessions,
    };

    let created = f
        .engine
        .for_session(check)
        .book_or_replay(slots[0], a.patient_id(), None, None)
        .await
        .unwrap();
    let view = created
        .view()
        .expect("the slot and doctor were read with the booking");
    assert_eq!(view.slot.id, slots[0]);
    assert_eq!(view.doctor, doctor);
    assert_eq!(view.booking, created.booking);
    assert_eq!(
        f.engine.booking(created.booking.id).await.unwrap(),
        view,
        "the answer is what a read after the write shows"
    );

    let refused = |result: crate::Result<crate::Created>| match result {
        Err(Error::SessionRefused(why)) => why,
        other => panic!("expected a refused session, got {other:?}"),
    };
    let unknown = SessionCheck {
        account: AccountId::new(),
        ..check
    };
    let why = refused(
        f.engine
            .for_session(unknown)
            .book_or_replay(slots[1], unknown.account.into(), None, None)
            .await,
    );
    assert_eq!(why, SessionRefusal::NoAccount);

    store
        .revoke_session(&RevokedSession {
            id: check.session,
            account: a.id,
            expires_at: now() + Duration::hours(1),
        })
        .await
        .unwrap();
    let why = refused(
        f.engine
            .for_session(check)
            .book_or_replay(slots[1], a.patient_id(), None, None)
            .await,
    );
    assert_eq!(why, SessionRefusal::LoggedOut);

    let other = SessionCheck {
        session: SessionId::from_uuid(uuid::Uuid::now_v7()),
        ..check
    };
    store.end_sessions(a.id).await.unwrap();
    let why = refused(
        f.engine
            .for_session(other)
            .book_or_replay(slots[1], a.patient_id(), None, None)
            .await,
    );
    assert_eq!(why, SessionRefusal::Superseded);
    assert_eq!(
        f.status(slots[1]).await,
        crate::SlotStatus::Available,
        "a refused session wrote nothing"
    );
    assert!(f.bookings_of(slots[1]).await.is_empty());

    // The current generation books again, and a reschedule answers with its target's view.
    let current = SessionCheck {
        generation: check.generation.next(),
        ..other
    };
    let moved = f
        .engine
        .for_session(current)
        .reschedule_or_replay(created.booking.id, Some(a.patient_id()), slots[2], None)
        .await
        .unwrap();
    let view = moved.view().expect("the target and its doctor were read");
    assert_eq!(view.slot.id, slots[2]);
    assert_eq!(view.doctor.id, doctor.id);
}
