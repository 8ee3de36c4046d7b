//! The reads and plain writes both backends run the same way, written once: the same statement
//! (`sql.rs`), the same binds, the same mapping (`rows.rs`), on either database's pool. A
//! backend calls them with its pool, `Shared(&self.reader).get_job(id)`, and keeps to itself
//! only what differs.

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::rows::{job_from_row, log_from_row, parse_id, refusal};
use super::{sql, CancelOutcome, Change, ListFilter, PruneRule, StoreError, Upload};
use crate::job::{Job, JobId, LogLine, Timestamp};

/// A query on `DB` with its arguments.
pub(super) type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// A pool of either database, for the statements both run alike.
pub(super) struct Shared<'p, DB: Database>(pub &'p Pool<DB>);

impl<DB> Shared<'_, DB>
where
    DB: Database,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> String: Encode<'q, DB> + Type<DB> + Decode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB> + Decode<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB> + Decode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Decode<'q, DB>,
    for<'q> bool: Encode<'q, DB>,
    for<'q> f64: Type<DB> + Decode<'q, DB>,
    for<'q> bool: Type<DB> + Decode<'q, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    DB::QueryResult: Affected,
{
    pub async fn get_job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query(sql::GET_JOB)
            .bind(id.to_string())
            .fetch_optional(self.0)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// After a guarded write matched nothing: was the job missing, or in a status that
    /// refused it?
    pub async fn why_not(&self, id: JobId) -> StoreError {
        let status: Result<Option<String>, sqlx::Error> = sqlx::query_scalar(sql::STATUS_OF)
            .bind(id.to_string())
            .fetch_optional(self.0)
            .await;
        match status {
            Ok(status) => refusal(id, status),
            Err(e) => e.into(),
        }
    }

    pub async fn list_jobs(
        &self,
        filter: &ListFilter,
        job_type: Option<String>,
    ) -> Result<Vec<Job>, StoreError> {
        // Only the filters given become conditions, so each list's plan can use its index.
        let mut conditions = Vec::new();
        let mut texts = Vec::new();
        for (column, value) in [
            ("status", filter.status.map(|s| s.as_str().to_owned())),
            ("type", job_type),
            ("id <", filter.before.map(|id| id.to_string())),
        ] {
            if let Some(value) = value {
                texts.push(value);
                let op = if column.ends_with('<') { "" } else { " =" };
                conditions.push(format!(" AND {column}{op} ${}", texts.len()));
            }
        }
        let statement = format!(
            "SELECT * FROM jobs WHERE 1 = 1{} ORDER BY id DESC LIMIT ${}",
            conditions.concat(),
            texts.len() + 1
        );
        let mut query = sqlx::query(&statement);
        for text in texts {
            query = query.bind(text);
        }
        let rows = query.bind(filter.limit).fetch_all(self.0).await?;
        rows.iter().map(job_from_row).collect()
    }

    pub async fn count_queued(&self, job_type: String) -> Result<i64, StoreError> {
        let row = sqlx::query(&sql::count_queued())
            .bind(job_type)
            .fetch_one(self.0)
            .await?;
        Ok(row.try_get("n")?)
    }

    pub async fn count_by_type_and_status(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(sql::COUNT_BY_TYPE_AND_STATUS)
            .fetch_all(self.0)
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("type")?,
                    row.try_get("status")?,
                    row.try_get("n")?,
                ))
            })
            .collect()
    }

    pub async fn max_change_seq(&self) -> Result<i64, StoreError> {
        let row = sqlx::query(sql::MAX_CHANGE_SEQ).fetch_one(self.0).await?;
        Ok(row.try_get("seq")?)
    }

    pub async fn changes_since(&self, after: i64, limit: i64) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(sql::CHANGES_SINCE)
            .bind(after)
            .bind(limit)
            .fetch_all(self.0)
            .await?;
        rows.iter()
            .map(|row| {
                let id = parse_id(&row.try_get::<String, _>("id")?)?;
                Ok((id, row.try_get("version")?, row.try_get("change_seq")?))
            })
            .collect()
    }

    pub async fn logs_after_seq(
        &self,
        id: JobId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LogLine>, StoreError> {
        self.logs(sql::LOGS_AFTER_SEQ, id, after, limit).await
    }

    pub async fn logs_between_versions(
        &self,
        id: JobId,
        after: i64,
        upto: i64,
    ) -> Result<Vec<LogLine>, StoreError> {
        self.logs(sql::LOGS_BETWEEN_VERSIONS, id, after, upto).await
    }

    async fn logs(
        &self,
        statement: &str,
        id: JobId,
        a: i64,
        b: i64,
    ) -> Result<Vec<LogLine>, StoreError> {
        let rows = sqlx::query(statement)
            .bind(id.to_string())
            .bind(a)
            .bind(b)
            .fetch_all(self.0)
            .await?;
        rows.iter().map(log_from_row).collect()
    }

    /// Records an upload; `text` fits strings for the database (see PostgreSQL's `pg_text`).
    pub async fn insert_upload(
        &self,
        upload: &Upload,
        text: impl Fn(&str) -> String,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_UPLOAD)
            .bind(upload.id.clone())
            .bind(upload.size)
            .bind(upload.sha256.clone())
            .bind(upload.content_type.as_deref().map(&text))
            .bind(upload.filename.as_deref().map(&text))
            .bind(upload.created_at.as_millis())
            .execute(self.0)
            .await?;
        Ok(())
    }

    pub async fn get_upload(&self, id: String) -> Result<Option<Upload>, StoreError> {
        let row = sqlx::query(sql::GET_UPLOAD)
            .bind(id)
            .fetch_optional(self.0)
            .await?;
        row.map(|row| {
            Ok(Upload {
                id: row.try_get("id")?,
                size: row.try_get("size")?,
                sha256: row.try_get("sha256")?,
                content_type: row.try_get("content_type")?,
                filename: row.try_get("filename")?,
                created_at: Timestamp::from_millis(row.try_get("created_at")?),
            })
        })
        .transpose()
    }

    pub async fn delete_unused_uploads(
        &self,
        before: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(sql::DELETE_UNUSED_UPLOADS)
            .bind(before.as_millis())
            .fetch_all(self.0)
            .await?;
        rows.iter()
            .map(|row| row.try_get("id").map_err(StoreError::from))
            .collect()
    }

    /// Every migration `migrator` knows is applied.
    pub async fn check_migrated(
        &self,
        migrator: &sqlx::migrate::Migrator,
    ) -> Result<(), StoreError> {
        let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> = sqlx::query_scalar(sql::APPLIED_MIGRATION)
            .fetch_one(self.0)
            .await?;
        if applied.unwrap_or(0) < known {
            return Err(StoreError::NotMigrated {
                applied: applied.unwrap_or(0),
                known,
            });
        }
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(self.0).await?;
        Ok(())
    }

    /// Runs a guarded write of one job (`statement`: `$1` = now, `$2` = `id`, then what
    /// `bind` adds): the job as changed, or `None` when the guard refused the write.
    async fn try_one<'q>(
        &self,
        statement: &'q str,
        id: JobId,
        bind: impl FnOnce(Query<'q, DB>) -> Query<'q, DB>,
    ) -> Result<Option<Job>, StoreError> {
        let query = sqlx::query(statement)
            .bind(Timestamp::now().as_millis())
            .bind(id.to_string());
        let row = bind(query).fetch_optional(self.0).await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// A cancel: `statement` ends a queued (or, with `external`, an unfinished external) job
    /// at once; a running in-process job is asked to stop instead.
    pub async fn cancel(
        &self,
        statement: &str,
        id: JobId,
        external: bool,
    ) -> Result<CancelOutcome, StoreError> {
        if let Some(job) = self.try_one(statement, id, |q| q.bind(external)).await? {
            return Ok(CancelOutcome::Cancelled(job));
        }
        let requested = sqlx::query(&sql::request_cancel())
            .bind(id.to_string())
            .fetch_optional(self.0)
            .await?;
        match requested {
            Some(row) => Ok(CancelOutcome::Requested(job_from_row(&row)?)),
            None => Err(self.why_not(id).await),
        }
    }

    /// Up to `limit` prunable jobs, oldest finished first. Read from a snapshot: the deletes
    /// check every job again.
    pub async fn prunable_jobs(
        &self,
        prune: &Prune,
        rule: &PruneRule,
        limit: usize,
    ) -> Result<Vec<JobId>, StoreError> {
        let rows = sqlx::query(&sql::prunable_jobs(&prune.rule))
            .bind(rule.newest_cutoff())
            .bind(rule.per_type_json())
            .bind(rule.finished_before.as_millis())
            .bind(rule.only_type.clone())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.0)
            .await?;
        rows.iter()
            .map(|row| parse_id(&row.try_get::<String, _>("id")?))
            .collect()
    }

    /// How many jobs, and log lines of theirs, the rule would prune now.
    pub async fn count_prunable(
        &self,
        prune: &Prune,
        rule: &PruneRule,
    ) -> Result<(u64, u64), StoreError> {
        let row = sqlx::query(&sql::count_prunable(&prune.rule))
            .bind(rule.newest_cutoff())
            .bind(rule.per_type_json())
            .bind(rule.finished_before.as_millis())
            .bind(rule.only_type.clone())
            .fetch_one(self.0)
            .await?;
        let count = |column: &str| -> Result<u64, StoreError> {
            Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
        };
        Ok((count("jobs")?, count("lines")?))
    }

    /// Deletes at most `limit` log lines of the jobs `ids` (bound as the backend's list) that
    /// are still prunable.
    pub async fn delete_prunable_logs<I>(
        &self,
        prune: &Prune,
        ids: I,
        rule: &PruneRule,
        limit: usize,
    ) -> Result<u64, StoreError>
    where
        for<'q> I: Encode<'q, DB> + Type<DB> + Send + 'q,
    {
        let done = sqlx::query(&sql::delete_prunable_logs(prune.ids, &prune.rule))
            .bind(ids)
            .bind(rule.per_type_json())
            .bind(rule.finished_before.as_millis())
            .bind(rule.only_type.clone())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .execute(self.0)
            .await?;
        Ok(done.affected())
    }

    /// Deletes the jobs `ids` that are still prunable and have no log lines left (so the
    /// cascade to `job_logs` never has anything to do).
    pub async fn delete_prunable_jobs<I>(
        &self,
        prune: &Prune,
        ids: I,
        rule: &PruneRule,
    ) -> Result<u64, StoreError>
    where
        for<'q> I: Encode<'q, DB> + Type<DB> + Send + 'q,
    {
        let done = sqlx::query(&sql::delete_prunable_jobs(prune.ids, &prune.rule))
            .bind(ids)
            .bind(rule.per_type_json())
            .bind(rule.finished_before.as_millis())
            .bind(rule.only_type.clone())
            .execute(self.0)
            .await?;
        Ok(done.affected())
    }
}

/// How a backend spells the parts of the prune statements that differ: which jobs may go (its
/// JSON functions read the per-type cutoffs), and the list of ids bound as `$1`.
pub(super) struct Prune {
    pub rule: String,
    pub ids: &'static str,
}

/// How many rows a statement changed (each driver's result has its own method for it).
pub(super) trait Affected {
    fn affected(&self) -> u64;
}

impl Affected for sqlx::sqlite::SqliteQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl Affected for sqlx::postgres::PgQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}
