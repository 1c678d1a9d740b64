//! Pipelined transactions: a mutation costs two round trips, not five.
//!
//! sqlx's `pool.begin()` spends a round trip on `BEGIN` and another on `COMMIT`, and bound
//! parameters force one round trip per statement. A mutation here instead sends two scripts over
//! PostgreSQL's simple-query protocol, which runs every statement of a script in one round trip:
//!
//! 1. `BEGIN; <lock>; <read>; ...` — lock the rows, then read what the rule needs. Each statement
//!    takes its own snapshot (READ COMMITTED), so a read placed after the lock sees every commit
//!    made before the lock was granted: the "read after the lock" the store contract asks for.
//! 2. `<write>; COMMIT` when the rule said yes, or `ROLLBACK` when it refused.
//!
//! The simple-query protocol takes no bound parameters, so values are written into the SQL as
//! literals. [`Script`] only accepts crate-written SQL text (`&'static str`) and typed values
//! whose literal cannot leave its quotes: UUIDs (hex and dashes), timestamps (digits and
//! `-:.TZ`), integers, and text encoded as hex and decoded by the server. No user input is ever
//! spliced into the SQL as written.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::future::BoxFuture;
use futures::{FutureExt as _, TryStreamExt as _};
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::{Either, PgConnection, Postgres, Row as _};
use uuid::Uuid;

use crate::prepared::Hot;
use crate::store::PgStore;

/// SQL statements with their values inlined as injection-proof literals.
#[derive(Debug, Default)]
pub(crate) struct Script {
    sql: String,
    statements: usize,
    /// Whether a statement runs a prepared statement (`EXECUTE`).
    executes: bool,
}

/// Which statement of a script a result belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stmt(usize);

impl Script {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends SQL text written in this crate.
    pub(crate) fn sql(&mut self, text: &'static str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    /// Appends a `uuid` literal.
    pub(crate) fn uuid(&mut self, id: impl Into<Uuid>) -> &mut Self {
        // A hyphenated UUID is hex digits and dashes only.
        let _ = write!(self.sql, "'{}'::uuid", id.into().hyphenated());
        self
    }

    /// Appends a `uuid` literal or `NULL`.
    pub(crate) fn opt_uuid(&mut self, id: Option<Uuid>) -> &mut Self {
        match id {
            Some(id) => self.uuid(id),
            None => self.sql("NULL::uuid"),
        }
    }

    /// Appends a `timestamptz` literal, exact to the microsecond (PostgreSQL's precision).
    pub(crate) fn ts(&mut self, at: DateTime<Utc>) -> &mut Self {
        // RFC 3339 with a `Z`: digits and `-:.TZ` only.
        let _ = write!(
            self.sql,
            "'{}'::timestamptz",
            at.to_rfc3339_opts(SecondsFormat::Micros, true)
        );
        self
    }

    /// Appends a `timestamptz` literal or `NULL`.
    pub(crate) fn opt_ts(&mut self, at: Option<DateTime<Utc>>) -> &mut Self {
        match at {
            Some(at) => self.ts(at),
            None => self.sql("NULL::timestamptz"),
        }
    }

    /// Appends an integer literal.
    pub(crate) fn int(&mut self, value: usize) -> &mut Self {
        let _ = write!(self.sql, "{value}");
        self
    }

    /// Appends a `text` value, sent as hex so that no character of it is ever read as SQL.
    pub(crate) fn text(&mut self, text: &str) -> &mut Self {
        self.sql.push_str("convert_from(decode('");
        for byte in text.as_bytes() {
            let _ = write!(self.sql, "{byte:02x}");
        }
        self.sql.push_str("', 'hex'), 'UTF8')");
        self
    }

    /// Appends a `text` value or `NULL`.
    pub(crate) fn opt_text(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) => self.text(text),
            None => self.sql("NULL::text"),
        }
    }

    /// Appends a hot statement with its arguments and ends it: `EXECUTE name(...)` when
    /// `prepared`, otherwise the statement's template with the arguments in place of `$1`,
    /// `$2`, ... (see `prepared.rs`).
    pub(crate) fn hot(&mut self, hot: Hot, prepared: bool, args: &[Lit<'_>]) -> Stmt {
        if prepared {
            self.executes = true;
            self.sql.push_str("EXECUTE ");
            self.sql.push_str(hot.name());
            self.sql.push('(');
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    self.sql.push_str(", ");
                }
                self.lit(arg);
            }
            self.sql.push(')');
        } else {
            let mut rest = hot.template();
            while let Some(dollar) = rest.find('$') {
                self.sql.push_str(&rest[..dollar]);
                let digits = rest[dollar + 1..]
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or(rest.len(), |end| dollar + 1 + end);
                // Templates are this crate's text: every `$` starts a parameter number that
                // names one of `args` (checked by prepared.rs's tests).
                match rest[dollar + 1..digits].parse::<usize>() {
                    Ok(n) if (1..=args.len()).contains(&n) => {
                        self.lit(&args[n - 1]);
                    }
                    _ => self.sql.push_str(&rest[dollar..digits]),
                }
                rest = &rest[digits..];
            }
            self.sql.push_str(rest);
        }
        self.end()
    }

    /// Appends a typed value as its literal.
    pub(crate) fn lit(&mut self, lit: &Lit<'_>) -> &mut Self {
        match *lit {
            Lit::Uuid(id) => self.uuid(id),
            Lit::OptUuid(id) => self.opt_uuid(id),
            Lit::Ts(at) => self.ts(at),
            Lit::OptTs(at) => self.opt_ts(at),
            Lit::Text(text) => self.text(text),
            Lit::OptText(text) => self.opt_text(text),
            Lit::Int(value) => {
                // Digits and a sign only.
                let _ = write!(self.sql, "{value}");
                self
            }
        }
    }

    /// The script's SQL text.
    pub(crate) fn as_sql(&self) -> &str {
        &self.sql
    }

    /// Ends the current statement; its rows are found in the results under the returned handle.
    pub(crate) fn end(&mut self) -> Stmt {
        self.sql.push_str(";\n");
        self.statements += 1;
        Stmt(self.statements - 1)
    }
}

/// A typed argument of a hot statement, written as an injection-proof literal.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lit<'a> {
    Uuid(Uuid),
    OptUuid(Option<Uuid>),
    Ts(DateTime<Utc>),
    OptTs(Option<DateTime<Utc>>),
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
}

/// The rows of each statement of a script, in order.
#[derive(Debug)]
pub(crate) struct Results(Vec<Vec<PgRow>>);

impl Results {
    /// The rows `stmt` returned (none for a statement that returns no rows).
    pub(crate) fn rows(&self, stmt: Stmt) -> &[PgRow] {
        self.0.get(stmt.0).map_or(&[], Vec::as_slice)
    }

    /// The first row `stmt` returned, if any.
    pub(crate) fn first(&self, stmt: Stmt) -> Option<&PgRow> {
        self.rows(stmt).first()
    }

    /// The first row of the script's last statement, if any.
    pub(crate) fn last(&self) -> Option<&PgRow> {
        self.0.last().and_then(|rows| rows.first())
    }
}

/// An open transaction on a pooled connection.
///
/// Dropped without [`Tx::commit`] or [`Tx::rollback`] (the caller's future was cancelled, or a
/// `ROLLBACK` failed), the connection is closed rather than returned to the pool: the server
/// then rolls the transaction back, and no pooled connection is ever left inside one. As with
/// any client, a future dropped after the `COMMIT` script was sent may still have committed.
#[derive(Debug)]
pub(crate) struct Tx {
    conn: PoolConnection<Postgres>,
    open: bool,
    /// `BEGIN` has not been sent yet: it goes out with the first script.
    unsent: bool,
    /// The connection has the hot statements prepared (its first script ran an `EXECUTE`).
    prepared: bool,
    /// What opens the transaction (see [`PgStore::begin_sql`]); the first script carries it,
    /// and its statements' (empty) results are dropped.
    begin: String,
    /// The transaction's id, read by its first script (see `outcome.rs`); `None` for a
    /// deferred one, whose first script is its last.
    xid: Option<i64>,
}

impl Tx {
    // The methods return boxed futures so that their `Send`-ness is proven here, with concrete
    // lifetimes: left to inference inside the store's `async_trait` methods, rustc cannot prove
    // it for sqlx's executor ("implementation of `Send` is not general enough").

    /// Starts a transaction, reads its id, and runs `script` in it, in one round trip. On
    /// error the transaction is already rolled back.
    pub(crate) fn begin(
        store: &PgStore,
        script: Script,
    ) -> BoxFuture<'_, Result<(Tx, Results), sqlx::Error>> {
        Box::pin(async move {
            let conn = store.pool.acquire().await?;
            let mut tx = Tx {
                conn,
                open: true,
                unsent: false,
                prepared: script.executes,
                begin: store.begin_sql().to_owned(),
                xid: None,
            };
            let sql = format!("{};\n{};\n{}", tx.begin, crate::outcome::XID, script.sql);
            let groups = match tx.run_or_abort(&sql).await {
                // A connection's first booking: prepare the hot statements, then run again.
                Err(error) if crate::prepared::is_not_prepared(&error) && !tx.open => {
                    crate::prepared::prepare(&mut tx.conn).await?;
                    tx.open = true;
                    tx.run_or_abort(&sql).await?
                }
                result => result?,
            };
            let mut groups = tx.without_begin(groups).into_iter();
            let xid = groups.next().and_then(|rows| rows.into_iter().next());
            tx.xid = match xid.map(|row| row.try_get::<i64, _>(0)) {
                Some(Ok(xid)) => Some(xid),
                Some(Err(error)) => {
                    tx.abort().await;
                    return Err(error);
                }
                None => None,
            };
            Ok((tx, Results(groups.collect())))
        })
    }

    /// Runs `script` inside the open transaction, in one round trip. On error the transaction
    /// is rolled back (and the connection closed if the `ROLLBACK` fails too).
    pub(crate) fn read<'a>(
        &'a mut self,
        script: Script,
    ) -> BoxFuture<'a, Result<Results, sqlx::Error>> {
        Box::pin(async move { self.run_or_abort(&script.sql).await.map(Results) })
    }

    /// The transaction's id, when its first script has run: what to ask about if the answer to
    /// its `COMMIT` is lost.
    pub(crate) fn xid(&self) -> Option<i64> {
        self.xid
    }

    /// Whether this transaction's connection is known to have the hot statements prepared, so
    /// that its write script may `EXECUTE` them.
    pub(crate) fn has_prepared(&self) -> bool {
        self.prepared
    }

    /// A transaction whose `BEGIN` goes out with its [`Tx::commit`] script: one round trip in
    /// all, for a mutation that reads nothing first.
    pub(crate) fn deferred(store: &PgStore) -> BoxFuture<'_, Result<Tx, sqlx::Error>> {
        Box::pin(async move {
            let conn = store.pool.acquire().await?;
            Ok(Tx {
                conn,
                open: true,
                unsent: true,
                prepared: false,
                begin: store.begin_sql().to_owned(),
                xid: None,
            })
        })
    }

    /// The results of a script that opened the transaction, without those of the opening
    /// statements (`BEGIN` and any `SET LOCAL`: no rows).
    fn without_begin(&self, mut groups: Vec<Vec<PgRow>>) -> Vec<Vec<PgRow>> {
        let opening = self.begin.split(';').count().min(groups.len());
        groups.drain(..opening);
        groups
    }

    /// Runs `script`, then commits, then runs `then` (outside the transaction), in one round
    /// trip; the results of `then`'s statement come last. On error the transaction is rolled
    /// back.
    pub(crate) fn commit(
        mut self,
        mut script: Script,
        then: Option<&'static str>,
    ) -> BoxFuture<'static, Result<Results, sqlx::Error>> {
        Box::pin(async move {
            script.sql("COMMIT").end();
            if let Some(then) = then {
                script.sql(then).end();
            }
            let began_here = std::mem::take(&mut self.unsent);
            let sql = if began_here {
                format!("{};\n{}", self.begin, script.sql)
            } else {
                std::mem::take(&mut script.sql)
            };
            let groups = self.run_or_abort(&sql).await?;
            self.settled();
            Ok(Results(if began_here {
                self.without_begin(groups)
            } else {
                groups
            }))
        })
    }

    /// Rolls back: the rule refused, nothing is written.
    pub(crate) fn rollback(mut self) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.abort().await })
    }

    /// Rolls back without waiting for the answer: `ROLLBACK` is sent, and its answer is read
    /// by the ping sqlx sends when the connection goes back to the pool, which waits for every
    /// answer the connection still owes before anyone can acquire it again. The `ROLLBACK`
    /// and the ping so travel together: a refused attempt holds its connection for two round
    /// trips instead of three, and nothing waits for the second.
    ///
    /// The first poll of sqlx's query future writes the query and flushes it (or leaves it in
    /// the connection's write buffer, which the ping flushes first); the tests check that the
    /// next user of the connection finds no transaction open. That first poll only writes when
    /// the connection owes no earlier answers: every path of [`Tx`] reads its scripts' results
    /// to the end (or aborts, which closes the connection on failure), so none are owed here.
    pub(crate) fn rollback_with_release(mut self) {
        if self.unsent {
            self.settled();
            return;
        }
        match sqlx::raw_sql("ROLLBACK")
            .execute(&mut *self.conn)
            .now_or_never()
        {
            // Sent, and answered already or to be answered to the ping.
            None | Some(Ok(_)) => self.settled(),
            // `open` stays set: the connection is closed on drop, which rolls back as well.
            Some(Err(error)) => tracing::debug!(%error, "ROLLBACK failed; closing the connection"),
        }
    }

    /// Runs `sql` in the transaction, in one round trip; on error rolls back (and closes the
    /// connection if the `ROLLBACK` fails too) before returning the error.
    fn run_or_abort<'a>(
        &'a mut self,
        sql: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Vec<PgRow>>, sqlx::Error>> {
        Box::pin(async move {
            let result = run(&mut self.conn, sql).await;
            if result.is_err() {
                self.abort().await;
            }
            result
        })
    }

    /// The transaction is over (committed or rolled back): the connection may go back to the
    /// pool.
    fn settled(&mut self) {
        self.open = false;
    }

    fn abort(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.unsent {
                self.settled();
                return;
            }
            match run(&mut self.conn, "ROLLBACK").await {
                Ok(_) => self.settled(),
                // `open` stays set: the connection is closed on drop, which rolls back as well.
                Err(error) => tracing::debug!(%error, "ROLLBACK failed; closing the connection"),
            }
        })
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

/// Runs a multi-statement script and groups the rows by statement (boxed, as the `Tx` methods).
fn run<'c>(
    conn: &'c mut PgConnection,
    sql: &'c str,
) -> BoxFuture<'c, Result<Vec<Vec<PgRow>>, sqlx::Error>> {
    Box::pin(async move {
        let mut groups = Vec::new();
        let mut rows = Vec::new();
        let mut stream = sqlx::raw_sql(sql).fetch_many(conn);
        while let Some(item) = stream.try_next().await? {
            match item {
                Either::Left(_done) => groups.push(std::mem::take(&mut rows)),
                Either::Right(row) => rows.push(row),
            }
        }
        Ok(groups)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_sent_as_hex_so_quotes_cannot_escape() {
        let mut script = Script::new();
        script.text("'; DROP TABLE bookings; --");
        assert!(!script.sql.contains("DROP"));
        assert!(script.sql.starts_with("convert_from(decode('27"));
    }

    #[test]
    fn timestamps_keep_microseconds_and_say_utc() {
        let at = DateTime::from_timestamp_micros(1_900_000_000_123_456).unwrap();
        let mut script = Script::new();
        script.ts(at);
        assert_eq!(script.sql, "'2030-03-17T17:46:40.123456Z'::timestamptz");
    }

    #[test]
    fn statements_are_numbered_in_order() {
        let mut script = Script::new();
        let a = script.sql("SELECT 1").end();
        let b = script.sql("SELECT 2").end();
        assert_eq!((a, b), (Stmt(0), Stmt(1)));
    }
}
