//! The storage boundary: every read and write of jobs, their log lines and uploads goes
//! through [`Store`]. Only this module mentions sqlx; callers get domain facts back (a job,
//! "not found", "conflict because the job is completed"), never driver errors to match on.
//!
//! - [`Backend`] (`contract.rs`) is the contract: what every backend guarantees, method by
//!   method. The conformance suite (`tests/conformance/`) holds each backend to it.
//! - `batch/`: group commit, for both backends: every write a job makes in its life and every
//!   claim, many to a transaction, with statements written once; [`Store`]'s own methods.
//! - `sqlite/`: one file, one node; one writer connection (batches and the other writes take
//!   turns on it), a small pool of readers, and what only SQLite has: backups, giving freed
//!   pages back (`sqlite/retention.rs`).
//! - `postgres/`: one database, any number of nodes; one change lock per batch, change
//!   notifications between nodes (`postgres/listen.rs`).
//! - `sql.rs`: the statements and clauses both backends run with the same text; `shared.rs`:
//!   the reads and plain writes both run alike, on either pool; `rows.rs`: rows to jobs.
//! - `types.rs` and `error.rs`: the contract's shared types and its error.
//!
//! Which transitions each action allows is declared once, in [`crate::job::Action`]; both
//! backends build their guards from it.

pub(crate) mod batch;
mod contract;
mod error;
pub mod postgres;
mod rows;
mod shared;
mod sql;
pub mod sqlite;
mod types;

pub use contract::{Backend, Change};
pub use error::{retry_transient, StoreError};
pub use postgres::{is_postgres_url, PgStore};
pub use sqlite::{database_file, SqliteStore};
pub use types::{
    Attempt, BulkAction, BulkStep, CancelOutcome, Claimant, JobFilter, ListFilter, PoolOptions,
    PruneRule, RetryPolicy, ScheduleState, TypeStats, Upload, Writer, DEFAULT_ACQUIRE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::job::{
    Action, ChildPolicy, Job, JobId, JobStatus, LogLevel, LogLine, NewJob, Progress, Timestamp,
};
use crate::metrics::Metrics;

pub use self::batch::FamilyLimits;
pub(crate) use self::batch::{End, Times};
use self::batch::{Sent, Writes};

/// The end of an attempt, sent and not yet committed (see [`Store::send_end`]).
pub(crate) struct SentEnd {
    sent: Sent<Job>,
    /// Where the attempt's end is recorded (not for a requeue, which ends no attempt).
    metrics: Option<Metrics>,
}

impl SentEnd {
    /// The job as ended, once the end is committed; records the retry or the end.
    pub(crate) async fn committed(self) -> Result<Job, StoreError> {
        let job = self.sent.answer().await?;
        if let Some(metrics) = &self.metrics {
            attempt_ended(metrics, &job);
        }
        Ok(job)
    }
}

/// Records an ended attempt: a retry when the job went back to the queue, else its end.
fn attempt_ended(metrics: &Metrics, job: &Job) {
    if job.status == JobStatus::Waiting {
        // Not an end: the parent runs again once its children have ended.
        return;
    }
    if job.status == JobStatus::Queued {
        metrics.retried(job);
    } else {
        metrics.finished(job);
    }
}

/// The job store: a [`Backend`], chosen by the database URL's scheme, and the metrics that
/// every attempt and every job's end pass through.
///
/// Everything of the contract is reached through `Deref` (`store.get_job(id)` is
/// [`Backend::get_job`]). The writes a job makes in its life (creating it, its progress and log
/// lines, the end of each attempt) and claims are `Store`'s own: they go through the
/// group-commit writer (`batch/`), the same for every backend, and the calls that start or end
/// an attempt record it, its retry or its end, once for every backend and every caller (runner,
/// external workers, lease recovery).
///
/// Every one of them is a guarded write in the contract's sense (see `contract.rs`), answered
/// only once durable, and refused with `NotFound` or `Conflict` without changing anything.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    writes: Writes,
    /// The same store as `backend` when it is SQLite, for what only SQLite has.
    sqlite: Option<SqliteStore>,
    metrics: Metrics,
    /// The paused job types as this process last read them (see [`Store::refresh_paused`]):
    /// what streams and the API show. Claims never read it: they check the database itself.
    paused: Arc<watch::Sender<PausedTypes>>,
}

/// The paused job types by name, with when each was paused.
pub type PausedTypes = Arc<BTreeMap<String, Timestamp>>;

impl std::ops::Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &Self::Target {
        &*self.backend
    }
}

impl Store {
    /// Opens the database `url` names and applies its migrations, recording into `metrics`:
    /// `sqlite://PATH`, or `postgres://` / `postgresql://` with a pool as `pool` says.
    pub async fn open(url: &str, pool: PoolOptions, metrics: Metrics) -> Result<Store, StoreError> {
        let (backend, writes, sqlite): (Arc<dyn Backend>, _, _) = if is_postgres_url(url) {
            let pg = PgStore::connect(url, pool).await?;
            let writes = pg.writes().clone();
            (Arc::new(pg), writes, None)
        } else {
            let sqlite = SqliteStore::connect(url).await?;
            (
                Arc::new(sqlite.clone()),
                sqlite.writes().clone(),
                Some(sqlite),
            )
        };
        let paused: PausedTypes = Arc::new(backend.paused_types().await?.into_iter().collect());
        Ok(Store {
            backend,
            writes,
            sqlite,
            metrics,
            paused: Arc::new(watch::Sender::new(paused)),
        })
    }

    /// [`Store::open`] with default pool settings and metrics of its own (tools and tests).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`Store::connect`] with at most `max_connections` connections to PostgreSQL.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let pool = PoolOptions {
            max_connections,
            ..PoolOptions::default()
        };
        Self::open(url, pool, Metrics::new()).await
    }

    /// The SQLite store, when that is the backend: backups, free pages.
    pub fn sqlite(&self) -> Option<&SqliteStore> {
        self.sqlite.as_ref()
    }

    /// The metrics this store records into (attempts, retries, ends).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// [`Backend::cancel`], recording a job cancelled at once; a cancelled parent's unfinished
    /// children are cancelled too (and their children), and a cancelled child's parent settled.
    pub async fn cancel(&self, id: JobId, external: bool) -> Result<CancelOutcome, StoreError> {
        let outcome = self.backend.cancel(id, external).await?;
        if let CancelOutcome::Cancelled(job) = &outcome {
            self.metrics.finished(job);
            self.settle(batch::family_seeds([job])).await?;
        }
        Ok(outcome)
    }

    /// [`Backend::retry`]; for a parent, its failed and cancelled children are retried first
    /// (completed ones are kept, not run again), so its next run finds them under way.
    pub async fn retry(&self, id: JobId) -> Result<Job, StoreError> {
        if let Some(job) = self.backend.get_job(id).await? {
            if job.children > 0 && Action::Retry.allows(job.status) {
                self.retry_children(id).await?;
            }
        }
        self.backend.retry(id).await
    }

    /// Retries the failed and cancelled children of `parent` (and theirs).
    async fn retry_children(&self, parent: JobId) -> Result<u64, StoreError> {
        let filter = JobFilter {
            ids: Some(self.child_ids(parent).await?),
            ..JobFilter::default()
        };
        let statuses = [JobStatus::Failed, JobStatus::Cancelled];
        self.bulk(BulkAction::Retry, &filter, &statuses, 256, |_| {})
            .await
    }

    /// Every child of `parent`, by id.
    async fn child_ids(&self, parent: JobId) -> Result<Vec<JobId>, StoreError> {
        let mut ids = Vec::new();
        let mut after = None;
        loop {
            let page = self.backend.children(parent, after, 1000).await?;
            let Some(last) = page.last() else {
                return Ok(ids);
            };
            after = Some(last.id);
            ids.extend(page.iter().map(|job| job.id));
        }
    }

    // --- Paused types and bulk actions ----------------------------------------------------

    /// [`Backend::pause_type`] now; this process's view of the paused types follows at once.
    pub async fn pause_type(&self, job_type: &str) -> Result<Timestamp, StoreError> {
        let at = self.backend.pause_type(job_type, Timestamp::now()).await?;
        self.refresh_paused().await?;
        Ok(at)
    }

    /// [`Backend::resume_type`]; this process's view of the paused types follows at once.
    pub async fn resume_type(&self, job_type: &str) -> Result<bool, StoreError> {
        let was = self.backend.resume_type(job_type).await?;
        self.refresh_paused().await?;
        Ok(was)
    }

    /// Reads the paused types again (other processes pause and resume too); receivers of
    /// [`Store::watch_paused`] are told if they changed.
    pub async fn refresh_paused(&self) -> Result<PausedTypes, StoreError> {
        let now: BTreeMap<String, Timestamp> =
            self.backend.paused_types().await?.into_iter().collect();
        self.paused.send_if_modified(|known| {
            let changed = **known != now;
            if changed {
                *known = Arc::new(now);
            }
            changed
        });
        Ok(self.paused.borrow().clone())
    }

    /// The paused types as this process last read them.
    pub fn paused(&self) -> PausedTypes {
        self.paused.borrow().clone()
    }

    /// Changes when this process learns that the paused types changed.
    pub fn watch_paused(&self) -> watch::Receiver<PausedTypes> {
        self.paused.subscribe()
    }

    /// Applies `action` to every job in one of `statuses` that matches `filter`, in steps of at
    /// most `step` jobs ([`Backend::bulk_step`]), each its own short transaction, so other
    /// writes never wait for more than one step. `each` sees every step's changed jobs (to stop
    /// the ones running here, wake runners); jobs cancelled at once are recorded as ended, and
    /// their families settled (a cancelled parent's unfinished children are cancelled).
    /// Returns how many jobs changed.
    pub async fn bulk(
        &self,
        action: BulkAction,
        filter: &JobFilter,
        statuses: &[JobStatus],
        step: usize,
        mut each: impl FnMut(&[Job]),
    ) -> Result<u64, StoreError> {
        let step = step.max(1);
        // A list of ids is walked a step's worth at a time, each bound on its own.
        let chunks: Vec<JobFilter> = match &filter.ids {
            Some(ids) => {
                let mut ids = ids.clone();
                ids.sort();
                ids.dedup();
                ids.chunks(step)
                    .map(|chunk| JobFilter {
                        ids: Some(chunk.to_vec()),
                        ..filter.clone()
                    })
                    .collect()
            }
            None => vec![filter.clone()],
        };
        let mut changed = 0u64;
        for status in statuses {
            for chunk in &chunks {
                let mut after = None;
                loop {
                    let done = self
                        .backend
                        .bulk_step(action, chunk, *status, after, step)
                        .await?;
                    if done.changed.is_empty() {
                        break;
                    }
                    if matches!(action, BulkAction::Cancel | BulkAction::CancelExternal) {
                        for job in &done.changed {
                            self.metrics.finished(job);
                        }
                        // A cancelled parent's children are cancelled too.
                        self.settle(batch::family_seeds(&done.changed)).await?;
                    }
                    if action == BulkAction::Retry {
                        // A retried parent's failed and cancelled children are retried with it,
                        // as a single retry does, before anyone is woken for it.
                        for parent in done.changed.iter().filter(|job| job.children > 0) {
                            Box::pin(self.retry_children(parent.id)).await?;
                        }
                    }
                    changed += done.changed.len() as u64;
                    each(&done.changed);
                    after = done.last;
                }
            }
        }
        Ok(changed)
    }

    // --- Through the group-commit writer ------------------------------------------------

    /// Inserts a queued job (version 1, a new change number) and returns it with `true`. With
    /// an idempotency key already used for the same type, inserts nothing and returns the
    /// existing job with `false`; concurrent creates with one key make exactly one job.
    pub async fn create_job(&self, new: NewJob) -> Result<(Job, bool), StoreError> {
        let mut made = self.writes.create(vec![new]).await?;
        made.pop()
            .ok_or_else(|| StoreError::Corrupt("a create answered no job".to_owned()))
    }

    /// Inserts jobs in one transaction, all or none, each as [`Store::create_job`] does
    /// (idempotency keys honoured per job, a key used twice in `jobs` making one job); the
    /// answers are in the order given.
    pub async fn create_jobs(&self, jobs: Vec<NewJob>) -> Result<Vec<(Job, bool)>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        self.writes.create(jobs).await
    }

    /// Records progress (fields left `None` keep their value); one version, one change. Outside
    /// code's first update starts a queued job (`running`, attempt 1); a runner's extends an
    /// external worker's lease by its length.
    pub async fn report_progress(
        &self,
        id: JobId,
        writer: Writer<'_>,
        progress: &Progress,
    ) -> Result<Job, StoreError> {
        self.writes.progress(id, writer, progress).await
    }

    /// Appends a log line: the next `seq`, a version of its own. Starts a queued job as
    /// [`Store::report_progress`] does (the start takes a version below the line's).
    pub async fn append_log(
        &self,
        id: JobId,
        writer: Writer<'_>,
        level: LogLevel,
        message: &str,
    ) -> Result<LogLine, StoreError> {
        self.writes.log(id, writer, level, message).await
    }

    /// Queues a progress report from the runner holding the lease and returns at once:
    /// reports queued together may be merged (the later wins field by field). A refusal
    /// (the lease was lost) is dropped, not returned.
    pub async fn queue_progress(
        &self,
        id: JobId,
        owner: &str,
        progress: Progress,
        parent: Option<JobId>,
    ) -> Result<(), StoreError> {
        self.writes
            .queue_progress(id, owner, progress, parent)
            .await
    }

    /// Queues a log line like [`Store::queue_progress`]; lines keep their order. A child's
    /// `parent` hears of both (its stream is the family's).
    pub async fn queue_log(
        &self,
        id: JobId,
        owner: &str,
        level: LogLevel,
        message: String,
        parent: Option<JobId>,
    ) -> Result<(), StoreError> {
        self.writes
            .queue_log(id, owner, level, message, parent)
            .await
    }

    /// Returns once every write queued before the call has been applied (or refused).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.writes.flush().await
    }

    /// Ends the job `completed` with `result` (progress 100, the lease cleared), recording
    /// the end. Like every end of a lease holder's attempt (complete, fail, finish_cancelled,
    /// requeue), it is written after the holder's queued progress and log lines.
    pub async fn complete(
        &self,
        id: JobId,
        writer: Writer<'_>,
        result: Option<&Value>,
    ) -> Result<Job, StoreError> {
        self.end(id, writer, End::Complete(result.cloned()), Times::default())
            .await
    }

    /// Records a failed attempt: with `retry` and attempts left, queued again for
    /// `retry.retry_at` (the error kept for the next attempt to see); otherwise `failed`.
    /// Records the retry or the end.
    pub async fn fail(
        &self,
        id: JobId,
        writer: Writer<'_>,
        error: &str,
        details: Option<&Value>,
        retry: Option<RetryPolicy>,
    ) -> Result<Job, StoreError> {
        let end = End::Fail {
            error: error.to_owned(),
            details: details.cloned(),
            retry,
        };
        self.end(id, writer, end, Times::default()).await
    }

    /// The runner holding the lease stopped a job whose cancel was requested: `cancelled`.
    pub async fn finish_cancelled(&self, id: JobId, owner: &str) -> Result<Job, StoreError> {
        self.end(id, Writer::Lease(owner), End::Cancelled, Times::default())
            .await
    }

    /// Puts a job the lease holder could not finish (a shutdown) back in the queue; the
    /// interrupted attempt is not counted.
    pub async fn requeue(&self, id: JobId, owner: &str) -> Result<Job, StoreError> {
        self.end(id, Writer::Lease(owner), End::Requeue, Times::default())
            .await
    }

    /// Ends an attempt as `end` says, at `times` (unset: now), and waits for it to commit.
    pub(crate) async fn end(
        &self,
        id: JobId,
        writer: Writer<'_>,
        end: End,
        times: Times,
    ) -> Result<Job, StoreError> {
        self.send_end(id, writer, end, times)
            .await?
            .committed()
            .await
    }

    /// Sends the end of an attempt to the group-commit writer and returns at once: the
    /// runner's worker takes its next job while [`SentEnd::committed`] waits for the commit.
    pub(crate) async fn send_end(
        &self,
        id: JobId,
        writer: Writer<'_>,
        end: End,
        times: Times,
    ) -> Result<SentEnd, StoreError> {
        let counts = !matches!(end, End::Requeue);
        Ok(SentEnd {
            sent: self.writes.end(id, writer, end, times).await?,
            metrics: counts.then(|| self.metrics.clone()),
        })
    }

    /// Claims up to `limit` due (`run_at` passed) queued jobs of `types`, highest priority
    /// first, then oldest, in one statement: each becomes `running` with the attempt counted
    /// and a lease of `lease` for `claimant`. Under any number of concurrent claimers, in any
    /// number of processes, each job is claimed by exactly one. Records each attempt started.
    pub async fn claim(
        &self,
        types: &[String],
        claimant: &Claimant<'_>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let jobs = self.writes.claim(types, claimant, lease, limit).await?;
        for job in &jobs {
            self.metrics.attempt_started(job);
        }
        Ok(jobs)
    }

    /// [`Store::claim`] without recording the attempts: the runner records each when it starts
    /// it (a job it claimed ahead may go back to the queue unstarted).
    pub(crate) async fn claim_unrecorded(
        &self,
        types: &[String],
        claimant: &Claimant<'_>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        self.writes.claim(types, claimant, lease, limit).await
    }

    /// [`Backend::recover_expired`], recording each attempt's end; the families of the jobs
    /// it ended are settled (a child that failed for good may fail or wake its parent).
    pub async fn recover_expired(&self) -> Result<Vec<Job>, StoreError> {
        let jobs = self.backend.recover_expired().await?;
        for job in &jobs {
            attempt_ended(&self.metrics, job);
        }
        self.settle(batch::family_seeds(&jobs)).await?;
        Ok(jobs)
    }

    // --- Families -----------------------------------------------------------------------

    /// Makes `children` of `parent` as `writer` (who must be allowed to report on it: its
    /// lease holder, or outside code for an unclaimed external job), in one transaction with
    /// that check: all or none, each a queued job naming its parent, one level deeper. From
    /// then on the parent's return makes it `waiting` until every child has ended, then it is
    /// queued again. A child whose idempotency key was already used for this parent is
    /// answered as it is (`false`), not made again: a retried parent making its children again
    /// gets the same ones. `policy` is the parent's from now on: what a failed child does. Refused with `NotFound`, `Conflict` (the writer may not report), or
    /// [`StoreError::Family`] (a limit of `limits`, or a key another parent's child has).
    pub async fn spawn_children(
        &self,
        parent: JobId,
        writer: Writer<'_>,
        children: Vec<NewJob>,
        policy: ChildPolicy,
        limits: FamilyLimits,
    ) -> Result<Vec<(Job, bool)>, StoreError> {
        if children.is_empty() {
            return Ok(Vec::new());
        }
        self.writes
            .spawn(batch::SpawnRequest {
                parent,
                author: writer.into(),
                children,
                policy,
                limits,
            })
            .await
    }

    /// Settles the families of `ids` after a change made outside the group-commit writer:
    /// waiting parents whose children all ended are queued, fail-fast parents with a failed
    /// child fail, and the unfinished children of failed or cancelled parents are cancelled.
    pub async fn settle(&self, ids: Vec<JobId>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.writes.settle(ids).await
    }

    /// Settles every family that may need it: waiting parents, and failed or cancelled parents
    /// with unfinished children. On SQLite a family's settling commits just after the change
    /// that caused it (`batch/family/`), so a process killed in between leaves it for this
    /// sweep, which the application runs when it starts.
    pub async fn settle_all(&self) -> Result<(), StoreError> {
        self.writes.settle(Vec::new()).await
    }
}
