//! What a store call can fail with, and the one retry loop for failures that are the
//! database being away rather than a refusal.

use std::time::Duration;

use crate::job::{JobId, JobStatus};

/// Why a store call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job not found")]
    NotFound,
    /// A family's limit or rule refused the children asked for; the message says which.
    #[error("{0}")]
    Family(String),
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
    /// `transient` when it failed for want of the database (nothing was committed).
    #[error("the write failed: {message}")]
    Batch { message: String, transient: bool },
    /// The database went away while committing this write and did not say, when asked again,
    /// whether the commit happened: the write may or may not have been applied.
    #[error("the database went away while committing, and whether the write was applied is unknown: {0}")]
    Unconfirmed(String),
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
        let error = match self {
            StoreError::Database(error) => error,
            StoreError::Batch { transient, .. } => return *transient,
            _ => return false,
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
