//! What a job type's code sees: the [`JobHandler`] trait, the [`JobContext`] it runs with, and
//! the registry of declared types ([`JobTypes`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::config::{JobKind, JobTypeConfig};
use crate::job::{Job, JobId, LogLevel, Progress};
use crate::store::{Store, StoreError, Writer};

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
}

impl JobError {
    pub fn new(error: impl Into<String>) -> Self {
        JobError {
            error: error.into(),
            details: None,
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

/// A running job as its handler sees it: its input, and ways to report and to notice a cancel.
#[derive(Debug, Clone)]
pub struct JobContext {
    job: Arc<Job>,
    store: Store,
    owner: Arc<str>,
    cancel: CancellationToken,
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
        }
    }

    pub fn id(&self) -> JobId {
        self.job.id
    }

    pub fn payload(&self) -> &Value {
        &self.job.payload
    }

    /// 1 for the first attempt.
    pub fn attempt(&self) -> i64 {
        self.job.attempt
    }

    /// Records progress; the job's streams see it at their next poll.
    pub async fn progress(&self, progress: Progress) -> Result<(), JobError> {
        self.store
            .report_progress(self.job.id, Writer::Lease(&self.owner), &progress)
            .await?;
        Ok(())
    }

    /// Adds a log line to the job.
    pub async fn log(&self, level: LogLevel, message: impl AsRef<str>) -> Result<(), JobError> {
        self.store
            .append_log(
                self.job.id,
                Writer::Lease(&self.owner),
                level,
                message.as_ref(),
            )
            .await?;
        Ok(())
    }

    /// Resolves when the job is cancelled; for handlers that want to clean up first (the runner
    /// drops the handler's future right after anyway).
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }
}

/// One declared job type: its settings and, for in-process kinds, its handler.
#[derive(Clone)]
pub struct JobType {
    pub config: JobTypeConfig,
    /// `None` for `external` types, which outside code drives.
    pub handler: Option<Arc<dyn JobHandler>>,
}

impl std::fmt::Debug for JobType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobType")
            .field("config", &self.config)
            .field("in_process", &self.handler.is_some())
            .finish()
    }
}

/// The declared job types by name.
#[derive(Debug, Clone, Default)]
pub struct JobTypes(BTreeMap<String, JobType>);

impl JobTypes {
    /// The types declared in config, with built-in handlers for built-in kinds.
    pub fn from_config(types: &BTreeMap<String, JobTypeConfig>) -> Self {
        let mut registry = JobTypes::default();
        for (name, config) in types {
            let handler: Option<Arc<dyn JobHandler>> = match config.kind {
                JobKind::Demo => Some(Arc::new(super::demo::Demo)),
                JobKind::External => None,
                JobKind::Command => Some(Arc::new(super::command::CommandHandler::new(config))),
            };
            registry.0.insert(
                name.clone(),
                JobType {
                    config: config.clone(),
                    handler,
                },
            );
        }
        registry
    }

    pub fn get(&self, name: &str) -> Option<&JobType> {
        self.0.get(name)
    }

    /// Names of the types this process runs itself.
    pub fn in_process(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, t)| t.handler.is_some())
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}
