//! The storage boundary: every read and write of jobs and their log lines goes through [`Store`].
//!
//! Only this module mentions sqlx. Callers get domain facts back (a job, "not found", "conflict
//! because the job is already completed"), never driver errors to match on. Two backends,
//! chosen by the URL's scheme:
//!
//! - SQLite (`sqlite.rs`, `batch.rs`): writes go through one writer connection, the hot ones
//!   grouped into batches; reads use a small pool, so a slow reader never holds up a writer and
//!   concurrent writers never see "database is locked".
//! - PostgreSQL (`postgres.rs`): one pool, one statement per write, for several processes on
//!   one database.
//!
//! Both map rows the same way (`rows.rs`) and keep the same bookkeeping, so callers see the
//! same behaviour from either.
//!
//! Who may change a running job is expressed by a [`Writer`]: outside code driving an
//! `external` job, or the runner instance holding the job's lease.

mod batch;
mod postgres;
mod rows;
mod sqlite;

pub use postgres::{is_postgres_url, PgStore, DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
pub use rows::PruneRule;
pub use sqlite::{database_file, SqliteStore};

use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::job::{Job, LogLevel, LogLine, NewJob, Progress};
use crate::metrics::Metrics;

/// The job store: one backend behind one API. Callers never learn which; each backend keeps
/// its SQL to itself (`sqlite.rs`, `postgres.rs`). Attempts, retries and job ends are recorded
/// into the metrics here, once for both backends, since every path to them passes this way.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    metrics: Metrics,
}

#[derive(Debug, Clone)]
enum Backend {
    /// SQLite through sqlx: one file, one node (the default).
    Sqlite(SqliteStore),
    /// PostgreSQL through sqlx: one database, any number of nodes.
    Postgres(PgStore),
}

/// Runs `$call` with `$store` bound to whichever backend `$self` has.
macro_rules! on_backend {
    ($self:ident, $store:ident => $call:expr) => {
        match &$self.backend {
            Backend::Sqlite($store) => $call,
            Backend::Postgres($store) => $call,
        }
    };
}

/// Forwards each listed method to the backend.
macro_rules! delegate {
    ($(async fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {$(
        #[allow(missing_docs)]
        pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
            on_backend!(self, store => store.$name($($arg),*).await)
        }
    )*};
}

impl Store {
    /// Opens the database `url` names and applies its migrations: `sqlite://PATH`, or
    /// `postgres://` / `postgresql://` with a pool of [`DEFAULT_MAX_CONNECTIONS`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Like [`Store::connect`], with at most `max_connections` connections to PostgreSQL
    /// (`database_max_connections`). SQLite keeps its own fixed pools: one writer connection
    /// and a few readers.
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        Self::connect_pool(
            url,
            PoolOptions {
                max_connections,
                ..PoolOptions::default()
            },
        )
        .await
    }

    /// Like [`Store::connect`], with the PostgreSQL pool set up as `pool` says.
    pub async fn connect_pool(url: &str, pool: PoolOptions) -> Result<Store, StoreError> {
        let backend = if is_postgres_url(url) {
            Backend::Postgres(PgStore::connect(url, pool).await?)
        } else {
            Backend::Sqlite(SqliteStore::connect(url).await?)
        };
        Ok(Store {
            backend,
            metrics: Metrics::new(),
        })
    }

    /// Writes a consistent copy of the database at `url` to the new file `dest`; its size.
    /// SQLite only: a PostgreSQL database is backed up with `pg_dump`.
    pub async fn backup(url: &str, dest: &std::path::Path) -> Result<u64, StoreError> {
        if is_postgres_url(url) {
            return Err(StoreError::Unsupported(
                "jobcast backup copies SQLite databases only; back up a PostgreSQL database \
                 with pg_dump (for example pg_dump --format=custom --file=jobcast.dump URL)",
            ));
        }
        SqliteStore::backup(url, dest).await
    }

    /// The metrics this store records into (attempts, retries, ends).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Records an ended attempt: a retry when the job went back to the queue, else its end.
    fn attempt_ended(&self, job: &Job) {
        if job.status == JobStatus::Queued {
            self.metrics.retried(job);
        } else {
            self.metrics.finished(job);
        }
    }

    /// Cancels a queued (or unfinished `external`) job at once, or asks the runner to stop it.
    pub async fn cancel(&self, id: JobId, external: bool) -> Result<CancelOutcome, StoreError> {
        let outcome = on_backend!(self, store => store.cancel(id, external).await)?;
        if let CancelOutcome::Cancelled(job) = &outcome {
            self.metrics.finished(job);
        }
        Ok(outcome)
    }

    /// Finishes a job as `completed` with `result`.
    pub async fn complete(
        &self,
        id: JobId,
        writer: Writer<'_>,
        result: Option<&Value>,
    ) -> Result<Job, StoreError> {
        let job = on_backend!(self, store => store.complete(id, writer, result).await)?;
        self.metrics.finished(&job);
        Ok(job)
    }

    /// Records a failed attempt: queued again for `retry` while attempts remain, else failed.
    pub async fn fail(
        &self,
        id: JobId,
        writer: Writer<'_>,
        error: &str,
        details: Option<&Value>,
        retry: Option<RetryPolicy>,
    ) -> Result<Job, StoreError> {
        let job = on_backend!(self, store => store.fail(id, writer, error, details, retry).await)?;
        self.attempt_ended(&job);
        Ok(job)
    }

    /// The runner stopped a job whose cancel was requested.
    pub async fn finish_cancelled(&self, id: JobId, owner: &str) -> Result<Job, StoreError> {
        let job = on_backend!(self, store => store.finish_cancelled(id, owner).await)?;
        self.metrics.finished(&job);
        Ok(job)
    }

    /// Claims up to `limit` due jobs of `types` for `claimant`.
    pub async fn claim(
        &self,
        types: &[String],
        claimant: &Claimant<'_>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let jobs = on_backend!(self, store => store.claim(types, claimant, lease, limit).await)?;
        for job in &jobs {
            self.metrics.attempt_started(job);
        }
        Ok(jobs)
    }

    /// Jobs whose lease expired: queued again while attempts remain, else failed.
    pub async fn recover_expired(&self) -> Result<Vec<Job>, StoreError> {
        let jobs = on_backend!(self, store => store.recover_expired().await)?;
        for job in &jobs {
            self.attempt_ended(job);
        }
        Ok(jobs)
    }

    /// Each job keeps at most its `lines` newest log lines from now on.
    pub fn keep_log_lines(&self, lines: i64) {
        on_backend!(self, store => store.keep_log_lines(lines))
    }

    /// Changes after a job changed through this store (this process's writes).
    pub fn watch_changes(&self) -> watch::Receiver<u64> {
        on_backend!(self, store => store.watch_changes())
    }

    /// Changes when a job became queued in another process sharing the database, where the
    /// backend can tell (PostgreSQL's notifications); `None` where it cannot (SQLite).
    pub fn watch_queued(&self) -> Option<watch::Receiver<u64>> {
        on_backend!(self, store => store.watch_queued())
    }

    /// Closes the connections, waiting for queries under way.
    pub async fn close(&self) {
        on_backend!(self, store => store.close().await)
    }

    delegate! {
        async fn count_by_type_and_status(&self) -> Result<Vec<(String, String, i64)>, StoreError>;
        async fn count_queued(&self, job_type: &str) -> Result<i64, StoreError>;
        async fn max_change_seq(&self) -> Result<i64, StoreError>;
        async fn changes_since(&self, after: i64, limit: i64) -> Result<Vec<(JobId, i64, i64)>, StoreError>;
        async fn get_jobs(&self, ids: &[JobId]) -> Result<Vec<Job>, StoreError>;
        async fn insert_upload(&self, upload: &Upload) -> Result<(), StoreError>;
        async fn get_upload(&self, id: &str) -> Result<Option<Upload>, StoreError>;
        async fn delete_unused_uploads(&self, before: Timestamp) -> Result<Vec<String>, StoreError>;
        async fn check_ready(&self) -> Result<(), StoreError>;
        async fn ping(&self) -> Result<(), StoreError>;
        async fn create_job(&self, new: NewJob) -> Result<(Job, bool), StoreError>;
        async fn get_job(&self, id: JobId) -> Result<Option<Job>, StoreError>;
        async fn list_jobs(&self, filter: &ListFilter) -> Result<Vec<Job>, StoreError>;
        async fn logs_after_seq(&self, id: JobId, after: i64, limit: i64) -> Result<Vec<LogLine>, StoreError>;
        async fn logs_between_versions(&self, id: JobId, after: i64, upto: i64) -> Result<Vec<LogLine>, StoreError>;
        async fn report_progress(&self, id: JobId, writer: Writer<'_>, progress: &Progress) -> Result<Job, StoreError>;
        async fn queue_progress(&self, id: JobId, owner: &str, progress: Progress) -> Result<(), StoreError>;
        async fn queue_log(&self, id: JobId, owner: &str, level: LogLevel, message: String) -> Result<(), StoreError>;
        async fn flush(&self) -> Result<(), StoreError>;
        async fn append_log(&self, id: JobId, writer: Writer<'_>, level: LogLevel, message: &str) -> Result<LogLine, StoreError>;
        async fn retry(&self, id: JobId) -> Result<Job, StoreError>;
        async fn requeue(&self, id: JobId, owner: &str) -> Result<Job, StoreError>;
        async fn renew_leases(&self, owner: &str, lease: Duration) -> Result<Vec<JobId>, StoreError>;
        async fn prunable_jobs(&self, rule: &PruneRule, limit: usize) -> Result<Vec<JobId>, StoreError>;
        async fn count_prunable(&self, rule: &PruneRule) -> Result<(u64, u64), StoreError>;
        async fn delete_prunable_logs(&self, ids: &[JobId], rule: &PruneRule, limit: usize) -> Result<u64, StoreError>;
        async fn delete_prunable_jobs(&self, ids: &[JobId], rule: &PruneRule) -> Result<u64, StoreError>;
        async fn free_pages(&self) -> Result<i64, StoreError>;
        async fn reclaim_free_pages(&self) -> Result<i64, StoreError>;
    }
}

use crate::job::{JobId, JobStatus, Timestamp};

/// Why a store call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job not found")]
    NotFound,
    /// The job exists but is not in a state that allows the change.
    #[error("job is {status}")]
    Conflict { job_id: JobId, status: JobStatus },
    #[error("cannot open the database at {url}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot create the database folder {path}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("stored job is corrupt: {0}")]
    Corrupt(String),
    /// The batch this write was part of failed; the cause is logged once by the writer.
    #[error("the write failed: {0}")]
    Batch(String),
    /// The store's writer has stopped (the store is closing).
    #[error("the store is closed")]
    Closed,
    /// The backend cannot do this; the message says what to use instead.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The database's schema is older than this build's migrations.
    #[error("the database has migrations up to {applied}, this build needs {known}")]
    NotMigrated { applied: i64, known: i64 },
}

impl StoreError {
    /// Whether the same write may well succeed if tried again shortly: the database could not
    /// be reached, was restarting or shutting down, or rolled the transaction back to break a
    /// deadlock. Not a refusal, not a bad request, not a closed store.
    pub fn is_transient(&self) -> bool {
        let StoreError::Database(error) = self else {
            return false;
        };
        match error {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Protocol(_) => true,
            sqlx::Error::Database(error) => error.code().is_some_and(|code| {
                // 08: connection exceptions; 57P01-3: shut down, crashed, starting up;
                // 40001, 40P01: serialization failure, deadlock.
                code.starts_with("08")
                    || matches!(&*code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
            }),
            _ => false,
        }
    }
}

/// Runs `write` again while it fails for want of the database ([`StoreError::is_transient`]),
/// backing off from 50 ms to 2 s, for as long as `keep_trying(next_delay)` says; returns the
/// first answer that is not such a failure, or the last failure. The queued writes of a
/// PostgreSQL store and the runner's record of how an attempt ended use it.
pub async fn retry_transient<T, F, Fut>(
    job: JobId,
    mut keep_trying: impl FnMut(Duration) -> bool,
    mut write: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut delay = Duration::from_millis(50);
    loop {
        match write().await {
            Err(error) if error.is_transient() && keep_trying(delay) => {
                tracing::warn!(job_id = %job, %error, ?delay, "a write failed for want of the database; trying again");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            result => return result,
        }
    }
}

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

impl Writer<'_> {
    fn author(self) -> batch::Author {
        match self {
            Writer::External => batch::Author::External,
            Writer::Lease(owner) => batch::Author::Lease(owner.to_owned()),
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
    pub created_at: crate::job::Timestamp,
}

/// Filters for listing jobs, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<JobStatus>,
    pub job_type: Option<String>,
    /// Only jobs older than this one (the previous page's last id).
    pub before: Option<JobId>,
    pub limit: i64,
}

/// What a cancel request did.
#[derive(Debug, Clone)]
pub enum CancelOutcome {
    /// The job was queued (or external) and is now `cancelled`.
    Cancelled(crate::job::Job),
    /// The job is running in a worker; it has been asked to stop.
    Requested(crate::job::Job),
}

/// What a retry after a failed attempt should look like.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// When the next attempt may start, if attempts remain.
    pub retry_at: Timestamp,
}
