//! [`SlotStore::mutate`](medislot_core::SlotStore::mutate) for [`SqliteStore`]: the unit of
//! work every mutation runs in.
//!
//! One `BEGIN IMMEDIATE` transaction on the single writer connection. SQLite's write lock covers
//! the whole database and is taken before the first read, so it holds every lock a [`Claim`]
//! can name (the doctor, the slot, the booking's slot and the booking; both slots of a
//! reschedule) at once, and two mutations can never wait on each other in a cycle. Under it: read what the claim asks for,
//! hand the reads to the core's decision, write the [`Changes`] it returns in the order of their
//! fields, commit. Any error rolls everything back. The rules live in the core; this file only
//! reads and writes rows.

use chrono::{DateTime, Utc};
use medislot_core::{
    Booking, BookingId, BookingState, Changes, Claim, Decide, Decision, Doctor, DoctorClaim,
    DoctorId, DoctorProfile, Error, IdempotencyKey, Locked, PatientId, Result, Slot, LAPSED_BATCH,
};
use sqlx::SqliteConnection;

use crate::error::{db, extended_code, SQLITE_CONSTRAINT_TRIGGER, SQLITE_CONSTRAINT_UNIQUE};
use crate::rows::{
    self, as_stored, booking_columns, doctor_columns, micros, slot_columns, slot_with_occupant,
    StateColumns,
};
use crate::store::{commit, SqliteStore};
use crate::{hours, waitlist};

/// The doctor `?1`'s live slots that overlap `[?2, ?3)`: those starting inside it, and the last
/// one starting before it if that one reaches into it. Live slots of one doctor never overlap
/// (`slots_no_overlap_on_insert`), so their ends grow with their starts and no earlier slot can
/// reach further. Both halves walk `slots_live_by_doctor`, reading only the slots returned (and
/// one more), however long the doctor's calendar.
/// A slot's doctor, deleted or not ([`Claim::slot_doctor`]); the slot withdrawn or not.
const SLOT_DOCTOR: &str = concat!(
    "SELECT ",
    doctor_columns!(),
    " FROM doctors d WHERE d.id = (SELECT doctor_id FROM slots WHERE id = ?1)"
);

pub(crate) const DOCTOR_SLOTS: &str = concat!(
    "SELECT ",
    slot_columns!(),
    " FROM slots s WHERE s.doctor_id = ?1 AND s.withdrawn_at IS NULL \
     AND s.starts_at >= ?2 AND s.starts_at < ?3 \
     UNION ALL SELECT ",
    slot_columns!(),
    " FROM slots s WHERE s.id = (SELECT p.id FROM slots p \
     WHERE p.doctor_id = ?1 AND p.withdrawn_at IS NULL AND p.starts_at < ?2 \
     ORDER BY p.starts_at DESC, p.id DESC LIMIT 1) AND s.ends_at > ?2"
);

/// The occupying bookings of the doctor `?1`'s live slots that end after `?2`.
pub(crate) const DOCTOR_OCCUPANTS: &str = concat!(
    "SELECT ",
    booking_columns!(),
    " FROM slots s JOIN bookings b ON b.slot_id = s.id \
     AND b.status IN ('PENDING', 'CONFIRMED', 'BUFFER') \
     WHERE s.doctor_id = ?1 AND s.withdrawn_at IS NULL AND s.ends_at > ?2"
);

/// The live slot `?1` and its occupying booking, if any.
pub(crate) const LIVE_SLOT: &str = concat!(
    slot_with_occupant!(),
    " WHERE s.id = ?1 AND s.withdrawn_at IS NULL"
);

/// The slot `?1`, withdrawn or not.
pub(crate) const SLOT: &str = concat!("SELECT ", slot_columns!(), " FROM slots s WHERE s.id = ?1");

/// The booking `?1`.
pub(crate) const BOOKING: &str = concat!(
    "SELECT ",
    booking_columns!(),
    " FROM bookings b WHERE b.id = ?1"
);

/// The booking the patient `?1` made with the idempotency key `?2`.
pub(crate) const REPLAY: &str = concat!(
    "SELECT ",
    booking_columns!(),
    " FROM bookings b WHERE b.patient_id = ?1 AND b.idempotency_key = ?2"
);

/// At most `?2` bookings whose hold lapsed or whose buffer ended by `?1`, through
/// `bookings_holds` and `bookings_buffers`.
pub(crate) const LAPSED: &str = concat!(
    "SELECT ",
    booking_columns!(),
    " FROM bookings b WHERE (b.status = 'PENDING' AND b.hold_until <= ?1) \
     OR (b.status = 'BUFFER' AND b.buffer_until <= ?1) LIMIT ?2"
);

/// Runs one mutation in a `BEGIN IMMEDIATE` transaction: read, decide, write, commit.
#[tracing::instrument(level = "debug", skip_all, fields(?claim))]
pub(crate) async fn mutate(
    store: &SqliteStore,
    claim: &Claim,
    decide: &Decide<'_>,
) -> Result<Decision> {
    let mut tx = store.begin_write().await?;
    let result = run(&mut tx, claim, decide).await;
    commit(tx, result).await
}

async fn run(conn: &mut SqliteConnection, claim: &Claim, decide: &Decide<'_>) -> Result<Decision> {
    let locked = read(conn, claim).await?;
    let mut decision = decide(&locked)?;
    write(conn, &decision.changes).await?;
    // Answer with the booking as it reads back: instants to the whole microsecond.
    decision.reply = decision.reply.map(as_stored);
    Ok(decision)
}

/// What `claim` asks for, read under the write lock.
async fn read(conn: &mut SqliteConnection, claim: &Claim) -> Result<Locked> {
    let mut locked = Locked::default();
    if let Some(doctor) = &claim.doctor {
        read_doctor(conn, doctor, &mut locked).await?;
    }
    if let Some(id) = claim.slot {
        let row = sqlx::query(LIVE_SLOT)
            .bind(id.as_uuid())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
        if let Some(row) = row {
            locked.slot = Some(rows::slot(&row)?);
            locked.occupant = rows::optional_booking(&row)?;
        }
        if claim.slot_doctor {
            let row = sqlx::query(SLOT_DOCTOR)
                .bind(id.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?;
            locked.slot_doctor = row.as_ref().map(rows::doctor).transpose()?;
        }
    }
    if let Some(id) = claim.booking {
        locked.booking = booking(conn, id).await?;
        if let Some(b) = &locked.booking {
            let row = sqlx::query(SLOT)
                .bind(b.slot_id.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?;
            locked.booking_slot = row.as_ref().map(rows::slot).transpose()?;
        }
    }
    if let Some((patient, key)) = &claim.replay {
        locked.replay = replay(conn, *patient, key).await?;
    }
    if let Some(at) = claim.lapsed_at {
        locked.lapsed = lapsed(conn, at).await?;
    }
    if claim.waitlist {
        read_waitlist(conn, &mut locked).await?;
    }
    if let Some(id) = claim.entry {
        locked.entry = waitlist::by_id(conn, id).await?;
    }
    if let Some(patient) = claim.waitlist_patient {
        locked.patient_entries = waitlist::patient_entries(conn, patient).await?;
    }
    if let Some(check) = &claim.session {
        locked.session_account =
            crate::accounts::session_account(conn, check.account, check.session).await?;
    }
    Ok(locked)
}

/// The waitlist around the claimed slot and booking ([`Claim::waitlist`]).
async fn read_waitlist(conn: &mut SqliteConnection, locked: &mut Locked) -> Result<()> {
    let offered: Vec<BookingId> = [&locked.occupant, &locked.booking]
        .into_iter()
        .flatten()
        .map(|b| b.id)
        .collect();
    locked.offers = waitlist::offers(conn, &offered).await?;
    if let Some(slot) = &locked.slot {
        if let Some(specialization) = waitlist::specialization_of(conn, slot.doctor_id).await? {
            locked.slot_waiting = waitlist::first_waiting(conn, slot, &specialization).await?;
        }
    }
    if let Some(slot) = &locked.booking_slot {
        let live: Option<bool> =
            sqlx::query_scalar("SELECT withdrawn_at IS NULL FROM slots WHERE id = ?1")
                .bind(slot.id.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?;
        let specialization = waitlist::specialization_of(conn, slot.doctor_id).await?;
        if let (Some(true), Some(specialization)) = (live, specialization) {
            locked.booking_slot_waiting =
                waitlist::first_waiting(conn, slot, &specialization).await?;
        }
    }
    Ok(())
}

async fn read_doctor(
    conn: &mut SqliteConnection,
    claim: &DoctorClaim,
    locked: &mut Locked,
) -> Result<()> {
    let row = sqlx::query(concat!(
        "SELECT ",
        doctor_columns!(),
        " FROM doctors d WHERE d.id = ?1 AND d.deleted_at IS NULL"
    ))
    .bind(claim.id.as_uuid())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    locked.doctor = row.as_ref().map(rows::doctor).transpose()?;
    if claim.hours && locked.doctor.is_some() {
        locked.doctor_hours = hours::read(conn, claim.id).await?;
    }
    if let Some(range) = claim.slots_within {
        let rows = sqlx::query(DOCTOR_SLOTS)
            .bind(claim.id.as_uuid())
            .bind(micros(range.starts_at()))
            .bind(micros(range.ends_at()))
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
        locked.doctor_slots = rows
            .iter()
            .map(rows::slot)
            .collect::<Result<Vec<Slot>, _>>()?;
    }
    if let (Some(range), Some(doctor)) = (claim.waiting_within, &locked.doctor) {
        locked.doctor_waiting =
            waitlist::doctor_waiting(conn, doctor.id, &doctor.specialization, range).await?;
    }
    if let Some(after) = claim.occupants_after {
        let rows = sqlx::query(DOCTOR_OCCUPANTS)
            .bind(claim.id.as_uuid())
            .bind(micros(after))
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
        locked.doctor_occupants = rows
            .iter()
            .map(rows::booking)
            .collect::<Result<Vec<Booking>, _>>()?;
    }
    Ok(())
}

async fn booking(conn: &mut SqliteConnection, id: BookingId) -> Result<Option<Booking>> {
    let row = sqlx::query(BOOKING)
        .bind(id.as_uuid())
        .fetch_optional(conn)
        .await
        .map_err(db)?;
    Ok(row.as_ref().map(rows::booking).transpose()?)
}

async fn replay(
    conn: &mut SqliteConnection,
    patient: PatientId,
    key: &IdempotencyKey,
) -> Result<Option<Booking>> {
    let row = sqlx::query(REPLAY)
        .bind(patient.as_uuid())
        .bind(key.as_str())
        .fetch_optional(conn)
        .await
        .map_err(db)?;
    Ok(row.as_ref().map(rows::booking).transpose()?)
}

async fn lapsed(conn: &mut SqliteConnection, at: DateTime<Utc>) -> Result<Vec<Booking>> {
    // LAPSED_BATCH is a small constant; the conversion cannot fail.
    let limit = i64::try_from(LAPSED_BATCH).unwrap_or(i64::MAX);
    let rows = sqlx::query(LAPSED)
        .bind(micros(at))
        .bind(limit)
        .fetch_all(conn)
        .await
        .map_err(db)?;
    Ok(rows
        .iter()
        .map(rows::booking)
        .collect::<Result<Vec<_>, _>>()?)
}

/// Writes `changes` in the order of [`Changes`]' fields.
async fn write(conn: &mut SqliteConnection, changes: &Changes) -> Result<()> {
    let at = changes.at;
    if let Some(doctor) = &changes.new_doctor {
        insert_doctor(conn, doctor).await?;
    }
    if let Some(change) = &changes.profile {
        sqlx::query("UPDATE doctors SET bio = ?2, languages = ?3, location = ?4 WHERE id = ?1")
            .bind(change.doctor.as_uuid())
            .bind(change.profile.bio())
            .bind(stored_languages(&change.profile))
            .bind(change.profile.location())
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    if let Some(change) = &changes.hours {
        hours::write(conn, change, at).await?;
    }
    for slot in &changes.new_slots {
        insert_slot(conn, slot).await?;
    }
    for id in &changes.withdrawn_slots {
        sqlx::query("UPDATE slots SET withdrawn_at = ?2 WHERE id = ?1 AND withdrawn_at IS NULL")
            .bind(id.as_uuid())
            .bind(micros(at))
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    if let Some(id) = changes.deleted_doctor {
        delete_doctor(conn, id, at).await?;
    }
    for change in &changes.states {
        write_state(conn, change.booking, &change.state, at).await?;
    }
    for booking in &changes.new_bookings {
        insert_booking(conn, booking).await?;
    }
    for entry in &changes.new_entries {
        waitlist::insert(conn, entry).await?;
    }
    for change in &changes.entry_states {
        waitlist::write_state(conn, change, at).await?;
    }
    crate::journal::append(conn, changes).await
}

async fn insert_doctor(conn: &mut SqliteConnection, doctor: &Doctor) -> Result<()> {
    sqlx::query(
        "INSERT INTO doctors \
         (id, name, specialization, timezone, created_at, bio, languages, location) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(doctor.id.as_uuid())
    .bind(&doctor.name)
    .bind(&doctor.specialization)
    .bind(doctor.timezone.name())
    .bind(micros(doctor.created_at))
    .bind(doctor.profile.bio())
    .bind(stored_languages(&doctor.profile))
    .bind(doctor.profile.location())
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// A profile's languages as the `languages` column holds them: one per line (a language never
/// holds a line feed, see [`DoctorProfile::new`]).
fn stored_languages(profile: &DoctorProfile) -> String {
    profile.languages().join("\n")
}

async fn insert_slot(conn: &mut SqliteConnection, slot: &Slot) -> Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO slots (id, doctor_id, starts_at, ends_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(slot.id.as_uuid())
    .bind(slot.doctor_id.as_uuid())
    .bind(micros(slot.range.starts_at()))
    .bind(micros(slot.range.ends_at()))
    .bind(micros(slot.created_at))
    .execute(conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        // The one trigger on inserting a slot is `slots_no_overlap_on_insert` (a missing doctor
        // is a foreign key error, not a trigger's). The decision checked overlaps against the
        // doctor's slots read under the write lock, so reaching it means a writer that does not
        // follow these steps shares the file; the trigger keeps the calendar whole.
        Err(e) if extended_code(&e) == Some(SQLITE_CONSTRAINT_TRIGGER) => {
            tracing::warn!(slot = %slot.id, error = %e, "overlap trigger refused a slot");
            Err(Error::SlotOverlap {
                doctor_id: slot.doctor_id,
                starts_at: slot.range.starts_at(),
                ends_at: slot.range.ends_at(),
            })
        }
        Err(e) => Err(db(e)),
    }
}

/// Marks the doctor deleted, withdrawing every live slot of theirs.
async fn delete_doctor(conn: &mut SqliteConnection, id: DoctorId, at: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE slots SET withdrawn_at = ?2 WHERE doctor_id = ?1 AND withdrawn_at IS NULL")
        .bind(id.as_uuid())
        .bind(micros(at))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    sqlx::query("UPDATE doctors SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL")
        .bind(id.as_uuid())
        .bind(micros(at))
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// Writes a booking's new state, as of `at`.
async fn write_state(
    conn: &mut SqliteConnection,
    id: BookingId,
    state: &BookingState,
    at: DateTime<Utc>,
) -> Result<()> {
    let columns = StateColumns::of(state);
    sqlx::query(
        "UPDATE bookings SET status = ?2, hold_until = ?3, buffer_until = ?4, cancelled_by = ?5, \
         cancel_reason = ?6, updated_at = ?7, rescheduled_to = ?8 WHERE id = ?1",
    )
    .bind(id.as_uuid())
    .bind(columns.status)
    .bind(columns.hold_until)
    .bind(columns.buffer_until)
    .bind(columns.cancelled_by)
    .bind(columns.cancel_reason)
    .bind(micros(at))
    .bind(columns.rescheduled_to)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Inserts a booking, its `doctor_id` copied from its slot's row by the same statement.
async fn insert_booking(conn: &mut SqliteConnection, booking: &Booking) -> Result<()> {
    let columns = StateColumns::of(&booking.state);
    let inserted = sqlx::query(
        "INSERT INTO bookings (id, slot_id, doctor_id, patient_id, status, hold_until, \
         buffer_until, cancelled_by, cancel_reason, idempotency_key, created_at, updated_at, \
         rescheduled_from, visit_reason) \
         SELECT ?1, s.id, s.doctor_id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13 \
         FROM slots s WHERE s.id = ?2",
    )
    .bind(booking.id.as_uuid())
    .bind(booking.slot_id.as_uuid())
    .bind(booking.patient_id.as_uuid())
    .bind(columns.status)
    .bind(columns.hold_until)
    .bind(columns.buffer_until)
    .bind(columns.cancelled_by)
    .bind(columns.cancel_reason)
    .bind(booking.idempotency_key.as_ref().map(IdempotencyKey::as_str))
    .bind(micros(booking.created_at))
    .bind(micros(booking.updated_at))
    .bind(booking.rescheduled_from.map(|id| id.as_uuid()))
    .bind(booking.visit_reason.as_deref())
    .execute(conn)
    .await;
    match inserted {
        Ok(done) if done.rows_affected() == 1 => Ok(()),
        // No such slot row at all: the decision booked a slot it never read.
        Ok(_) => Err(Error::SlotNotFound(booking.slot_id)),
        // Under the write lock, with the occupant and the idempotency key read first, the unique
        // index that can still refuse this row is `bookings_one_active_per_slot` (the other,
        // `bookings_patient_idempotency_key`, was looked up by the claim). Reaching it means a
        // writer that does not follow these steps shares the file; the index keeps the slot
        // single.
        Err(e) if extended_code(&e) == Some(SQLITE_CONSTRAINT_UNIQUE) => {
            tracing::warn!(slot = %booking.slot_id, error = %e, "unique index refused a booking");
            Err(Error::SlotUnavailable(booking.slot_id))
        }
        Err(e) => Err(db(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use medislot_core::{NewDoctor, SlotId, SlotStore, TimeRange};
    use tempfile::TempDir;

    async fn fresh() -> (TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(dir.path().join("u.db").to_str().unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    fn slot(doctor: DoctorId, from: i64, to: i64) -> Slot {
        Slot {
            id: SlotId::new(),
            doctor_id: doctor,
            range: TimeRange::new(at(from), at(to)).unwrap(),
            created_at: at(0),
        }
    }

    /// Commits `changes` as they are, with no rule deciding: what a writer that skips the
    /// core's checks would do.
    async fn force(store: &SqliteStore, claim: &Claim, changes: Changes) -> Result<Decision> {
        let decision = Decision {
            changes,
            reply: None,
        };
        store.mutate(claim, &|_| Ok(decision.clone())).await
    }

    async fn doctor_with_slots(store: &SqliteStore, slots: &[(i64, i64)]) -> (Doctor, Vec<Slot>) {
        let doctor = NewDoctor::new("Dr Unit", "GP", "UTC")
            .unwrap()
            .into_doctor(at(0));
        let slots: Vec<Slot> = slots.iter().map(|&(a, b)| slot(doctor.id, a, b)).collect();
        force(
            store,
            &Claim::default(),
            Changes {
                new_doctor: Some(doctor.clone()),
                new_slots: slots.clone(),
                ..Changes::at(at(0))
            },
        )
        .await
        .unwrap();
        (doctor, slots)
    }

    async fn read_claim(store: &SqliteStore, claim: &Claim) -> Locked {
        let seen = std::sync::Mutex::new(None);
        store
            .mutate(claim, &|locked| {
                *seen.lock().unwrap() = Some(locked.clone());
                Ok(Decision {
                    changes: Changes::at(at(0)),
                    reply: None,
                })
            })
            .await
            .unwrap();
        let locked = seen.lock().unwrap().take();
        locked.unwrap()
    }

    #[tokio::test]
    async fn doctor_slots_are_exactly_the_live_ones_overlapping_the_range() {
        let (_dir, store) = fresh().await;
        // 0-30, 30-60, 60-120 (long), 130-140, 200-210; 140-150 withdrawn below.
        let (doctor, slots) = doctor_with_slots(
            &store,
            &[
                (0, 30),
                (30, 60),
                (60, 120),
                (130, 140),
                (140, 150),
                (200, 210),
            ],
        )
        .await;
        force(
            &store,
            &Claim::default(),
            Changes {
                withdrawn_slots: vec![slots[4].id],
                ..Changes::at(at(1))
            },
        )
        .await
        .unwrap();
        let within = |from, to| Claim {
            doctor: Some(DoctorClaim {
                id: doctor.id,
                slots_within: Some(TimeRange::new(at(from), at(to)).unwrap()),
                occupants_after: None,
                waiting_within: None,
                hours: false,
            }),
            ..Claim::default()
        };
        for ((from, to), want) in [
            // The long slot started before the range and reaches into it.
            ((100, 135), vec![2, 3]),
            // Touching at either end is not overlapping.
            ((120, 130), vec![]),
            ((60, 120), vec![2]),
            // The withdrawn slot is not read.
            ((141, 149), vec![]),
            ((10, 205), vec![0, 1, 2, 3, 5]),
            ((300, 400), vec![]),
        ] {
            let locked = read_claim(&store, &within(from, to)).await;
            let mut got: Vec<SlotId> = locked.doctor_slots.iter().map(|s| s.id).collect();
            let mut want: Vec<SlotId> = want.iter().map(|&i| slots[i].id).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{from}..{to}");
            assert_eq!(locked.doctor, Some(doctor.clone()));
        }
    }

    #[tokio::test]
    async fn an_overlapping_slot_that_skipped_the_rule_is_refused_as_slot_overlap_and_nothing_is_written(
    ) {
        let (_dir, store) = fresh().await;
        let (doctor, _) = doctor_with_slots(&store, &[(60, 90)]).await;
        let fine = slot(doctor.id, 0, 30);
        let clash = slot(doctor.id, 80, 100);
        let refused = force(
            &store,
            &Claim::default(),
            Changes {
                new_slots: vec![fine.clone(), clash.clone()],
                ..Changes::at(at(1))
            },
        )
        .await;
        assert!(
            matches!(
                refused,
                Err(Error::SlotOverlap { doctor_id, starts_at, ends_at })
                    if doctor_id == doctor.id
                        && starts_at == clash.range.starts_at()
                        && ends_at == clash.range.ends_at()
            ),
            "{refused:?}"
        );
        assert!(store.slot(fine.id, at(0)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_second_occupying_booking_that_skipped_the_rule_is_refused_as_slot_unavailable() {
        let (_dir, store) = fresh().await;
        let (_, slots) = doctor_with_slots(&store, &[(60, 90)]).await;
        let booking = |state| Booking {
            id: BookingId::new(),
            slot_id: slots[0].id,
            patient_id: PatientId::new(),
            state,
            idempotency_key: None,
            created_at: at(1),
            updated_at: at(1),
            rescheduled_from: None,
            visit_reason: None,
        };
        let first = booking(BookingState::Confirmed);
        let second = booking(BookingState::Pending { hold_until: at(10) });
        let book = |b: &Booking| Changes {
            new_bookings: vec![b.clone()],
            ..Changes::at(at(1))
        };
        force(&store, &Claim::default(), book(&first))
            .await
            .unwrap();
        let refused = force(&store, &Claim::default(), book(&second)).await;
        assert!(
            matches!(refused, Err(Error::SlotUnavailable(id)) if id == slots[0].id),
            "{refused:?}"
        );
        let view = store.booking(first.id).await.unwrap().unwrap();
        assert_eq!(view.slot.doctor_id, slots[0].doctor_id);
        assert!(store.booking(second.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_refused_decision_rolls_back_and_returns_its_error_unchanged() {
        let (_dir, store) = fresh().await;
        let (doctor, _) = doctor_with_slots(&store, &[(60, 90)]).await;
        let claim = Claim {
            doctor: Some(DoctorClaim {
                id: doctor.id,
                slots_within: None,
                occupants_after: None,
                waiting_within: None,
                hours: false,
            }),
            ..Claim::default()
        };
        let refused = store
            .mutate(&claim, &|_| Err(Error::DoctorHasActiveBookings(doctor.id)))
            .await;
        assert!(matches!(refused, Err(Error::DoctorHasActiveBookings(id)) if id == doctor.id));
        // The writer is free again at once: the transaction did not linger.
        let again = read_claim(&store, &claim).await;
        assert_eq!(again.doctor, Some(doctor));
    }

    /// SQLite's plan for `sql`, one line per step.
    #[tokio::test]
    async fn reads_under_the_lock_go_through_indexes() {
        let (_dir, store) = fresh().await;
        for sql in [
            DOCTOR_SLOTS,
            DOCTOR_OCCUPANTS,
            LIVE_SLOT,
            SLOT,
            BOOKING,
            REPLAY,
            LAPSED,
        ] {
            let steps = store.query_plan(sql).await;
            for step in &steps {
                // Every table is reached by key or walked along an index, never scanned.
                assert!(!step.starts_with("SCAN"), "{sql}\n{steps:#?}");
                assert!(!step.contains("TEMP B-TREE"), "{sql}\n{steps:#?}");
            }
        }
        // The doctor's calendar is walked along its index, bounded by the range on both
        // halves, not read from its first slot.
        let steps = store.query_plan(DOCTOR_SLOTS).await;
        let searches: Vec<&String> = steps
            .iter()
            .filter(|s| s.contains("slots_live_by_doctor"))
            .collect();
        assert_eq!(searches.len(), 2, "{steps:#?}");
        assert!(
            searches
                .iter()
                .any(|s| s.contains("doctor_id=? AND starts_at>? AND starts_at<?")),
            "{steps:#?}"
        );
    }
    async fn count(store: &SqliteStore, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&store.reader)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_refused_write_leaves_no_journal_entry_and_the_journal_is_append_only() {
        let (_dir, store) = fresh().await;
        let (_, slots) = doctor_with_slots(&store, &[(60, 90)]).await;
        let booking = || Booking {
            id: BookingId::new(),
            slot_id: slots[0].id,
            patient_id: PatientId::new(),
            state: BookingState::Confirmed,
            idempotency_key: None,
            created_at: at(1),
            updated_at: at(1),
            rescheduled_from: None,
            visit_reason: None,
        };
        let journalled = |b: Booking| {
            let mut changes = Changes {
                new_bookings: vec![b],
                ..Changes::at(at(1))
            };
            changes.journal = medislot_core::journal::record(
                &Locked::default(),
                &changes,
                medislot_core::Actor::System,
                &medislot_core::Context::default(),
            );
            changes
        };
        force(&store, &Claim::default(), journalled(booking()))
            .await
            .unwrap();
        assert_eq!(
            (
                count(&store, "journal").await,
                count(&store, "outbox").await
            ),
            // One copy of the message per channel.
            (1, medislot_core::Channel::ALL.len() as i64)
        );
        let refused = force(&store, &Claim::default(), journalled(booking())).await;
        assert!(
            matches!(refused, Err(Error::SlotUnavailable(_))),
            "{refused:?}"
        );
        assert_eq!(
            (
                count(&store, "journal").await,
                count(&store, "outbox").await
            ),
            // One copy of the message per channel.
            (1, medislot_core::Channel::ALL.len() as i64)
        );

        // What was written stays as it was: the journal refuses updates and deletes.
        for sql in [
            "UPDATE journal SET reason = 'rewritten'",
            "UPDATE journal SET to_role = 'admin', account_id = NULL",
            "DELETE FROM journal",
        ] {
            let refused = sqlx::query(sql).execute(&store.writer).await;
            let message = refused.expect_err(sql).to_string();
            assert!(message.contains("never changed or removed"), "{message}");
        }
        assert_eq!(count(&store, "journal").await, 1);
    }
}
