//! The storage boundary: every read and write of jobs, their log lines and uploads goes
//! through [`Store`]. Only this module mentions sqlx; callers get domain facts back (a job,
//! "not found", "conflict because the job is completed"), never driver errors to match on.
//!
//! - [`Backend`] (`contract.rs`) is the contract: what every backend guarantees, method by
//!   method. The conformance suite (`tests/conformance/`) holds each backend to it.
//! - `sqlite/`: one file, one node; one writer connection with group commit for the hot writes
//!   (`sqlite/batch/`), a small pool of readers, and what only SQLite has: backups, giving
//!   freed pages back (`sqlite/retention.rs`).
//! - `postgres/`: one database, any number of nodes; per-job write queues (`postgres/queue.rs`),
//!   change notifications between nodes (`postgres/listen.rs`).
//! - `sql.rs`: the statements and clauses both backends run with the same text; `shared.rs`:
//!   the reads and plain writes both run alike, on either pool; `rows.rs`: rows to jobs.
//! - `types.rs` and `error.rs`: the contract's shared types and its error.
//!
//! Which transitions each action allows is declared once, in [`crate::job::Action`]; both
//! backends build their guards from it.

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
    CancelOutcome, Claimant, ListFilter, PoolOptions, PruneRule, RetryPolicy, Upload, Writer,
    DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
};

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::job::{Job, JobId, JobStatus};
use crate::metrics::Metrics;

/// The job store: a [`Backend`], chosen by the database URL's scheme, and the metrics that
/// every attempt and every job's end pass through.
///
/// Everything of the contract is reached through `Deref` (`store.get_job(id)` is
/// [`Backend::get_job`]). The calls that start or end an attempt are `Store`'s own: each calls
/// the backend and records the attempt, the retry or the end, once for every backend and every
/// caller (runner, external workers, lease recovery).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    /// The same store as `backend` when it is SQLite, for what only SQLite has.
    sqlite: Option<SqliteStore>,
    metrics: Metrics,
}

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
        let (backend, sqlite): (Arc<dyn Backend>, _) = if is_postgres_url(url) {
            (Arc::new(PgStore::connect(url, pool).await?), None)
        } else {
            let sqlite = SqliteStore::connect(url).await?;
            (Arc::new(sqlite.clone()), Some(sqlite))
        };
        Ok(Store {
            backend,
            sqlite,
            metrics,
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

    /// Records an ended attempt: a retry when the job went back to the queue, else its end.
    fn attempt_ended(&self, job: &Job) {
        if job.status == JobStatus::Queued {
            self.metrics.retried(job);
        } else {
            self.metrics.finished(job);
        }
    }

    /// [`Backend::cancel`], recording a job cancelled at once.
    pub async fn cancel(&self, id: JobId, external: bool) -> Result<CancelOutcome, StoreError> {
        let outcome = self.backend.cancel(id, external).await?;
        if let CancelOutcome::Cancelled(job) = &outcome {
            self.metrics.finished(job);
        }
        Ok(outcome)
    }

    /// [`Backend::complete`], recording the end.
    pub async fn complete(
        &self,
        id: JobId,
        writer: Writer<'_>,
        result: Option<&Value>,
    ) -> Result<Job, StoreError> {
        let job = self.backend.complete(id, writer, result).await?;
        self.metrics.finished(&job);
        Ok(job)
    }

    /// [`Backend::fail`], recording the retry or the end.
    pub async fn fail(
        &self,
        id: JobId,
        writer: Writer<'_>,
        error: &str,
        details: Option<&Value>,
        retry: Option<RetryPolicy>,
    ) -> Result<Job, StoreError> {
        let job = self.backend.fail(id, writer, error, details, retry).await?;
        self.attempt_ended(&job);
        Ok(job)
    }

    /// [`Backend::finish_cancelled`], recording the end.
    pub async fn finish_cancelled(&self, id: JobId, owner: &str) -> Result<Job, StoreError> {
        let job = self.backend.finish_cancelled(id, owner).await?;
        self.metrics.finished(&job);
        Ok(job)
    }

    /// [`Backend::claim`], recording each attempt started.
    pub async fn claim(
        &self,
        types: &[String],
        claimant: &Claimant<'_>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let jobs = self.backend.claim(types, claimant, lease, limit).await?;
        for job in &jobs {
            self.metrics.attempt_started(job);
        }
        Ok(jobs)
    }

    /// [`Backend::recover_expired`], recording each attempt's end.
    pub async fn recover_expired(&self) -> Result<Vec<Job>, StoreError> {
        let jobs = self.backend.recover_expired().await?;
        for job in &jobs {
            self.attempt_ended(job);
        }
        Ok(jobs)
    }
}
