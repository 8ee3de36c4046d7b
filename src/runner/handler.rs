//! What a job type's code sees: the [`JobHandler`] trait, the [`JobContext`] it runs with, and
//! the [`JobError`] it fails with. Which handler serves which declared type is
//! [`super::types`]'s.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::job::{ChildPolicy, Job, JobId, LogLevel, NewJob, Progress};
use crate::store::{FamilyLimits, Store, StoreError, Writer};

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
            StoreError::Family(message) => JobError::permanent(message),
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
    /// What making children needs; `None` where children cannot be made.
    family: Option<Arc<Family>>,
}

/// What making a child needs to know of its type, from the registry of declared types
/// ([`super::types::JobTypes`]), which names the handlers and so is not known here.
pub(crate) trait ChildTypes: std::fmt::Debug + Send + Sync {
    /// The attempts a child of `job_type` gets, once the type is known to be declared and its
    /// handler (if it runs here) accepts `payload`; else why not.
    fn child_attempts(&self, job_type: &str, payload: &Value) -> Result<i64, JobError>;
}

/// What a job needs to make children: the declared types (a child's type must be one, and
/// gives its attempts and checks its payload), the limits, the policy, and how many children
/// this run has asked for (each child's idempotency key, so a retried run that asks again in
/// the same order gets the same children).
#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) types: Arc<dyn ChildTypes>,
    pub(crate) limits: FamilyLimits,
    policy: std::sync::Mutex<ChildPolicy>,
    asked: AtomicU64,
}

impl Family {
    pub(crate) fn new(types: Arc<dyn ChildTypes>, limits: FamilyLimits) -> Self {
        Family {
            types,
            limits,
            policy: std::sync::Mutex::new(ChildPolicy::default()),
            asked: AtomicU64::new(0),
        }
    }
}

/// A child job a handler asks for: its type and payload, and optionally its own idempotency
/// key (by default the parent's id and the child's place among those this run asked for).
#[derive(Debug, Clone)]
pub struct ChildSpec {
    pub job_type: String,
    pub payload: Value,
    pub key: Option<String>,
}

impl ChildSpec {
    pub fn new(job_type: impl Into<String>, payload: Value) -> Self {
        ChildSpec {
            job_type: job_type.into(),
            payload,
            key: None,
        }
    }
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
            family: None,
        }
    }

    pub(crate) fn with_family(mut self, family: Family) -> Self {
        self.family = Some(Arc::new(family));
        self
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

    /// Whether this job has made children (on an earlier run or this one).
    pub fn has_children(&self) -> bool {
        self.job.children > 0
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
            .queue_progress(self.job.id, &self.owner, progress, self.job.parent_id)
            .await?;
        Ok(())
    }

    /// Adds a log line to the job.
    pub async fn log(&self, level: LogLevel, message: impl AsRef<str>) -> Result<(), JobError> {
        self.store
            .queue_log(
                self.job.id,
                &self.owner,
                level,
                message.as_ref().to_owned(),
                self.job.parent_id,
            )
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

    // --- Families -------------------------------------------------------------------------

    /// What a failed child does to this job from its next child on: fail it at once and cancel
    /// the rest ([`ChildPolicy::FailFast`], the default), or let it run again when all have
    /// ended and decide ([`ChildPolicy::WaitForAll`]).
    pub fn set_child_policy(&self, policy: ChildPolicy) {
        if let Some(family) = &self.family {
            *family.policy.lock().unwrap_or_else(|e| e.into_inner()) = policy;
        }
    }

    /// Makes a child job of `job_type` (a declared type) with `payload`; see
    /// [`JobContext::spawn_children`].
    pub async fn spawn_child(&self, job_type: &str, payload: Value) -> Result<JobId, JobError> {
        let made = self
            .spawn_children(vec![ChildSpec::new(job_type, payload)])
            .await?;
        made.into_iter()
            .next()
            .ok_or_else(|| JobError::new("no child was made"))
    }

    /// Makes child jobs, all or none, in one transaction with the check that this job still
    /// runs under this runner's lease. Each is an ordinary queued job of its type (its
    /// attempts, its own stream) naming this job as its parent. When this handler returns,
    /// the job waits (holding no worker) until every child has ended, then runs again: its
    /// next run reads their outcomes with [`JobContext::children`]. Children this run asked
    /// for in the same order on an earlier attempt are the same jobs, not new ones. A type that
    /// is not declared, a payload its handler refuses, or a family limit reached is a
    /// permanent failure.
    pub async fn spawn_children(&self, children: Vec<ChildSpec>) -> Result<Vec<JobId>, JobError> {
        let family = self
            .family
            .as_ref()
            .ok_or_else(|| JobError::permanent("this job cannot make children"))?;
        let mut new = Vec::with_capacity(children.len());
        for child in children {
            let max_attempts = family
                .types
                .child_attempts(&child.job_type, &child.payload)?;
            let n = family.asked.fetch_add(1, Ordering::Relaxed);
            // A child may work on its parent's upload (named in its payload as the parent's
            // is); no other, which would need checking first.
            let upload_id = self
                .job
                .upload_id
                .clone()
                .filter(|parent| new_upload_id(&child.payload) == Some(parent.as_str()));
            new.push(NewJob {
                job_type: child.job_type,
                payload: child.payload,
                priority: self.job.priority,
                max_attempts,
                timeout: None,
                run_at: None,
                idempotency_key: Some(
                    child
                        .key
                        .unwrap_or_else(|| format!("child:{}:{n}", self.job.id)),
                ),
                upload_id,
            });
        }
        let policy = *family.policy.lock().unwrap_or_else(|e| e.into_inner());
        let made = self
            .store
            .spawn_children(
                self.job.id,
                Writer::Lease(&self.owner),
                new,
                policy,
                family.limits,
            )
            .await?;
        Ok(made.into_iter().map(|(job, _)| job.id).collect())
    }

    /// The outcomes of this job's children, oldest first, when this run is the one after it
    /// waited for them: it has made children, the run that made them returned (a run cut off
    /// while making them leaves that to the next, which asks for them again), and every one
    /// has ended. `None` otherwise: the run that makes (or, after a crash or a retry, makes
    /// again) the children.
    pub async fn finished_children(&self) -> Result<Option<Vec<Job>>, JobError> {
        if self.job.children == 0 || self.job.awaiting_children {
            return Ok(None);
        }
        let children = self.children().await?;
        Ok(children
            .iter()
            .all(|child| child.status.is_finished())
            .then_some(children))
    }

    /// This job's children as they are now, oldest first: after they have all ended (the run
    /// after the job waited for them), their results and errors.
    pub async fn children(&self) -> Result<Vec<Job>, JobError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.children(self.job.id, after, 1000).await?;
            let Some(last) = page.last() else {
                return Ok(all);
            };
            after = Some(last.id);
            all.extend(page);
        }
    }
}

/// The `upload_id` a payload names, if any.
fn new_upload_id(payload: &Value) -> Option<&str> {
    payload.get("upload_id").and_then(Value::as_str)
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
