//! The in-process runner: claims queued jobs of the types this process runs, runs them on a
//! bounded set of workers, and records how each attempt ended.
//!
//! - Claiming is one statement per batch: highest priority first, then oldest; `run_at` delays.
//! - Each running job holds a lease that this runner renews every poll; a job whose lease
//!   expired (its process died) is queued again while attempts remain, else failed as
//!   interrupted. Every runner checks for such jobs at start and at every poll.
//! - Failed attempts retry with exponential backoff and jitter up to `max_attempts`; a timeout
//!   fails an attempt that runs too long; a cancel drops the attempt at once.
//! - On shutdown it stops claiming, gives running jobs the grace period, then puts the
//!   unfinished ones back in the queue.
//!
//! The handler trait and what a handler sees live in [`handler`]; the registry of declared
//! types, which picks each type's handler, in [`types`]; the built-in kinds in [`demo`] and
//! [`command`]. Jobs of `external` types are not run here: who may update them, and how, is
//! [`external`]'s.

mod claiming;
pub mod command;
pub mod demo;
pub mod external;
pub mod handler;
pub mod types;

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use rand::Rng;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::{interval, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::config::RunnerConfig;
use crate::job::{Job, JobId, LogLevel, Timestamp};
use crate::store::{retry_transient, End, RetryPolicy, Store, StoreError, Times, Writer};
use crate::uploads::Uploads;
use claiming::{Claims, Ready};
pub use handler::{handler_fn, ChildSpec, JobContext, JobError, JobHandler, PayloadError};

/// The family limits `config` sets (`runner.max_child_depth`, `runner.max_children`).
pub fn family_limits(config: &RunnerConfig) -> crate::store::FamilyLimits {
    crate::store::FamilyLimits {
        max_depth: config.max_child_depth,
        max_children: config.max_children,
    }
}
pub use types::{JobType, JobTypes};

/// Tells a running [`Runner`] about news from the API: a new job, or a cancel.
#[derive(Debug, Clone)]
pub struct RunnerHandle {
    /// Signalled when a job is created here, so it starts without waiting for the next poll.
    wake: Arc<Notify>,
    /// The attempts running in this process.
    running: Registry,
    /// Set once the runner's loop has started (for `/readyz`).
    started: Arc<std::sync::atomic::AtomicBool>,
    /// Handlers running now: a worker is busy from its job's claim until its handler returns
    /// (the end is then written by the store's batch writer while the worker takes the next).
    busy: Arc<AtomicUsize>,
    /// Signalled when a handler returns, so its worker claims its next job.
    freed: Arc<Notify>,
    /// How long handlers took lately, a moving average in microseconds (`u64::MAX` before
    /// the first): whether to claim ahead.
    run_time_us: Arc<AtomicU64>,
}

/// A worker kept busy by one attempt; freed (and the runner woken to claim) when dropped.
struct Slot {
    busy: Arc<AtomicUsize>,
    freed: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.busy.fetch_sub(1, Ordering::Relaxed);
        self.freed.notify_one();
    }
}

/// The attempts running in this process: each one's type and cancel token.
#[derive(Debug, Clone, Default)]
struct Registry(Arc<Mutex<HashMap<JobId, (String, CancellationToken)>>>);

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, (String, CancellationToken)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers an attempt until the returned guard is dropped (also on a panic).
    fn register(&self, job: &Job, cancel: CancellationToken) -> Registered {
        self.lock().insert(job.id, (job.job_type.clone(), cancel));
        Registered {
            registry: self.clone(),
            id: job.id,
        }
    }

    fn running_of_type(&self, job_type: &str) -> usize {
        self.lock().values().filter(|(t, _)| t == job_type).count()
    }
}

/// An attempt's place in the [`Registry`].
struct Registered {
    registry: Registry,
    id: JobId,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl RunnerHandle {
    /// Whether the runner's loop has started.
    pub fn is_started(&self) -> bool {
        self.started.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A job may be ready: look now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops `id` if it runs in this process; returns whether it did.
    pub fn cancel(&self, id: JobId) -> bool {
        let running = self.running.lock();
        match running.get(&id) {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

/// How one attempt ended.
enum Outcome {
    Completed(Value),
    Failed(JobError),
    Cancelled,
    /// Shutdown outlasted the grace period.
    Interrupted,
}

/// Claims and runs jobs; see the module docs.
pub struct Runner {
    store: Store,
    types: Arc<JobTypes>,
    config: RunnerConfig,
    /// This runner's lease owner id: unique per process start.
    owner: Arc<str>,
    handle: RunnerHandle,
    /// Where jobs' uploaded input files are.
    uploads: Uploads,
}

impl Runner {
    pub fn new(store: Store, types: Arc<JobTypes>, config: RunnerConfig, uploads: Uploads) -> Self {
        Runner {
            uploads,
            store,
            types,
            config,
            owner: Arc::from(format!("runner-{}", uuid::Uuid::now_v7())),
            handle: RunnerHandle {
                wake: Arc::new(Notify::new()),
                running: Registry::default(),
                started: Arc::default(),
                busy: Arc::default(),
                freed: Arc::default(),
                run_time_us: Arc::new(AtomicU64::new(u64::MAX)),
            },
        }
    }

    pub fn handle(&self) -> RunnerHandle {
        self.handle.clone()
    }

    /// Runs until `shutdown` fires, then drains as described in the module docs.
    pub async fn run(self, shutdown: CancellationToken) {
        let in_process = self.types.in_process();
        let mut tasks = JoinSet::new();
        // Fired when the grace period is over: attempts still running are put back.
        let interrupt = CancellationToken::new();
        let mut tick = interval(self.config.poll_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tracing::info!(owner = %self.owner, workers = self.config.workers, types = ?in_process, "runner started");
        self.handle
            .started
            .store(true, std::sync::atomic::Ordering::Relaxed);

        let mut claims = Claims::new(
            self.store.clone(),
            self.owner.clone(),
            self.config.lease,
            self.handle.running.clone(),
        );
        let workers = self.config.workers;
        // After jobs claimed ahead had to go back (a long job held the workers), no more are
        // claimed ahead until a handler returns.
        let mut ahead_held = false;
        loop {
            while tasks.try_join_next().is_some() {}
            // A worker is free once its handler returned, before its end is written: it starts
            // a job claimed ahead, or asks for one, whose claim goes into the store's next
            // batch together with that end.
            while self.handle.busy.load(Ordering::Relaxed) < workers {
                let Some(ready) = claims.take_ready() else {
                    break;
                };
                self.spawn(&mut tasks, ready, interrupt.clone());
            }
            let busy = self.handle.busy.load(Ordering::Relaxed) + claims.reserved();
            let free = workers.saturating_sub(busy);
            let ahead = if self.jobs_are_short() && !ahead_held {
                workers
            } else {
                0
            };
            if !in_process.is_empty() {
                claims.ask(&self.types, &in_process, free, ahead, |t| {
                    self.handle.running.running_of_type(t)
                });
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                ready = claims.next(), if !claims.is_empty() => {
                    for ready in ready {
                        self.spawn(&mut tasks, ready, interrupt.clone());
                    }
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = self.handle.freed.notified() => ahead_held = false,
                _ = self.handle.wake.notified() => claims.news(),
                _ = tick.tick() => {
                    claims.news();
                    self.maintain(!tasks.is_empty() || claims.has_ready()).await;
                    for stale in claims.stale(self.config.poll_interval) {
                        ahead_held = true;
                        // Not waited for: the loop goes on renewing leases meanwhile.
                        tasks.spawn(self.put_back(stale));
                    }
                }
            }
        }

        // Jobs claimed and not started, and those of claims still under way, go back to the
        // queue unstarted.
        while !claims.is_empty() {
            for ready in claims.next().await {
                self.put_back(ready).await;
            }
        }
        while let Some(ready) = claims.take_ready() {
            self.put_back(ready).await;
        }

        // Shutdown: no more claims; running jobs get the grace period.
        tracing::info!(running = tasks.len(), grace = ?self.config.grace_period, "runner stopping");
        let deadline = Instant::now() + self.config.grace_period;
        while !tasks.is_empty() {
            tokio::select! {
                _ = tasks.join_next() => {}
                _ = tick.tick() => self.maintain(true).await,
                _ = tokio::time::sleep_until(deadline), if !interrupt.is_cancelled() => {
                    tracing::warn!(running = tasks.len(), "grace period over: queueing unfinished jobs again");
                    interrupt.cancel();
                }
            }
        }
        tracing::info!("runner stopped");
    }

    /// Whether the jobs run here lately were short enough to claim ahead (see `claiming`).
    fn jobs_are_short(&self) -> bool {
        let average = self.handle.run_time_us.load(Ordering::Relaxed);
        !self.config.claim_ahead.is_zero()
            && Duration::from_micros(average) < self.config.claim_ahead
    }

    /// Puts a job claimed and never started back in the queue, its attempt not counted; or
    /// ends it cancelled if its cancel was asked for meanwhile.
    fn put_back(&self, ready: Ready) -> impl Future<Output = ()> + Send + 'static {
        let (store, owner) = (self.store.clone(), self.owner.clone());
        async move {
            let id = ready.job.id;
            let written = if ready.cancel.is_cancelled() {
                store.finish_cancelled(id, &owner).await
            } else {
                store.requeue(id, &owner).await
            };
            if let Err(error) = written {
                tracing::warn!(job_id = %id, %error, "could not put back a job claimed and not started");
            }
        }
    }

    /// Periodic upkeep: renew our leases while attempts are under way (and pick up cancels
    /// requested elsewhere), and recover jobs whose lease expired.
    async fn maintain(&self, has_running: bool) {
        if has_running {
            match self
                .store
                .renew_leases(&self.owner, self.config.lease)
                .await
            {
                Ok(cancelled) => {
                    for id in cancelled {
                        self.handle.cancel(id);
                    }
                }
                Err(error) => {
                    self.store.metrics().store_error();
                    tracing::warn!(%error, "renewing leases failed")
                }
            }
        }
        match self.store.recover_expired().await {
            Ok(jobs) => {
                for job in &jobs {
                    tracing::warn!(job_id = %job.id, status = %job.status, "recovered a job whose lease expired");
                }
                if !jobs.is_empty() {
                    self.handle.wake();
                }
            }
            Err(error) => {
                self.store.metrics().store_error();
                tracing::warn!(%error, "recovering expired leases failed")
            }
        }
    }

    fn spawn(&self, tasks: &mut JoinSet<()>, ready: Ready, interrupt: CancellationToken) {
        let Ready {
            job,
            cancel,
            registered,
        } = ready;
        let Some(handler) = self
            .types
            .get(&job.job_type)
            .and_then(|t| t.handler.clone())
        else {
            // Claimed only for in-process types, so this is a config change mid-flight.
            tracing::error!(job_id = %job.id, job_type = %job.job_type, "no handler for claimed job");
            return;
        };
        let timeout = job
            .timeout
            .or_else(|| self.types.get(&job.job_type).and_then(|t| t.config.timeout));
        let input_file = job.upload_id.as_deref().map(|id| self.uploads.path(id));
        self.store.metrics().attempt_started(&job);
        self.handle.busy.fetch_add(1, Ordering::Relaxed);
        let worker = Worker {
            _slot: Slot {
                busy: self.handle.busy.clone(),
                freed: self.handle.freed.clone(),
            },
            _registered: registered,
        };
        let attempt = Attempt {
            run_time_us: self.handle.run_time_us.clone(),
            input_file,
            store: self.store.clone(),
            owner: self.owner.clone(),
            config: self.config.clone(),
            types: self.types.clone(),
            worker: Some(worker),
            job: Arc::new(job),
        };
        tasks.spawn(attempt.run(handler, timeout, cancel, interrupt));
    }
}

/// What an attempt holds while its handler runs: a worker, and its place in the registry
/// (cancels find it there).
struct Worker {
    _slot: Slot,
    _registered: Registered,
}

/// One attempt at one job, run in its own task.
struct Attempt {
    store: Store,
    owner: Arc<str>,
    config: RunnerConfig,
    /// The declared types, for the children a job makes.
    types: Arc<JobTypes>,
    /// Given back when the handler returns, before the end is written.
    worker: Option<Worker>,
    /// Where the handler's run time goes (see [`RunnerHandle::run_time_us`]).
    run_time_us: Arc<AtomicU64>,
    /// The uploaded file the job works on, if any.
    input_file: Option<std::path::PathBuf>,
    job: Arc<Job>,
}

impl Attempt {
    async fn run(
        mut self,
        handler: Arc<dyn JobHandler>,
        timeout: Option<Duration>,
        cancel: CancellationToken,
        interrupt: CancellationToken,
    ) {
        let job_id = self.job.id;
        tracing::debug!(%job_id, job_type = %self.job.job_type, attempt = self.job.attempt, "job started");
        let ctx = JobContext::new(
            self.job.clone(),
            self.store.clone(),
            self.owner.clone(),
            cancel.clone(),
        )
        .with_input_file(self.input_file.clone())
        .with_family(handler::Family::new(
            self.types.clone(),
            family_limits(&self.config),
        ));
        let work = AssertUnwindSafe(handler.run(ctx)).catch_unwind();
        let mut work = std::pin::pin!(with_timeout(timeout, work));
        let started = Instant::now();
        let started_at = Timestamp::now();
        let outcome = if cancel.is_cancelled() {
            // Cancelled while it waited, claimed ahead: it never starts.
            Outcome::Cancelled
        } else {
            run_to_end(work.as_mut(), &*handler, timeout, &cancel, &interrupt).await
        };
        average_into(&self.run_time_us, started.elapsed());
        let times = Times {
            started: Some(started_at),
            ended: Some(Timestamp::now()),
        };
        if let Err(error) = self.record(outcome, times).await {
            match error {
                // The lease was lost (expired and taken over, or cancelled externally): someone
                // else owns the job's fate now.
                StoreError::Conflict { status, .. } => {
                    tracing::warn!(%job_id, %status, "attempt ended after losing its lease")
                }
                error => {
                    self.store.metrics().store_error();
                    tracing::error!(%job_id, %error, "could not record how the job ended")
                }
            }
        }
    }

    /// Writes how the attempt ended. The handler's progress and log lines may still be queued
    /// in the store; by the store's contract the end is written after them.
    ///
    /// The end is sent to the store's batch writer and the worker freed at once; this task
    /// waits for the commit, and tries again while the database is unreachable (see
    /// [`Attempt::persist`]).
    async fn record(&mut self, outcome: Outcome, times: Times) -> Result<(), StoreError> {
        let id = self.job.id;
        let lease = Writer::Lease(&self.owner);
        let store = &self.store;
        let end = match outcome {
            Outcome::Completed(value) => End::Complete(Some(value)),
            Outcome::Failed(error) => {
                let attempt = self.job.attempt;
                let retry = (error.retry && attempt < self.job.max_attempts)
                    .then(|| retry_delay(&self.config, attempt));
                let line = match retry {
                    Some(delay) => format!(
                        "attempt {attempt} of {} failed: {}; retrying in {}",
                        self.job.max_attempts,
                        error.error,
                        humantime::format_duration(delay)
                    ),
                    None => format!(
                        "attempt {attempt} of {} failed: {}",
                        self.job.max_attempts, error.error
                    ),
                };
                let level = if retry.is_some() {
                    LogLevel::Warning
                } else {
                    LogLevel::Error
                };
                // Through the queue: its writes are tried again, and never twice.
                store
                    .queue_log(id, &self.owner, level, line, self.job.parent_id)
                    .await?;
                End::Fail {
                    error: error.error,
                    details: error.details,
                    retry: retry.map(|delay| RetryPolicy {
                        retry_at: Timestamp::now().saturating_add(delay),
                    }),
                }
            }
            Outcome::Cancelled => End::Cancelled,
            Outcome::Interrupted => End::Requeue,
        };
        let sent = store.send_end(id, lease, end.clone(), times).await;
        // The worker takes its next job now; its claim rides in the batch with this end.
        drop(self.worker.take());
        let first = match sent {
            Ok(sent) => sent.committed().await,
            Err(error) => Err(error),
        };
        match first {
            Err(error) if error.is_transient() => {
                self.persist(|| store.end(id, lease, end.clone(), times))
                    .await?;
            }
            other => {
                other?;
            }
        }
        Ok(())
    }

    /// Runs a write that ends the attempt, again while it fails for want of the database (a
    /// restart, a network blip), for up to one lease period: the job stays registered as
    /// running meanwhile, so its lease is renewed once the database is back, and a job that
    /// finished during a short outage is recorded instead of being run again after its lease
    /// lapsed. Past that, another process may have taken the job over.
    async fn persist<T, F, Fut>(&self, write: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let give_up = Instant::now() + self.config.lease;
        retry_transient(self.job.id, |delay| Instant::now() + delay < give_up, write).await
    }
}

/// The delay before retrying after failed attempt number `attempt`: `retry_base *
/// 2^(attempt-1)`, capped at `retry_max`, then scaled by a random factor in [0.5, 1] so jobs
/// that failed together do not retry together. Used for in-process attempts and for attempts
/// that external workers report as failed.
pub fn retry_delay(config: &RunnerConfig, attempt: i64) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = config
        .retry_base
        .saturating_mul(2u32.saturating_pow(exp))
        .min(config.retry_max);
    full.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

/// Waits for an attempt's handler to end, time out, be cancelled or be interrupted.
async fn run_to_end<F>(
    mut work: std::pin::Pin<&mut F>,
    handler: &dyn JobHandler,
    timeout: Option<Duration>,
    cancel: &CancellationToken,
    interrupt: &CancellationToken,
) -> Outcome
where
    F: Future<Output = Option<std::thread::Result<Result<Value, JobError>>>>,
{
    tokio::select! {
        result = &mut work => match result {
            Some(Ok(Ok(value))) => Outcome::Completed(value),
            Some(Ok(Err(error))) => Outcome::Failed(error),
            Some(Err(_panic)) => Outcome::Failed(JobError::new("the job's handler panicked")),
            None => Outcome::Failed(JobError::new(format!(
                "timed out after {}",
                humantime::format_duration(timeout.unwrap_or_default())
            ))),
        },
        _ = cancel.cancelled() => {
            // Handlers that stop cleanly (a command's SIGTERM, then SIGKILL) get their
            // grace; shutdown's interrupt still cuts it short.
            let grace = handler.cancel_grace();
            if !grace.is_zero() {
                tokio::select! {
                    _ = tokio::time::timeout(grace, &mut work) => {}
                    _ = interrupt.cancelled() => {}
                }
            }
            Outcome::Cancelled
        }
        _ = interrupt.cancelled() => Outcome::Interrupted,
    }
}

/// Folds `took` into the moving average `average` (in microseconds; `u64::MAX` before the
/// first), each new run weighing an eighth.
fn average_into(average: &AtomicU64, took: Duration) {
    let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX / 2);
    let _ = average.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
        Some(if old == u64::MAX {
            took
        } else {
            old - old / 8 + took / 8
        })
    });
}

/// Runs `work` with an optional time limit; `None` when the limit passed.
async fn with_timeout<F: std::future::Future>(
    limit: Option<Duration>,
    work: F,
) -> Option<F::Output> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, work).await.ok(),
        None => Some(work.await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_time_average_starts_at_the_first_run_and_moves_an_eighth_per_run() {
        let average = AtomicU64::new(u64::MAX);
        average_into(&average, Duration::from_micros(800));
        assert_eq!(average.load(Ordering::Relaxed), 800);
        average_into(&average, Duration::from_micros(1600));
        assert_eq!(average.load(Ordering::Relaxed), 900);
        for _ in 0..100 {
            average_into(&average, Duration::from_secs(5));
        }
        assert!(Duration::from_micros(average.load(Ordering::Relaxed)) > Duration::from_secs(4));
    }
}
