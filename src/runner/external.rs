//! Jobs that outside code runs (`external` types): who may update one, and how an update is
//! written. The runner never runs these; a worker claims one under a lease
//! (`POST /api/workers/claim`), or any code drives an unclaimed one, and reports its progress,
//! log lines and end through [`ExternalJobs`].
//!
//! The rules, checked before every write (and again by the store, in the write itself):
//! - the job exists (else [`UpdateRefused::Store`] with [`StoreError::NotFound`]);
//! - it is of an `external` type ([`UpdateRefused::InProcess`]);
//! - a claimed job's updates carry the claiming worker's lease, and an update that carries a
//!   lease carries the job's current one ([`UpdateRefused::LeaseRequired`],
//!   [`UpdateRefused::LeaseLost`]);
//! - it has not finished ([`UpdateRefused::Finished`]).
//!
//! A worker's failed attempt is retried like an in-process one, with [`super::retry_delay`].
//! How updates travel (the `Jobcast-Lease` header, the JSON bodies) is `http`'s.

use std::sync::Arc;

use serde_json::Value;

use super::types::JobTypes;
use crate::config::RunnerConfig;
use crate::job::{Job, JobId, JobStatus, LogLevel, LogLine, Progress, Timestamp};
use crate::store::{RetryPolicy, Store, StoreError, Writer};

/// Why an update to an external job was refused.
#[derive(Debug, thiserror::Error)]
pub enum UpdateRefused {
    /// The job is of a type this process runs itself.
    #[error("jobs of type {0:?} run in-process; only external jobs accept updates")]
    InProcess(String),
    /// A worker claimed the job, and the update carries no lease.
    #[error("a worker has claimed this job: its updates must carry the Jobcast-Lease header")]
    LeaseRequired,
    /// The update's lease is not the job's: it expired (the job went back to the queue), or
    /// the job was cancelled or claimed by another worker, also between the check and the write.
    #[error(
        "the lease was lost: it expired (the job went back to the queue), or the job was \
         cancelled or given to another worker"
    )]
    LeaseLost,
    #[error("the job is already {0}")]
    Finished(JobStatus),
    /// The store's answer: the job is not there, it changed under an update without a lease,
    /// or the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The updates outside code makes to external jobs, each checked against the rules in the
/// module docs. `lease` is the lease id the update carries: `Some` from the worker that
/// claimed the job, `None` from outside code driving an unclaimed job.
#[derive(Debug, Clone)]
pub struct ExternalJobs {
    store: Store,
    types: Arc<JobTypes>,
    /// The retry backoff, for a worker's failed attempt.
    retries: RunnerConfig,
}

impl ExternalJobs {
    pub fn new(store: Store, types: Arc<JobTypes>, retries: RunnerConfig) -> Self {
        ExternalJobs {
            store,
            types,
            retries,
        }
    }

    /// Sets the job's progress (and any of message, current, total and stage).
    pub async fn report_progress(
        &self,
        id: JobId,
        lease: Option<&str>,
        progress: &Progress,
    ) -> Result<Job, UpdateRefused> {
        self.check(id, lease).await?;
        let written = self
            .store
            .report_progress(id, writer(lease), progress)
            .await;
        written.map_err(|error| refused_write(error, lease))
    }

    /// Adds a log line to the job.
    pub async fn append_log(
        &self,
        id: JobId,
        lease: Option<&str>,
        level: LogLevel,
        message: &str,
    ) -> Result<LogLine, UpdateRefused> {
        self.check(id, lease).await?;
        let written = self
            .store
            .append_log(id, writer(lease), level, message)
            .await;
        written.map_err(|error| refused_write(error, lease))
    }

    /// Makes `children` of the job under `policy`, as [`Store::spawn_children`] does, within
    /// the limits of `runner.max_child_depth` and `runner.max_children`.
    pub async fn spawn_children(
        &self,
        id: JobId,
        lease: Option<&str>,
        children: Vec<crate::job::NewJob>,
        policy: crate::job::ChildPolicy,
    ) -> Result<Vec<(Job, bool)>, UpdateRefused> {
        self.check(id, lease).await?;
        let limits = super::family_limits(&self.retries);
        let written = self
            .store
            .spawn_children(id, writer(lease), children, policy, limits)
            .await;
        written.map_err(|error| refused_write(error, lease))
    }

    /// Completes the job with `result`.
    pub async fn complete(
        &self,
        id: JobId,
        lease: Option<&str>,
        result: Option<&Value>,
    ) -> Result<Job, UpdateRefused> {
        self.check(id, lease).await?;
        let written = self.store.complete(id, writer(lease), result).await;
        written.map_err(|error| refused_write(error, lease))
    }

    /// Fails the attempt. A worker's (with a lease) is retried like an in-process attempt while
    /// attempts remain, so the job may come back queued; outside code that drives an unclaimed
    /// job ends it.
    pub async fn fail(
        &self,
        id: JobId,
        lease: Option<&str>,
        error: &str,
        details: Option<&Value>,
    ) -> Result<Job, UpdateRefused> {
        let job = self.check(id, lease).await?;
        let retry = lease.map(|_| RetryPolicy {
            retry_at: Timestamp::now()
                .saturating_add(super::retry_delay(&self.retries, job.attempt)),
        });
        let written = self
            .store
            .fail(id, writer(lease), error, details, retry)
            .await;
        written.map_err(|error| refused_write(error, lease))
    }

    /// The job, if an update carrying `lease` may change it (see the module docs).
    async fn check(&self, id: JobId, lease: Option<&str>) -> Result<Job, UpdateRefused> {
        let job = self.store.get_job(id).await?.ok_or(StoreError::NotFound)?;
        if !self.types.is_external(&job.job_type) {
            return Err(UpdateRefused::InProcess(job.job_type));
        }
        match (lease, job.lease_owner.as_deref()) {
            (Some(lease), owner) if owner != Some(lease) => return Err(UpdateRefused::LeaseLost),
            (None, Some(_)) if !job.status.is_finished() => {
                return Err(UpdateRefused::LeaseRequired)
            }
            _ => {}
        }
        if job.status.is_finished() {
            return Err(UpdateRefused::Finished(job.status));
        }
        Ok(job)
    }
}

/// Who an update speaks for: outside code, or the worker holding `lease`.
fn writer(lease: Option<&str>) -> Writer<'_> {
    match lease {
        Some(lease) => Writer::Lease(lease),
        None => Writer::External,
    }
}

/// A write the store refused under a lease that passed the check: the lease was lost in
/// between.
fn refused_write(error: StoreError, lease: Option<&str>) -> UpdateRefused {
    match (error, lease) {
        (StoreError::Conflict { .. }, Some(_)) => UpdateRefused::LeaseLost,
        (error, _) => UpdateRefused::Store(error),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::config::{JobKind, JobTypeConfig};
    use crate::job::NewJob;
    use crate::store::Claimant;

    async fn setup(dir: &tempfile::TempDir) -> (ExternalJobs, Store) {
        let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
        let store = Store::connect(&url).await.unwrap();
        let declared = BTreeMap::from([
            ("external".to_owned(), JobTypeConfig::new(JobKind::External)),
            ("demo".to_owned(), JobTypeConfig::new(JobKind::Demo)),
        ]);
        let types = Arc::new(JobTypes::from_config(&declared).unwrap());
        let jobs = ExternalJobs::new(store.clone(), types, RunnerConfig::default());
        (jobs, store)
    }

    async fn create(store: &Store, job_type: &str) -> JobId {
        let (job, _) = store
            .create_job(NewJob {
                job_type: job_type.to_owned(),
                payload: Value::Null,
                priority: 0,
                max_attempts: 3,
                timeout: None,
                run_at: None,
                idempotency_key: None,
                upload_id: None,
            })
            .await
            .unwrap();
        job.id
    }

    async fn claim(store: &Store, lease: &str) {
        let claimant = Claimant {
            owner: lease,
            worker: Some("w"),
        };
        let types = ["external".to_owned()];
        let claimed = store
            .claim(&types, &claimant, Duration::from_secs(30), 1)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
    }

    fn refusal(result: Result<Job, UpdateRefused>) -> String {
        result
            .expect_err("the update should be refused")
            .to_string()
    }

    #[tokio::test]
    async fn only_an_unfinished_external_job_under_its_own_lease_takes_updates() {
        let dir = tempfile::tempdir().unwrap();
        let (jobs, store) = setup(&dir).await;
        let done = Some(&Value::Null);

        let missing = jobs.complete(JobId::new(), None, done).await;
        assert!(matches!(
            missing,
            Err(UpdateRefused::Store(StoreError::NotFound))
        ));
        let demo = create(&store, "demo").await;
        assert!(refusal(jobs.complete(demo, None, done).await).contains("run in-process"));

        let id = create(&store, "external").await;
        claim(&store, "lease-1").await;
        assert!(matches!(
            jobs.complete(id, None, done).await,
            Err(UpdateRefused::LeaseRequired)
        ));
        assert!(matches!(
            jobs.complete(id, Some("lease-2"), done).await,
            Err(UpdateRefused::LeaseLost)
        ));

        // A worker's failure is retried while attempts remain: the job is queued again, and
        // the old lease no longer counts.
        let failed = jobs.fail(id, Some("lease-1"), "boom", None).await.unwrap();
        assert_eq!(failed.status, JobStatus::Queued);
        assert!(matches!(
            jobs.complete(id, Some("lease-1"), done).await,
            Err(UpdateRefused::LeaseLost)
        ));

        // Unclaimed, outside code drives it to its end; after that nothing changes it.
        let completed = jobs.complete(id, None, done).await.unwrap();
        assert_eq!(completed.status, JobStatus::Completed);
        assert_eq!(
            refusal(jobs.complete(id, None, done).await),
            "the job is already completed"
        );
    }
}
