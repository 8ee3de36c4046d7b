//! The store's contract: what every backend guarantees, written once as the [`Backend`]
//! trait. SQLite (`sqlite/`) and PostgreSQL (`postgres/`) implement it; the conformance suite
//! in `tests/conformance/` checks each one against it, and a third backend is accepted when it
//! passes that suite.
//!
//! The writes a job makes in its life (its creation, progress reports and log lines, the end
//! of each attempt) and claims are not here: they go through the group-commit writer
//! (`batch/`), written once for every backend, and are reached as [`super::Store`]'s own
//! methods, whose docs say what they guarantee. A backend gives that writer its
//! transactions and the few spellings its SQL needs (`batch::Transactions`, `batch::Dialect`).
//!
//! Terms used throughout:
//!
//! - **version**: every change to a job, each of its log lines included, raises its `version`
//!   by at least one, in the same transaction as the change. Versions are the job stream's
//!   event ids, so they only ever grow.
//! - **change number**: every change to a job also gives it a new `change_seq`, from one
//!   sequence for the whole database. A reader that remembers the highest number it has seen
//!   and asks for [`Backend::changes_since`] that mark never misses a change: numbers become
//!   visible in the order they were handed out, and every job a statement changes gets a
//!   number of its own.
//! - **guarded write**: a write that names who makes it ([`super::Writer`]) and applies only if the
//!   job's status allows its action (`crate::job::Action`) and, for a runner, only while it
//!   still holds the job's lease. A write that does not apply changes nothing and says why:
//!   [`StoreError::NotFound`] for a missing job, [`StoreError::Conflict`] (with the job's
//!   status) for one whose status or lease refused it. A lost lease is a conflict.
//! - **atomic**: a write is applied whole or not at all; its answer is sent only after it is
//!   durable.

use std::time::Duration;

use tokio::sync::watch;

use super::{
    Attempt, BulkAction, BulkStep, CancelOutcome, JobFilter, ListFilter, PruneRule, ScheduleState,
    StoreError, TypeStats, Upload,
};
use crate::job::{Job, JobId, JobStatus, LogLine, Timestamp};

/// One job's change as a poller reads it: which job, its version after the change, and the
/// change number.
pub type Change = (JobId, i64, i64);

/// What a job store does, whatever database is behind it.
#[async_trait::async_trait]
pub trait Backend: std::fmt::Debug + Send + Sync {
    // --- Jobs: reading -----------------------------------------------------

    /// The job, if it exists.
    async fn get_job(&self, id: JobId) -> Result<Option<Job>, StoreError>;

    /// The jobs with these ids that exist, in any order, in one query.
    async fn get_jobs(&self, ids: &[JobId]) -> Result<Vec<Job>, StoreError>;

    /// Jobs matching the filter, newest (highest id) first. Paging with `before` = the last
    /// id of the previous page never skips or repeats a job, however many are created meanwhile.
    async fn list_jobs(&self, filter: &ListFilter) -> Result<Vec<Job>, StoreError>;

    /// The children of `parent` with ids above `after`, oldest first, at most `limit`: paging
    /// with `after` = the last id of the previous page never skips or repeats a child.
    async fn children(
        &self,
        parent: JobId,
        after: Option<JobId>,
        limit: i64,
    ) -> Result<Vec<Job>, StoreError>;

    /// The ended attempts of job `id`, in the order they ended (oldest first): one for each
    /// time the job left `running` (or outside code ended it while queued), written in the same
    /// transaction as that change, whatever made it (an end, lease recovery, a cancel). Empty
    /// for a job that never ended an attempt, or that does not exist. Deleting a job deletes
    /// its attempts.
    async fn attempts(&self, id: JobId) -> Result<Vec<Attempt>, StoreError>;

    /// Queued jobs of `job_type`, for the queue-depth limit.
    async fn count_queued(&self, job_type: &str) -> Result<i64, StoreError>;

    /// `(type, status, count)` for every pair that has jobs, for the metrics. Costs the
    /// unfinished jobs, not every job stored: finished ones are counted as they finish.
    async fn count_by_type_and_status(&self) -> Result<Vec<(String, String, i64)>, StoreError>;

    /// Every job type that has jobs, or finished some in the last hour, as of `now`: its jobs by
    /// status (the same counts as [`Backend::count_by_type_and_status`]), since when its
    /// longest-waiting due queued job has waited, and how many of its jobs finished in the last
    /// minute and the last hour (to the second). Costs the unfinished jobs and an hour of
    /// per-second counts, not every job stored.
    async fn type_stats(&self, now: Timestamp) -> Result<Vec<TypeStats>, StoreError>;

    /// Forgets the per-second finish counts from before `before` ([`Backend::type_stats`] looks
    /// an hour back); returns how many rows went.
    async fn forget_finishes(&self, before: Timestamp) -> Result<u64, StoreError>;

    // --- Changes: what the stream poller follows ----------------------------------------

    /// The highest change number handed out and visible (0 for an empty store).
    async fn max_change_seq(&self) -> Result<i64, StoreError>;

    /// Jobs whose latest change number is above `after`, lowest first, at most `limit`. A
    /// reader paging through with the last number it got as the next `after` sees every job's
    /// last change and never a number at or below its mark.
    async fn changes_since(&self, after: i64, limit: i64) -> Result<Vec<Change>, StoreError>;

    /// Bumped after every change committed through this store, and (where the database can
    /// tell) after changes by other processes too, so readers look at once.
    fn watch_changes(&self) -> watch::Receiver<u64>;

    /// Bumped when a job became queued in any process sharing the database, where the
    /// database can tell (`None` where it cannot: SQLite).
    fn watch_queued(&self) -> Option<watch::Receiver<u64>>;

    // --- Log lines ----------------------------------------------------------------------

    /// Lines with `seq > after`, in seq order, at most `limit`.
    async fn logs_after_seq(
        &self,
        id: JobId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LogLine>, StoreError>;

    /// Lines added by changes after version `after` up to and including `upto`, in order.
    /// Together with a job row at version `upto`, that is everything a stream that had seen
    /// `after` is missing.
    async fn logs_between_versions(
        &self,
        id: JobId,
        after: i64,
        upto: i64,
    ) -> Result<Vec<LogLine>, StoreError>;

    /// From now on each job keeps at most its `lines` newest log lines: writing a line past
    /// the limit deletes the oldest, in the same transaction.
    fn keep_log_lines(&self, lines: i64);

    // --- Control --------------------------------------------------------------------------

    /// Cancels a queued job (or, with `external`, an unfinished external one) at once, or
    /// marks a running in-process job so its runner stops it (no version change: the runner's
    /// [`super::Store::finish_cancelled`] is the change). Finished jobs are a conflict.
    async fn cancel(&self, id: JobId, external: bool) -> Result<CancelOutcome, StoreError>;

    /// Sends a failed or cancelled job back to the queue with a fresh attempt budget and a log
    /// line saying so, in one transaction; earlier log lines stay.
    async fn retry(&self, id: JobId) -> Result<Job, StoreError>;

    // --- Bulk actions -----------------------------------------------------------------------

    /// How many jobs in `status` match `filter` now.
    async fn count_matching(
        &self,
        filter: &JobFilter,
        status: JobStatus,
    ) -> Result<u64, StoreError>;

    /// One bounded step of a bulk action: applies `action` to at most `limit` jobs in `status`
    /// that match `filter`, with ids above `after`, lowest ids first, in one transaction, so
    /// other writes wait for one step at most. Each job changed is changed exactly as the
    /// single-job write would change it (a cancel as [`Backend::cancel`], a retry as
    /// [`Backend::retry`], its log line included), guarded by the action's statuses, with a
    /// version and a change number of its own ([`BulkAction::RequestCancel`] changes no
    /// version, as a cancel request never does). A `status` the action does not apply from
    /// matches nothing. Walking on with `after` = the step's `last` until it is `None` visits
    /// every job that matched when the walk began, once.
    async fn bulk_step(
        &self,
        action: BulkAction,
        filter: &JobFilter,
        status: JobStatus,
        after: Option<JobId>,
        limit: usize,
    ) -> Result<BulkStep, StoreError>;

    // --- Paused types -----------------------------------------------------------------------

    /// Pauses `job_type` (already paused: nothing changes, and its first pause time is kept)
    /// and returns since when it is paused. From the moment this returns, no claim in any
    /// process takes a queued job of the type ([`super::Store::claim`] leaves them out); jobs
    /// already running go on, and new jobs of the type are created and wait. The pause is
    /// stored: it holds across restarts and for every process on the database.
    async fn pause_type(&self, job_type: &str, at: Timestamp) -> Result<Timestamp, StoreError>;

    /// Ends the pause of `job_type`; whether it was paused. Its queued jobs are claimable at
    /// once, and every process sharing the database is told, where the database can tell
    /// ([`Backend::watch_queued`]).
    async fn resume_type(&self, job_type: &str) -> Result<bool, StoreError>;

    /// The paused types and since when, by name.
    async fn paused_types(&self) -> Result<Vec<(String, Timestamp)>, StoreError>;

    // --- Schedules --------------------------------------------------------------------------

    /// The stored state of every schedule that has run or been paused, by name.
    async fn schedule_states(&self) -> Result<Vec<ScheduleState>, StoreError>;

    /// Pauses or resumes schedule `name` (made if unknown); its state after.
    async fn set_schedule_paused(
        &self,
        name: &str,
        paused: bool,
        at: Timestamp,
    ) -> Result<ScheduleState, StoreError>;

    /// Records that schedule `name` ran at `at` and made `job`. For a tick (`manual` false),
    /// only if no run at or after `at` is recorded: however many processes record the same
    /// tick, at once or one after another, exactly one does (the answer says whether this
    /// call did) and the run count grows by one. A manual run (`manual`) always counts.
    async fn record_schedule_run(
        &self,
        name: &str,
        at: Timestamp,
        job: JobId,
        manual: bool,
    ) -> Result<bool, StoreError>;

    // --- Claims and leases ----------------------------------------------------------------

    /// Extends every lease `owner` holds on running jobs to `lease` from now (no version
    /// change); returns those of its jobs whose cancel was requested.
    async fn renew_leases(&self, owner: &str, lease: Duration) -> Result<Vec<JobId>, StoreError>;

    /// Ends every attempt whose lease has expired (its process died or hung): queued again
    /// while attempts remain, `failed` (as interrupted) when they are used up, `cancelled` if
    /// a cancel was pending. Returns the jobs as changed.
    async fn recover_expired(&self) -> Result<Vec<Job>, StoreError>;

    // --- Uploads --------------------------------------------------------------------------

    /// Records a received upload.
    async fn insert_upload(&self, upload: &Upload) -> Result<(), StoreError>;

    /// The upload, if recorded.
    async fn get_upload(&self, id: &str) -> Result<Option<Upload>, StoreError>;

    /// Deletes uploads recorded before `before` that no job refers to; returns their ids so
    /// their files can go too.
    async fn delete_unused_uploads(&self, before: Timestamp) -> Result<Vec<String>, StoreError>;

    // --- Retention ------------------------------------------------------------------------

    /// Up to `limit` jobs the rule allows pruning, oldest finished first: finished ones only,
    /// and never the job changed last (change numbers must never go back).
    async fn prunable_jobs(&self, rule: &PruneRule, limit: usize)
        -> Result<Vec<JobId>, StoreError>;

    /// How many jobs, and log lines of theirs, the rule would prune now.
    async fn count_prunable(&self, rule: &PruneRule) -> Result<(u64, u64), StoreError>;

    /// Deletes at most `limit` log lines of those of `ids` that are still prunable.
    async fn delete_prunable_logs(
        &self,
        ids: &[JobId],
        rule: &PruneRule,
        limit: usize,
    ) -> Result<u64, StoreError>;

    /// Deletes those of `ids` that are still prunable and have no log lines left.
    async fn delete_prunable_jobs(
        &self,
        ids: &[JobId],
        rule: &PruneRule,
    ) -> Result<u64, StoreError>;

    // --- Health ---------------------------------------------------------------------------

    /// Write transactions this store has committed (a batch, or a statement on its own): what
    /// the write path costs, read by the metrics as commits per job.
    fn commits(&self) -> u64;

    /// Ready to serve: every migration this build knows is applied and the database takes
    /// writes.
    async fn check_ready(&self) -> Result<(), StoreError>;

    /// Answers when the database does.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes the connections, waiting for queries under way.
    async fn close(&self);
}
