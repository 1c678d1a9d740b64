//! Checks at the edge of what stores can hold: text with control characters and instants out of
//! range are refused by the engine before any store sees them, with the same answer on every
//! store; and the extreme values that are allowed (unusual Unicode, the last representable
//! instant) round-trip exactly.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::support::Fixture;
use crate::{
    instant, Account, AccountId, AccountStore, BookingQuery, BookingState, DoctorFilter, Email,
    Error, NewDoctor, PatientId, Role, SlotCursor, SlotQuery, SlotStore, TimeRange,
};

/// Text that every store must keep exactly: accents, a combining mark, emoji with skin tone and
/// zero-width joiners, right-to-left Arabic between direction marks, a mathematical letter
/// outside the Basic Multilingual Plane, quotes and SQL wildcards.
pub const UNUSUAL_TEXT: &str = "Zoë e\u{301} 👩🏽‍⚕️ \u{202B}د. عائشة\u{202C} 𝔄 'O''Brien' 100%_\\";

fn year_10000() -> DateTime<Utc> {
    Utc.from_utc_datetime(
        &NaiveDate::from_ymd_opt(10_000, 1, 1)
            .expect("chrono reaches year 10000")
            .into(),
    )
}

fn year_minus_5000() -> DateTime<Utc> {
    Utc.from_utc_datetime(
        &NaiveDate::from_ymd_opt(-5_000, 1, 1)
            .expect("chrono reaches 5001 BC")
            .into(),
    )
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: crate::Result<T>, expected_field: &str) {
    match result {
        Err(Error::Validation { field, .. }) => assert_eq!(field, expected_field),
        other => panic!("expected a validation error on {expected_field}, got {other:?}"),
    }
}

/// A NUL (or any other control character) in a name, a specialization, a filter or a
/// cancellation reason is refused as a validation error naming the field, and changes nothing.
pub async fn text_with_control_characters_is_refused_before_the_store<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    assert_refused(NewDoctor::new("Dr \0Ada", "Cardiology", "UTC"), "name");
    assert_refused(
        NewDoctor::new("Dr Ada", "Cardio\u{1b}logy", "UTC"),
        "specialization",
    );
    assert_refused(NewDoctor::new("Dr Ada", "Cardiology", "UTC\0"), "timezone");

    let doctor = f.doctor("Dr Edge", "Cardiology").await;
    let slot = f.slots(&doctor, 1, Duration::zero()).await[0];
    let nul_name = DoctorFilter {
        name_contains: Some("\0".into()),
        ..DoctorFilter::default()
    };
    assert_refused(f.engine.doctors(&nul_name).await, "q");
    let nul_specialization = DoctorFilter {
        specialization: Some("Cardio\0".into()),
        ..DoctorFilter::default()
    };
    assert_refused(
        f.engine.doctors(&nul_specialization).await,
        "specialization",
    );
    let slots_by_specialization = SlotQuery {
        specialization: Some("\u{7f}".into()),
        limit: 10,
        ..SlotQuery::default()
    };
    assert_refused(
        f.engine.slots(&slots_by_specialization).await,
        "specialization",
    );

    let patient = PatientId::new();
    let booking = f.engine.book(slot, patient, None).await.expect("book");
    assert_refused(
        f.engine
            .cancel_as_patient(booking.id, patient, Some("moved\0away".into()))
            .await,
        "reason",
    );
    assert_refused(
        f.engine
            .cancel_as_admin(booking.id, Some("\u{7}".into()))
            .await,
        "reason",
    );
    let stored = f.engine.booking(booking.id).await.expect("read booking");
    assert_eq!(
        stored.booking.state,
        BookingState::Confirmed,
        "a refused cancel changes nothing"
    );
}

/// Instants outside [`instant::EARLIEST`]`..=`[`instant::LATEST`] (year 10000, 5001 BC) are
/// refused as validation errors naming the field, in slot ranges and in listing filters.
pub async fn instants_outside_the_representable_range_are_refused<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let far = year_10000();
    assert_refused(
        TimeRange::new(far, far + Duration::minutes(30)),
        "starts_at",
    );
    assert_refused(
        TimeRange::new(instant::LATEST - Duration::minutes(30), far),
        "ends_at",
    );
    let doctor = f.doctor("Dr Far", "Cardiology").await;
    f.slots(&doctor, 1, Duration::zero()).await;

    for (query, field) in [
        (
            SlotQuery {
                from: Some(far),
                ..SlotQuery::default()
            },
            "from",
        ),
        (
            SlotQuery {
                to: Some(year_minus_5000()),
                ..SlotQuery::default()
            },
            "to",
        ),
    ] {
        let query = SlotQuery { limit: 10, ..query };
        assert_refused(f.engine.slots(&query).await, field);
    }
    let far_cursor = SlotQuery {
        after: Some(SlotCursor {
            starts_at: far,
            id: crate::SlotId::new(),
        }),
        limit: 10,
        ..SlotQuery::default()
    };
    assert_refused(f.engine.slots(&far_cursor).await, "cursor");
    let bookings = BookingQuery {
        from: Some(far),
        limit: 10,
        ..BookingQuery::default()
    };
    assert_refused(f.engine.bookings(&bookings).await, "from");
    let bookings = BookingQuery {
        to: Some(year_minus_5000()),
        limit: 10,
        ..BookingQuery::default()
    };
    assert_refused(f.engine.bookings(&bookings).await, "to");
}

/// The most unusual text the engine accepts (every script, emoji, direction marks, quotes and
/// SQL wildcards, names at the length limit, reasons with tabs and line breaks) reads back
/// exactly, and finds what it should as a filter.
pub async fn unusual_text_round_trips_exactly<S: SlotStore + 'static>(store: Arc<S>) {
    let f = Fixture::new(store);
    // At the length limit, in characters, with four-byte ones.
    let long_name: String = std::iter::repeat_n('𝔄', crate::MAX_NAME_CHARS).collect();
    let new = NewDoctor::new(UNUSUAL_TEXT, &long_name, "Asia/Tehran").expect("valid doctor");
    let doctor = f.engine.create_doctor(new).await.expect("create doctor");
    assert_eq!(doctor.name, UNUSUAL_TEXT);
    assert_eq!(f.engine.doctor(doctor.id).await.expect("read"), doctor);
    f.doctor("Dr Plain", "Cardiology").await;

    let by_text = DoctorFilter {
        specialization: Some(long_name.clone()),
        name_contains: Some("👩🏽‍⚕️ \u{202B}د. عائشة".into()),
        ..DoctorFilter::default()
    };
    assert_eq!(
        f.engine.doctors(&by_text).await.expect("list"),
        vec![doctor.clone()]
    );
    let wildcards = DoctorFilter {
        name_contains: Some("%_\\".into()),
        ..DoctorFilter::default()
    };
    assert_eq!(
        f.engine.doctors(&wildcards).await.expect("list"),
        vec![doctor.clone()],
        "wildcards are plain characters"
    );

    let slot = f.slots(&doctor, 1, Duration::zero()).await[0];
    let by_specialization = SlotQuery {
        specialization: Some(long_name),
        limit: 10,
        ..SlotQuery::default()
    };
    let listed = f.engine.slots(&by_specialization).await.expect("list");
    assert_eq!(
        listed.items.iter().map(|v| v.slot.id).collect::<Vec<_>>(),
        vec![slot]
    );

    let patient = PatientId::new();
    let booking = f.engine.book(slot, patient, None).await.expect("book");
    let reason = format!("{UNUSUAL_TEXT}\n\tline two\r\nline three");
    let cancelled = f
        .engine
        .cancel_as_patient(booking.id, patient, Some(format!("  {reason}\n")))
        .await
        .expect("cancel");
    let stored = f.engine.booking(booking.id).await.expect("read booking");
    assert_eq!(stored.booking, cancelled);
    assert_eq!(
        stored.booking.state.to_parts().cancel_reason.as_deref(),
        Some(reason.as_str()),
        "the reason is kept as given, only trimmed at its ends"
    );
}

/// A slot ending at [`instant::LATEST`] is published, read, listed, paged and booked exactly,
/// and the widest filters the engine accepts (`from` = [`instant::EARLIEST`], `to` =
/// [`instant::LATEST`]) work.
pub async fn the_last_representable_instant_round_trips_exactly<S: SlotStore + 'static>(
    store: Arc<S>,
) {
    let f = Fixture::new(store);
    let doctor = f.doctor("Dr Last", "Cardiology").await;
    let last = TimeRange::new(instant::LATEST - Duration::minutes(30), instant::LATEST)
        .expect("the last range is valid");
    let published = f
        .engine
        .publish_slots(doctor.id, &[last])
        .await
        .expect("publish the last slot");
    let slot = published[0].clone();
    let read = f.engine.slot(slot.id).await.expect("read the last slot");
    assert_eq!(read.slot, slot);
    assert!(read.status.is_available());

    let widest = SlotQuery {
        from: Some(instant::EARLIEST),
        to: Some(instant::LATEST),
        ..SlotQuery::default()
    };
    let listed = f.all_slots(widest.clone(), 1).await;
    assert_eq!(
        listed.iter().map(|v| &v.slot).collect::<Vec<_>>(),
        vec![&slot]
    );
    let from_its_start = SlotQuery {
        from: Some(last.starts_at()),
        ..SlotQuery::default()
    };
    assert_eq!(f.all_slots(from_its_start, 10).await.len(), 1);
    let after_it = SlotQuery {
        after: Some(SlotCursor::after(&slot)),
        ..widest
    };
    assert!(f.all_slots(after_it, 10).await.is_empty());

    // A day before it starts, inside the default booking window.
    f.clock.set(last.starts_at() - Duration::days(1));
    let booking = f
        .engine
        .book(slot.id, PatientId::new(), None)
        .await
        .expect("book the last slot");
    let bookings = BookingQuery {
        from: Some(instant::EARLIEST),
        to: Some(instant::LATEST),
        limit: 10,
        ..BookingQuery::default()
    };
    let page = f.engine.bookings(&bookings).await.expect("list bookings");
    assert_eq!(
        page.items.iter().map(|v| v.booking.id).collect::<Vec<_>>(),
        vec![booking.id]
    );
    assert_eq!(page.items[0].slot, slot);
}

/// An account's name in unusual text reads back exactly.
pub async fn account_names_in_unusual_text_round_trip_exactly<S: AccountStore + 'static>(
    store: Arc<S>,
) {
    let account = Account {
        id: AccountId::new(),
        email: Email::parse("zoe@example.com").expect("valid email"),
        name: crate::text::required_line("name", UNUSUAL_TEXT, crate::MAX_NAME_CHARS)
            .expect("valid name"),
        role: Role::Patient,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
            .expect("now is in range"),
        profile: crate::AccountProfile::default(),
        sessions: crate::SessionGeneration::FIRST,
        login_throttle: crate::LoginThrottle::default(),
    };
    store.insert_account(&account).await.expect("insert");
    assert_eq!(
        store.account(account.id).await.expect("read"),
        Some(account.clone())
    );
    assert_eq!(
        store.account_by_email(&account.email).await.expect("read"),
        Some(account)
    );
}
