//! The types of the store's contract that both backends share: who writes, who claims, what a
//! list asks for, what a cancel did, what an upload or a prune rule is.

use std::time::Duration;

use crate::job::{Job, JobId, JobStatus, Timestamp};

/// Who is changing a job, and so which jobs they may change.
#[derive(Debug, Clone, Copy)]
pub enum Writer<'a> {
    /// Outside code reporting on an `external` job: allowed while it is queued or running; the
    /// first update turns a queued job into a running one.
    External,
    /// The runner instance that holds the job's lease: allowed while the job is running and the
    /// lease is still this owner's.
    Lease(&'a str),
}

impl<'a> Writer<'a> {
    /// The lease owner a runner writes under; `None` for outside code.
    pub fn owner(self) -> Option<&'a str> {
        match self {
            Writer::External => None,
            Writer::Lease(owner) => Some(owner),
        }
    }
}

/// Who claims jobs: a runner in some process, or an external worker over HTTP.
#[derive(Debug, Clone, Copy)]
pub struct Claimant<'a> {
    /// The lease owner written on claimed jobs; updates must name it.
    pub owner: &'a str,
    /// An external worker's name. Its leases are extended by each accepted update (a runner
    /// renews its own instead).
    pub worker: Option<&'a str>,
}

/// The PostgreSQL pool's defaults are the configuration's (`database_max_connections`,
/// `database_acquire_timeout`).
pub use crate::config::{DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_MAX_CONNECTIONS};

/// The PostgreSQL connection pool's settings (SQLite keeps its own fixed pools: one writer
/// connection and a few readers).
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Connections at most, per process (`database_max_connections`).
    pub max_connections: u32,
    /// How long a query waits for a connection before failing (`database_acquire_timeout`):
    /// while the database is unreachable, requests fail this soon with 503.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
        }
    }
}

/// What the store keeps about an uploaded file (its bytes are in the uploads folder).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Upload {
    #[serde(rename = "upload_id")]
    pub id: String,
    pub size: i64,
    pub sha256: String,
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    pub created_at: Timestamp,
}

/// Filters for listing jobs, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<JobStatus>,
    pub job_type: Option<String>,
    /// Only jobs the schedule of this name made (by their idempotency keys; give its type
    /// too, so the key index is used).
    pub schedule: Option<String>,
    /// Only jobs older than this one (the previous page's last id).
    pub before: Option<JobId>,
    /// Only jobs this text finds: a prefix of the id (so the whole id too), or a part of the
    /// idempotency key or of the error message, ignoring case (ASCII letters on every backend;
    /// PostgreSQL folds other letters too). `%`, `_` and `\` are matched as themselves. Empty
    /// means no text filter.
    pub q: Option<String>,
    pub limit: i64,
}

/// One ended attempt of a job, as the attempt history keeps it (see the migration `attempts`).
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The job's attempt counter during the attempt. A manual retry starts it again from 1,
    /// and an attempt not counted (`requeued`, `waiting`) shares its number with the next one.
    pub attempt: i64,
    /// When it started (`None` only if the job never recorded a start).
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
    /// How it ended: `completed`, `failed`, `retried`, `cancelled`, `requeued` (its runner could
    /// not finish it, not counted) or `waiting` (a parent's handler returned while its children
    /// run).
    pub outcome: String,
    /// The error it ended with (`None` for `completed` and `waiting`).
    pub error: Option<String>,
    /// The failure's details, as JSON text.
    pub details: Option<String>,
    /// The external worker that ran it (`None` when run in-process or by outside code).
    pub worker: Option<String>,
    /// The in-process runner that held its lease (`None` for external workers and outside
    /// code; an external worker's lease is its secret and is not kept).
    pub runner: Option<String>,
}

/// What a cancel request did.
#[derive(Debug, Clone)]
pub enum CancelOutcome {
    /// The job was queued (or external) and is now `cancelled`.
    Cancelled(Job),
    /// The job is running in a worker; it has been asked to stop.
    Requested(Job),
}

/// What a retry after a failed attempt should look like.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// When the next attempt may start, if attempts remain.
    pub retry_at: Timestamp,
}
/// Which finished jobs may be pruned (see [`crate::retention`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneRule {
    /// Jobs that finished before this are pruned, unless their type has its own cutoff.
    pub finished_before: Timestamp,
    /// Types with a cutoff of their own.
    pub per_type: std::collections::BTreeMap<String, Timestamp>,
    /// Only jobs of this type.
    pub only_type: Option<String>,
}
impl PruneRule {
    /// The newest cutoff of all: no prunable job finished after it (bounds the index scan).
    pub(crate) fn newest_cutoff(&self) -> i64 {
        self.per_type
            .values()
            .chain(std::iter::once(&self.finished_before))
            .map(|t| t.as_millis())
            .max()
            .unwrap_or(i64::MIN)
    }

    pub(crate) fn per_type_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .per_type
            .iter()
            .map(|(name, cutoff)| (name.clone(), serde_json::Value::from(cutoff.as_millis())))
            .collect();
        serde_json::Value::Object(map).to_string()
    }
}

/// Which jobs a bulk action (cancel, retry) is for: every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only jobs of these types; `None` for any type (an empty list matches no job).
    pub types: Option<Vec<String>>,
    /// Only these jobs.
    pub ids: Option<Vec<JobId>>,
    /// Only jobs created before this.
    pub created_before: Option<Timestamp>,
}

/// What a bulk action does to each job it matches; which statuses it applies from comes from
/// its [`crate::job::Action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    /// Cancel at once: queued jobs ([`crate::job::Action::Cancel`]).
    Cancel,
    /// Cancel at once unfinished jobs that outside code runs
    /// ([`crate::job::Action::CancelExternal`]).
    CancelExternal,
    /// Ask the runner to stop running in-process jobs ([`crate::job::Action::RequestCancel`]):
    /// no version change, the runner's stop is the change.
    RequestCancel,
    /// Queue failed or cancelled jobs again with a fresh attempt budget and a note in their log
    /// ([`crate::job::Action::Retry`]), as [`super::Backend::retry`] does one.
    Retry,
}

impl BulkAction {
    /// The state machine's action this bulk action applies.
    pub fn action(self) -> crate::job::Action {
        use crate::job::Action;
        match self {
            BulkAction::Cancel => Action::Cancel,
            BulkAction::CancelExternal => Action::CancelExternal,
            BulkAction::RequestCancel => Action::RequestCancel,
            BulkAction::Retry => Action::Retry,
        }
    }
}

/// One bounded step of a bulk action: the jobs it changed, in id order.
#[derive(Debug, Clone, Default)]
pub struct BulkStep {
    pub changed: Vec<Job>,
    /// The highest id the step looked at: the next step starts after it. `None` when the step
    /// found no job, and the action is done.
    pub last: Option<JobId>,
}

/// One job type as the overview (`GET /api/types`) shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeStats {
    pub job_type: String,
    /// Jobs by status (statuses with none are left out).
    pub counts: std::collections::BTreeMap<JobStatus, i64>,
    /// The earliest `run_at` of the type's queued jobs that are due: since when the job that
    /// has waited longest has been waiting.
    pub oldest_due: Option<Timestamp>,
    /// Jobs that finished (completed, failed or cancelled) in the last minute and the last
    /// hour, to the second; a job retried and finished again counts each time.
    pub finished_last_minute: i64,
    pub finished_last_hour: i64,
    /// Jobs finished in each of the last 60 minutes, oldest first (the last is the last
    /// minute, to the second).
    pub finished_per_minute: Vec<i64>,
    /// Jobs that failed for good in the last hour.
    pub failed_last_hour: i64,
}

/// What the database keeps about one schedule, shared by every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleState {
    pub name: String,
    pub paused: bool,
    /// The tick of the last run (a manual trigger's time for a trigger).
    pub last_run_at: Option<Timestamp>,
    /// The job that run made.
    pub last_job_id: Option<JobId>,
    /// Runs made, triggers included.
    pub run_count: i64,
}

impl ScheduleState {
    /// A schedule that has never run nor been paused.
    pub fn new(name: &str) -> Self {
        ScheduleState {
            name: name.to_owned(),
            paused: false,
            last_run_at: None,
            last_job_id: None,
            run_count: 0,
        }
    }
}
