//! Doctors and slots: publishing, withdrawing, deleting, and the availability listing.

use chrono::{DateTime, Utc};
use medislot_core::{
    Doctor, DoctorFilter, DoctorId, FreeCount, FreeSlotFilter, Page, Result, SlotCursor, SlotId,
    SlotQuery, SlotStatus, SlotView, TimeRange,
};
use sqlx::postgres::PgRow;
use sqlx::Row as _;

use crate::query::Sql;
use crate::rows::{self, BOOKING, DOCTOR, OCCUPYING, SLOT};
use crate::script::Lit;
use crate::store::{no_rule, PgStore};

impl PgStore {
    pub(crate) async fn doctor_impl(&self, id: DoctorId) -> Result<Option<Doctor>> {
        self.retrying("doctor", &no_rule, move || async move {
            let mut sql = Sql::new("SELECT ");
            sql.push(DOCTOR)
                .push(" FROM doctors d WHERE d.id = ")
                .bind(Lit::Uuid(id.as_uuid()))
                .push(" AND d.deleted_at IS NULL");
            let row = sql.fetch_optional(self).await?;
            Ok(row.as_ref().map(rows::doctor).transpose()?)
        })
        .await
    }

    /// Lag-tolerant: from the replica when there is one (see `replica.rs`).
    pub(crate) async fn list_doctors_impl(&self, filter: &DoctorFilter) -> Result<Vec<Doctor>> {
        self.lag_tolerant("list_doctors", |store| {
            Box::pin(store.list_doctors_here(filter))
        })
        .await
    }

    async fn list_doctors_here(&self, filter: &DoctorFilter) -> Result<Vec<Doctor>> {
        self.retrying("list_doctors", &no_rule, move || async move {
            let mut q = Sql::new("SELECT ");
            q.push(DOCTOR)
                .push(" FROM doctors d WHERE d.deleted_at IS NULL");
            if let Some(specialization) = &filter.specialization {
                q.push(" AND lower(d.specialization) = lower(")
                    .bind(Lit::Text(specialization.trim()))
                    .push(")");
            }
            if let Some(name) = &filter.name_contains {
                // strpos, not LIKE: `%` and `_` in the query are plain characters.
                q.push(" AND strpos(lower(d.name), lower(")
                    .bind(Lit::Text(name.trim()))
                    .push(")) > 0");
            }
            if let Some(after) = &filter.after {
                q.push(" AND (d.name COLLATE \"C\", d.id) > (")
                    .bind(Lit::Text(&after.name))
                    .push(" COLLATE \"C\", ")
                    .bind(Lit::Uuid(after.id.as_uuid()))
                    .push(")");
            }
            // Byte order, as the core sorts names.
            q.push(" ORDER BY d.name COLLATE \"C\", d.id");
            if let Some(limit) = filter.limit {
                q.push(" LIMIT ").bind(Lit::Int(i64::from(limit)));
            }
            let found = q.fetch_all(self).await?;
            Ok(found
                .iter()
                .map(rows::doctor)
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// One round trip: the slot with its occupant.
    pub(crate) async fn slot_impl(
        &self,
        id: SlotId,
        now: DateTime<Utc>,
    ) -> Result<Option<SlotView>> {
        self.retrying("slot", &no_rule, move || async move {
            let mut sql = Sql::new("SELECT ");
            sql.push(SLOT)
                .push(", ")
                .push(BOOKING)
                .push(" FROM slots s LEFT JOIN bookings b ON b.slot_id = s.id AND b.status IN ")
                .push(OCCUPYING)
                .push(" WHERE s.id = ")
                .bind(Lit::Uuid(id.as_uuid()))
                .push(" AND s.withdrawn_at IS NULL");
            let row = sql.fetch_optional(self).await?;
            Ok(row.as_ref().map(|row| slot_view(row, now)).transpose()?)
        })
        .await
    }

    /// One round trip: one keyset page, availability decided in SQL from `now`. Lag-tolerant:
    /// from the replica when there is one (see `replica.rs`).
    pub(crate) async fn list_slots_impl(
        &self,
        query: &SlotQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<SlotView, SlotCursor>> {
        self.lag_tolerant("list_slots", |store| {
            Box::pin(store.list_slots_here(query, now))
        })
        .await
    }

    async fn list_slots_here(
        &self,
        query: &SlotQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<SlotView, SlotCursor>> {
        self.retrying("list_slots", &no_rule, move || async move {
            let q = list_slots_sql(query, now);
            let found = q.fetch_all(self).await?;
            let items = found
                .iter()
                .map(|row| slot_view(row, now))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_overfetch(items, query.limit, |v| {
                SlotCursor::after(&v.slot)
            }))
        })
        .await
    }

    /// One round trip: one range scan over the whole span along `slots_live_by_start` (or
    /// `slots_live_by_doctor`), each free slot counted in the day it starts in (a `CASE` over
    /// the days' bounds), availability decided in SQL from `now` as the listing decides it.
    /// Lag-tolerant: from the replica when there is one (see `replica.rs`).
    pub(crate) async fn count_free_slots_impl(
        &self,
        filter: &FreeSlotFilter,
        days: &[TimeRange],
        now: DateTime<Utc>,
    ) -> Result<Vec<FreeCount>> {
        if days.is_empty() {
            return Ok(Vec::new());
        }
        self.lag_tolerant("count_free_slots", |store| {
            Box::pin(store.count_free_slots_here(filter, days, now))
        })
        .await
    }

    async fn count_free_slots_here(
        &self,
        filter: &FreeSlotFilter,
        days: &[TimeRange],
        now: DateTime<Utc>,
    ) -> Result<Vec<FreeCount>> {
        self.retrying("count_free_slots", &no_rule, move || async move {
            let found = count_free_sql(filter, days, now).fetch_all(self).await?;
            let mut counts = vec![FreeCount::default(); days.len()];
            for row in &found {
                let day: Option<i64> = row.try_get("day")?;
                let Some(count) = day
                    .and_then(|day| usize::try_from(day).ok())
                    .and_then(|day| counts.get_mut(day))
                else {
                    // A slot between two days that do not meet belongs to neither.
                    continue;
                };
                let free: i64 = row.try_get("free")?;
                count.free = u64::try_from(free).unwrap_or_default();
                count.first = row.try_get("first")?;
            }
            Ok(counts)
        })
        .await
    }
}

/// The statement of [`PgStore::list_slots_impl`]: one keyset page along `slots_live_by_start`
/// or `slots_live_by_doctor`.
///
/// A page of free slots (`available = true`, what patients ask for) reads no booking columns:
/// a slot listed free has no occupant, or one that no longer occupies it (a lapsed hold, an
/// ended buffer), and either way it is [`SlotStatus::Available`]. Each slot the walk passes is
/// checked by one probe of `bookings_one_active_per_slot`, a subquery PostgreSQL plans on its
/// own (`OFFSET 0` keeps it from being turned into a join): planning the statement then costs
/// half as much, and the plan no longer depends on how many bookings the statistics say there
/// are. Other pages join each slot's occupant, to say why a slot is not free.
pub(crate) fn list_slots_sql(query: &SlotQuery, now: DateTime<Utc>) -> Sql<'_> {
    let free_only = query.available == Some(true);
    let mut q = Sql::new("SELECT ");
    q.push(SLOT);
    if free_only {
        q.push(", NULL::uuid AS b_id FROM slots s");
    } else {
        q.push(", ")
            .push(BOOKING)
            .push(" FROM slots s LEFT JOIN bookings b ON b.slot_id = s.id AND b.status IN ")
            .push(OCCUPYING);
    }
    q.push(" WHERE s.withdrawn_at IS NULL");
    if let Some(doctor) = query.doctor_id {
        q.push(" AND s.doctor_id = ")
            .bind(Lit::Uuid(doctor.as_uuid()));
    }
    if let Some(specialization) = &query.specialization {
        of_specialization(&mut q, specialization);
    }
    if let Some(from) = query.from {
        q.push(" AND s.starts_at >= ").bind(Lit::Ts(from));
    }
    if let Some(to) = query.to {
        q.push(" AND s.starts_at < ").bind(Lit::Ts(to));
    }
    if let Some(after) = query.after {
        q.push(" AND (s.starts_at, s.id) > (")
            .bind(Lit::Ts(after.starts_at))
            .push(", ")
            .bind(Lit::Uuid(after.id.as_uuid()))
            .push(")");
    }
    // Free: not started, and no booking that occupies the slot at `now` (a lapsed hold or an
    // ended buffer counts as free, whether or not it was tidied).
    match query.available {
        Some(true) => {
            q.push(" AND s.starts_at > ")
                .bind(Lit::Ts(now))
                .push(
                    " AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = s.id \
                     AND b.status IN ",
                )
                .push(OCCUPYING)
                .push(" AND ");
            occupies_at(&mut q, now);
            q.push(" OFFSET 0)");
        }
        Some(false) => {
            q.push(" AND NOT (s.starts_at > ")
                .bind(Lit::Ts(now))
                .push(" AND NOT COALESCE(");
            occupies_at(&mut q, now);
            q.push(", false))");
        }
        None => {}
    }
    q.push(" ORDER BY s.starts_at, s.id LIMIT ")
        .bind(Lit::Int(i64::from(query.limit) + 1))
        .planned_with_its_values();
    q
}

/// Whether the booking `b` occupies its slot at `now`: confirmed, or a hold or buffer that has
/// not ended (`NULL` when there is no `b`).
fn occupies_at<'a>(q: &mut Sql<'a>, now: DateTime<Utc>) {
    q.push("(b.status = 'CONFIRMED' OR (b.status = 'PENDING' AND b.hold_until > ")
        .bind(Lit::Ts(now))
        .push(") OR (b.status = 'BUFFER' AND b.buffer_until > ")
        .bind(Lit::Ts(now))
        .push("))");
}

/// The statement of [`PgStore::count_free_slots_impl`].
pub(crate) fn count_free_sql<'a>(
    filter: &'a FreeSlotFilter,
    days: &[TimeRange],
    now: DateTime<Utc>,
) -> Sql<'a> {
    let mut q = Sql::new("SELECT CASE");
    for (i, day) in days.iter().enumerate() {
        q.push(" WHEN s.starts_at >= ")
            .bind(Lit::Ts(day.starts_at()))
            .push(" AND s.starts_at < ")
            .bind(Lit::Ts(day.ends_at()))
            .push(" THEN ")
            .bind(Lit::Int(i as i64))
            // A bigint either way: a literal alone would be an integer.
            .push("::bigint");
    }
    q.push(" END AS day, count(*) AS free, min(s.starts_at) AS first FROM slots s LEFT JOIN bookings b ON b.slot_id = s.id AND b.status IN ")
        .push(OCCUPYING)
        .push(" WHERE s.withdrawn_at IS NULL");
    if let Some(doctor) = filter.doctor_id {
        q.push(" AND s.doctor_id = ")
            .bind(Lit::Uuid(doctor.as_uuid()));
    }
    if let Some(specialization) = &filter.specialization {
        of_specialization(&mut q, specialization);
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        q.push(" AND s.starts_at >= ")
            .bind(Lit::Ts(first.starts_at()))
            .push(" AND s.starts_at < ")
            .bind(Lit::Ts(last.ends_at()));
    }
    // Free at `now`, exactly as the listing's `available`.
    q.push(" AND s.starts_at > ")
        .bind(Lit::Ts(now))
        .push(" AND NOT COALESCE(");
    occupies_at(&mut q, now);
    q.push(", false) GROUP BY 1").planned_with_its_values();
    q
}

/// Keeps the slots of the live doctors of `specialization` (any case): their ids are found
/// once, by an uncorrelated subquery run before the walk (an `InitPlan`), and each slot the
/// walk passes is kept or skipped by its `doctor_id`, read from the index. A join with
/// `doctors` answers the same, but the planner's search over a three-way join with `bookings`
/// cost more than running the query did (planning 0.29 ms with the join, 0.14 ms without,
/// on this machine).
fn of_specialization<'a>(q: &mut Sql<'a>, specialization: &'a str) {
    q.push(
        " AND s.doctor_id = ANY (ARRAY(SELECT d.id FROM doctors d \
         WHERE d.deleted_at IS NULL AND lower(d.specialization) = lower(",
    )
    .bind(Lit::Text(specialization.trim()))
    .push(")))");
}

fn slot_view(row: &PgRow, now: DateTime<Utc>) -> Result<SlotView, sqlx::Error> {
    let slot = rows::slot(row)?;
    let occupant = rows::opt_booking(row)?;
    let status = SlotStatus::at(&slot, occupant.as_ref(), now);
    Ok(SlotView { slot, status })
}

#[cfg(all(test, feature = "test-db"))]
mod tests {
    use super::*;
    use chrono::Duration;
    use medislot_core::DoctorId;
    use sqlx::Executor as _;

    /// 100 doctors in 10 specializations, 1,000 back-to-back half-hour slots each (100,000 in
    /// all, three weeks from now), about a third of them booked; then fresh statistics (the
    /// `VACUUM` autovacuum would run follows in [`seed`]).
    const SEED: &str = "\
        INSERT INTO doctors (id, name, specialization, timezone, created_at) \
        SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(d), 12, '0'))::uuid, 'Dr ' || d, \
               'Specialty ' || (d % 10), 'UTC', now() \
        FROM generate_series(1, 100) d; \
        INSERT INTO slots (id, doctor_id, starts_at, ends_at, created_at) \
        SELECT gen_random_uuid(), ('00000000-0000-7000-8000-' || lpad(to_hex(d), 12, '0'))::uuid, \
               date_trunc('hour', now()) + interval '30 minutes' * i, \
               date_trunc('hour', now()) + interval '30 minutes' * (i + 1), now() \
        FROM generate_series(1, 100) d, generate_series(1, 1000) i; \
        INSERT INTO bookings (id, slot_id, patient_id, status, created_at, updated_at) \
        SELECT gen_random_uuid(), id, gen_random_uuid(), 'CONFIRMED', now(), now() \
        FROM slots WHERE random() < 0.3; \
        ANALYZE doctors; ANALYZE slots; ANALYZE bookings;";

    /// [`SEED`], then the `VACUUM` that marks the pages all-visible, as autovacuum would (it
    /// cannot run in the same multi-statement string: that is one transaction).
    async fn seed(store: &PgStore) {
        store.pool().execute(sqlx::raw_sql(SEED)).await.unwrap();
        store
            .pool()
            .execute(sqlx::raw_sql("VACUUM slots"))
            .await
            .unwrap();
    }

    /// PostgreSQL's plan for `sql` with its values inlined, one line per step.
    async fn plan(store: &PgStore, sql: &Sql<'_>) -> String {
        let explain = format!("EXPLAIN {}", sql.with_literals().unwrap().as_sql());
        let rows = store
            .pool()
            .fetch_all(sqlx::raw_sql(&explain))
            .await
            .unwrap();
        rows.iter()
            .map(|row| row.get::<String, _>(0))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Finding a time and the listings walk the slot indexes, by doctor or by start, over the
    /// span asked for only, without visiting the slots' rows (an index-only scan: the indexes
    /// hold every column a listing reads), so their cost does not depend on where the rows
    /// lie: on 100,000 slots no plan reads the slots table.
    #[tokio::test]
    async fn finding_a_time_reads_the_slot_indexes_on_a_hundred_thousand_slots() {
        let store = crate::testing::fresh_store().await;
        seed(&store).await;
        let now = Utc::now();
        let doctor = DoctorId::from_uuid("00000000-0000-7000-8000-000000000007".parse().unwrap());
        let days = |count: i64| -> Vec<TimeRange> {
            (0..count)
                .map(|i| {
                    let start = now + Duration::days(i);
                    TimeRange::new(start, start + Duration::days(1)).unwrap()
                })
                .collect()
        };
        let by_doctor = FreeSlotFilter {
            doctor_id: Some(doctor),
            ..FreeSlotFilter::default()
        };
        let by_specialization = FreeSlotFilter {
            specialization: Some("specialty 7".into()),
            ..FreeSlotFilter::default()
        };
        let everyone = FreeSlotFilter::default();
        let next = |filter: &FreeSlotFilter| SlotQuery {
            doctor_id: filter.doctor_id,
            specialization: filter.specialization.clone(),
            from: Some(now),
            to: Some(now + Duration::weeks(8)),
            available: Some(true),
            after: None,
            limit: 1,
        };
        // The summaries count thousands of slots: the planner may read them through a bitmap
        // (the doctor's through either index on `doctor_id`), but never the whole table.
        let summaries = [
            (
                "summary by doctor, 4 weeks",
                count_free_sql(&by_doctor, &days(28), now),
                // Its 4 weeks hold every slot of the doctor: the exclusion constraint's index
                // on `doctor_id` serves as well.
                &["slots_live_by_doctor", "slots_no_overlap"][..],
            ),
            (
                "summary by specialization, 1 week",
                count_free_sql(&by_specialization, &days(7), now),
                &["slots_live_by_"][..],
            ),
            (
                "summary of everyone, 1 day",
                count_free_sql(&everyone, &days(1), now),
                &["slots_live_by_start"][..],
            ),
        ];
        let next_by_doctor = next(&by_doctor);
        let next_by_specialization = next(&by_specialization);
        let free_of_specialization = SlotQuery {
            specialization: by_specialization.specialization.clone(),
            available: Some(true),
            limit: 50,
            ..SlotQuery::default()
        };
        let doctors_day = SlotQuery {
            doctor_id: Some(doctor),
            from: Some(now + Duration::days(3)),
            to: Some(now + Duration::days(4)),
            limit: 50,
            ..SlotQuery::default()
        };
        let listings = [
            (
                "first page of a specialization's free slots",
                list_slots_sql(&free_of_specialization, now),
                "slots_live_by_",
            ),
            (
                "a doctor's day",
                list_slots_sql(&doctors_day, now),
                "slots_live_by_doctor",
            ),
            (
                "next available by doctor",
                list_slots_sql(&next_by_doctor, now),
                "slots_live_by_doctor",
            ),
            (
                "next available by specialization",
                list_slots_sql(&next_by_specialization, now),
                "slots_live_by_",
            ),
        ];
        let mut wrong = Vec::new();
        for (what, sql, indexes) in &summaries {
            let plan = plan(&store, sql).await;
            println!("{what}:\n{plan}\n");
            if !indexes.iter().any(|index| plan.contains(index)) {
                wrong.push(format!("{what} should read {indexes:?}"));
            }
            if plan.contains("Seq Scan on slots") {
                wrong.push(format!("{what} reads every slot"));
            }
        }
        // The listings walk an index in its order and stop at the page's end, reading every
        // column from the index.
        for (what, sql, index) in &listings {
            let plan = plan(&store, sql).await;
            println!("{what}:\n{plan}\n");
            let walk = format!("Index Only Scan using {index}");
            if !plan.contains(&walk) {
                wrong.push(format!("{what} should walk {index}"));
            }
            if plan.contains("Index Scan using slots_") || plan.contains("Heap Scan on slots") {
                wrong.push(format!("{what} visits slot rows"));
            }
            if plan.contains("Seq Scan on slots") {
                wrong.push(format!("{what} reads every slot"));
            }
            if plan.contains("Seq Scan on bookings") {
                wrong.push(format!("{what} reads every booking"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?} (plans above)");
        // And the answers agree with each other on this data (timed, for the README's figures;
        // run with --nocapture to see them).
        let started = std::time::Instant::now();
        let counts = store
            .count_free_slots_impl(&by_doctor, &days(28), now)
            .await
            .unwrap();
        let summary_time = started.elapsed();
        let started = std::time::Instant::now();
        let everyone_counts = store
            .count_free_slots_impl(&everyone, &days(7), now)
            .await
            .unwrap();
        let everyone_time = started.elapsed();
        let first = counts.iter().find_map(|c| c.first);
        let started = std::time::Instant::now();
        let listed = store
            .list_slots_impl(&next_by_specialization, now)
            .await
            .unwrap();
        let next_time = started.elapsed();
        println!(
            "summary by doctor, 28 days: {summary_time:?}; summary of everyone, 7 days \
             ({} free): {everyone_time:?}; next available by specialization: {next_time:?}",
            everyone_counts.iter().map(|c| c.free).sum::<u64>()
        );
        assert!(!listed.items.is_empty());
        let listed = store.list_slots_impl(&next_by_doctor, now).await.unwrap();
        assert_eq!(
            first,
            listed.items.first().map(|v| v.slot.range.starts_at())
        );
        assert!(counts.iter().map(|c| c.free).sum::<u64>() > 0);
    }
}
