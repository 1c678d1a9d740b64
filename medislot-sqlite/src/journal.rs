//! The journal and the outbox in SQLite: appending the entries a mutation's [`Changes`] carry
//! (inside its transaction), and the reads and delivery updates of
//! [`SlotStore`](medislot_core::SlotStore)'s journal and outbox methods.

use chrono::{DateTime, Utc};
use medislot_core::{
    AccountId, Actor, BookingStatus, Changes, Channel, Delivery, EntryId, JournalCursor,
    JournalEntry, JournalQuery, MessageQuery, OutboxMessage, Page, Result, Role, Settle,
    StoreError,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::error::{corrupt, db};
use crate::rows::{get, get_instant, get_optional_instant, micros};
use crate::store::{commit, SqliteStore};

/// The journal entry's columns (`j`), then the outbox's (`o`, NULL for an entry that is no
/// message).
const ENTRY_COLUMNS: &str = "j.id, j.at, j.kind, j.actor_kind, j.actor_id, j.doctor_id, \
     j.slot_id, j.booking_id, j.patient_id, j.related_booking_id, j.from_status, j.to_status, \
     j.reason, j.request_id, j.account_id, j.from_role, j.to_role";
const DELIVERY_COLUMNS: &str = "o.channel, o.attempts, o.due_at, o.claimed_until, o.delivered_at, \
     o.dead_at, o.withdrawn_at, o.last_error";

/// Appends `changes.journal`, and queues each entry that is a message, in the mutation's
/// transaction.
pub(crate) async fn append(conn: &mut SqliteConnection, changes: &Changes) -> Result<()> {
    for entry in &changes.journal {
        sqlx::query(
            "INSERT INTO journal (id, at, kind, actor_kind, actor_id, doctor_id, slot_id, \
             booking_id, patient_id, related_booking_id, from_status, to_status, reason, \
             request_id, account_id, from_role, to_role) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        )
        .bind(entry.id.as_uuid())
        .bind(micros(entry.at))
        .bind(entry.kind.as_str())
        .bind(entry.actor.kind())
        .bind(entry.actor.id())
        .bind(entry.doctor_id.map(|id| id.as_uuid()))
        .bind(entry.slot_id.map(|id| id.as_uuid()))
        .bind(entry.booking_id.map(|id| id.as_uuid()))
        .bind(entry.patient_id.map(|id| id.as_uuid()))
        .bind(entry.related_booking_id.map(|id| id.as_uuid()))
        .bind(entry.from.map(BookingStatus::as_str))
        .bind(entry.to.map(BookingStatus::as_str))
        .bind(entry.reason.as_deref())
        .bind(entry.request_id.as_deref())
        .bind(entry.account_id.map(|id| id.as_uuid()))
        .bind(entry.from_role.map(Role::as_str))
        .bind(entry.to_role.map(Role::as_str))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    for (entry, channel, queued) in changes.queued() {
        sqlx::query(
            "INSERT INTO outbox (entry_id, channel, at, attempts, due_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(entry.id.as_uuid())
        .bind(channel.as_str())
        .bind(micros(entry.at))
        .bind(i64::from(queued.attempts))
        .bind(micros(queued.due_at))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// Appends one entry about an account, and queues its messages, in the caller's transaction.
pub(crate) async fn append_entry(conn: &mut SqliteConnection, entry: JournalEntry) -> Result<()> {
    let mut changes = Changes::at(entry.at);
    changes.journal.push(entry);
    append(conn, &changes).await
}

/// A page of the journal.
pub(crate) async fn journal(
    store: &SqliteStore,
    query: &JournalQuery,
) -> Result<Page<JournalEntry, JournalCursor>> {
    let mut sql = QueryBuilder::<Sqlite>::new("SELECT ");
    sql.push(ENTRY_COLUMNS).push(" FROM journal j WHERE 1 = 1");
    let optional = [
        (
            " AND j.booking_id = ",
            query.booking_id.map(|id| id.as_uuid()),
        ),
        (
            " AND j.patient_id = ",
            query.patient_id.map(|id| id.as_uuid()),
        ),
        (
            " AND j.doctor_id = ",
            query.doctor_id.map(|id| id.as_uuid()),
        ),
        (
            " AND j.account_id = ",
            query.account_id.map(|id| id.as_uuid()),
        ),
    ];
    for (clause, id) in optional {
        if let Some(id) = id {
            sql.push(clause).push_bind(id);
        }
    }
    if let Some(actor) = query.actor {
        sql.push(" AND j.actor_kind = ").push_bind(actor.kind());
        match actor.id() {
            Some(id) => sql.push(" AND j.actor_id = ").push_bind(id),
            None => sql.push(" AND j.actor_id IS NULL"),
        };
    }
    if let Some(from) = query.from {
        sql.push(" AND j.at >= ").push_bind(micros(from));
    }
    if let Some(to) = query.to {
        sql.push(" AND j.at < ").push_bind(micros(to));
    }
    push_after(&mut sql, "j.at", "j.id", query.after);
    sql.push(" ORDER BY j.at, j.id LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    let rows = sql.build().fetch_all(&store.reader).await.map_err(db)?;
    let items = rows.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(
        items,
        query.limit,
        JournalCursor::after,
    ))
}

/// Claims due messages in one write transaction: SQLite has one writer, so no two deliverers
/// claim at the same time.
pub(crate) async fn claim(
    store: &SqliteStore,
    channel: Channel,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<OutboxMessage>> {
    let mut tx = store.begin_write().await?;
    let claimed = sqlx::query(
        "UPDATE outbox SET claimed_until = ?2, attempts = attempts + 1 \
         WHERE channel = ?4 AND entry_id IN (SELECT entry_id FROM outbox \
           WHERE channel = ?4 AND delivered_at IS NULL AND dead_at IS NULL AND withdrawn_at IS NULL \
             AND due_at <= ?1 \
             AND (claimed_until IS NULL OR claimed_until <= ?1) \
           ORDER BY due_at, entry_id LIMIT ?3) \
         RETURNING entry_id",
    )
    .bind(micros(now))
    .bind(micros(lease_until))
    .bind(i64::from(limit))
    .bind(channel.as_str())
    .fetch_all(&mut *tx)
    .await
    .map_err(db);
    let result = match claimed {
        Ok(rows) => {
            let ids = rows
                .iter()
                .map(|row| get::<Uuid>(row, "entry_id").map(EntryId::from_uuid))
                .collect::<Result<Vec<_>, _>>()?;
            read_messages(&mut tx, channel, &ids).await
        }
        Err(e) => Err(e),
    };
    commit(tx, result).await
}

/// Settles one message under the write lock.
pub(crate) async fn settle(
    store: &SqliteStore,
    id: EntryId,
    channel: Channel,
    settle: &Settle<'_>,
) -> Result<Option<OutboxMessage>> {
    let mut tx = store.begin_write().await?;
    let result = settle_in(&mut tx, id, channel, settle).await;
    commit(tx, result).await
}

async fn settle_in(
    conn: &mut SqliteConnection,
    id: EntryId,
    channel: Channel,
    settle: &Settle<'_>,
) -> Result<Option<OutboxMessage>> {
    let Some(current) = read_messages(conn, channel, &[id]).await?.pop() else {
        return Ok(None);
    };
    let next = settle(&current.delivery)?;
    sqlx::query(
        "UPDATE outbox SET attempts = ?2, due_at = ?3, claimed_until = ?4, delivered_at = ?5, \
         dead_at = ?6, last_error = ?7, withdrawn_at = ?9 WHERE entry_id = ?1 AND channel = ?8",
    )
    .bind(id.as_uuid())
    .bind(i64::from(next.attempts))
    .bind(micros(next.due_at))
    .bind(next.claimed_until.map(micros))
    .bind(next.delivered_at.map(micros))
    .bind(next.dead_at.map(micros))
    .bind(next.last_error.as_deref())
    .bind(channel.as_str())
    .bind(next.withdrawn_at.map(micros))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(Some(OutboxMessage {
        entry: current.entry,
        channel,
        delivery: next,
    }))
}

/// A page of outbox messages.
pub(crate) async fn messages(
    store: &SqliteStore,
    query: &MessageQuery,
) -> Result<Page<OutboxMessage, JournalCursor>> {
    let mut sql = QueryBuilder::<Sqlite>::new("SELECT ");
    sql.push(ENTRY_COLUMNS)
        .push(", ")
        .push(DELIVERY_COLUMNS)
        .push(" FROM outbox o JOIN journal j ON j.id = o.entry_id WHERE o.channel = ")
        .push_bind(query.channel.as_str());
    if let Some(state) = query.state {
        sql.push(match state {
            medislot_core::MessageState::Pending => {
                " AND o.delivered_at IS NULL AND o.dead_at IS NULL AND o.withdrawn_at IS NULL"
            }
            medislot_core::MessageState::Delivered => " AND o.delivered_at IS NOT NULL",
            medislot_core::MessageState::Dead => " AND o.dead_at IS NOT NULL",
            medislot_core::MessageState::Withdrawn => " AND o.withdrawn_at IS NOT NULL",
        });
    }
    push_after(&mut sql, "o.at", "o.entry_id", query.after);
    sql.push(" ORDER BY o.at, o.entry_id LIMIT ")
        .push_bind(i64::from(query.limit) + 1);
    let rows = sql.build().fetch_all(&store.reader).await.map_err(db)?;
    let items = rows.iter().map(message).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(items, query.limit, |m| {
        JournalCursor::after(&m.entry)
    }))
}

fn push_after(
    sql: &mut QueryBuilder<'_, Sqlite>,
    at: &str,
    id: &str,
    after: Option<JournalCursor>,
) {
    if let Some(cursor) = after {
        sql.push(format!(" AND ({at}, {id}) > ("))
            .push_bind(micros(cursor.at))
            .push(", ")
            .push_bind(cursor.id.as_uuid())
            .push(")");
    }
}

async fn read_messages(
    conn: &mut SqliteConnection,
    channel: Channel,
    ids: &[EntryId],
) -> Result<Vec<OutboxMessage>> {
    let mut messages = Vec::with_capacity(ids.len());
    for id in ids {
        let row = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS}, {DELIVERY_COLUMNS} \
             FROM outbox o JOIN journal j ON j.id = o.entry_id \
             WHERE o.entry_id = ?1 AND o.channel = ?2"
        ))
        .bind(id.as_uuid())
        .bind(channel.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
        if let Some(row) = row {
            messages.push(message(&row)?);
        }
    }
    Ok(messages)
}

fn entry(row: &SqliteRow) -> Result<JournalEntry, StoreError> {
    let id_of = |column: &str| get::<Option<Uuid>>(row, column);
    let status_of = |column: &str| -> Result<Option<BookingStatus>, StoreError> {
        get::<Option<String>>(row, column)?
            .map(|s| {
                s.parse()
                    .map_err(|_| corrupt(format_args!("unknown booking status {s:?}")))
            })
            .transpose()
    };
    let role_of = |column: &str| -> Result<Option<Role>, StoreError> {
        get::<Option<String>>(row, column)?
            .map(|s| {
                Role::from_stored(&s).ok_or_else(|| corrupt(format_args!("unknown role {s:?}")))
            })
            .transpose()
    };
    let kind: String = get(row, "kind")?;
    let actor_kind: String = get(row, "actor_kind")?;
    Ok(JournalEntry {
        id: EntryId::from_uuid(get(row, "id")?),
        at: get_instant(row, "at")?,
        kind: kind.parse()?,
        actor: Actor::from_parts(&actor_kind, id_of("actor_id")?)?,
        doctor_id: id_of("doctor_id")?.map(Into::into),
        slot_id: id_of("slot_id")?.map(Into::into),
        booking_id: id_of("booking_id")?.map(Into::into),
        patient_id: id_of("patient_id")?.map(Into::into),
        related_booking_id: id_of("related_booking_id")?.map(Into::into),
        from: status_of("from_status")?,
        to: status_of("to_status")?,
        reason: get(row, "reason")?,
        request_id: get(row, "request_id")?,
        account_id: id_of("account_id")?.map(AccountId::from_uuid),
        from_role: role_of("from_role")?,
        to_role: role_of("to_role")?,
    })
}

fn message(row: &SqliteRow) -> Result<OutboxMessage, StoreError> {
    let attempts: i64 = get(row, "attempts")?;
    let channel: String = get(row, "channel")?;
    Ok(OutboxMessage {
        entry: entry(row)?,
        channel: channel.parse()?,
        delivery: Delivery {
            attempts: u32::try_from(attempts)
                .map_err(|_| corrupt(format_args!("{attempts} attempts")))?,
            due_at: get_instant(row, "due_at")?,
            claimed_until: get_optional_instant(row, "claimed_until")?,
            delivered_at: get_optional_instant(row, "delivered_at")?,
            dead_at: get_optional_instant(row, "dead_at")?,
            withdrawn_at: get_optional_instant(row, "withdrawn_at")?,
            last_error: get(row, "last_error")?,
        },
    })
}
