//! SQLite behind the [`Backend`] contract: one file, one node. WAL, `synchronous=NORMAL`, a busy
//! timeout and foreign keys; one writer connection, through which every write is serialised
//! (the hot ones grouped into batches by the group-commit writer, `store/batch/`, which this
//! module feeds with its `Dialect` and its transactions), and a small pool of readers, so a
//! slow reader never holds up a writer and writers never see "database is locked". Opening it
//! is in `connect.rs`, the claim statement and leases in `claims.rs`; pruning, freed pages and
//! backups in `retention.rs`.

mod claims;
mod connect;
mod control;
mod retention;

pub use connect::database_file;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{Either, Executor, Sqlite};
use tokio::sync::watch;

use super::batch::{
    self, Arg, Batch, Committed, Dialect, On, Output, Rows, Run, Statement, Transactions, Writes,
};
use super::rows::job_from_row;
use super::shared::Shared;
use super::sql;
use super::{
    Attempt, Backend, BulkAction, BulkStep, CancelOutcome, Change, JobFilter, ListFilter,
    PruneRule, ScheduleState, StoreError, TypeStats, Upload,
};
use crate::job::{Action, Job, JobId, JobStatus, LogLine, Timestamp};

/// The SET clause that gives the one job a statement changes the next change sequence number.
/// Statements changing several rows number them with `base + ord` instead (see [`DIALECT`]):
/// this subquery is evaluated once per statement, so all its rows would share one number.
const NEXT_CHANGE: &str = "change_seq = (SELECT MAX(change_seq) + 1 FROM jobs)";

/// The schema, from `migrations/sqlite/`, built into the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How a long a write waits for another process's write lock before giving up. Long enough that
/// a busy neighbour never surfaces as "database is locked" to a client.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Readers at once; SQLite in WAL mode lets them run beside the writer.
const READERS: u32 = 4;

/// How the batch's statements read on SQLite: each statement's rows are numbered from the
/// highest change number before it (`base`, safe under the one writer), plus their ordinal.
pub(super) static DIALECT: Dialect = Dialect {
    with_now,
    change: "(SELECT base FROM c) + u.ord",
    returning: "RETURNING *",
    returning_reserved: "RETURNING id, log_seq, version, parent_id",
    text: str::to_owned,
    claim: claims::claim,
    next_change: NEXT_CHANGE,
};

fn with_now(statement: &mut Statement, now: Timestamp) {
    statement
        .push("WITH c (now, base) AS MATERIALIZED (SELECT ")
        .bind(now.as_millis())
        .push(", (SELECT COALESCE(MAX(change_seq), 0) FROM jobs))");
}

/// The job store. Cheap to clone: both pools are shared handles.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Exactly one connection: every write is serialised here, in this process.
    writer: SqlitePool,
    reader: SqlitePool,
    /// Bumped after every committed change to a job, so the stream poller and the event
    /// streams look at once instead of at their next tick. A `watch`: a burst of writes wakes
    /// each listener once.
    changed: Arc<watch::Sender<u64>>,
    /// The group-commit writer, on the writer connection.
    writes: Writes,
    /// Log lines kept per job (see [`Store::keep_log_lines`]).
    keep_log_lines: Arc<AtomicI64>,
    /// Write transactions committed, the batch writer's included (see [`Backend::commits`]).
    commits: Arc<AtomicU64>,
}

/// An UPDATE of the one job `$2` with `set` where `guard` allows, taking the next change number
/// (one per statement: SQLite's single writer makes `MAX + 1` safe).
fn update_one(set: &str, guard: &str) -> String {
    format!("UPDATE jobs SET {set}, {NEXT_CHANGE} WHERE jobs.id = $2 AND {guard} RETURNING *")
}

/// The batch writer's transactions: on the one writer connection, so batches and the other
/// writes take turns.
struct Batches {
    writer: SqlitePool,
}

#[async_trait::async_trait]
impl Transactions for Batches {
    /// The whole batch in one round trip to the connection's thread ([`OneTrip`]); the few
    /// reads that answer refused writes, if any, after the commit.
    async fn transaction(&self, work: &Batch, keep: i64) -> Result<Committed, StoreError> {
        let mut conn = self.writer.acquire().await?;
        let results = batch::apply(&mut OneTrip(&mut conn), &DIALECT, work, keep).await?;
        Ok(Committed::Yes(results))
    }

    fn is_closed(&self) -> bool {
        self.writer.is_closed()
    }
}

/// The most text a batch may bind and still have its prepared statements kept for reuse.
const KEEP_PREPARED_UP_TO: usize = 64 * 1024;

/// Runs a batch's statements in one round trip: `BEGIN IMMEDIATE`, every statement, `COMMIT`,
/// sent as one query with all their values (sqlx's SQLite driver runs the statements of a
/// query in turn, binding anonymous placeholders from one list in order; see
/// [`Statement::positional`]). Each round trip to the connection's thread
/// costs two thread wake-ups, far more than a small statement itself; the batch pays them
/// once. On any error the transaction is rolled back and nothing of the batch is applied.
struct OneTrip<'c>(&'c mut SqliteConnection);

#[async_trait::async_trait]
impl Run for OneTrip<'_> {
    /// Sends every statement at once, whether or not they are independent.
    async fn script(
        &mut self,
        statements: &[(Statement, Rows)],
        _independent: usize,
    ) -> Result<Vec<Output>, StoreError> {
        let mut sql = String::from("BEGIN IMMEDIATE; ");
        let mut args = Vec::new();
        for (statement, _) in statements {
            let text = statement.positional().ok_or_else(|| {
                StoreError::Corrupt(format!("a statement binds out of order: {}", statement.sql))
            })?;
            sql.push_str(&text);
            sql.push_str("; ");
            args.extend(statement.args.iter().cloned());
        }
        sql.push_str("COMMIT");
        // A prepared statement keeps its last values until it runs again: a batch that carried
        // large texts (long log lines) is not kept, so the cache never holds many of them.
        let text: usize = statements.iter().map(|(s, _)| s.bound_text_bytes()).sum();
        let keep = text <= KEEP_PREPARED_UP_TO;
        let result = one_trip(self.0, &sql, &args, statements, keep).await;
        if result.is_err() {
            // Whatever ran stays uncommitted; a statement that failed at BEGIN leaves nothing
            // to roll back, and that error is the one to report.
            let _ = sqlx::query("ROLLBACK").execute(&mut *self.0).await;
        }
        result
    }

    async fn jobs(&mut self, statement: &Statement) -> Result<Vec<Job>, StoreError> {
        On::<Sqlite>(self.0).jobs(statement).await
    }

    async fn lines(&mut self, statement: &Statement) -> Result<Vec<(JobId, LogLine)>, StoreError> {
        On::<Sqlite>(self.0).lines(statement).await
    }

    async fn status_of(&mut self, id: JobId) -> Result<Option<String>, StoreError> {
        On::<Sqlite>(self.0).status_of(id).await
    }

    async fn numbers(
        &mut self,
        statement: &Statement,
        columns: &[&str],
    ) -> Result<Option<Vec<f64>>, StoreError> {
        On::<Sqlite>(self.0).numbers(statement, columns).await
    }

    /// The script committed: the family step gets a transaction of its own, on the same
    /// writer connection, right after (see `batch/family/` for what a crash between them
    /// leaves, and the sweep that settles it).
    async fn reopen(&mut self) -> Result<bool, StoreError> {
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *self.0).await?;
        Ok(true)
    }

    async fn commit(&mut self) -> Result<(), StoreError> {
        sqlx::query("COMMIT").execute(&mut *self.0).await?;
        Ok(())
    }

    async fn rollback(&mut self) {
        let _ = sqlx::query("ROLLBACK").execute(&mut *self.0).await;
    }
}

async fn one_trip(
    conn: &mut SqliteConnection,
    sql: &str,
    args: &[Arg],
    statements: &[(Statement, Rows)],
    keep_prepared: bool,
) -> Result<Vec<Output>, StoreError> {
    let query = batch::bind_all(sqlx::query(sql).persistent(keep_prepared), args);
    let mut steps = conn.fetch_many(query);
    // Rows belong to the statement whose end comes next; `BEGIN` ends first.
    let mut rows: Vec<Vec<SqliteRow>> = statements.iter().map(|_| Vec::new()).collect();
    let mut ended = 0usize;
    while let Some(step) = steps.try_next().await? {
        match step {
            Either::Left(_) => ended += 1,
            Either::Right(row) => {
                if let Some(found) = ended.checked_sub(1).and_then(|i| rows.get_mut(i)) {
                    found.push(row);
                }
            }
        }
    }
    if ended != statements.len() + 2 {
        return Err(StoreError::Corrupt(format!(
            "a batch of {} statements ended {ended} times",
            statements.len()
        )));
    }
    statements
        .iter()
        .zip(rows)
        .map(|((_, kind), found)| batch::decode(*kind, &found))
        .collect()
}

impl SqliteStore {
    /// Passes a write on: called after every committed change to a job.
    fn wrote(&self) {
        self.committed();
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Counts a committed write transaction.
    fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// The group-commit writer of this store.
    pub(crate) fn writes(&self) -> &Writes {
        &self.writes
    }

    /// After a guarded UPDATE matched nothing: was the job missing, or in the wrong state?
    async fn why_not(&self, id: JobId) -> StoreError {
        Shared(&self.writer).why_not(id).await
    }
}

#[async_trait::async_trait]
impl Backend for SqliteStore {
    async fn count_by_type_and_status(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        Shared(&self.reader).count_by_type_and_status().await
    }

    /// Each job keeps at most its `lines` newest log lines from now on; older ones are deleted
    /// as new ones are written, so a chatty job cannot fill the disk.
    fn keep_log_lines(&self, lines: i64) {
        self.keep_log_lines.store(lines.max(1), Ordering::Relaxed);
    }

    async fn count_queued(&self, job_type: &str) -> Result<i64, StoreError> {
        Shared(&self.reader).count_queued(job_type.to_owned()).await
    }

    /// A receiver that changes after a job changed through this store (this process's writes
    /// only; others' are found by polling [`Backend::changes_since`]).
    fn watch_changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// None: SQLite has no notifications between processes. This process's creates wake its
    /// runner directly; jobs queued by another process on the same file wait for the
    /// runner's next poll.
    fn watch_queued(&self) -> Option<watch::Receiver<u64>> {
        None
    }

    async fn max_change_seq(&self) -> Result<i64, StoreError> {
        Shared(&self.reader).max_change_seq().await
    }

    async fn changes_since(&self, after: i64, limit: i64) -> Result<Vec<Change>, StoreError> {
        Shared(&self.reader).changes_since(after, limit).await
    }

    /// The jobs with these ids (those that exist), in one query.
    async fn get_jobs(&self, ids: &[JobId]) -> Result<Vec<Job>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = sqlx::QueryBuilder::new("SELECT * FROM jobs WHERE id IN (");
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(id.to_string());
        }
        query.push(")");
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn insert_upload(&self, upload: &Upload) -> Result<(), StoreError> {
        Shared(&self.writer)
            .insert_upload(upload, str::to_owned)
            .await
    }

    async fn get_upload(&self, id: &str) -> Result<Option<Upload>, StoreError> {
        Shared(&self.reader).get_upload(id.to_owned()).await
    }

    async fn delete_unused_uploads(&self, before: Timestamp) -> Result<Vec<String>, StoreError> {
        Shared(&self.writer).delete_unused_uploads(before).await
    }

    /// Also takes the write lock (and releases it at once, writing nothing): another process
    /// holding it for long would hold up every write here.
    async fn check_ready(&self) -> Result<(), StoreError> {
        Shared(&self.reader).check_migrated(&MIGRATOR).await?;
        let mut conn = self.writer.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        sqlx::query("ROLLBACK").execute(&mut *conn).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Shared(&self.reader).ping().await
    }

    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Closes both pools, waiting for queries under way.
    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    async fn children_changed(
        &self,
        parent: JobId,
        after: i64,
        upto: i64,
    ) -> Result<Vec<Job>, StoreError> {
        Shared(&self.reader)
            .children_changed(parent, after, upto)
            .await
    }

    async fn children(
        &self,
        parent: JobId,
        after: Option<JobId>,
        limit: i64,
    ) -> Result<Vec<Job>, StoreError> {
        Shared(&self.reader).children(parent, after, limit).await
    }

    async fn get_job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        Shared(&self.reader).get_job(id).await
    }

    async fn list_jobs(&self, filter: &ListFilter) -> Result<Vec<Job>, StoreError> {
        Shared(&self.reader)
            // SQLite's LIKE ignores the case of ASCII letters.
            .list_jobs(filter, filter.job_type.clone(), filter.q.clone(), "LIKE")
            .await
    }

    async fn logs_after_seq(
        &self,
        id: JobId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LogLine>, StoreError> {
        Shared(&self.reader).logs_after_seq(id, after, limit).await
    }

    async fn logs_between_versions(
        &self,
        id: JobId,
        after: i64,
        upto: i64,
    ) -> Result<Vec<LogLine>, StoreError> {
        Shared(&self.reader)
            .logs_between_versions(id, after, upto)
            .await
    }

    async fn cancel(&self, id: JobId, external: bool) -> Result<CancelOutcome, StoreError> {
        let set = format!("{}, {}", sql::cancelled_set("$1"), sql::end_version("0"));
        let statement = update_one(&set, &sql::cancel_guard());
        let outcome = Shared(&self.writer)
            .cancel(&statement, id, external)
            .await?;
        if let CancelOutcome::Cancelled(_) = outcome {
            self.wrote();
        }
        Ok(outcome)
    }

    async fn retry(&self, id: JobId) -> Result<Job, StoreError> {
        let now = Timestamp::now();
        let mut tx = self.writer.begin().await?;
        let guard = sql::status_allows("jobs.status", Action::Retry);
        let row = sqlx::query(&update_one(&sql::retry_set(), &guard))
            .bind(now.as_millis())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            drop(tx);
            return Err(self.why_not(id).await);
        };
        let job = job_from_row(&row)?;
        sqlx::query(&format!(
            "INSERT INTO {} VALUES ($1, $2, $3, $4, 'info', $5)",
            sql::INSERT_LOG_COLUMNS
        ))
        .bind(id.to_string())
        .bind(job.log_seq)
        .bind(job.version)
        .bind(now.as_millis())
        .bind(sql::RETRY_NOTE)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.wrote();
        Ok(job)
    }

    async fn renew_leases(&self, owner: &str, lease: Duration) -> Result<Vec<JobId>, StoreError> {
        self.renew(owner, lease).await
    }

    async fn recover_expired(&self) -> Result<Vec<Job>, StoreError> {
        self.recover().await
    }

    async fn prunable_jobs(
        &self,
        rule: &PruneRule,
        limit: usize,
    ) -> Result<Vec<JobId>, StoreError> {
        retention::prunable_jobs(self, rule, limit).await
    }

    async fn count_prunable(&self, rule: &PruneRule) -> Result<(u64, u64), StoreError> {
        retention::count_prunable(self, rule).await
    }

    async fn delete_prunable_logs(
        &self,
        ids: &[JobId],
        rule: &PruneRule,
        limit: usize,
    ) -> Result<u64, StoreError> {
        retention::delete_prunable_logs(self, ids, rule, limit).await
    }

    async fn delete_prunable_jobs(
        &self,
        ids: &[JobId],
        rule: &PruneRule,
    ) -> Result<u64, StoreError> {
        retention::delete_prunable_jobs(self, ids, rule).await
    }

    // --- Control: the shared reads and writes, and this backend's own (`control.rs`) ---

    async fn type_stats(&self, now: Timestamp) -> Result<Vec<TypeStats>, StoreError> {
        Shared(&self.reader).type_stats(now).await
    }

    async fn forget_finishes(&self, before: Timestamp) -> Result<u64, StoreError> {
        Shared(&self.writer).forget_finishes(before).await
    }

    async fn count_matching(
        &self,
        filter: &JobFilter,
        status: JobStatus,
    ) -> Result<u64, StoreError> {
        Shared(&self.reader)
            .count_matching(filter, status, str::to_owned)
            .await
    }

    async fn bulk_step(
        &self,
        action: BulkAction,
        filter: &JobFilter,
        status: JobStatus,
        after: Option<JobId>,
        limit: usize,
    ) -> Result<BulkStep, StoreError> {
        self.bulk(action, filter, status, after, limit).await
    }

    async fn pause_type(&self, job_type: &str, at: Timestamp) -> Result<Timestamp, StoreError> {
        self.pause(job_type, at).await
    }

    async fn resume_type(&self, job_type: &str) -> Result<bool, StoreError> {
        self.resume(job_type).await
    }

    async fn paused_types(&self) -> Result<Vec<(String, Timestamp)>, StoreError> {
        Shared(&self.reader).paused_types().await
    }

    async fn attempts(&self, id: JobId) -> Result<Vec<Attempt>, StoreError> {
        Shared(&self.reader).attempts(id).await
    }

    async fn schedule_states(&self) -> Result<Vec<ScheduleState>, StoreError> {
        Shared(&self.reader).schedule_states().await
    }

    async fn set_schedule_paused(
        &self,
        name: &str,
        paused: bool,
        at: Timestamp,
    ) -> Result<ScheduleState, StoreError> {
        let state = Shared(&self.writer)
            .set_schedule_paused(str::to_owned(name), paused, at)
            .await?;
        self.committed();
        Ok(state)
    }

    async fn record_schedule_run(
        &self,
        name: &str,
        at: Timestamp,
        job: JobId,
        manual: bool,
    ) -> Result<bool, StoreError> {
        let recorded = Shared(&self.writer)
            .record_schedule_run(str::to_owned(name), at, job, manual)
            .await?;
        self.committed();
        Ok(recorded)
    }
}
