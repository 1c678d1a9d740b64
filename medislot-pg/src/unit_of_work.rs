//! [`SlotStore::mutate`](medislot_core::SlotStore::mutate) on PostgreSQL: every mutation is one
//! transaction sent as two scripts, so it costs two round trips whatever it does:
//!
//! 1. `BEGIN`, the claim's locks (`SELECT ... FOR UPDATE`: doctor, then its slots or the slot,
//!    then the booking's slot and the booking; when a claim names two slots, as a reschedule
//!    does, both are locked first by one statement in id order), then the claim's reads, each
//!    statement with its own snapshot taken after the locks;
//! 2. the decision's writes and `COMMIT`, or `ROLLBACK` when the core refused or there is
//!    nothing to write.
//!
//! A claim that reads nothing (creating a doctor) skips the first script: `BEGIN`, the writes
//! and `COMMIT` travel together in one round trip.
//!
//! The first script also reads the transaction's id, so that a connection lost while `COMMIT`
//! was on its way is settled by asking the database whether it committed (`outcome.rs`).

use chrono::{DateTime, Utc};
use medislot_core::{
    Booking, CancelledBy, Changes, Claim, Decide, Decision, Error, Locked, Result, SessionAccount,
    Slot, SlotId, LAPSED_BATCH,
};
use sqlx::postgres::PgRow;
use sqlx::Row as _;

use crate::error::{constraint_of, is_connection_lost, Failure};
use crate::prepared::Hot;
use crate::rows::{self, BOOKING, DOCTOR, OCCUPYING, SLOT};
use crate::script::{Lit, Results, Script, Stmt, Tx};
use crate::store::{no_rule, PgStore};
use crate::{hours, waitlist};

/// Where each part of a claim's reads is found in the first script's results.
#[derive(Default)]
struct ReadPlan {
    doctor: Option<Stmt>,
    doctor_hours: Option<Stmt>,
    doctor_slots: Option<Stmt>,
    doctor_occupants: Option<Stmt>,
    slot: Option<Stmt>,
    occupant: Option<Stmt>,
    booking: Option<Stmt>,
    booking_slot: Option<Stmt>,
    replay: Option<Stmt>,
    lapsed: Option<Stmt>,
    slot_offer: Option<Stmt>,
    booking_offer: Option<Stmt>,
    slot_waiting: Option<Stmt>,
    booking_slot_waiting: Option<Stmt>,
    doctor_waiting: Option<Stmt>,
    entry: Option<Stmt>,
    patient_entries: Option<Stmt>,
    slot_doctor: Option<Stmt>,
    session_account: Option<Stmt>,
}

impl PgStore {
    pub(crate) async fn mutate_impl(&self, claim: &Claim, decide: &Decide<'_>) -> Result<Decision> {
        self.retrying("mutate", &no_rule, move || async move {
            let (tx, locked) = if is_blind(claim) {
                (Tx::deferred(self).await?, Locked::default())
            } else {
                let (script, plan) = read_script(claim, self.prepared);
                let (mut tx, found) = Tx::begin(self, script).await?;
                let mut locked = match read(&plan, &found) {
                    Ok(locked) => locked,
                    Err(error) => {
                        tx.rollback().await;
                        return Err(Failure::Sql(error));
                    }
                };
                if let Err(error) = slot_waitlist(&mut tx, claim, &mut locked, self.prepared).await
                {
                    // A failed read has already rolled the transaction back.
                    return Err(Failure::Sql(error));
                }
                (tx, locked)
            };
            let decision = match decide(&locked) {
                Ok(decision) => decision,
                Err(refusal) => {
                    // Nothing was written: the refusal is answered at once, and the `ROLLBACK`
                    // travels with the pool's ping while it is, so a refused attempt waits for
                    // one round trip and holds its connection for two.
                    tx.rollback_with_release();
                    return Err(Failure::Rule(refusal));
                }
            };
            if decision.changes.is_empty() {
                tx.rollback_with_release();
                return Ok(decision);
            }
            let hot = self.prepared && tx.has_prepared();
            let script = write_script(&decision.changes, hot);
            // With a replica, the primary's WAL position after the commit comes back with
            // it, for read-your-writes (see `replica.rs`).
            let position = self.has_replica().then_some(crate::replica::WAL_POSITION);
            let xid = tx.xid();
            match tx.commit(script, position).await {
                Ok(results) => {
                    if position.is_some() {
                        let lsn = results.last().and_then(|row| row.try_get(0).ok());
                        self.note_write(lsn);
                    }
                    Ok(decision)
                }
                // The answer to `COMMIT` was lost: ask what became of the transaction.
                Err(error) if is_connection_lost(&error) => {
                    self.settle_lost_commit(xid, error).await?;
                    Ok(decision)
                }
                Err(error) => Err(match rule_of(&error, &decision.changes) {
                    Some(rule) => Failure::Rule(rule),
                    None => Failure::Sql(error),
                }),
            }
        })
        .await
    }
}

/// Whether the claim locks and reads nothing.
fn is_blind(claim: &Claim) -> bool {
    claim == &Claim::default()
}

/// The first script: `BEGIN` is added by [`Tx::begin`]; then every lock, then every read.
fn read_script(claim: &Claim, prepared: bool) -> (Script, ReadPlan) {
    let mut script = Script::new();
    let mut plan = ReadPlan::default();
    // Locks, in the order every mutation takes them.
    if let Some(doctor) = &claim.doctor {
        plan.doctor = Some(
            script
                .sql("SELECT ")
                .sql(DOCTOR)
                .sql(" FROM doctors d WHERE d.id = ")
                .uuid(doctor.id)
                .sql(" AND d.deleted_at IS NULL FOR UPDATE")
                .end(),
        );
        if doctor.occupants_after.is_some() {
            // Deleting withdraws every live slot: lock them all (in id order) before reading
            // occupants, so that a booking racing with the delete is either seen here or finds
            // its slot withdrawn.
            script
                .sql("SELECT id FROM slots WHERE doctor_id = ")
                .uuid(doctor.id)
                .sql(" AND withdrawn_at IS NULL ORDER BY id FOR UPDATE")
                .end();
        }
    }
    if let (Some(slot), Some(booking)) = (claim.slot, claim.booking) {
        // Two slots (a reschedule): lock both in one statement, in id order, so that two
        // opposite moves lock them in the same order and cannot deadlock. The locking clause
        // runs above the sort, so rows are locked in the order they are returned. A booking
        // never changes slot, so its slot id can be read before either lock.
        script
            .sql("SELECT 1 FROM slots WHERE id IN (")
            .uuid(slot)
            .sql(", (SELECT slot_id FROM bookings WHERE id = ")
            .uuid(booking)
            .sql(")) ORDER BY id FOR UPDATE")
            .end();
    }
    if let Some(slot) = claim.slot {
        plan.slot = Some(script.hot(Hot::LockSlot, prepared, &[Lit::Uuid(slot.into())]));
    }
    if let Some(booking) = claim.booking {
        // A booking never changes slot, so its slot id can be read before either lock.
        plan.booking_slot =
            Some(script.hot(Hot::LockBookingSlot, prepared, &[Lit::Uuid(booking.into())]));
        plan.booking = Some(script.hot(Hot::LockBooking, prepared, &[Lit::Uuid(booking.into())]));
    }
    if let Some(entry) = claim.entry {
        plan.entry = Some(waitlist::lock_entry(&mut script, entry));
    }
    if let Some(patient) = claim.waitlist_patient {
        waitlist::lock_patient(&mut script, patient.into());
        plan.patient_entries = Some(waitlist::patient_entries(&mut script, patient.into()));
    }
    // Reads, after every lock.
    if claim.waitlist {
        // Unless the claim narrows them to a lapsed occupant: then they wait for the occupant
        // (see `slot_waitlist`).
        if claim.slot_waitlist_if_lapsed_at.is_none() {
            if let Some(slot) = claim.slot {
                slot_waitlist_reads(&mut script, &mut plan, slot, prepared);
            }
        }
        if let Some(booking) = claim.booking {
            plan.booking_offer = Some(waitlist::booking_offer(&mut script, booking.into()));
            plan.booking_slot_waiting =
                Some(waitlist::booking_slot_waiting(&mut script, booking.into()));
        }
    }
    if let Some(doctor) = &claim.doctor {
        if doctor.hours {
            plan.doctor_hours = Some(hours::read(&mut script, doctor.id));
        }
        if let Some(range) = doctor.waiting_within {
            plan.doctor_waiting = Some(waitlist::doctor_waiting(&mut script, doctor.id, range));
        }
        if let Some(range) = doctor.slots_within {
            plan.doctor_slots = Some(
                script
                    .sql("SELECT ")
                    .sql(SLOT)
                    .sql(" FROM slots s WHERE s.doctor_id = ")
                    .uuid(doctor.id)
                    .sql(" AND s.withdrawn_at IS NULL AND s.starts_at < ")
                    .ts(range.ends_at())
                    .sql(" AND s.ends_at > ")
                    .ts(range.starts_at())
                    .end(),
            );
        }
        if let Some(after) = doctor.occupants_after {
            plan.doctor_occupants = Some(
                script
                    .sql("SELECT ")
                    .sql(BOOKING)
                    .sql(" FROM slots s JOIN bookings b ON b.slot_id = s.id AND b.status IN ")
                    .sql(OCCUPYING)
                    .sql(" WHERE s.doctor_id = ")
                    .uuid(doctor.id)
                    .sql(" AND s.withdrawn_at IS NULL AND s.ends_at > ")
                    .ts(after)
                    .end(),
            );
        }
    }
    if let Some((patient, key)) = &claim.replay {
        plan.replay = Some(script.hot(
            Hot::Replay,
            prepared,
            &[Lit::Uuid((*patient).into()), Lit::Text(key.as_str())],
        ));
    }
    if let Some(slot) = claim.slot {
        plan.occupant = Some(script.hot(Hot::Occupant, prepared, &[Lit::Uuid(slot.into())]));
        if claim.slot_doctor {
            plan.slot_doctor =
                Some(script.hot(Hot::SlotDoctor, prepared, &[Lit::Uuid(slot.into())]));
        }
    }
    if let Some(check) = &claim.session {
        plan.session_account = Some(script.hot(
            Hot::SessionAccount,
            prepared,
            &[
                Lit::Uuid(check.account.as_uuid()),
                Lit::Uuid(check.session.as_uuid()),
            ],
        ));
    }
    if let Some(at) = claim.lapsed_at {
        plan.lapsed = Some(
            script
                .sql("SELECT ")
                .sql(BOOKING)
                .sql(" FROM bookings b WHERE (b.status = 'PENDING' AND b.hold_until <= ")
                .ts(at)
                .sql(") OR (b.status = 'BUFFER' AND b.buffer_until <= ")
                .ts(at)
                .sql(") LIMIT ")
                .int(LAPSED_BATCH)
                .end(),
        );
    }
    (script, plan)
}

/// The slot's waitlist reads: the offer its occupant answers, the first entry waiting for it.
fn slot_waitlist_reads(script: &mut Script, plan: &mut ReadPlan, slot: SlotId, prepared: bool) {
    plan.slot_offer = Some(waitlist::slot_offer(script, slot.into(), prepared));
    plan.slot_waiting = Some(waitlist::slot_waiting(script, slot.into(), prepared));
}

/// When the claim left the slot's waitlist reads out of the first script
/// ([`Claim::slot_waitlist_if_lapsed_at`]) and the occupant read there lapsed, reads them in a
/// script of their own, still after the locks: one more round trip, only for a lapsed
/// occupant.
async fn slot_waitlist(
    tx: &mut Tx,
    claim: &Claim,
    locked: &mut Locked,
    prepared: bool,
) -> Result<(), sqlx::Error> {
    let Some(slot) = claim.slot else {
        return Ok(());
    };
    if claim.slot_waitlist_if_lapsed_at.is_none()
        || !claim.needs_slot_waitlist(locked.occupant.as_ref())
    {
        return Ok(());
    }
    let mut script = Script::new();
    let mut plan = ReadPlan::default();
    slot_waitlist_reads(&mut script, &mut plan, slot, prepared && tx.has_prepared());
    let found = tx.read(script).await?;
    let read = read(&plan, &found)?;
    locked.offers.extend(read.offers);
    locked.slot_waiting = read.slot_waiting;
    Ok(())
}

/// Decodes the first script's results into what the core reads.
fn read(plan: &ReadPlan, found: &Results) -> Result<Locked, sqlx::Error> {
    let first = |stmt: Option<Stmt>| stmt.and_then(|s| found.first(s));
    let all = |stmt: Option<Stmt>| stmt.map_or(&[][..], |s| found.rows(s));
    let bookings = |rows: &[PgRow]| {
        rows.iter()
            .map(rows::booking)
            .collect::<Result<Vec<_>, _>>()
    };
    let entries = |rows: &[PgRow]| {
        rows.iter()
            .map(waitlist::entry)
            .collect::<Result<Vec<_>, _>>()
    };
    let slot = match first(plan.slot) {
        Some(row) if !row.try_get::<bool, _>("s_withdrawn")? => Some(rows::slot(row)?),
        _ => None,
    };
    let doctor = first(plan.doctor).map(rows::doctor).transpose()?;
    Ok(Locked {
        doctor_hours: match doctor {
            Some(_) => first(plan.doctor_hours).map(hours::decode).transpose()?,
            None => None,
        },
        doctor,
        doctor_slots: all(plan.doctor_slots)
            .iter()
            .map(rows::slot)
            .collect::<Result<Vec<_>, _>>()?,
        doctor_occupants: bookings(all(plan.doctor_occupants))?,
        occupant: match slot {
            Some(_) => first(plan.occupant).map(rows::booking).transpose()?,
            None => None,
        },
        slot,
        booking: first(plan.booking).map(rows::booking).transpose()?,
        booking_slot: first(plan.booking_slot).map(rows::slot).transpose()?,
        replay: first(plan.replay).map(rows::booking).transpose()?,
        lapsed: bookings(all(plan.lapsed))?,
        offers: entries(all(plan.slot_offer))?
            .into_iter()
            .chain(entries(all(plan.booking_offer))?)
            .collect(),
        slot_waiting: first(plan.slot_waiting).map(waitlist::entry).transpose()?,
        booking_slot_waiting: first(plan.booking_slot_waiting)
            .map(waitlist::entry)
            .transpose()?,
        doctor_waiting: entries(all(plan.doctor_waiting))?,
        entry: first(plan.entry).map(waitlist::entry).transpose()?,
        patient_entries: entries(all(plan.patient_entries))?,
        slot_doctor: first(plan.slot_doctor).map(rows::doctor).transpose()?,
        session_account: first(plan.session_account)
            .map(|row| {
                Ok::<_, sqlx::Error>(SessionAccount {
                    account: rows::account(row)?,
                    revoked: row.try_get("revoked")?,
                })
            })
            .transpose()?,
    })
}

/// The second script: the changes, in the order [`Changes`] lists them (`COMMIT` is added by
/// [`Tx::commit`]).
fn write_script(changes: &Changes, prepared: bool) -> Script {
    let at = changes.at;
    let mut script = Script::new();
    if let Some(doctor) = &changes.new_doctor {
        script
            .sql(
                "INSERT INTO doctors \
                 (id, name, specialization, timezone, created_at, bio, languages, location) \
                 VALUES (",
            )
            .uuid(doctor.id)
            .sql(", ")
            .text(&doctor.name)
            .sql(", ")
            .text(&doctor.specialization)
            .sql(", ")
            .text(doctor.timezone.name())
            .sql(", ")
            .ts(doctor.created_at)
            .sql(", ")
            .text(doctor.profile.bio())
            .sql(", ");
        text_array(&mut script, doctor.profile.languages());
        script
            .sql(", ")
            .text(doctor.profile.location())
            .sql(")")
            .end();
    }
    if let Some(change) = &changes.profile {
        script
            .sql("UPDATE doctors SET bio = ")
            .text(change.profile.bio());
        script.sql(", languages = ");
        text_array(&mut script, change.profile.languages());
        script
            .sql(", location = ")
            .text(change.profile.location())
            .sql(" WHERE id = ")
            .uuid(change.doctor)
            .end();
    }
    if let Some(change) = &changes.hours {
        hours::write(&mut script, change, at);
    }
    if !changes.new_slots.is_empty() {
        insert_slots(&mut script, &changes.new_slots);
    }
    if !changes.withdrawn_slots.is_empty() {
        script.sql("UPDATE slots SET withdrawn_at = ").ts(at);
        script.sql(" WHERE withdrawn_at IS NULL AND id = ANY(");
        uuid_array(
            &mut script,
            changes.withdrawn_slots.iter().map(|id| (*id).into()),
        );
        script.sql(")").end();
    }
    if let Some(doctor) = changes.deleted_doctor {
        script
            .sql("UPDATE slots SET withdrawn_at = ")
            .ts(at)
            .sql(" WHERE doctor_id = ")
            .uuid(doctor)
            .sql(" AND withdrawn_at IS NULL")
            .end();
        script
            .sql("UPDATE doctors SET deleted_at = ")
            .ts(at)
            .sql(" WHERE id = ")
            .uuid(doctor)
            .end();
    }
    for change in &changes.states {
        let parts = change.state.to_parts();
        script.hot(
            Hot::WriteState,
            prepared,
            &[
                Lit::Uuid(change.booking.into()),
                Lit::Text(parts.status.as_str()),
                Lit::OptTs(parts.hold_until),
                Lit::OptTs(parts.buffer_until),
                Lit::OptText(parts.cancelled_by.map(CancelledBy::as_str)),
                Lit::OptText(parts.cancel_reason.as_deref()),
                Lit::Ts(at),
                Lit::OptUuid(parts.rescheduled_to.map(Into::into)),
            ],
        );
    }
    for booking in &changes.new_bookings {
        insert_booking(&mut script, booking, prepared);
    }
    for entry in &changes.new_entries {
        waitlist::insert(&mut script, entry);
    }
    for change in &changes.entry_states {
        waitlist::write_state(&mut script, change, at);
    }
    crate::journal::append(&mut script, changes);
    script
}

fn insert_booking(script: &mut Script, booking: &Booking, prepared: bool) {
    let parts = booking.state.to_parts();
    script.hot(
        Hot::InsertBooking,
        prepared,
        &[
            Lit::Uuid(booking.id.into()),
            Lit::Uuid(booking.slot_id.into()),
            Lit::Uuid(booking.patient_id.into()),
            Lit::Text(parts.status.as_str()),
            Lit::OptTs(parts.hold_until),
            Lit::OptTs(parts.buffer_until),
            Lit::OptText(parts.cancelled_by.map(CancelledBy::as_str)),
            Lit::OptText(parts.cancel_reason.as_deref()),
            Lit::OptText(booking.idempotency_key.as_ref().map(|k| k.as_str())),
            Lit::Ts(booking.created_at),
            Lit::Ts(booking.updated_at),
            Lit::OptUuid(booking.rescheduled_from.map(Into::into)),
            Lit::OptText(booking.visit_reason.as_deref()),
        ],
    );
}

/// One `INSERT ... SELECT ... FROM unnest(...)` for every new slot.
fn insert_slots(script: &mut Script, slots: &[Slot]) {
    script.sql(
        "INSERT INTO slots (id, doctor_id, starts_at, ends_at, created_at) \
         SELECT * FROM unnest(",
    );
    uuid_array(script, slots.iter().map(|s| s.id.into()));
    script.sql(", ");
    uuid_array(script, slots.iter().map(|s| s.doctor_id.into()));
    script.sql(", ");
    ts_array(script, slots.iter().map(|s| s.range.starts_at()));
    script.sql(", ");
    ts_array(script, slots.iter().map(|s| s.range.ends_at()));
    script.sql(", ");
    ts_array(script, slots.iter().map(|s| s.created_at));
    script.sql(")").end();
}

fn uuid_array(script: &mut Script, ids: impl Iterator<Item = uuid::Uuid>) {
    script.sql("ARRAY[");
    for (i, id) in ids.enumerate() {
        if i > 0 {
            script.sql(", ");
        }
        script.uuid(id);
    }
    script.sql("]::uuid[]");
}

fn text_array(script: &mut Script, texts: &[String]) {
    script.sql("ARRAY[");
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            script.sql(", ");
        }
        script.text(text);
    }
    script.sql("]::text[]");
}

fn ts_array(script: &mut Script, times: impl Iterator<Item = DateTime<Utc>>) {
    script.sql("ARRAY[");
    for (i, at) in times.enumerate() {
        if i > 0 {
            script.sql(", ");
        }
        script.ts(at);
    }
    script.sql("]::timestamptz[]");
}

/// The rule a constraint stands for when it refused a write of these changes: reached only
/// when a writer that does not follow the unit of work shares the database.
fn rule_of(error: &sqlx::Error, changes: &Changes) -> Option<Error> {
    let slot_of_new_booking = || changes.new_bookings.first().map(|b| b.slot_id);
    match constraint_of(error)? {
        "bookings_one_active_per_slot" => slot_of_new_booking().map(Error::SlotUnavailable),
        "bookings_slot_fk" => slot_of_new_booking().map(Error::SlotNotFound),
        // The exclusion constraint does not say which row clashed: name the first new slot.
        "slots_no_overlap" => changes.new_slots.first().map(|slot| Error::SlotOverlap {
            doctor_id: slot.doctor_id,
            starts_at: slot.range.starts_at(),
            ends_at: slot.range.ends_at(),
        }),
        "slots_doctor_fk" => changes
            .new_slots
            .first()
            .map(|slot| Error::DoctorNotFound(slot.doctor_id)),
        _ => None,
    }
}
