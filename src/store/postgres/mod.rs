//! PostgreSQL behind the [`Backend`] contract, for one or several jobcast processes sharing a
//! database: one connection pool; the group-commit writer (`store/batch/`) with this module's
//! `Dialect` and transactions; claims with `FOR UPDATE SKIP LOCKED`.
//!
//! What differs from SQLite, and why:
//!
//! - Change numbers come from a sequence, handed out under a lock so that pollers see them in
//!   order; see `CHANGE_LOCK`. A batch takes the lock once for all its writes, so job writes
//!   from several processes take turns batch by batch, not statement by statement.
//! - `watch_changes` wakes on every process's writes, not only this one's (`listen.rs`).
//! - A commit whose answer was lost (the connection dropped) is looked up by its transaction
//!   id, so a batch is neither applied twice nor reported lost when it was applied.
//!
//! Opening the store is in `connect.rs`, the claim statement and leases in `claims.rs`.
//! Autovacuum gives space back, and backups are `pg_dump`'s job: nothing of SQLite's
//! `retention.rs` has a counterpart here.

mod claims;
mod connect;
mod control;
mod listen;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::{Postgres, Row};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::batch::{
    self, Batch, Committed, Dialect, On, Output, Rows, Run, Statement, Transactions, Writes,
};
use super::rows::job_from_row;
use super::shared::{Prune, Shared};
use super::sql;
use super::{
    Attempt, Backend, BulkAction, BulkStep, CancelOutcome, Change, JobFilter, ListFilter,
    PruneRule, ScheduleState, StoreError, TypeStats, Upload,
};
use crate::job::{Action, Job, JobId, JobStatus, LogLine, Timestamp};

/// Added to the RETURNING list of every statement that changes jobs: tells every listening
/// process once the transaction commits, and only if some job changed (at most two
/// notifications per transaction: PostgreSQL folds identical ones). The payload is `queued`
/// when a job became queued, so idle runners on every node wake to claim it.
macro_rules! notify {
    () => {
        "pg_notify('jobcast_changes', \
         CASE WHEN jobs.status = 'queued' THEN 'queued' ELSE '' END) AS notified"
    };
}
const NOTIFY: &str = notify!();

/// The schema, from `migrations/postgres/`, built into the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The start of every statement that hands out change numbers: it takes a transaction-level
/// advisory lock (key `0x6a6f626361737400`, "jobcast\0") before anything else.
///
/// The stream poller reads `change_seq > mark` and moves its mark to the newest number it saw,
/// so numbers must become visible in the order they were handed out. A bare sequence does not
/// give that: a transaction that took 41 may commit after one that took 42, and a poller that
/// looked in between would never look at 41 again (a stream would miss that change until the
/// job changed once more).
///
/// With the lock, handing out a number and committing it happen one transaction at a time
/// across every process on the database: the lock is released only after the commit is
/// visible to new snapshots, so every snapshot sees a prefix of the numbers handed out. Each
/// such statement joins `change_lock` (materialized: evaluated once, never inlined), so no row
/// of `jobs` is locked, changed or numbered before the lock is held; a writer holding the lock
/// never waits for one that wants it, and no deadlock can form around it.
///
/// The other way, a poller that re-reads a window below its mark, costs writers nothing but
/// has no safe window: a statement can take its number and then wait for a row lock for as
/// long as another transaction holds it (`tests/api/store.rs` makes that happen). The price of
/// the lock is that job writes commit one after another, so their WAL flushes do not group;
/// and a writer that holds it while waiting for a row lock holds up the others meanwhile. The
/// statements that lock rows without it (lease renewals, cancel requests) are single, short
/// UPDATEs; a long transaction holding job rows from outside (an operator's `psql`) would
/// stall every job write until it ends. Reads never take it. The group-commit writer takes the
/// lock once per batch ([`LOCK_BATCH`]), so its many writes pay for one turn.
const CHANGE_LOCK: &str =
    "WITH change_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(7669456869411484672))";

/// The first statement of a batch's transaction: the change lock (see [`CHANGE_LOCK`]), held
/// until the commit, and the transaction's id, by which a commit whose answer was lost is
/// looked up.
const LOCK_BATCH: &str = "SELECT CAST(txid_current() AS BIGINT) AS xid \
     FROM (SELECT pg_advisory_xact_lock(7669456869411484672)) AS change_lock";

/// How the batch's statements read on PostgreSQL: numbers from the sequence (the batch holds
/// the change lock), other processes told through `NOTIFY`, text without NUL.
pub(super) static DIALECT: Dialect = Dialect {
    with_now,
    change: "nextval('job_changes')",
    returning: RETURNING_JOBS,
    returning_reserved: RETURNING_RESERVED,
    text: pg_text,
    claim: claims::claim,
    next_change: NEXT_CHANGE,
};

const RETURNING_JOBS: &str = concat!("RETURNING jobs.*, ", notify!());
/// Whole jobs, as every other returning statement: the parts of a fused batch that return rows
/// return them in one shape.
const RETURNING_RESERVED: &str = RETURNING_JOBS;

fn with_now(statement: &mut Statement, now: Timestamp) {
    statement
        .push("WITH c (now) AS MATERIALIZED (SELECT CAST(")
        .bind(now.as_millis())
        .push(" AS BIGINT))");
}

/// The batch writer's transactions, on the pool.
struct Batches {
    pool: PgPool,
}

#[async_trait::async_trait]
impl Transactions for Batches {
    async fn transaction(&self, work: &Batch, keep: i64) -> Result<Committed, StoreError> {
        let mut tx = self.pool.begin().await?;
        let xid: i64 = sqlx::query_scalar(LOCK_BATCH).fetch_one(&mut *tx).await?;
        let results = batch::apply(&mut Fused(&mut tx), &DIALECT, work, keep).await?;
        let Err(error) = tx.commit().await else {
            return Ok(Committed::Yes(results));
        };
        let error = StoreError::from(error);
        if !error.is_transient() {
            return Err(error);
        }
        // The connection went away during the commit: did it happen?
        Ok(Committed::Unknown {
            results,
            error,
            lookup: Box::pin(outcome(self.pool.clone(), xid)),
            patience: self.pool.options().get_acquire_timeout(),
        })
    }

    fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}

/// Runs a batch's independent statements as one ([`Statement::fused`]): one round trip where
/// there would be one per statement; the others one at a time.
struct Fused<'c>(&'c mut PgConnection);

#[async_trait::async_trait]
impl Run for Fused<'_> {
    async fn script(
        &mut self,
        statements: &[(Statement, Rows)],
        independent: usize,
    ) -> Result<Vec<Output>, StoreError> {
        if independent < 2 {
            return On::<Postgres>(self.0).script(statements, 0).await;
        }
        let (together, rest) = statements.split_at(independent);
        let fused = Statement::fused(together);
        let found = batch::bind_all(sqlx::query(&fused.sql), &fused.args)
            .fetch_all(&mut *self.0)
            .await?;
        let mut parts: Vec<Vec<PgRow>> = together.iter().map(|_| Vec::new()).collect();
        for row in found {
            let part = usize::try_from(row.try_get::<i64, _>("part")?).unwrap_or(usize::MAX);
            parts
                .get_mut(part)
                .ok_or_else(|| StoreError::Corrupt(format!("a row of batch part {part}")))?
                .push(row);
        }
        let mut outputs = together
            .iter()
            .zip(parts)
            .map(|((_, rows), found)| batch::decode(*rows, &found))
            .collect::<Result<Vec<_>, _>>()?;
        outputs.extend(On::<Postgres>(self.0).script(rest, 0).await?);
        Ok(outputs)
    }

    async fn jobs(&mut self, statement: &Statement) -> Result<Vec<Job>, StoreError> {
        On::<Postgres>(self.0).jobs(statement).await
    }

    async fn lines(&mut self, statement: &Statement) -> Result<Vec<(JobId, LogLine)>, StoreError> {
        On::<Postgres>(self.0).lines(statement).await
    }

    async fn status_of(&mut self, id: JobId) -> Result<Option<String>, StoreError> {
        On::<Postgres>(self.0).status_of(id).await
    }

    async fn numbers(
        &mut self,
        statement: &Statement,
        columns: &[&str],
    ) -> Result<Option<Vec<f64>>, StoreError> {
        On::<Postgres>(self.0).numbers(statement, columns).await
    }
}

/// Whether transaction `xid` committed (`Some(false)`: it was rolled back), asked again while
/// the database is away, for up to half a minute; `None` if it never answered. Asked often
/// (every quarter second at most), since writes may be waiting for the answer.
async fn outcome(pool: PgPool, xid: i64) -> Option<bool> {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut delay = Duration::from_millis(50);
    loop {
        let status: Result<Option<String>, sqlx::Error> =
            sqlx::query_scalar("SELECT txid_status($1)")
                .bind(xid)
                .fetch_one(&pool)
                .await;
        match status {
            Ok(Some(status)) if status == "committed" => return Some(true),
            Ok(Some(status)) if status == "aborted" => return Some(false),
            Ok(None) => return Some(false),
            _ if tokio::time::Instant::now() + delay > give_up => return None,
            // Still in progress (the server has not seen the connection close yet), or the
            // database is away.
            _ => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(250));
            }
        }
    }
}

/// The SET clause that gives a changed job the next change number (under [`CHANGE_LOCK`]).
const NEXT_CHANGE: &str = "change_seq = nextval('job_changes')";

/// The job store on PostgreSQL. Cheap to clone: the pool is a shared handle.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Bumped after every committed change to a job made through this store, and on every
    /// change notification from the database (see [`listen`]), so the stream poller and the
    /// event streams look at once instead of at their next tick.
    changed: Arc<watch::Sender<u64>>,
    /// Bumped when a notification says a job became queued (in any process, this one too).
    became_queued: Arc<watch::Sender<u64>>,
    /// Log lines kept per job (see [`super::Store::keep_log_lines`]).
    keep_log_lines: Arc<AtomicI64>,
    /// Write transactions committed (see [`Backend::commits`]).
    commits: Arc<AtomicU64>,
    /// The group-commit writer, on the pool.
    writes: Writes,
    /// Stops the listener (on [`PgStore::close`]).
    stop_listening: CancellationToken,
}

/// An UPDATE of the one job `$2` with `set` where `guard` allows, under the change lock, taking
/// the next change number and notifying the other processes (see [`CHANGE_LOCK`]).
fn update_one(set: &str, guard: &str) -> String {
    format!(
        "{CHANGE_LOCK} UPDATE jobs SET {set}, {NEXT_CHANGE} FROM change_lock \
         WHERE jobs.id = $2 AND {guard} RETURNING jobs.*, {NOTIFY}"
    )
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PgStore {
    /// Passes a write on: called after every committed change to a job.
    fn wrote(&self) {
        self.committed();
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Counts a committed write transaction (each write here is a statement of its own).
    fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// The answer to a guarded `UPDATE ... RETURNING` of one job: the job as changed, or why
    /// it was not.
    async fn updated(&self, id: JobId, row: Option<PgRow>) -> Result<Job, StoreError> {
        match row {
            Some(row) => {
                self.wrote();
                job_from_row(&row)
            }
            None => Err(self.why_not(id).await),
        }
    }

    /// The group-commit writer of this store.
    pub(crate) fn writes(&self) -> &Writes {
        &self.writes
    }

    /// After a guarded UPDATE matched nothing: was the job missing, or in the wrong state?
    async fn why_not(&self, id: JobId) -> StoreError {
        Shared(&self.pool).why_not(id).await
    }
}

#[async_trait::async_trait]
impl Backend for PgStore {
    async fn count_by_type_and_status(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        Shared(&self.pool).count_by_type_and_status().await
    }

    /// Each job keeps at most its `lines` newest log lines from now on; older ones are deleted
    /// as new ones are written.
    fn keep_log_lines(&self, lines: i64) {
        self.keep_log_lines.store(lines.max(1), Ordering::Relaxed);
    }

    async fn count_queued(&self, job_type: &str) -> Result<i64, StoreError> {
        Shared(&self.pool).count_queued(pg_text(job_type)).await
    }

    /// A receiver that changes after a job changed: through this store at once, through
    /// another process when its notification arrives.
    fn watch_changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// A receiver that changes when a job became queued, in any process sharing the database
    /// (when its notification arrives), so an idle runner claims it at once.
    fn watch_queued(&self) -> Option<watch::Receiver<u64>> {
        Some(self.became_queued.subscribe())
    }

    async fn max_change_seq(&self) -> Result<i64, StoreError> {
        Shared(&self.pool).max_change_seq().await
    }

    async fn changes_since(&self, after: i64, limit: i64) -> Result<Vec<Change>, StoreError> {
        Shared(&self.pool).changes_since(after, limit).await
    }

    /// The jobs with these ids (those that exist), in one query.
    async fn get_jobs(&self, ids: &[JobId]) -> Result<Vec<Job>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query("SELECT * FROM jobs WHERE id = ANY($1)")
            .bind(id_texts(ids))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn insert_upload(&self, upload: &Upload) -> Result<(), StoreError> {
        Shared(&self.pool).insert_upload(upload, pg_text).await
    }

    async fn get_upload(&self, id: &str) -> Result<Option<Upload>, StoreError> {
        Shared(&self.pool).get_upload(pg_text(id)).await
    }

    async fn delete_unused_uploads(&self, before: Timestamp) -> Result<Vec<String>, StoreError> {
        Shared(&self.pool).delete_unused_uploads(before).await
    }

    /// Also checks the database takes writes (a primary, not a read-only replica): an UPDATE
    /// that matches nothing is run and rolled back.
    async fn check_ready(&self) -> Result<(), StoreError> {
        Shared(&self.pool).check_migrated(&MIGRATOR).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE jobs SET version = version WHERE false")
            .execute(&mut *tx)
            .await?;
        tx.rollback().await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Shared(&self.pool).ping().await
    }

    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Closes the pool, waiting for queries under way, and stops listening.
    async fn close(&self) {
        self.stop_listening.cancel();
        self.pool.close().await;
    }

    async fn children_changed(
        &self,
        parent: JobId,
        after: i64,
        upto: i64,
    ) -> Result<Vec<Job>, StoreError> {
        Shared(&self.pool)
            .children_changed(parent, after, upto)
            .await
    }

    async fn children(
        &self,
        parent: JobId,
        after: Option<JobId>,
        limit: i64,
    ) -> Result<Vec<Job>, StoreError> {
        Shared(&self.pool).children(parent, after, limit).await
    }

    async fn get_job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        Shared(&self.pool).get_job(id).await
    }

    async fn list_jobs(&self, filter: &ListFilter) -> Result<Vec<Job>, StoreError> {
        let job_type = filter.job_type.as_deref().map(pg_text);
        let q = filter.q.as_deref().map(pg_text);
        Shared(&self.pool)
            .list_jobs(filter, job_type, q, "ILIKE")
            .await
    }

    async fn logs_after_seq(
        &self,
        id: JobId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LogLine>, StoreError> {
        Shared(&self.pool).logs_after_seq(id, after, limit).await
    }

    async fn logs_between_versions(
        &self,
        id: JobId,
        after: i64,
        upto: i64,
    ) -> Result<Vec<LogLine>, StoreError> {
        Shared(&self.pool)
            .logs_between_versions(id, after, upto)
            .await
    }

    async fn cancel(&self, id: JobId, external: bool) -> Result<CancelOutcome, StoreError> {
        let set = format!("{}, {}", sql::cancelled_set("$1"), sql::end_version("0"));
        let statement = update_one(&set, &sql::cancel_guard());
        let outcome = Shared(&self.pool).cancel(&statement, id, external).await?;
        if let CancelOutcome::Cancelled(_) = outcome {
            self.wrote();
        }
        Ok(outcome)
    }

    /// The note in the job's log is written in the same statement.
    async fn retry(&self, id: JobId) -> Result<Job, StoreError> {
        let row = sqlx::query(&format!(
            "{CHANGE_LOCK}, j AS ( \
                 UPDATE jobs SET {set}, {NEXT_CHANGE} FROM change_lock WHERE jobs.id = $2 \
                     AND {guard} RETURNING jobs.*, {NOTIFY}), \
             line AS (INSERT INTO {log_columns} \
                 SELECT id, log_seq, version, $1, 'info', $3 FROM j) \
             SELECT * FROM j",
            set = sql::retry_set(),
            guard = sql::status_allows("jobs.status", Action::Retry),
            log_columns = sql::INSERT_LOG_COLUMNS,
        ))
        .bind(Timestamp::now().as_millis())
        .bind(id.to_string())
        .bind(sql::RETRY_NOTE)
        .fetch_optional(&self.pool)
        .await?;
        self.updated(id, row).await
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
        Shared(&self.pool)
            .prunable_jobs(&prune(), rule, limit)
            .await
    }

    async fn count_prunable(&self, rule: &PruneRule) -> Result<(u64, u64), StoreError> {
        Shared(&self.pool).count_prunable(&prune(), rule).await
    }

    async fn delete_prunable_logs(
        &self,
        ids: &[JobId],
        rule: &PruneRule,
        limit: usize,
    ) -> Result<u64, StoreError> {
        Shared(&self.pool)
            .delete_prunable_logs(&prune(), id_texts(ids), rule, limit)
            .await
    }

    async fn delete_prunable_jobs(
        &self,
        ids: &[JobId],
        rule: &PruneRule,
    ) -> Result<u64, StoreError> {
        Shared(&self.pool)
            .delete_prunable_jobs(&prune(), id_texts(ids), rule)
            .await
    }

    // --- Control: the shared reads and writes, and this backend's own (`control.rs`) ---

    async fn type_stats(&self, now: Timestamp) -> Result<Vec<TypeStats>, StoreError> {
        Shared(&self.pool).type_stats(now).await
    }

    async fn forget_finishes(&self, before: Timestamp) -> Result<u64, StoreError> {
        Shared(&self.pool).forget_finishes(before).await
    }

    async fn count_matching(
        &self,
        filter: &JobFilter,
        status: JobStatus,
    ) -> Result<u64, StoreError> {
        Shared(&self.pool)
            .count_matching(filter, status, pg_text)
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
        Shared(&self.pool).paused_types().await
    }

    async fn attempts(&self, id: JobId) -> Result<Vec<Attempt>, StoreError> {
        Shared(&self.pool).attempts(id).await
    }

    async fn schedule_states(&self) -> Result<Vec<ScheduleState>, StoreError> {
        Shared(&self.pool).schedule_states().await
    }

    async fn set_schedule_paused(
        &self,
        name: &str,
        paused: bool,
        at: Timestamp,
    ) -> Result<ScheduleState, StoreError> {
        let state = Shared(&self.pool)
            .set_schedule_paused(pg_text(name), paused, at)
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
        let recorded = Shared(&self.pool)
            .record_schedule_run(pg_text(name), at, job, manual)
            .await?;
        self.committed();
        Ok(recorded)
    }
}

/// `text` as PostgreSQL can store it. Its text type cannot hold U+0000 (SQLite's can), so a
/// NUL from a client or a program's output becomes U+FFFD, the replacement character, rather
/// than failing the write. JSON columns need nothing: serde_json writes NUL as `\u0000`.
fn pg_text(text: &str) -> String {
    text.replace('\0', "\u{fffd}")
}

fn id_texts(ids: &[JobId]) -> Vec<String> {
    ids.iter().map(JobId::to_string).collect()
}

/// How PostgreSQL spells the prune rule: per-type cutoffs from the JSON object `$2` through
/// `jsonb`, ids as a text array in `$1`.
fn prune() -> Prune {
    Prune {
        rule: sql::prunable(
            "j.status",
            "COALESCE((CAST($2 AS jsonb) ->> j.type)::bigint, $3)",
        ),
        ids: "j.id = ANY($1)",
        // Deletes change the finished counts (the migration `control`): under the change lock.
        lock: Some(CHANGE_LOCK),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_become_replacement_characters_and_other_text_is_kept() {
        assert_eq!(pg_text("a\0b\0"), "a\u{fffd}b\u{fffd}");
        assert_eq!(pg_text("plain"), "plain");
    }
}
