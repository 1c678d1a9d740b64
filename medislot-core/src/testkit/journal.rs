//! The journal and the outbox: every committed change is recorded once, in the same transaction,
//! and its message claimed by one deliverer at a time.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;

use super::support::{race, Fixture};
use crate::outbox::{MAX_ATTEMPTS, MAX_BACKOFF};
use crate::{
    AccountId, Actor, BookingStatus, Channel, Context, Cursor, EntryId, EntryKind, Error,
    JournalCursor, JournalEntry, JournalQuery, MessageQuery, MessageState, OutboxMessage,
    PatientId, Settlement, SlotStore,
};

/// Every entry matching `query`, read page by page (3 to a page, so paging is exercised).
pub(crate) async fn whole_journal(f: &Fixture, query: JournalQuery) -> Vec<JournalEntry> {
    let mut query = JournalQuery { limit: 3, ..query };
    let mut entries = Vec::new();
    loop {
        let page = f.engine.journal(&query).await.expect("read journal");
        entries.extend(page.items);
        match page.next {
            // Through the cursor's text form, as a client would carry it.
            Some(next) => {
                query.after =
                    Some(JournalCursor::decode(&next.encode()).expect("cursor round-trips"));
            }
            None => return entries,
        }
    }
}

async fn all_messages(f: &Fixture, state: Option<MessageState>) -> Vec<OutboxMessage> {
    channel_messages(f, Channel::Webhook, state).await
}

async fn channel_messages(
    f: &Fixture,
    channel: Channel,
    state: Option<MessageState>,
) -> Vec<OutboxMessage> {
    let mut query = MessageQuery {
        channel,
        state,
        after: None,
        limit: 4,
    };
    let mut messages = Vec::new();
    loop {
        let page = f.engine.messages(&query).await.expect("read outbox");
        messages.extend(page.items);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return messages,
        }
    }
}

fn kinds(entries: &[JournalEntry]) -> Vec<EntryKind> {
    entries.iter().map(|e| e.kind).collect()
}

/// A hold confirmed, cancelled by the clinic and released when its buffer ends reads back, for
/// that booking, as its history: each step once, in order, with who did it, the statuses from
/// and to, the reason and the request; and each step is a message.
pub async fn a_bookings_whole_life_reads_as_its_history<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    let patient = PatientId::new();
    let admin = AccountId::new();
    let held = f.engine.hold(slot, patient).await.expect("hold");
    f.engine.confirm(held.id, patient).await.expect("confirm");
    let staff = f
        .engine
        .in_context(Context::new(Some(admin), Some("req-42")).expect("valid context"));
    staff
        .cancel_as_admin(held.id, Some("Doctor ill".into()))
        .await
        .expect("admin cancel");
    f.clock
        .advance(f.engine.policy().buffer + Duration::seconds(1));
    assert_eq!(f.engine.release_expired().await.expect("release"), 1);

    let history = whole_journal(
        &f,
        JournalQuery {
            booking_id: Some(held.id),
            ..JournalQuery::default()
        },
    )
    .await;
    assert_eq!(
        kinds(&history),
        [
            EntryKind::BookingHeld,
            EntryKind::BookingConfirmed,
            EntryKind::BookingCancelledByClinic,
            EntryKind::BookingBufferEnded,
        ]
    );
    let actors: Vec<Actor> = history.iter().map(|e| e.actor).collect();
    assert_eq!(
        actors,
        [
            Actor::Patient(patient),
            Actor::Patient(patient),
            Actor::Admin(Some(admin)),
            Actor::System,
        ]
    );
    let steps: Vec<_> = history.iter().map(|e| (e.from, e.to)).collect();
    assert_eq!(
        steps,
        [
            (None, Some(BookingStatus::Pending)),
            (Some(BookingStatus::Pending), Some(BookingStatus::Confirmed)),
            (Some(BookingStatus::Confirmed), Some(BookingStatus::Buffer)),
            (Some(BookingStatus::Buffer), Some(BookingStatus::Cancelled)),
        ]
    );
    let cancel = &history[2];
    assert_eq!(cancel.reason.as_deref(), Some("Doctor ill"));
    assert_eq!(cancel.request_id.as_deref(), Some("req-42"));
    let doctor = f.engine.slot(slot).await.expect("slot").slot.doctor_id;
    for entry in &history {
        assert_eq!(entry.booking_id, Some(held.id));
        assert_eq!(entry.patient_id, Some(patient));
        assert_eq!(entry.slot_id, Some(slot));
    }
    // The sweeper reads lapsed bookings without their slots: it does not know the doctor.
    for entry in &history[..3] {
        assert_eq!(entry.doctor_id, Some(doctor), "{entry:?}");
    }
    assert!(history.windows(2).all(|w| w[0].at <= w[1].at));

    let messages = all_messages(&f, None).await;
    let ids: Vec<EntryId> = messages.iter().map(|m| m.entry.id).collect();
    let expected: Vec<EntryId> = history.iter().map(|e| e.id).collect();
    assert_eq!(ids, expected, "every step of the booking is one message");
    assert!(messages
        .iter()
        .all(|m| m.delivery.state() == MessageState::Pending && m.delivery.attempts == 0));
}

/// A reschedule is recorded on both bookings, linked both ways, and told once.
pub async fn a_reschedule_is_recorded_on_both_bookings_and_told_once<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doctor = f.doctor("Dr Move", "Dermatology").await;
    let slots = f.slots(&doctor, 2, Duration::zero()).await;
    let patient = PatientId::new();
    let old = f.engine.book(slots[0], patient, None).await.expect("book");
    let new = f
        .engine
        .reschedule_as_patient(old.id, patient, slots[1], None)
        .await
        .expect("reschedule");
    let of = |id| JournalQuery {
        booking_id: Some(id),
        ..JournalQuery::default()
    };
    let old_history = whole_journal(&f, of(old.id)).await;
    assert_eq!(
        kinds(&old_history),
        [EntryKind::BookingBooked, EntryKind::BookingRescheduled]
    );
    assert_eq!(old_history[1].related_booking_id, Some(new.id));
    assert_eq!(old_history[1].to, Some(BookingStatus::Rescheduled));
    let new_history = whole_journal(&f, of(new.id)).await;
    assert_eq!(kinds(&new_history), [EntryKind::BookingCreatedByReschedule]);
    assert_eq!(new_history[0].related_booking_id, Some(old.id));
    assert_eq!(new_history[0].slot_id, Some(slots[1]));
    assert_eq!(
        old_history[1].at, new_history[0].at,
        "one step, one instant"
    );
    let told: Vec<EntryKind> = all_messages(&f, None)
        .await
        .iter()
        .map(|m| m.entry.kind)
        .collect();
    assert_eq!(
        told,
        [EntryKind::BookingBooked, EntryKind::BookingRescheduled]
    );
}

/// Refused changes and replays write nothing: no entry, no message.
pub async fn a_refused_or_replayed_change_leaves_no_entry_and_no_message<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    let before = whole_journal(&f, JournalQuery::default()).await.len();
    let key = crate::IdempotencyKey::new("k-1").expect("valid key");
    let patient = PatientId::new();
    let first = f
        .engine
        .book(slot, patient, Some(key.clone()))
        .await
        .expect("book");
    let replay = f
        .engine
        .book(slot, patient, Some(key))
        .await
        .expect("replay");
    assert_eq!(replay.id, first.id);
    assert!(matches!(
        f.engine.book(slot, PatientId::new(), None).await,
        Err(Error::SlotUnavailable(_))
    ));
    assert!(matches!(
        f.engine
            .cancel_as_patient(first.id, PatientId::new(), None)
            .await,
        Err(Error::NotOwner(_))
    ));
    let after = whole_journal(&f, JournalQuery::default()).await;
    assert_eq!(after.len(), before + 1, "only the one booking: {after:?}");
    assert_eq!(all_messages(&f, None).await.len(), 1);
}

/// 40 patients race for 5 slots: the journal holds one `booking.booked` entry, and the outbox
/// one message, per booking that was answered as made.
pub async fn racing_bookings_each_have_exactly_one_message<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let doctor = f.doctor("Dr Busy", "Cardiology").await;
    let slots = Arc::new(f.slots(&doctor, 5, Duration::zero()).await);
    let results = race(40, |i| {
        let engine = f.engine.clone();
        let slot = slots[i % slots.len()];
        async move { engine.book(slot, PatientId::new(), None).await }
    })
    .await;
    let booked: HashSet<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|b| b.id)
        .collect();
    assert_eq!(booked.len(), 5);
    let told: Vec<_> = all_messages(&f, None)
        .await
        .into_iter()
        .map(|m| m.entry)
        .filter(|e| e.kind == EntryKind::BookingBooked)
        .collect();
    assert_eq!(told.len(), 5, "one message per booking");
    let told_ids: HashSet<_> = told.iter().filter_map(|e| e.booking_id).collect();
    assert_eq!(told_ids, booked);
}

/// A claimed message is claimed by no one else until its lease ends; then it is claimed again,
/// with one more attempt. Claims come oldest first.
pub async fn a_claimed_message_is_not_claimed_again_until_its_lease_ends<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doctor = f.doctor("Dr Mail", "Cardiology").await;
    let slots = f.slots(&doctor, 3, Duration::zero()).await;
    for slot in &slots {
        f.engine
            .book(*slot, PatientId::new(), None)
            .await
            .expect("book");
        f.clock.advance(Duration::milliseconds(1));
    }
    let lease = Duration::seconds(30);
    let first = f
        .engine
        .claim_messages(Channel::Webhook, 2, lease)
        .await
        .expect("claim");
    assert_eq!(first.len(), 2);
    assert!(first
        .iter()
        .all(|m| m.delivery.attempts == 1 && m.delivery.claimed_until == Some(f.now() + lease)));
    let second = f
        .engine
        .claim_messages(Channel::Webhook, 2, lease)
        .await
        .expect("claim");
    assert_eq!(second.len(), 1, "the third message only");
    assert!(first.iter().all(|m| m.entry.at <= second[0].entry.at));
    assert!(f
        .engine
        .claim_messages(Channel::Webhook, 5, lease)
        .await
        .expect("claim")
        .is_empty());

    f.engine
        .settle_message(first[0].entry.id, Channel::Webhook, &Settlement::Delivered)
        .await
        .expect("delivered");
    f.clock.advance(lease);
    let again = f
        .engine
        .claim_messages(Channel::Webhook, 5, lease)
        .await
        .expect("claim");
    let again_ids: HashSet<_> = again.iter().map(|m| m.entry.id).collect();
    let expected: HashSet<_> = [first[1].entry.id, second[0].entry.id].into();
    assert_eq!(
        again_ids, expected,
        "lapsed claims return, the delivered one never"
    );
    assert!(again.iter().all(|m| m.delivery.attempts == 2));
    assert_eq!(
        all_messages(&f, Some(MessageState::Delivered)).await.len(),
        1
    );
}

/// Each channel keeps its own copy of a message: a webhook that took it leaves the email
/// pending and claimable, an email that failed leaves the webhook delivered, and neither
/// touches the broker's copy.
pub async fn each_channel_settles_its_own_copy_of_a_message<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    f.engine
        .book(slot, PatientId::new(), None)
        .await
        .expect("book");
    let lease = Duration::minutes(1);
    let hook = f
        .engine
        .claim_messages(Channel::Webhook, 10, lease)
        .await
        .expect("claim");
    assert_eq!(hook.len(), 1);
    assert_eq!(hook[0].channel, Channel::Webhook);
    let id = hook[0].entry.id;
    f.engine
        .settle_message(id, Channel::Webhook, &Settlement::Delivered)
        .await
        .expect("delivered");
    let mail = f
        .engine
        .claim_messages(Channel::Email, 10, lease)
        .await
        .expect("claim");
    assert_eq!(mail.len(), 1, "the webhook's delivery is not the email's");
    assert_eq!((mail[0].entry.id, mail[0].channel), (id, Channel::Email));
    assert_eq!(mail[0].delivery.attempts, 1);
    let failed = f
        .engine
        .settle_message(
            id,
            Channel::Email,
            &Settlement::Failed {
                error: "smtp refused".into(),
            },
        )
        .await
        .expect("failed");
    assert_eq!(failed.delivery.state(), MessageState::Pending);
    let delivered = channel_messages(&f, Channel::Webhook, None).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].delivery.state(), MessageState::Delivered);
    let pending = channel_messages(&f, Channel::Email, None).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].channel, Channel::Email);
    assert_eq!(
        pending[0].delivery.last_error.as_deref(),
        Some("smtp refused")
    );
    f.clock.advance(MAX_BACKOFF);
    assert!(f
        .engine
        .claim_messages(Channel::Webhook, 10, lease)
        .await
        .expect("claim")
        .is_empty());
    assert_eq!(
        f.engine
            .claim_messages(Channel::Email, 10, lease)
            .await
            .expect("claim")
            .len(),
        1
    );
    let broker = f
        .engine
        .claim_messages(Channel::Broker, 10, lease)
        .await
        .expect("claim");
    assert_eq!(broker.len(), 1, "the broker's copy is its own");
    assert_eq!(
        (
            broker[0].entry.id,
            broker[0].channel,
            broker[0].delivery.attempts
        ),
        (id, Channel::Broker, 1)
    );
}

/// Eight deliverers claim at once, again and again, until nothing is left: every message is
/// claimed by exactly one of them.
pub async fn racing_deliverers_never_claim_one_message_twice<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doctor = f.doctor("Dr Crowd", "Cardiology").await;
    let slots = f.slots(&doctor, 40, Duration::zero()).await;
    for slot in &slots {
        f.engine
            .book(*slot, PatientId::new(), None)
            .await
            .expect("book");
    }
    let claims = race(8, |_| {
        let engine = f.engine.clone();
        async move {
            let mut mine = Vec::new();
            loop {
                let batch = engine
                    .claim_messages(Channel::Webhook, 3, Duration::minutes(5))
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|m| m.entry.id));
            }
        }
    })
    .await;
    let all: Vec<EntryId> = claims.into_iter().flatten().collect();
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(
        all.len(),
        40,
        "each message claimed once: {} claims",
        all.len()
    );
    assert_eq!(distinct.len(), 40);
}

/// A failed message is due again only after its backoff; after the last attempt it is dead,
/// listed as dead, and an admin's retry makes it due at once from its first attempt.
pub async fn a_failing_message_backs_off_then_dies_and_can_be_retried<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let slot = f.slot().await;
    f.engine
        .book(slot, PatientId::new(), None)
        .await
        .expect("book");
    let lease = Duration::minutes(1);
    let failed = Settlement::Failed {
        error: "connection refused".into(),
    };
    for attempt in 1..=MAX_ATTEMPTS {
        let claimed = f
            .engine
            .claim_messages(Channel::Webhook, 10, lease)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1, "attempt {attempt}");
        assert_eq!(claimed[0].delivery.attempts, attempt);
        let id = claimed[0].entry.id;
        let settled = f
            .engine
            .settle_message(id, Channel::Webhook, &failed)
            .await
            .expect("settle");
        assert_eq!(
            settled.delivery.last_error.as_deref(),
            Some("connection refused")
        );
        if attempt < MAX_ATTEMPTS {
            assert_eq!(settled.delivery.state(), MessageState::Pending);
            assert!(settled.delivery.due_at > f.now());
            assert!(
                f.engine
                    .claim_messages(Channel::Webhook, 10, lease)
                    .await
                    .expect("claim")
                    .is_empty(),
                "not due before its backoff"
            );
            f.clock.advance(MAX_BACKOFF);
        } else {
            assert_eq!(settled.delivery.state(), MessageState::Dead);
        }
    }
    f.clock.advance(MAX_BACKOFF);
    assert!(f
        .engine
        .claim_messages(Channel::Webhook, 10, lease)
        .await
        .expect("claim")
        .is_empty());
    let dead = all_messages(&f, Some(MessageState::Dead)).await;
    assert_eq!(dead.len(), 1);
    assert!(all_messages(&f, Some(MessageState::Pending))
        .await
        .is_empty());
    let id = dead[0].entry.id;
    assert!(matches!(
        f.engine
            .settle_message(id, Channel::Webhook, &Settlement::Delivered)
            .await,
        Err(Error::Validation { field: "state", .. })
    ));
    let revived = f
        .engine
        .settle_message(id, Channel::Webhook, &Settlement::Retry)
        .await
        .expect("retry");
    assert_eq!(revived.delivery.state(), MessageState::Pending);
    let claimed = f
        .engine
        .claim_messages(Channel::Webhook, 10, lease)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].delivery.attempts, 1);
    assert!(matches!(
        f.engine
            .settle_message(EntryId::new(), Channel::Webhook, &Settlement::Delivered)
            .await,
        Err(Error::MessageNotFound(_))
    ));
}

/// The journal filters by patient, doctor, actor and time, and pages without gaps or repeats.
pub async fn the_journal_filters_and_pages<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    let cardio = f.doctor("Dr Heart", "Cardiology").await;
    let derma = f.doctor("Dr Skin", "Dermatology").await;
    let heart_slots = f.slots(&cardio, 4, Duration::zero()).await;
    let skin_slots = f.slots(&derma, 2, Duration::zero()).await;
    let alice = PatientId::new();
    let bob = PatientId::new();
    let start = f.now();
    f.clock.advance(Duration::seconds(1));
    for slot in &heart_slots[..3] {
        f.engine.book(*slot, alice, None).await.expect("book");
        f.clock.advance(Duration::seconds(1));
    }
    let bobs = f.engine.book(skin_slots[0], bob, None).await.expect("book");
    f.clock.advance(Duration::seconds(1));
    let midpoint = f.now();
    f.engine
        .cancel_as_patient(bobs.id, bob, None)
        .await
        .expect("cancel");
    f.engine
        .withdraw_slot(heart_slots[3])
        .await
        .expect("withdraw");

    let all = whole_journal(&f, JournalQuery::default()).await;
    // 2 doctors, 6 slots, 4 bookings, 1 cancel, 1 withdrawal.
    assert_eq!(all.len(), 14, "{:?}", kinds(&all));
    let distinct: HashSet<_> = all.iter().map(|e| e.id).collect();
    assert_eq!(distinct.len(), all.len(), "no entry twice across pages");
    assert!(all
        .windows(2)
        .all(|w| (w[0].at, w[0].id) < (w[1].at, w[1].id)));

    let alices = whole_journal(
        &f,
        JournalQuery {
            patient_id: Some(alice),
            ..JournalQuery::default()
        },
    )
    .await;
    assert_eq!(alices.len(), 3);
    assert!(alices.iter().all(|e| e.actor == Actor::Patient(alice)));
    let by_alice = whole_journal(
        &f,
        JournalQuery {
            actor: Some(Actor::Patient(alice)),
            ..JournalQuery::default()
        },
    )
    .await;
    assert_eq!(by_alice, alices);
    let skin = whole_journal(
        &f,
        JournalQuery {
            doctor_id: Some(derma.id),
            ..JournalQuery::default()
        },
    )
    .await;
    assert_eq!(
        kinds(&skin),
        [
            EntryKind::DoctorCreated,
            EntryKind::SlotPublished,
            EntryKind::SlotPublished,
            EntryKind::BookingBooked,
            EntryKind::BookingCancelledByPatient,
        ]
    );
    let later = whole_journal(
        &f,
        JournalQuery {
            from: Some(midpoint),
            ..JournalQuery::default()
        },
    )
    .await;
    assert_eq!(
        kinds(&later),
        [
            EntryKind::BookingCancelledByPatient,
            EntryKind::SlotWithdrawn
        ]
    );
    assert_eq!(later[1].slot_id, Some(heart_slots[3]));
    assert_eq!(later[1].doctor_id, Some(cardio.id));
    assert_eq!(later[1].actor, Actor::Admin(None));
    let setup = whole_journal(
        &f,
        JournalQuery {
            to: Some(start + Duration::microseconds(1)),
            ..JournalQuery::default()
        },
    )
    .await;
    assert_eq!(setup.len(), 8, "the doctors and their slots");
}
