//! Reminders: one per confirmed booking, due its lead before the appointment, written with the
//! confirming change; none sent for a booking cancelled or moved since.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;

use super::journal::whole_journal;
use super::support::{race, Fixture};
use crate::{
    Channel, EntryKind, JournalQuery, MessageQuery, MessageState, OutboxMessage, PatientId, Policy,
    SlotStore, TimeRange,
};

const LEAD: Duration = Duration::hours(2);

fn with_reminders() -> Policy {
    Policy {
        reminder_lead: Some(LEAD),
        ..Policy::default()
    }
}

async fn reminders(f: &Fixture, channel: Channel) -> Vec<OutboxMessage> {
    reminders_in(f, channel, None).await
}

async fn reminders_in(
    f: &Fixture,
    channel: Channel,
    state: Option<MessageState>,
) -> Vec<OutboxMessage> {
    let page = f
        .engine
        .messages(&MessageQuery {
            channel,
            state,
            after: None,
            limit: 500,
        })
        .await
        .expect("read outbox");
    page.items
        .into_iter()
        .filter(|m| m.entry.kind == EntryKind::BookingReminder)
        .collect()
}

/// A booking, a confirmed hold and a reschedule's new booking each get one reminder, due the
/// lead before their slot starts and written in the confirming change; a booking made within
/// the lead gets none; until due, no reminder is claimed; once due, the reminders of a
/// cancelled and a moved booking are withdrawn, never handed to a deliverer, and each current
/// one is claimed by exactly one of many racing deliverers.
pub async fn each_confirmed_booking_has_one_reminder_and_a_cancelled_or_moved_one_is_withdrawn<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    let f = Fixture::with_policy(store, with_reminders());
    let doctor = f.doctor("Dr Remind", "General practice").await;
    let slots = f.slots(&doctor, 4, Duration::zero()).await;
    let soon = {
        let start = f.now() + Duration::hours(1);
        let range = TimeRange::new(start, start + Duration::minutes(30)).expect("valid range");
        f.engine
            .publish_slots(doctor.id, &[range])
            .await
            .expect("publish")[0]
            .id
    };
    let kept = f
        .engine
        .book(slots[0], PatientId::new(), None)
        .await
        .expect("book");
    let held_patient = PatientId::new();
    let held = f.engine.hold(slots[1], held_patient).await.expect("hold");
    assert_eq!(
        reminders(&f, Channel::Email).await.len(),
        1,
        "the booking has its reminder, the hold none"
    );
    f.engine
        .confirm(held.id, held_patient)
        .await
        .expect("confirm");
    let moved_patient = PatientId::new();
    let moved = f
        .engine
        .book(slots[2], moved_patient, None)
        .await
        .expect("book");
    let within_lead = f
        .engine
        .book(soon, PatientId::new(), None)
        .await
        .expect("book");

    let queued = reminders(&f, Channel::Email).await;
    assert_eq!(queued.len(), 3, "{queued:?}");
    for message in &queued {
        let slot = f
            .engine
            .slot(message.entry.slot_id.expect("a reminder names its slot"))
            .await
            .expect("slot");
        assert_eq!(message.delivery.due_at, slot.slot.range.starts_at() - LEAD);
        assert_eq!(message.delivery.state(), MessageState::Pending);
        assert_ne!(message.entry.booking_id, Some(within_lead.id));
    }
    let history = whole_journal(
        &f,
        JournalQuery {
            booking_id: Some(kept.id),
            ..JournalQuery::default()
        },
    )
    .await;
    let kinds: Vec<_> = history.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [EntryKind::BookingBooked, EntryKind::BookingReminder]
    );
    assert_eq!(
        history[0].at, history[1].at,
        "written by the booking itself"
    );

    let new = f
        .engine
        .reschedule_as_patient(moved.id, moved_patient, slots[3], None)
        .await
        .expect("reschedule");
    f.engine
        .cancel_as_patient(held.id, held_patient, None)
        .await
        .expect("cancel");
    assert_eq!(reminders(&f, Channel::Email).await.len(), 4);
    let early = f
        .engine
        .claim_messages(Channel::Email, 500, Duration::minutes(5))
        .await
        .expect("claim");
    assert!(
        early
            .iter()
            .all(|m| m.entry.kind != EntryKind::BookingReminder),
        "no reminder is claimed before it is due"
    );

    // Every reminder is due (the last slot starts 1 day 1.5 hours from the start), no slot has
    // started.
    f.clock.advance(Duration::hours(23) + Duration::minutes(45));
    let claims = race(8, |_| {
        let engine = f.engine.clone();
        async move {
            engine
                .claim_messages(Channel::Email, 500, Duration::minutes(5))
                .await
                .expect("claim")
        }
    })
    .await;
    let claimed: Vec<_> = claims
        .into_iter()
        .flatten()
        .filter(|m| m.entry.kind == EntryKind::BookingReminder)
        .map(|m| m.entry.booking_id.expect("a reminder names its booking"))
        .collect();
    let distinct: HashSet<_> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), 2, "each current reminder claimed once");
    assert_eq!(distinct, HashSet::from([kept.id, new.id]));

    for message in reminders(&f, Channel::Email).await {
        let booking = message.entry.booking_id.expect("booking");
        if booking == held.id || booking == moved.id {
            assert_eq!(message.delivery.state(), MessageState::Withdrawn);
            assert_eq!(message.delivery.delivered_at, None, "never sent");
        } else {
            assert_eq!(message.delivery.state(), MessageState::Pending);
            assert!(message.delivery.claimed_until.is_some());
        }
    }
}

/// A cancel that commits after a reminder was claimed but before it was sent withdraws it:
/// the deliverer's last look ([`BookingEngine::withdraw_if_stale`](crate::BookingEngine::withdraw_if_stale))
/// finds the booking cancelled and settles the reminder withdrawn, so it is never sent; a
/// reminder still current passes that look untouched. Withdrawn reminders are listed as such,
/// and as nothing else.
pub async fn a_reminder_cancelled_after_its_claim_is_withdrawn_before_it_is_sent<
    S: SlotStore + 'static,
>(
    store: Arc<S>,
) {
    let f = Fixture::with_policy(store, with_reminders());
    let doctor = f.doctor("Dr Late", "General practice").await;
    let slots = f.slots(&doctor, 2, Duration::zero()).await;
    let patient = PatientId::new();
    let cancelled = f.engine.book(slots[0], patient, None).await.expect("book");
    let current = f
        .engine
        .book(slots[1], PatientId::new(), None)
        .await
        .expect("book");
    f.clock.advance(Duration::hours(23) + Duration::minutes(45));
    let claimed: Vec<_> = f
        .engine
        .claim_messages(Channel::Email, 500, Duration::minutes(5))
        .await
        .expect("claim")
        .into_iter()
        .filter(|m| m.entry.kind == EntryKind::BookingReminder)
        .collect();
    assert_eq!(claimed.len(), 2, "both reminders are due and current");

    f.engine
        .cancel_as_patient(cancelled.id, patient, None)
        .await
        .expect("cancel after the claim");
    for message in &claimed {
        let stale = f.engine.withdraw_if_stale(message).await.expect("look");
        assert_eq!(
            stale,
            message.entry.booking_id == Some(cancelled.id),
            "only the cancelled booking's reminder is stale"
        );
    }
    let withdrawn = reminders_in(&f, Channel::Email, Some(MessageState::Withdrawn)).await;
    assert_eq!(withdrawn.len(), 1, "{withdrawn:?}");
    assert_eq!(withdrawn[0].entry.booking_id, Some(cancelled.id));
    assert!(withdrawn[0].delivery.withdrawn_at.is_some());
    for state in [
        MessageState::Pending,
        MessageState::Delivered,
        MessageState::Dead,
    ] {
        let listed = reminders_in(&f, Channel::Email, Some(state)).await;
        assert!(
            listed
                .iter()
                .all(|m| m.entry.booking_id != Some(cancelled.id)),
            "a withdrawn reminder is not listed as {state:?}"
        );
    }
    let pending = reminders_in(&f, Channel::Email, Some(MessageState::Pending)).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].entry.booking_id, Some(current.id));
    assert!(
        f.engine
            .settle_message(
                withdrawn[0].entry.id,
                Channel::Email,
                &crate::Settlement::Delivered
            )
            .await
            .is_err(),
        "a withdrawn reminder cannot be recorded as sent"
    );
}
