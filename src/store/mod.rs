//! The storage boundary: every read and write of jobs and their log lines goes through [`Store`].
//!
//! Only this module mentions sqlx. Callers get domain facts back (a job, "not found", "conflict
//! because the job is already completed"), never driver errors to match on. Writes go through
//! one writer connection with short, single-purpose statements; reads use a small pool, so a
//! slow reader never holds up a writer and concurrent writers never see "database is locked".
//!
//! Who may change a running job is expressed by a [`Writer`]: outside code driving an
//! `external` job, or the runner instance holding the job's lease.

mod batch;
mod sqlite;

pub use sqlite::{database_file, PruneRule, Store};

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
    /// The database's schema is older than this build's migrations.
    #[error("the database has migrations up to {applied}, this build needs {known}")]
    NotMigrated { applied: i64, known: i64 },
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
