//! The journal and the outbox in PostgreSQL: the statements that append a mutation's journal
//! entries inside its write script, and the reads and delivery updates of
//! [`SlotStore`](medislot_core::SlotStore)'s journal and outbox methods. Claims take
//! `FOR UPDATE SKIP LOCKED`, so deliverers on several servers never claim one message at once
//! and never wait on each other.

use chrono::{DateTime, Utc};
use medislot_core::{
    AccountId, Actor, BookingStatus, Changes, Channel, Delivery, EntryId, JournalCursor,
    JournalEntry, JournalQuery, MessageQuery, MessageState, OutboxMessage, Page, Result, Role,
    Settle,
};
use sqlx::postgres::PgRow;
use sqlx::Row as _;
use uuid::Uuid;

use crate::error::{corrupt, Failure};
use crate::query::Sql;
use crate::script::{Lit, Script};
use crate::store::{no_rule, PgStore};

/// The columns of `journal j`.
const ENTRY: &str = "j.id, j.at, j.kind, j.actor_kind, j.actor_id, j.doctor_id, j.slot_id, \
     j.booking_id, j.patient_id, j.related_booking_id, j.from_status, j.to_status, j.reason, \
     j.request_id, j.account_id, j.from_role, j.to_role";

/// The delivery columns of `outbox o`.
const DELIVERY: &str =
    "o.channel, o.attempts, o.due_at, o.claimed_until, o.delivered_at, o.dead_at, o.withdrawn_at, \
     o.last_error";

/// Appends to the write script one `INSERT` of every journal entry of `changes` and one of
/// every message among them.
pub(crate) fn append(script: &mut Script, changes: &Changes) {
    if changes.journal.is_empty() {
        return;
    }
    script.sql(
        "INSERT INTO journal (id, at, kind, actor_kind, actor_id, doctor_id, slot_id, \
         booking_id, patient_id, related_booking_id, from_status, to_status, reason, \
         request_id, account_id, from_role, to_role) VALUES ",
    );
    for (i, entry) in changes.journal.iter().enumerate() {
        if i > 0 {
            script.sql(", ");
        }
        // Kinds, actor kinds and statuses are this workspace's own constants.
        script
            .sql("(")
            .uuid(entry.id)
            .sql(", ")
            .ts(entry.at)
            .sql(", '")
            .sql(entry.kind.as_str())
            .sql("', '")
            .sql(entry.actor.kind())
            .sql("', ")
            .opt_uuid(entry.actor.id())
            .sql(", ")
            .opt_uuid(entry.doctor_id.map(Into::into))
            .sql(", ")
            .opt_uuid(entry.slot_id.map(Into::into))
            .sql(", ")
            .opt_uuid(entry.booking_id.map(Into::into))
            .sql(", ")
            .opt_uuid(entry.patient_id.map(Into::into))
            .sql(", ")
            .opt_uuid(entry.related_booking_id.map(Into::into))
            .sql(", ");
        status(script, entry.from);
        script.sql(", ");
        status(script, entry.to);
        script
            .sql(", ")
            .opt_text(entry.reason.as_deref())
            .sql(", ")
            .opt_text(entry.request_id.as_deref())
            .sql(", ")
            .opt_uuid(entry.account_id.map(Into::into))
            .sql(", ");
        role(script, entry.from_role);
        script.sql(", ");
        role(script, entry.to_role);
        script.sql(")");
    }
    script.end();
    let mut messages = changes.queued().peekable();
    if messages.peek().is_some() {
        script.sql("INSERT INTO outbox (entry_id, channel, at, due_at) VALUES ");
        for (i, (entry, channel, queued)) in messages.enumerate() {
            if i > 0 {
                script.sql(", ");
            }
            // Channel names are this workspace's own constants.
            script
                .sql("(")
                .uuid(entry.id)
                .sql(", '")
                .sql(channel.as_str())
                .sql("', ")
                .ts(entry.at)
                .sql(", ")
                .ts(queued.due_at)
                .sql(")");
        }
        script.end();
    }
}

/// The columns [`select_account_entry`] fills.
pub(crate) const ACCOUNT_ENTRY_COLUMNS: &str =
    "INSERT INTO journal (id, at, kind, actor_kind, actor_id, account_id, from_role, to_role, \
     request_id) ";

/// `SELECT` and the values of an account entry (which names no doctor, slot or booking), for
/// an `INSERT INTO journal` ([`ACCOUNT_ENTRY_COLUMNS`]) fed by the rows of an update: the
/// entry is written only when the change is. Account entries that are messages are queued
/// with [`account_entry_script`] instead.
pub(crate) fn select_account_entry<'a>(sql: &mut Sql<'a>, entry: &'a JournalEntry) {
    debug_assert!(
        !entry.kind.is_message(),
        "{:?} would need the outbox",
        entry.kind
    );
    sql.push("SELECT ")
        .bind(Lit::Uuid(entry.id.as_uuid()))
        .push(", ")
        .bind(Lit::Ts(entry.at))
        .push(", ")
        .bind(Lit::Text(entry.kind.as_str()))
        .push(", ")
        .bind(Lit::Text(entry.actor.kind()))
        .push(", ")
        .bind(Lit::OptUuid(entry.actor.id()))
        .push(", ")
        .bind(Lit::OptUuid(entry.account_id.map(|id| id.as_uuid())))
        .push(", ")
        .bind(Lit::OptText(entry.from_role.map(Role::as_str)))
        .push(", ")
        .bind(Lit::OptText(entry.to_role.map(Role::as_str)))
        .push(", ")
        .bind(Lit::OptText(entry.request_id.as_deref()));
}

fn role(script: &mut Script, role: Option<Role>) {
    // Roles are this workspace's own constants.
    match role {
        Some(role) => script.sql("'").sql(role.as_str()).sql("'"),
        None => script.sql("NULL::text"),
    };
}

/// The script that appends one entry about an account and queues its messages: two
/// statements, which PostgreSQL runs as one implicit transaction when sent together.
pub(crate) fn account_entry_script(entry: JournalEntry) -> Script {
    let mut changes = Changes::at(entry.at);
    changes.journal.push(entry);
    let mut script = Script::new();
    append(&mut script, &changes);
    script
}

fn status(script: &mut Script, status: Option<BookingStatus>) {
    match status {
        Some(status) => script.sql("'").sql(status.as_str()).sql("'"),
        None => script.sql("NULL::text"),
    };
}

impl PgStore {
    /// One round trip: a page of the journal through one of its indexes.
    pub(crate) async fn journal_impl(
        &self,
        query: &JournalQuery,
    ) -> Result<Page<JournalEntry, JournalCursor>> {
        self.retrying("journal", &no_rule, move || async move {
            let mut q = Sql::new("SELECT ");
            q.push(ENTRY).push(" FROM journal j WHERE true");
            let optional = [
                (" AND j.booking_id = ", query.booking_id.map(Uuid::from)),
                (" AND j.patient_id = ", query.patient_id.map(Uuid::from)),
                (" AND j.doctor_id = ", query.doctor_id.map(Uuid::from)),
                (" AND j.account_id = ", query.account_id.map(Uuid::from)),
            ];
            for (clause, id) in optional {
                if let Some(id) = id {
                    q.push(clause).bind(Lit::Uuid(id));
                }
            }
            if let Some(actor) = query.actor {
                q.push(" AND j.actor_kind = ").bind(Lit::Text(actor.kind()));
                match actor.id() {
                    Some(id) => q.push(" AND j.actor_id = ").bind(Lit::Uuid(id)),
                    None => q.push(" AND j.actor_id IS NULL"),
                };
            }
            if let Some(from) = query.from {
                q.push(" AND j.at >= ").bind(Lit::Ts(from));
            }
            if let Some(to) = query.to {
                q.push(" AND j.at < ").bind(Lit::Ts(to));
            }
            if let Some(after) = query.after {
                q.push(" AND (j.at, j.id) > (")
                    .bind(Lit::Ts(after.at))
                    .push(", ")
                    .bind(Lit::Uuid(after.id.as_uuid()))
                    .push(")");
            }
            q.push(" ORDER BY j.at, j.id LIMIT ")
                .bind(Lit::Int(i64::from(query.limit) + 1));
            let rows = q.fetch_all(self).await?;
            let items = rows.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_overfetch(
                items,
                query.limit,
                JournalCursor::after,
            ))
        })
        .await
    }

    /// One round trip: claim and read the claimed messages in one statement.
    pub(crate) async fn claim_messages_impl(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        self.retrying("claim_messages", &no_rule, move || async move {
            let mut q = Sql::new("WITH claimed AS (UPDATE outbox SET claimed_until = ");
            q.bind(Lit::Ts(lease_until))
                .push(", attempts = attempts + 1 WHERE channel = ")
                .bind(Lit::Text(channel.as_str()))
                .push(
                    " AND entry_id IN (SELECT entry_id FROM outbox \
                     WHERE delivered_at IS NULL AND dead_at IS NULL AND withdrawn_at IS NULL \
                     AND channel = ",
                )
                .bind(Lit::Text(channel.as_str()))
                .push(" AND due_at <= ")
                .bind(Lit::Ts(now))
                .push(" AND (claimed_until IS NULL OR claimed_until <= ")
                .bind(Lit::Ts(now))
                .push(") ORDER BY due_at, entry_id LIMIT ")
                .bind(Lit::Int(i64::from(limit)))
                .push(" FOR UPDATE SKIP LOCKED) RETURNING *) SELECT ")
                .push(ENTRY)
                .push(", ")
                .push(DELIVERY)
                .push(
                    " FROM claimed o JOIN journal j ON j.id = o.entry_id \
                     ORDER BY o.due_at, o.entry_id",
                );
            let rows = q.fetch_all(self).await?;
            Ok(rows.iter().map(message).collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Read, decide, then write only if the message is still as it was read (compare and set,
    /// one statement each, so it needs no transaction and works behind a transaction pooler);
    /// a message changed in between is read again.
    pub(crate) async fn settle_message_impl(
        &self,
        id: EntryId,
        channel: Channel,
        settle: &Settle<'_>,
    ) -> Result<Option<OutboxMessage>> {
        self.retrying("settle_message", &no_rule, move || async move {
            loop {
                let mut read = Sql::new("SELECT ");
                read.push(ENTRY)
                    .push(", ")
                    .push(DELIVERY)
                    .push(" FROM outbox o JOIN journal j ON j.id = o.entry_id WHERE o.entry_id = ")
                    .bind(Lit::Uuid(id.as_uuid()))
                    .push(" AND o.channel = ")
                    .bind(Lit::Text(channel.as_str()));
                let Some(row) = read.fetch_optional(self).await? else {
                    return Ok(None);
                };
                let current = message(&row)?;
                let next = settle(&current.delivery).map_err(Failure::Rule)?;
                let was = &current.delivery;
                let mut write = Sql::new("UPDATE outbox SET attempts = ");
                write
                    .bind(Lit::Int(i64::from(next.attempts)))
                    .push(", due_at = ")
                    .bind(Lit::Ts(next.due_at))
                    .push(", claimed_until = ")
                    .bind(Lit::OptTs(next.claimed_until))
                    .push(", delivered_at = ")
                    .bind(Lit::OptTs(next.delivered_at))
                    .push(", dead_at = ")
                    .bind(Lit::OptTs(next.dead_at))
                    .push(", withdrawn_at = ")
                    .bind(Lit::OptTs(next.withdrawn_at))
                    .push(", last_error = ")
                    .bind(Lit::OptText(next.last_error.as_deref()))
                    .push(" WHERE entry_id = ")
                    .bind(Lit::Uuid(id.as_uuid()))
                    .push(" AND channel = ")
                    .bind(Lit::Text(channel.as_str()))
                    .push(" AND attempts = ")
                    .bind(Lit::Int(i64::from(was.attempts)))
                    .push(" AND due_at = ")
                    .bind(Lit::Ts(was.due_at))
                    .push(" AND claimed_until IS NOT DISTINCT FROM ")
                    .bind(Lit::OptTs(was.claimed_until))
                    .push(" AND delivered_at IS NOT DISTINCT FROM ")
                    .bind(Lit::OptTs(was.delivered_at))
                    .push(" AND dead_at IS NOT DISTINCT FROM ")
                    .bind(Lit::OptTs(was.dead_at))
                    .push(" AND withdrawn_at IS NOT DISTINCT FROM ")
                    .bind(Lit::OptTs(was.withdrawn_at));
                if write.execute(self).await? == 1 {
                    return Ok(Some(OutboxMessage {
                        entry: current.entry,
                        channel,
                        delivery: next,
                    }));
                }
            }
        })
        .await
    }

    /// One round trip: a page of messages in journal order.
    pub(crate) async fn messages_impl(
        &self,
        query: &MessageQuery,
    ) -> Result<Page<OutboxMessage, JournalCursor>> {
        self.retrying("messages", &no_rule, move || async move {
            let mut q = Sql::new("SELECT ");
            q.push(ENTRY)
                .push(", ")
                .push(DELIVERY)
                .push(" FROM outbox o JOIN journal j ON j.id = o.entry_id WHERE o.channel = ")
                .bind(Lit::Text(query.channel.as_str()));
            q.push(match query.state {
                None => "",
                Some(MessageState::Pending) => {
                    " AND o.delivered_at IS NULL AND o.dead_at IS NULL AND o.withdrawn_at IS NULL"
                }
                Some(MessageState::Delivered) => " AND o.delivered_at IS NOT NULL",
                Some(MessageState::Dead) => " AND o.dead_at IS NOT NULL",
                Some(MessageState::Withdrawn) => " AND o.withdrawn_at IS NOT NULL",
            });
            if let Some(after) = query.after {
                q.push(" AND (o.at, o.entry_id) > (")
                    .bind(Lit::Ts(after.at))
                    .push(", ")
                    .bind(Lit::Uuid(after.id.as_uuid()))
                    .push(")");
            }
            q.push(" ORDER BY o.at, o.entry_id LIMIT ")
                .bind(Lit::Int(i64::from(query.limit) + 1));
            let rows = q.fetch_all(self).await?;
            let items = rows.iter().map(message).collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_overfetch(items, query.limit, |m| {
                JournalCursor::after(&m.entry)
            }))
        })
        .await
    }
}

fn entry(row: &PgRow) -> Result<JournalEntry, sqlx::Error> {
    let id_of = |column: &str| row.try_get::<Option<Uuid>, _>(column);
    let status_of = |column: &str| -> Result<Option<BookingStatus>, sqlx::Error> {
        row.try_get::<Option<String>, _>(column)?
            .map(|s| s.parse().map_err(corrupt))
            .transpose()
    };
    let role_of = |column: &str| -> Result<Option<Role>, sqlx::Error> {
        row.try_get::<Option<String>, _>(column)?
            .map(|s| {
                Role::from_stored(&s).ok_or_else(|| {
                    corrupt(medislot_core::StoreError::Corrupt(format!(
                        "unknown role {s:?}"
                    )))
                })
            })
            .transpose()
    };
    let kind: String = row.try_get("kind")?;
    let actor_kind: String = row.try_get("actor_kind")?;
    Ok(JournalEntry {
        id: EntryId::from_uuid(row.try_get("id")?),
        at: row.try_get("at")?,
        kind: kind.parse().map_err(corrupt)?,
        actor: Actor::from_parts(&actor_kind, id_of("actor_id")?).map_err(corrupt)?,
        doctor_id: id_of("doctor_id")?.map(Into::into),
        slot_id: id_of("slot_id")?.map(Into::into),
        booking_id: id_of("booking_id")?.map(Into::into),
        patient_id: id_of("patient_id")?.map(Into::into),
        related_booking_id: id_of("related_booking_id")?.map(Into::into),
        from: status_of("from_status")?,
        to: status_of("to_status")?,
        reason: row.try_get("reason")?,
        request_id: row.try_get("request_id")?,
        account_id: id_of("account_id")?.map(AccountId::from_uuid),
        from_role: role_of("from_role")?,
        to_role: role_of("to_role")?,
    })
}

fn message(row: &PgRow) -> Result<OutboxMessage, sqlx::Error> {
    let attempts: i32 = row.try_get("attempts")?;
    let channel: String = row.try_get("channel")?;
    Ok(OutboxMessage {
        entry: entry(row)?,
        channel: channel.parse().map_err(corrupt)?,
        delivery: Delivery {
            attempts: u32::try_from(attempts).unwrap_or(0),
            due_at: row.try_get("due_at")?,
            claimed_until: row.try_get("claimed_until")?,
            delivered_at: row.try_get("delivered_at")?,
            dead_at: row.try_get("dead_at")?,
            withdrawn_at: row.try_get("withdrawn_at")?,
            last_error: row.try_get("last_error")?,
        },
    })
}
