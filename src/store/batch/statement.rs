//! A statement built at run time, its text with `$N` placeholders and the values bound to them,
//! and [`Run`]: running one on either database inside the batch's transaction. The batch's
//! statements are built once, as data, and each backend only says how to run them.

use std::fmt::Write as _;

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};

use crate::job::{Job, JobId};
use crate::store::rows::{job_from_row, parse_id};
use crate::store::StoreError;

/// A value bound to a placeholder. sqlx binds SQLite's `$N` by its number, as PostgreSQL does,
/// so the same text and values serve both; PostgreSQL types each placeholder from its value.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Arg::Text(Some(value))
    }
}

impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Self {
        Arg::Text(value)
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Arg::Text(Some(value.to_owned()))
    }
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Arg::Int(Some(value))
    }
}

impl From<Option<i64>> for Arg {
    fn from(value: Option<i64>) -> Self {
        Arg::Int(value)
    }
}

impl From<f64> for Arg {
    fn from(value: f64) -> Self {
        Arg::Real(Some(value))
    }
}

/// Statement text and its values; [`Statement::bind`] writes the next `$N`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Statement {
    pub(crate) sql: String,
    pub(crate) args: Vec<Arg>,
}

impl Statement {
    pub(crate) fn new(sql: impl Into<String>) -> Self {
        Statement {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, text: impl AsRef<str>) -> &mut Self {
        self.sql.push_str(text.as_ref());
        self
    }

    /// Appends the placeholder of a new value.
    pub(crate) fn bind(&mut self, arg: impl Into<Arg>) -> &mut Self {
        self.args.push(arg.into());
        let _ = write!(self.sql, "${}", self.args.len());
        self
    }

    /// Appends `(..), (..)`: one parenthesised row per item, its parts written by `row`.
    pub(crate) fn values<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut row: impl FnMut(&mut Values<'_>, T),
    ) -> &mut Self {
        for (i, item) in items.into_iter().enumerate() {
            self.push(if i == 0 { "(" } else { ", (" });
            row(
                &mut Values {
                    statement: self,
                    first: true,
                },
                item,
            );
            self.push(")");
        }
        self
    }
}

/// One row of a `VALUES` list being written: its values, comma-separated.
pub(crate) struct Values<'s> {
    statement: &'s mut Statement,
    first: bool,
}

impl Values<'_> {
    fn comma(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.statement.push(", ");
        }
    }

    pub(crate) fn bind(&mut self, arg: impl Into<Arg>) -> &mut Self {
        self.comma();
        self.statement.bind(arg);
        self
    }
}

/// Runs the batch's statements, on one connection inside one transaction.
#[async_trait::async_trait]
pub(crate) trait Run: Send {
    /// A statement that returns whole jobs (`RETURNING *`).
    async fn jobs(&mut self, statement: &Statement) -> Result<Vec<Job>, StoreError>;
    /// A statement returning `id`, `log_seq` and `version` per row.
    async fn reserved(
        &mut self,
        statement: &Statement,
    ) -> Result<Vec<(JobId, i64, i64)>, StoreError>;
    /// A statement whose rows are not needed.
    async fn execute(&mut self, statement: &Statement) -> Result<(), StoreError>;
    /// The status of one job, read after a guarded write left it out.
    async fn status_of(&mut self, id: JobId) -> Result<Option<String>, StoreError>;
}

/// A connection of either database, for [`Run`].
pub(crate) struct On<'c, DB: Database>(pub(crate) &'c mut DB::Connection);

fn query<'q, DB>(
    statement: &'q Statement,
) -> sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    for<'a> <DB as Database>::Arguments<'a>: IntoArguments<'a, DB>,
    for<'a> Option<String>: Encode<'a, DB> + Type<DB>,
    for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
    for<'a> Option<f64>: Encode<'a, DB> + Type<DB>,
{
    let mut query = sqlx::query(&statement.sql);
    for arg in &statement.args {
        query = match arg {
            Arg::Text(value) => query.bind(value.clone()),
            Arg::Int(value) => query.bind(*value),
            Arg::Real(value) => query.bind(*value),
        };
    }
    query
}

#[async_trait::async_trait]
impl<DB> Run for On<'_, DB>
where
    DB: Database,
    for<'a> <DB as Database>::Arguments<'a>: IntoArguments<'a, DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> Option<String>: Encode<'a, DB> + Type<DB>,
    for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
    for<'a> Option<f64>: Encode<'a, DB> + Type<DB>,
    for<'a> String: Encode<'a, DB> + Type<DB> + Decode<'a, DB>,
    for<'a> i64: Type<DB> + Decode<'a, DB>,
    for<'a> f64: Type<DB> + Decode<'a, DB>,
    for<'a> bool: Type<DB> + Decode<'a, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn jobs(&mut self, statement: &Statement) -> Result<Vec<Job>, StoreError> {
        let rows = query::<DB>(statement).fetch_all(&mut *self.0).await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn reserved(
        &mut self,
        statement: &Statement,
    ) -> Result<Vec<(JobId, i64, i64)>, StoreError> {
        let rows = query::<DB>(statement).fetch_all(&mut *self.0).await?;
        rows.iter()
            .map(|row| {
                Ok((
                    parse_id(&row.try_get::<String, _>("id")?)?,
                    row.try_get("log_seq")?,
                    row.try_get("version")?,
                ))
            })
            .collect()
    }

    async fn execute(&mut self, statement: &Statement) -> Result<(), StoreError> {
        query::<DB>(statement).execute(&mut *self.0).await?;
        Ok(())
    }

    async fn status_of(&mut self, id: JobId) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(crate::store::sql::STATUS_OF)
            .bind(Some(id.to_string()))
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(row.map(|row| row.try_get("status")).transpose()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_the_order_values_are_bound() {
        let mut statement = Statement::new("INSERT INTO t VALUES ");
        statement.values([1_i64, 2], |row, n| {
            row.bind(n).bind(format!("x{n}"));
        });
        assert_eq!(statement.sql, "INSERT INTO t VALUES ($1, $2), ($3, $4)");
        assert_eq!(statement.args.len(), 4);
    }
}
