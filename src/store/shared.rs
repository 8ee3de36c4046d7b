//! The reads and plain writes both backends run the same way, written once: the same statement
//! (`sql.rs`), the same binds, the same mapping (`rows.rs`), on either database's pool. A
//! backend calls them with its pool, `Shared(&self.reader).get_job(id)`, and keeps to itself
//! only what differs.

use std::collections::BTreeMap;

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::batch::{bind_all, Statement};
use super::rows::{job_from_row, log_from_row, parse_id, refusal};
use super::{
    sql, Attempt, CancelOutcome, Change, JobFilter, ListFilter, PruneRule, ScheduleState,
    StoreError, TypeStats, Upload,
};
use crate::job::{Job, JobId, JobStatus, LogLine, Timestamp};

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
    for<'q> Option<f64>: Encode<'q, DB> + Type<DB>,
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

    pub async fn children_changed(
        &self,
        parent: JobId,
        after: i64,
        upto: i64,
    ) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(sql::CHILDREN_CHANGED)
            .bind(parent.to_string())
            .bind(after)
            .bind(upto)
            .fetch_all(self.0)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    pub async fn children(
        &self,
        parent: JobId,
        after: Option<JobId>,
        limit: i64,
    ) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(sql::CHILDREN)
            .bind(parent.to_string())
            .bind(after.map(|id| id.to_string()).unwrap_or_default())
            .bind(limit)
            .fetch_all(self.0)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    pub async fn attempts(&self, id: JobId) -> Result<Vec<Attempt>, StoreError> {
        let rows = sqlx::query(sql::ATTEMPTS)
            .bind(id.to_string())
            .fetch_all(self.0)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Attempt {
                    attempt: row.try_get("attempt")?,
                    started_at: row
                        .try_get::<Option<i64>, _>("started_at")?
                        .map(Timestamp::from_millis),
                    finished_at: Timestamp::from_millis(row.try_get("finished_at")?),
                    outcome: row.try_get("outcome")?,
                    error: row.try_get("error")?,
                    details: row.try_get("details")?,
                    worker: row.try_get("worker")?,
                    runner: row.try_get("runner")?,
                })
            })
            .collect()
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

    /// Jobs matching `filter`, its type and text given as the database can store them
    /// (`job_type`, `q`), its text search with `like`, the backend's case-insensitive `LIKE`.
    pub async fn list_jobs(
        &self,
        filter: &ListFilter,
        job_type: Option<String>,
        q: Option<String>,
        like: &str,
    ) -> Result<Vec<Job>, StoreError> {
        // Only the filters given become conditions, so each list's plan can use its index.
        let mut conditions = Vec::new();
        let mut texts = Vec::new();
        let keys = filter
            .schedule
            .as_deref()
            .map(crate::job::schedule_key_range);
        for (column, value) in [
            ("status =", filter.status.map(|s| s.as_str().to_owned())),
            ("type =", job_type),
            ("idempotency_key >=", keys.as_ref().map(|k| k.0.clone())),
            ("idempotency_key <", keys.map(|k| k.1)),
            ("id <", filter.before.map(|id| id.to_string())),
        ] {
            if let Some(value) = value {
                texts.push(value);
                conditions.push(format!(" AND {column} ${}", texts.len()));
            }
        }
        if let Some(q) = q.filter(|q| !q.is_empty()) {
            let literal = sql::like_literal(&q);
            texts.push(format!("{literal}%"));
            texts.push(format!("%{literal}%"));
            let (prefix, part) = (texts.len() - 1, texts.len());
            conditions.push(format!(" AND {}", sql::text_search(like, prefix, part)));
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
        Ok(self
            .type_counts(Timestamp::now())
            .await?
            .into_iter()
            .map(|(job_type, status, n, _)| (job_type, status, n))
            .collect())
    }

    /// `(type, status, count, oldest due queued run_at)` (see [`sql::type_counts`]).
    async fn type_counts(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(String, String, i64, Option<i64>)>, StoreError> {
        let rows = sqlx::query(&sql::type_counts())
            .bind(now.as_millis())
            .fetch_all(self.0)
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("type")?,
                    row.try_get("status")?,
                    row.try_get("n")?,
                    row.try_get("oldest")?,
                ))
            })
            .collect()
    }

    /// Every type that has jobs or finished some in the last hour, as of `now`.
    pub async fn type_stats(&self, now: Timestamp) -> Result<Vec<TypeStats>, StoreError> {
        let mut stats: BTreeMap<String, TypeStats> = BTreeMap::new();
        for (job_type, status, n, oldest) in self.type_counts(now).await? {
            let status: JobStatus = status.parse().map_err(StoreError::Corrupt)?;
            let type_stats = of_type(&mut stats, job_type);
            *type_stats.counts.entry(status).or_default() += n;
            if let Some(oldest) = oldest {
                type_stats.oldest_due = Some(Timestamp::from_millis(oldest));
            }
        }
        let second = now.as_millis().div_euclid(1000);
        let rows = sqlx::query(sql::FINISHED_PER_MINUTE)
            .bind(second - 3600)
            .fetch_all(self.0)
            .await?;
        for row in &rows {
            let type_stats = of_type(&mut stats, row.try_get("type")?);
            let minute: i64 = row.try_get("minute")?;
            let (n, failed): (i64, i64) = (row.try_get("n")?, row.try_get("failed")?);
            let minute = usize::try_from(minute.clamp(0, 59)).unwrap_or(59);
            type_stats.finished_per_minute[minute] += n;
            type_stats.finished_last_hour += n;
            type_stats.failed_last_hour += failed;
        }
        for type_stats in stats.values_mut() {
            type_stats.finished_last_minute = type_stats.finished_per_minute[59];
        }
        Ok(stats.into_values().collect())
    }

    /// Forgets per-second finish counts from before `before`.
    pub async fn forget_finishes(&self, before: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query(sql::FORGET_FINISHES)
            .bind(before.as_millis().div_euclid(1000))
            .execute(self.0)
            .await?;
        Ok(done.affected())
    }

    pub async fn paused_types(&self) -> Result<Vec<(String, Timestamp)>, StoreError> {
        let rows = sqlx::query(sql::PAUSED_TYPES).fetch_all(self.0).await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("type")?,
                    Timestamp::from_millis(row.try_get("paused_at")?),
                ))
            })
            .collect()
    }

    pub async fn schedule_states(&self) -> Result<Vec<ScheduleState>, StoreError> {
        let rows = sqlx::query(&sql::schedule_states())
            .fetch_all(self.0)
            .await?;
        rows.iter().map(schedule_from_row).collect()
    }

    pub async fn set_schedule_paused(
        &self,
        name: String,
        paused: bool,
        at: Timestamp,
    ) -> Result<ScheduleState, StoreError> {
        let row = sqlx::query(&sql::set_schedule_paused())
            .bind(name)
            .bind(paused)
            .bind(at.as_millis())
            .fetch_one(self.0)
            .await?;
        schedule_from_row(&row)
    }

    pub async fn record_schedule_run(
        &self,
        name: String,
        at: Timestamp,
        job: JobId,
        manual: bool,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(&sql::record_schedule_run(manual))
            .bind(name)
            .bind(at.as_millis())
            .bind(job.to_string())
            .bind(Timestamp::now().as_millis())
            .fetch_optional(self.0)
            .await?;
        Ok(row.is_some())
    }

    /// How many jobs in `status` match `filter` (`text` fits strings for the database).
    pub async fn count_matching(
        &self,
        filter: &JobFilter,
        status: JobStatus,
        text: fn(&str) -> String,
    ) -> Result<u64, StoreError> {
        let mut statement = Statement::new("SELECT COUNT(*) AS n FROM jobs WHERE ");
        matching(&mut statement, filter, status, None, text);
        let row = bind_all(sqlx::query(&statement.sql), &statement.args)
            .fetch_one(self.0)
            .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
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
        let done = sqlx::query(&sql::delete_prunable_jobs(
            prune.ids,
            &prune.rule,
            prune.lock,
        ))
        .bind(ids)
        .bind(rule.per_type_json())
        .bind(rule.finished_before.as_millis())
        .bind(rule.only_type.clone())
        .execute(self.0)
        .await?;
        Ok(done.affected())
    }
}

/// The entry of `job_type` in `stats`, made empty if missing.
fn of_type(stats: &mut BTreeMap<String, TypeStats>, job_type: String) -> &mut TypeStats {
    stats.entry(job_type.clone()).or_insert_with(|| TypeStats {
        job_type,
        finished_per_minute: vec![0; 60],
        ..TypeStats::default()
    })
}

/// A schedule's state from its row.
fn schedule_from_row<R>(row: &R) -> Result<ScheduleState, StoreError>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'a> String: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> i64: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> bool: Decode<'a, R::Database> + Type<R::Database>,
{
    Ok(ScheduleState {
        name: row.try_get("name")?,
        paused: row.try_get("paused")?,
        last_run_at: row
            .try_get::<Option<i64>, _>("last_run_at")?
            .map(Timestamp::from_millis),
        last_job_id: row
            .try_get::<Option<String>, _>("last_job_id")?
            .map(|id| parse_id(&id))
            .transpose()?,
        run_count: row.try_get("run_count")?,
    })
}

/// How a backend spells the parts of the prune statements that differ: which jobs may go (its
/// JSON functions read the per-type cutoffs), and the list of ids bound as `$1`.
pub(super) struct Prune {
    pub rule: String,
    pub ids: &'static str,
    /// A `WITH` list that takes the lock the backend's writes of job statuses take (the
    /// deletes change the finished counts, which only one writer at a time may touch), joined
    /// as `change_lock`; `None` where the backend has one writer anyway.
    pub lock: Option<&'static str>,
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

/// Appends to `statement` the conditions of a bulk action's next step: jobs in `status` that
/// match `filter`, with ids above `after`. Binds its values as it writes them (`text` fits
/// strings for the database). Status is spelled as a literal, so the status index is walked
/// in id order.
pub(super) fn matching(
    statement: &mut Statement,
    filter: &JobFilter,
    status: JobStatus,
    after: Option<JobId>,
    text: fn(&str) -> String,
) {
    statement.push(format!("jobs.status = {}", sql::quoted(status)));
    if let Some(types) = &filter.types {
        statement.push(" AND jobs.type IN (");
        if types.is_empty() {
            statement.push("NULL");
        }
        for (i, job_type) in types.iter().enumerate() {
            statement
                .push(if i == 0 { "" } else { ", " })
                .bind(text(job_type));
        }
        statement.push(")");
    }
    if let Some(before) = filter.created_before {
        statement
            .push(" AND jobs.created_at < ")
            .bind(before.as_millis());
    }
    if let Some(ids) = &filter.ids {
        statement.push(" AND jobs.id IN (");
        if ids.is_empty() {
            statement.push("NULL");
        }
        for (i, id) in ids.iter().enumerate() {
            statement
                .push(if i == 0 { "" } else { ", " })
                .bind(id.to_string());
        }
        statement.push(")");
    }
    if let Some(after) = after {
        statement.push(" AND jobs.id > ").bind(after.to_string());
    }
}
