//! A statement built at run time, its text with `$N` placeholders and the values bound to them,
//! and [`Run`]: running one on either database inside the batch's transaction. The batch's
//! statements are built once, as data, and each backend only says how to run them.

use std::fmt::Write as _;

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};

use crate::job::{Job, JobId, LogLine};
use crate::store::rows::{job_from_row, log_from_row, parse_id};
use crate::store::StoreError;

/// Rows per multi-row statement (each binds up to 11 values: far below either database's
/// limit on placeholders).
pub(crate) const ROWS_PER_STATEMENT: usize = 256;

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

impl Arg {
    /// NULL, of the same type.
    fn null(&self) -> Arg {
        match self {
            Arg::Text(_) => Arg::Text(None),
            Arg::Int(_) => Arg::Int(None),
            Arg::Real(_) => Arg::Real(None),
        }
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

    /// The text with anonymous placeholders (`?`) in place of `$1`, `$2`, ..., for a driver
    /// that binds values in the order placeholders appear: SQLite looks each named placeholder
    /// up by name, once per placeholder, which grows with the square of their number (seconds
    /// for a statement of a few thousand values), while anonymous ones cost nothing to find.
    /// `None` unless each of `$1` to `$n` appears once, in order: every statement built here
    /// binds as it writes, so only a fixed text could break that.
    pub(crate) fn positional(&self) -> Option<String> {
        let mut out = String::with_capacity(self.sql.len());
        let mut rest = self.sql.as_str();
        let mut expected = 1usize;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if rest[..digits].parse::<usize>().ok()? != expected {
                return None;
            }
            out.push('?');
            rest = &rest[digits..];
            expected += 1;
        }
        out.push_str(rest);
        (expected == self.args.len() + 1).then_some(out)
    }

    /// Appends `(..), (..)`: one parenthesised row per item, its parts written by `row`,
    /// then rows of NULLs (typed as the first row's values) up to the next power of two. So a
    /// statement's text takes one of a few shapes whatever the batch holds, and the prepared
    /// form of each is reused; every statement drops rows whose `id` is NULL.
    pub(crate) fn values<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut row: impl FnMut(&mut Values<'_>, T),
    ) -> &mut Self {
        let mut first_row = 0..0;
        let mut rows = 0usize;
        for item in items {
            self.push(if rows == 0 { "(" } else { ", (" });
            let start = self.args.len();
            row(
                &mut Values {
                    statement: self,
                    first: true,
                },
                item,
            );
            if rows == 0 {
                first_row = start..self.args.len();
            }
            self.push(")");
            rows += 1;
        }
        if rows == 0 {
            return self;
        }
        let nulls: Vec<Arg> = self.args[first_row].iter().map(Arg::null).collect();
        for _ in rows..rows.next_power_of_two() {
            self.push(", (");
            for (i, null) in nulls.iter().enumerate() {
                self.push(if i == 0 { "" } else { ", " }).bind(null.clone());
            }
            self.push(")");
        }
        self
    }

    /// The text with every placeholder `$N` shifted to `$(N + offset)`. Statement texts carry
    /// `$` only in placeholders: every value is bound, never written into the text.
    fn renumbered(&self, offset: usize) -> String {
        let mut out = String::with_capacity(self.sql.len() + 16);
        let mut rest = self.sql.as_str();
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if let Ok(n) = rest[..digits].parse::<usize>() {
                let _ = write!(out, "{}", n + offset);
                rest = &rest[digits..];
            }
        }
        out.push_str(rest);
        out
    }

    /// `parts` as one statement (PostgreSQL's data-modifying `WITH`): each part a table `sK`
    /// of its own, the rows of those that return rows (whole jobs, every one in the same
    /// shape) with the part's number in `part`. All parts see the database as it was before
    /// the statement, so each must change rows no other part changes or reads.
    pub(crate) fn fused(parts: &[(Statement, Rows)]) -> Statement {
        let mut fused = Statement::new("WITH ");
        for (k, (part, _)) in parts.iter().enumerate() {
            let text = part.renumbered(fused.args.len());
            let _ = write!(
                fused.sql,
                "{}s{k} AS ({text})",
                if k == 0 { "" } else { ", " }
            );
            fused.args.extend(part.args.iter().cloned());
        }
        let selects: Vec<String> = parts
            .iter()
            .enumerate()
            .filter(|(_, (_, rows))| *rows != Rows::None)
            .map(|(k, _)| format!("SELECT CAST({k} AS BIGINT) AS part, s{k}.* FROM s{k}"))
            .collect();
        fused.push(" ");
        if selects.is_empty() {
            fused.push("SELECT CAST(0 AS BIGINT) AS part WHERE FALSE");
        } else {
            fused.push(selects.join(" UNION ALL "));
        }
        fused
    }

    /// The bytes of text bound to this statement.
    pub(crate) fn bound_text_bytes(&self) -> usize {
        self.args
            .iter()
            .map(|arg| match arg {
                Arg::Text(Some(text)) => text.len(),
                _ => 0,
            })
            .sum()
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

/// What a statement returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rows {
    /// Whole jobs (`RETURNING *`).
    Jobs,
    /// `id`, `log_seq`, `version` and `parent_id` per row.
    Reserved,
    /// Nothing anyone reads.
    None,
}

/// A statement's rows, as [`Rows`] said.
#[derive(Debug)]
pub(crate) enum Output {
    Jobs(Vec<Job>),
    Reserved(Vec<(JobId, i64, i64, Option<JobId>)>),
    Done,
}

/// Runs the batch's statements, on one connection inside one transaction.
#[async_trait::async_trait]
pub(crate) trait Run: Send {
    /// Runs `statements` in order, each one's rows decoded as it says. The first `independent`
    /// of them change rows none of the others among them changes, so a backend may run them as
    /// one statement ([`Statement::fused`]).
    async fn script(
        &mut self,
        statements: &[(Statement, Rows)],
        independent: usize,
    ) -> Result<Vec<Output>, StoreError>;
    /// A statement that returns whole jobs.
    async fn jobs(&mut self, statement: &Statement) -> Result<Vec<Job>, StoreError>;
    /// A statement that returns whole log lines, each with its job.
    async fn lines(&mut self, statement: &Statement) -> Result<Vec<(JobId, LogLine)>, StoreError>;
    /// The status of one job, read after a guarded write left it out.
    async fn status_of(&mut self, id: JobId) -> Result<Option<String>, StoreError>;
    /// One row of numbers: the first row `statement` returns, `columns` read as floats (the
    /// statement casts them), or `None` without rows.
    async fn numbers(
        &mut self,
        statement: &Statement,
        columns: &[&str],
    ) -> Result<Option<Vec<f64>>, StoreError>;
    /// Where [`Run::script`] committed the batch's transaction itself (SQLite sends `BEGIN`,
    /// the statements and `COMMIT` in one trip), begins another for the writes that follow
    /// (children made, families settled: `family/`) and says so; elsewhere the batch's
    /// transaction is still open and nothing is done.
    async fn reopen(&mut self) -> Result<bool, StoreError> {
        Ok(false)
    }
    /// Commits the transaction [`Run::reopen`] began.
    async fn commit(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Rolls back the transaction [`Run::reopen`] began.
    async fn rollback(&mut self) {}
}

/// A connection of either database, for [`Run`]: one round trip per statement.
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
    bind_all(sqlx::query(&statement.sql), &statement.args)
}

/// Binds `args` to `query` in order.
pub(crate) fn bind_all<'q, DB>(
    mut query: sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>,
    args: &[Arg],
) -> sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    for<'a> Option<String>: Encode<'a, DB> + Type<DB>,
    for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
    for<'a> Option<f64>: Encode<'a, DB> + Type<DB>,
{
    for arg in args {
        query = match arg {
            Arg::Text(value) => query.bind(value.clone()),
            Arg::Int(value) => query.bind(*value),
            Arg::Real(value) => query.bind(*value),
        };
    }
    query
}

/// Decodes rows as `rows` says.
pub(crate) fn decode<R>(rows: Rows, found: &[R]) -> Result<Output, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'a> String: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> i64: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> f64: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> bool: Decode<'a, R::Database> + Type<R::Database>,
{
    Ok(match rows {
        Rows::Jobs => Output::Jobs(found.iter().map(job_from_row).collect::<Result<_, _>>()?),
        Rows::Reserved => Output::Reserved(
            found
                .iter()
                .map(|row| {
                    Ok((
                        parse_id(&row.try_get::<String, _>("id")?)?,
                        row.try_get("log_seq")?,
                        row.try_get("version")?,
                        row.try_get::<Option<String>, _>("parent_id")?
                            .map(|id| parse_id(&id))
                            .transpose()?,
                    ))
                })
                .collect::<Result<_, StoreError>>()?,
        ),
        Rows::None => Output::Done,
    })
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
    async fn script(
        &mut self,
        statements: &[(Statement, Rows)],
        _independent: usize,
    ) -> Result<Vec<Output>, StoreError> {
        let mut outputs = Vec::with_capacity(statements.len());
        for (statement, rows) in statements {
            let found = match rows {
                Rows::None => {
                    query::<DB>(statement).execute(&mut *self.0).await?;
                    Vec::new()
                }
                _ => query::<DB>(statement).fetch_all(&mut *self.0).await?,
            };
            outputs.push(decode(*rows, &found)?);
        }
        Ok(outputs)
    }

    async fn jobs(&mut self, statement: &Statement) -> Result<Vec<Job>, StoreError> {
        let rows = query::<DB>(statement).fetch_all(&mut *self.0).await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn lines(&mut self, statement: &Statement) -> Result<Vec<(JobId, LogLine)>, StoreError> {
        let rows = query::<DB>(statement).fetch_all(&mut *self.0).await?;
        rows.iter()
            .map(|row| {
                Ok((
                    parse_id(&row.try_get::<String, _>("job_id")?)?,
                    log_from_row(row)?,
                ))
            })
            .collect()
    }

    async fn numbers(
        &mut self,
        statement: &Statement,
        columns: &[&str],
    ) -> Result<Option<Vec<f64>>, StoreError> {
        let Some(row) = query::<DB>(statement).fetch_optional(&mut *self.0).await? else {
            return Ok(None);
        };
        let values = columns
            .iter()
            .map(|column| {
                row.try_get::<Option<f64>, _>(*column)
                    .map(|v| v.unwrap_or(0.0))
            })
            .collect::<Result<Vec<f64>, _>>()?;
        Ok(Some(values))
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
        assert_eq!(
            statement.positional().as_deref(),
            Some("INSERT INTO t VALUES (?, ?), (?, ?)")
        );
    }

    #[test]
    fn only_placeholders_in_binding_order_become_positional() {
        let reused = Statement {
            sql: "SELECT $1, $2, $1".to_owned(),
            args: vec![Arg::from(1_i64), Arg::from(2_i64)],
        };
        assert_eq!(reused.positional(), None);
        let unbound = Statement {
            sql: "SELECT $1, $2".to_owned(),
            args: vec![Arg::from(1_i64)],
        };
        assert_eq!(unbound.positional(), None);
    }
}
