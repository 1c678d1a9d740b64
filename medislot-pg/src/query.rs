//! Single statements (every read, and the accounts' writes), written once and sent one of two
//! ways, by the store's [`Pooler`]:
//!
//! - [`Pooler::None`]: with bound parameters (`$1`, `$2`, ...), which sqlx prepares once per
//!   connection under a name (`sqlx_s_N`) and reuses;
//! - [`Pooler::Transaction`]: as one statement over the simple-query protocol, with the values
//!   written as the injection-proof literals of `script.rs`. Nothing is named or prepared, and
//!   the statement travels in one message, so it survives a pooler that hands each
//!   transaction to another server connection. (sqlx's extended protocol cannot: it parses in
//!   one exchange and binds in the next, which may land on another server connection, and its
//!   statement names collide there with another client's: SQLSTATE `42P05`, `26000`.)
//!
//! Either way a statement costs one round trip.
//!
//! A statement whose best plan depends on its values ([`Sql::planned_with_its_values`]: the
//! slot listings and counts, whose ranges may cover a day or the whole horizon) is sent the
//! second way behind either pooler, so PostgreSQL plans it with its values on every call.
//! Prepared, it would be planned with its values for its first five runs on a connection and
//! then, if a generic plan looked as cheap, run with that plan from then on: on 10,000 slots
//! PostgreSQL kept generic plans for the listings and on 1,000,000 it planned every call, so
//! the cost per call changed with the data for no other reason; and a generic plan, costed
//! without the values, can be a poor one for the values that come (one was compiled by the
//! JIT on every run, 6 ms for a 0.1 ms walk).

use futures::future::BoxFuture;
use sqlx::postgres::PgRow;
use sqlx::Executor as _;

use crate::options::Pooler;
use crate::script::{Lit, Script};
use crate::store::PgStore;

/// One SQL statement: crate-written text and typed values.
#[derive(Debug, Default)]
pub(crate) struct Sql<'a> {
    parts: Vec<Part<'a>>,
    /// Sent with its values as literals behind either pooler (see the module docs).
    with_its_values: bool,
}

#[derive(Debug)]
enum Part<'a> {
    Text(&'static str),
    Value(Lit<'a>),
}

impl<'a> Sql<'a> {
    /// A statement starting with `text`.
    pub(crate) fn new(text: &'static str) -> Self {
        Self {
            parts: vec![Part::Text(text)],
            with_its_values: false,
        }
    }

    /// Has PostgreSQL plan the statement with its values on every call, never from a plan
    /// cached for a connection (see the module docs).
    pub(crate) fn planned_with_its_values(&mut self) -> &mut Self {
        self.with_its_values = true;
        self
    }

    /// Whether the statement goes with bound parameters (else as literals).
    fn parameters(&self, store: &PgStore) -> bool {
        store.pooler == Pooler::None && !self.with_its_values
    }

    /// Appends SQL text written in this crate.
    pub(crate) fn push(&mut self, text: &'static str) -> &mut Self {
        self.parts.push(Part::Text(text));
        self
    }

    /// Appends a value: a parameter, or its literal behind a transaction pooler.
    pub(crate) fn bind(&mut self, value: Lit<'a>) -> &mut Self {
        self.parts.push(Part::Value(value));
        self
    }

    /// Every row, in one round trip.
    pub(crate) fn fetch_all<'s>(
        &'s self,
        store: &'s PgStore,
    ) -> BoxFuture<'s, Result<Vec<PgRow>, sqlx::Error>> {
        Box::pin(async move {
            if self.parameters(store) {
                let sql = self.with_parameters();
                self.bound(&sql).fetch_all(&store.pool).await
            } else {
                let sql = self.with_literals()?;
                sqlx::raw_sql(sql.as_sql()).fetch_all(&store.pool).await
            }
        })
    }

    /// The first row, if any, in one round trip.
    pub(crate) fn fetch_optional<'s>(
        &'s self,
        store: &'s PgStore,
    ) -> BoxFuture<'s, Result<Option<PgRow>, sqlx::Error>> {
        Box::pin(async move {
            if self.parameters(store) {
                let sql = self.with_parameters();
                self.bound(&sql).fetch_optional(&store.pool).await
            } else {
                let sql = self.with_literals()?;
                (&store.pool)
                    .fetch_optional(sqlx::raw_sql(sql.as_sql()))
                    .await
            }
        })
    }

    /// Runs the statement; the number of rows it changed. One round trip.
    pub(crate) fn execute<'s>(
        &'s self,
        store: &'s PgStore,
    ) -> BoxFuture<'s, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let done = if self.parameters(store) {
                let sql = self.with_parameters();
                self.bound(&sql).execute(&store.pool).await?
            } else {
                let sql = self.with_literals()?;
                sqlx::raw_sql(sql.as_sql()).execute(&store.pool).await?
            };
            Ok(done.rows_affected())
        })
    }

    /// The text with `$1`, `$2`, ... where the values go.
    fn with_parameters(&self) -> String {
        let mut sql = String::new();
        let mut n = 0;
        for part in &self.parts {
            match part {
                Part::Text(text) => sql.push_str(text),
                Part::Value(_) => {
                    n += 1;
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
        }
        sql
    }

    /// The statement with `with_parameters`'s text, its values bound in order.
    fn bound<'q>(
        &'q self,
        sql: &'q str,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        let mut query = sqlx::query(sql);
        for part in &self.parts {
            let Part::Value(value) = part else { continue };
            query = match *value {
                Lit::Uuid(id) => query.bind(id),
                Lit::OptUuid(id) => query.bind(id),
                Lit::Ts(at) => query.bind(at),
                Lit::OptTs(at) => query.bind(at),
                Lit::Text(text) => query.bind(text),
                Lit::OptText(text) => query.bind(text),
                Lit::Int(value) => query.bind(value),
            };
        }
        query
    }

    /// The statement with its values written as literals.
    ///
    /// # Errors
    /// [`sqlx::Error::Encode`] for text holding a NUL, which PostgreSQL cannot store: a bound
    /// value is refused when it arrives, but a literal only when a row makes the server
    /// evaluate it, so an empty table would answer as if the value were fine.
    pub(crate) fn with_literals(&self) -> Result<Script, sqlx::Error> {
        let mut script = Script::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => script.sql(text),
                Part::Value(value) => {
                    if let Lit::Text(text) | Lit::OptText(Some(text)) = value {
                        if text.contains('\0') {
                            return Err(sqlx::Error::Encode("text holds a NUL character".into()));
                        }
                    }
                    script.lit(value)
                }
            };
        }
        Ok(script)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_numbered_parameters_or_literals_in_the_same_places() {
        let id = uuid::Uuid::nil();
        let mut sql = Sql::new("SELECT 1 FROM t WHERE id = ");
        sql.bind(Lit::Uuid(id))
            .push(" AND name = ")
            .bind(Lit::Text("o'clock"))
            .push(" LIMIT ")
            .bind(Lit::Int(11));
        assert_eq!(
            sql.with_parameters(),
            "SELECT 1 FROM t WHERE id = $1 AND name = $2 LIMIT $3"
        );
        let literal = sql.with_literals().unwrap();
        assert_eq!(
            literal.as_sql(),
            "SELECT 1 FROM t WHERE id = '00000000-0000-0000-0000-000000000000'::uuid \
             AND name = convert_from(decode('6f27636c6f636b', 'hex'), 'UTF8') LIMIT 11"
        );
        let mut nul = Sql::new("SELECT ");
        nul.bind(Lit::Text("a\0b"));
        assert!(matches!(nul.with_literals(), Err(sqlx::Error::Encode(_))));
    }
}
