//! What a job type's code sees: the [`JobHandler`] trait, the [`JobContext`] it runs with, and
//! the [`JobError`] it fails with. Which handler serves which declared type is
//! [`super::types`]'s.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::job::{Job, JobId, LogLevel, Progress};
use crate::store::{Store, StoreError};

/// A boxed future, so handlers can be stored as trait objects.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Code that runs jobs of one type in this process.
pub trait JobHandler: Send + Sync + 'static {
    /// Checks a payload when a job is created, so a bad one is refused with 422 instead of
    /// failing later.
    fn validate(&self, _payload: &Value) -> Result<(), PayloadError> {
        Ok(())
    }

    /// Runs one attempt. `Ok` completes the job with that result; `Err` fails the attempt (it is
    /// retried while attempts remain). The future is dropped when the job is cancelled, times
    /// out, or is interrupted by shutdown.
    fn run(&self, ctx: JobContext) -> BoxFuture<Result<Value, JobError>>;

    /// How long the runner keeps running an attempt after its cancel, so the handler can stop
    /// cleanly (it sees [`JobContext::cancelled`]). Zero: the attempt is dropped at once.
    fn cancel_grace(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// A payload field that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError {
    /// Path of the field, such as `payload.steps`.
    pub field: String,
    pub message: String,
}

impl PayloadError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        PayloadError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}")]
pub struct JobError {
    /// One line for people: shown as the job's `error`.
    pub error: String,
    /// Anything structured that helps, shown as the job's `details`.
    pub details: Option<Value>,
    /// Whether another attempt could succeed (while attempts remain). True unless made with
    /// [`JobError::permanent`].
    pub retry: bool,
}

impl JobError {
    /// A failure worth retrying (a timeout, a service that was down).
    pub fn new(error: impl Into<String>) -> Self {
        JobError {
            error: error.into(),
            details: None,
            retry: true,
        }
    }

    /// A failure no retry can fix (bad input): the job fails at once.
    pub fn permanent(error: impl Into<String>) -> Self {
        JobError {
            retry: false,
            ..JobError::new(error)
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

impl From<StoreError> for JobError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { status, .. } => {
                JobError::new(format!("the job can no longer be updated: it is {status}"))
            }
            other => JobError::new(format!("could not record the job's progress: {other}")),
        }
    }
}

/// A running job as its handler sees it: its input, ways to report, and its cancellation.
///
/// Reports are queued, not awaited: a handler may report as often as it likes, reports made
/// faster than the store writes are merged, and the job's end is written after all of them.
#[derive(Debug, Clone)]
pub struct JobContext {
    job: Arc<Job>,
    store: Store,
    owner: Arc<str>,
    cancel: CancellationToken,
    /// The last progress percentage reported, for reports that change other fields only.
    last_progress: Arc<AtomicU64>,
    input_file: Option<std::path::PathBuf>,
}

impl JobContext {
    pub(crate) fn new(
        job: Arc<Job>,
        store: Store,
        owner: Arc<str>,
        cancel: CancellationToken,
    ) -> Self {
        JobContext {
            job,
            store,
            owner,
            cancel,
            last_progress: Arc::new(AtomicU64::new(0f64.to_bits())),
            input_file: None,
        }
    }

    pub(crate) fn with_input_file(mut self, path: Option<std::path::PathBuf>) -> Self {
        self.input_file = path;
        self
    }

    /// The uploaded file this job works on, when its payload named an `upload_id`.
    pub fn input_file(&self) -> Option<&std::path::Path> {
        self.input_file.as_deref()
    }

    pub fn id(&self) -> JobId {
        self.job.id
    }

    pub fn payload(&self) -> &Value {
        &self.job.payload
    }

    /// The payload as `T`; a payload that does not fit is a permanent failure.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_value(self.job.payload.clone())
            .map_err(|e| JobError::permanent(format!("bad payload: {e}")))
    }

    /// 1 for the first attempt.
    pub fn attempt(&self) -> i64 {
        self.job.attempt
    }

    /// Sets the progress (0 to 100, clamped) and the message shown with it.
    pub async fn progress(&self, percent: f64, message: impl Into<String>) -> Result<(), JobError> {
        self.report(Progress {
            progress: percent,
            message: Some(message.into()),
            ..Progress::default()
        })
        .await
    }

    /// Sets how many items there are in all (`current` of `total`).
    pub async fn set_total(&self, total: i64) -> Result<(), JobError> {
        self.report(Progress {
            total: Some(total),
            ..self.unchanged()
        })
        .await
    }

    /// Sets how many items are done.
    pub async fn set_current(&self, current: i64) -> Result<(), JobError> {
        self.report(Progress {
            current: Some(current),
            ..self.unchanged()
        })
        .await
    }

    /// Names the stage the job is in (`download`, `parse`, `load`...).
    pub async fn stage(&self, stage: impl Into<String>) -> Result<(), JobError> {
        self.report(Progress {
            stage: Some(stage.into()),
            ..self.unchanged()
        })
        .await
    }

    /// A report that keeps every field as it was.
    fn unchanged(&self) -> Progress {
        Progress {
            progress: f64::from_bits(self.last_progress.load(Ordering::Relaxed)),
            ..Progress::default()
        }
    }

    /// Reports progress and any of message, current, total and stage at once; fields left
    /// `None` keep their value.
    pub async fn report(&self, mut progress: Progress) -> Result<(), JobError> {
        progress.progress = if progress.progress.is_finite() {
            progress.progress.clamp(0.0, 100.0)
        } else {
            0.0
        };
        self.last_progress
            .store(progress.progress.to_bits(), Ordering::Relaxed);
        self.store
            .queue_progress(self.job.id, &self.owner, progress)
            .await?;
        Ok(())
    }

    /// Adds a log line to the job.
    pub async fn log(&self, level: LogLevel, message: impl AsRef<str>) -> Result<(), JobError> {
        self.store
            .queue_log(self.job.id, &self.owner, level, message.as_ref().to_owned())
            .await?;
        Ok(())
    }

    /// Resolves when the job is cancelled. Handlers with a [`JobHandler::cancel_grace`] use it
    /// to stop cleanly; for the others the runner drops the attempt at once.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// A [`JobHandler`] made from an async function: `handler_fn(|ctx| async move { ... })`.
pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, JobError>> + Send + 'static,
{
    FnHandler(f)
}

/// See [`handler_fn`].
pub struct FnHandler<F>(F);

impl<F, Fut> JobHandler for FnHandler<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, JobError>> + Send + 'static,
{
    fn run(&self, ctx: JobContext) -> BoxFuture<Result<Value, JobError>> {
        Box::pin((self.0)(ctx))
    }
}
