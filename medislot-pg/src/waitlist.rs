//! The waitlist: its rows, the reads a [`Claim`](medislot_core::Claim) asks for (written into
//! the unit of work's first script), its writes, and its listings.
//!
//! Entries are read without a lock: `waitlist_moves_forward` (a trigger) refuses, as a
//! serialization failure that [`PgStore::retrying`] retries with fresh reads, any write that
//! does not move an entry forward from the state it has when written. So two transactions never
//! both offer one entry a slot, and a busy entry is waited for, never skipped.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use medislot_core::{
    BookingId, DoctorId, EntryChange, EntryState, Result, StoreError, TimeOfDay, TimeRange,
    WaitlistEntry, WaitlistEntryId, WaitlistQuery, WaitlistTarget,
};
use sqlx::postgres::PgRow;
use sqlx::Row as _;
use uuid::Uuid;

use crate::error::corrupt;
use crate::prepared::Hot;
use crate::query::Sql;
use crate::script::{Lit, Script, Stmt};
use crate::store::{no_rule, PgStore};

/// The columns of `waitlist w`.
pub(crate) const ENTRY: &str = "w.id AS w_id, w.patient_id AS w_patient_id, \
    w.doctor_id AS w_doctor_id, w.specialization AS w_specialization, \
    w.window_from AS w_window_from, w.window_to AS w_window_to, w.day_from AS w_day_from, \
    w.day_to AS w_day_to, w.status AS w_status, w.offer_booking_id AS w_offer_booking_id, \
    w.offer_until AS w_offer_until, w.joined_at AS w_joined_at, w.updated_at AS w_updated_at";

/// The minute of the day (UTC) of `s.starts_at`.
const START_MINUTE: &str = "(EXTRACT(HOUR FROM s.starts_at AT TIME ZONE 'UTC') * 60 \
    + EXTRACT(MINUTE FROM s.starts_at AT TIME ZONE 'UTC'))::integer";

/// The read of the first entry waiting for the live slot `s`, up to the condition that picks
/// `s` (the caller writes it after this): the earlier of the doctor's first and the
/// specialization's first, each walking its partial index in join order.
pub(crate) fn first_waiting() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let waiting = format!(
            "x.status IN ('WAITING', 'OFFERED') AND x.status = 'WAITING' \
             AND x.window_from <= s.starts_at AND x.window_to > s.starts_at \
             AND (x.day_from IS NULL OR (x.day_from <= {START_MINUTE} \
             AND {START_MINUTE} < x.day_to)) ORDER BY x.joined_at, x.id LIMIT 1"
        );
        format!(
            "SELECT {ENTRY} FROM slots s JOIN doctors d ON d.id = s.doctor_id \
             CROSS JOIN LATERAL (\
             (SELECT * FROM waitlist x WHERE x.doctor_id = s.doctor_id AND {waiting}) \
             UNION ALL \
             (SELECT * FROM waitlist x WHERE lower(x.specialization) = lower(d.specialization) \
             AND {waiting})) w WHERE s.withdrawn_at IS NULL AND s.id = "
        )
    })
}

/// The first entry waiting for the slot `slot` (a hot statement: every booking reads it).
pub(crate) fn slot_waiting(script: &mut Script, slot: Uuid, prepared: bool) -> Stmt {
    script.hot(Hot::SlotWaiting, prepared, &[Lit::Uuid(slot)])
}

/// The first entry waiting for the slot of the booking `booking`.
pub(crate) fn booking_slot_waiting(script: &mut Script, booking: Uuid) -> Stmt {
    script
        .sql(first_waiting())
        .sql("(SELECT slot_id FROM bookings WHERE id = ")
        .uuid(booking)
        .sql(") ORDER BY w.joined_at, w.id LIMIT 1")
        .end()
}

/// The entry whose live offer is the slot `slot`'s occupying booking (a hot statement: every
/// booking reads it).
pub(crate) fn slot_offer(script: &mut Script, slot: Uuid, prepared: bool) -> Stmt {
    script.hot(Hot::SlotOffer, prepared, &[Lit::Uuid(slot)])
}

/// The entry whose live offer is the booking `booking`.
pub(crate) fn booking_offer(script: &mut Script, booking: Uuid) -> Stmt {
    script
        .sql("SELECT ")
        .sql(ENTRY)
        .sql(" FROM waitlist w WHERE w.status = 'OFFERED' AND w.offer_booking_id = ")
        .uuid(booking)
        .end()
}

/// The doctor's waiting entries (its own and its specialization's) whose window overlaps
/// `range`, in join order.
pub(crate) fn doctor_waiting(script: &mut Script, doctor: DoctorId, range: TimeRange) -> Stmt {
    script
        .sql("SELECT ")
        .sql(ENTRY)
        .sql(
            " FROM doctors d JOIN waitlist w ON (w.doctor_id = d.id \
             OR lower(w.specialization) = lower(d.specialization)) \
             AND w.status IN ('WAITING', 'OFFERED') AND w.status = 'WAITING' WHERE d.id = ",
        )
        .uuid(doctor)
        .sql(" AND w.window_from < ")
        .ts(range.ends_at())
        .sql(" AND w.window_to > ")
        .ts(range.starts_at())
        .sql(" ORDER BY w.joined_at, w.id")
        .end()
}

/// Locks the entry `id` and reads it.
pub(crate) fn lock_entry(script: &mut Script, id: WaitlistEntryId) -> Stmt {
    script
        .sql("SELECT ")
        .sql(ENTRY)
        .sql(" FROM waitlist w WHERE w.id = ")
        .uuid(id)
        .sql(" FOR UPDATE")
        .end()
}

/// Takes the patient's waitlist lock (a transaction-level advisory lock, released at commit,
/// so two joins of one patient run one after the other).
pub(crate) fn lock_patient(script: &mut Script, patient: Uuid) {
    script
        .sql("SELECT pg_advisory_xact_lock(hashtextextended('waitlist:' || ")
        .uuid(patient)
        .sql("::text, 0))")
        .end();
}

/// The patient's entries stored `WAITING` or `OFFERED`.
pub(crate) fn patient_entries(script: &mut Script, patient: Uuid) -> Stmt {
    script
        .sql("SELECT ")
        .sql(ENTRY)
        .sql(" FROM waitlist w WHERE w.status IN ('WAITING', 'OFFERED') AND w.patient_id = ")
        .uuid(patient)
        .end()
}

/// Inserts a new entry.
pub(crate) fn insert(script: &mut Script, e: &WaitlistEntry) {
    script
        .sql(
            "INSERT INTO waitlist (id, patient_id, doctor_id, specialization, window_from, \
             window_to, day_from, day_to, status, offer_booking_id, offer_until, joined_at, \
             updated_at) VALUES (",
        )
        .uuid(e.id)
        .sql(", ")
        .uuid(e.patient_id)
        .sql(", ")
        .opt_uuid(e.doctor_id().map(Into::into))
        .sql(", ")
        .opt_text(e.specialization())
        .sql(", ")
        .ts(e.window.starts_at())
        .sql(", ")
        .ts(e.window.ends_at())
        .sql(", ");
    match e.time_of_day {
        Some(t) => script
            .int(usize::from(t.from_minute()))
            .sql(", ")
            .int(usize::from(t.to_minute())),
        None => script.sql("NULL, NULL"),
    };
    script
        .sql(", ")
        .text(e.state.status().as_str())
        .sql(", ")
        .opt_uuid(e.state.offer().map(Into::into))
        .sql(", ")
        .opt_ts(e.state.offer_until())
        .sql(", ")
        .ts(e.joined_at)
        .sql(", ")
        .ts(e.updated_at)
        .sql(")")
        .end();
}

/// Writes an entry's new state, as of `at`.
pub(crate) fn write_state(script: &mut Script, change: &EntryChange, at: DateTime<Utc>) {
    script
        .sql("UPDATE waitlist SET status = ")
        .text(change.state.status().as_str())
        .sql(", offer_booking_id = ")
        .opt_uuid(change.state.offer().map(Into::into))
        .sql(", offer_until = ")
        .opt_ts(change.state.offer_until())
        .sql(", updated_at = ")
        .ts(at)
        .sql(" WHERE id = ")
        .uuid(change.entry)
        .end();
}

/// The entry in `w_` columns.
pub(crate) fn entry(row: &PgRow) -> Result<WaitlistEntry, sqlx::Error> {
    let doctor: Option<Uuid> = row.try_get("w_doctor_id")?;
    let specialization: Option<String> = row.try_get("w_specialization")?;
    let target = match (doctor, specialization) {
        (Some(id), None) => WaitlistTarget::Doctor(DoctorId::from_uuid(id)),
        (None, Some(s)) => WaitlistTarget::Specialization(s),
        _ => {
            return Err(corrupt(StoreError::Corrupt(
                "a waitlist entry waits for one doctor or specialization".into(),
            )))
        }
    };
    let minute = |column: &str| -> Result<Option<u16>, sqlx::Error> {
        row.try_get::<Option<i32>, _>(column)?
            .map(|m| u16::try_from(m).map_err(corrupt))
            .transpose()
    };
    let time_of_day = match (minute("w_day_from")?, minute("w_day_to")?) {
        (Some(from), Some(to)) => Some(TimeOfDay::new(from, to).map_err(corrupt)?),
        _ => None,
    };
    let status: String = row.try_get("w_status")?;
    let state = EntryState::from_parts(
        &status,
        row.try_get::<Option<Uuid>, _>("w_offer_booking_id")?
            .map(BookingId::from_uuid),
        row.try_get("w_offer_until")?,
    )
    .map_err(corrupt)?;
    Ok(WaitlistEntry {
        id: WaitlistEntryId::from_uuid(row.try_get("w_id")?),
        patient_id: row.try_get::<Uuid, _>("w_patient_id")?.into(),
        target,
        window: TimeRange::new(row.try_get("w_window_from")?, row.try_get("w_window_to")?)
            .map_err(corrupt)?,
        time_of_day,
        state,
        joined_at: row.try_get("w_joined_at")?,
        updated_at: row.try_get("w_updated_at")?,
    })
}

impl PgStore {
    /// One round trip: the entry.
    pub(crate) async fn waitlist_entry_impl(
        &self,
        id: WaitlistEntryId,
    ) -> Result<Option<WaitlistEntry>> {
        self.retrying("waitlist_entry", &no_rule, move || async move {
            let mut sql = Sql::new("SELECT ");
            sql.push(ENTRY)
                .push(" FROM waitlist w WHERE w.id = ")
                .bind(Lit::Uuid(id.as_uuid()));
            let row = sql.fetch_optional(self).await?;
            Ok(row.as_ref().map(entry).transpose()?)
        })
        .await
    }

    /// One round trip: the active entries passing `query`, in join order, through the
    /// patient's or the doctor's and specialization's partial indexes.
    pub(crate) async fn waitlist_impl(&self, query: &WaitlistQuery) -> Result<Vec<WaitlistEntry>> {
        self.retrying("waitlist", &no_rule, move || async move {
            let mut sql = Sql::new("SELECT ");
            sql.push(ENTRY)
                .push(" FROM waitlist w WHERE w.status IN ('WAITING', 'OFFERED')");
            if let Some(patient) = query.patient_id {
                sql.push(" AND w.patient_id = ")
                    .bind(Lit::Uuid(patient.as_uuid()));
            }
            if let Some((doctor, specialization)) = &query.doctor {
                sql.push(" AND (w.doctor_id = ")
                    .bind(Lit::Uuid(doctor.as_uuid()))
                    .push(" OR lower(w.specialization) = lower(")
                    .bind(Lit::Text(specialization))
                    .push("))");
            }
            sql.push(" ORDER BY w.joined_at, w.id LIMIT ")
                .bind(Lit::Int(i64::from(query.limit)));
            let rows = sql.fetch_all(self).await?;
            Ok(rows
                .iter()
                .map(entry)
                .collect::<Result<Vec<_>, sqlx::Error>>()?)
        })
        .await
    }
}
