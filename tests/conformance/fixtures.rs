//! What the tests share: jobs made and brought into a state through the public API, and
//! assertions on the store's answers.

// Not every area uses every helper.
#![allow(dead_code)]

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

// A prelude for every area's tests; not each uses all of it.
#[allow(unused_imports)]
pub use jobcast::job::{Job, JobId, JobStatus, LogLevel, LogLine, NewJob, Progress, Timestamp};
#[allow(unused_imports)]
pub use jobcast::store::{
    Attempt, CancelOutcome, Claimant, ListFilter, PruneRule, RetryPolicy, Store, StoreError,
    Upload, Writer,
};
#[allow(unused_imports)]
pub use serde_json::{json, Value};

/// The runner instance most tests claim as.
pub const OWNER: &str = "runner-a";
/// Another runner instance, for writes under a lease that is not the writer's.
pub const OTHER: &str = "runner-b";
/// A lease nothing in a test outlives.
pub const LEASE: Duration = Duration::from_secs(600);
/// A lease short enough to expire while a test waits for it.
pub const SHORT_LEASE: Duration = Duration::from_millis(30);
/// How long a test polls for something that must happen soon.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A job of `job_type` with three attempts and nothing else set.
pub fn new_job(job_type: &str) -> NewJob {
    NewJob {
        job_type: job_type.to_owned(),
        payload: json!({"made": "by the conformance suite"}),
        priority: 0,
        max_attempts: 3,
        timeout: None,
        run_at: None,
        idempotency_key: None,
        upload_id: None,
    }
}

/// A type no other job in the store has, so a claim of it takes exactly the one job.
pub fn unique_type(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Creates `new`, which must be a new job.
pub async fn create(store: &Store, new: NewJob) -> Job {
    let (job, created) = store.create_job(new).await.expect("create_job");
    assert!(created, "a job without a used idempotency key is new");
    job
}

/// Creates a plain job of `job_type`.
pub async fn create_of(store: &Store, job_type: &str) -> Job {
    create(store, new_job(job_type)).await
}

/// A runner in some process claiming as `owner`.
pub fn runner(owner: &str) -> Claimant<'_> {
    Claimant {
        owner,
        worker: None,
    }
}

pub fn type_list(types: &[&str]) -> Vec<String> {
    types.iter().map(|t| (*t).to_owned()).collect()
}

pub async fn claim(
    store: &Store,
    types: &[&str],
    claimant: &Claimant<'_>,
    lease: Duration,
    limit: usize,
) -> Vec<Job> {
    store
        .claim(&type_list(types), claimant, lease, limit)
        .await
        .expect("claim")
}

/// Claims `job` (the only queued job of its type) for `owner`.
pub async fn claim_job(store: &Store, job: &Job, owner: &str, lease: Duration) -> Job {
    let claimed = claim(store, &[&job.job_type], &runner(owner), lease, 1).await;
    assert_eq!(ids(&claimed), [job.id], "claiming the job made for it");
    claimed.into_iter().next().unwrap()
}

/// A fresh job (of a type of its own) claimed by `owner` for `lease`.
pub async fn running_job(store: &Store, owner: &str, lease: Duration) -> Job {
    let job = create_of(store, &unique_type("leased")).await;
    claim_job(store, &job, owner, lease).await
}

/// The job as stored now; it must exist.
pub async fn get(store: &Store, id: JobId) -> Job {
    store
        .get_job(id)
        .await
        .expect("get_job")
        .unwrap_or_else(|| panic!("job {id} is missing"))
}

pub fn ids(jobs: &[Job]) -> Vec<JobId> {
    jobs.iter().map(|job| job.id).collect()
}

pub fn report(progress: f64, message: &str) -> Progress {
    Progress {
        progress,
        message: Some(message.to_owned()),
        ..Progress::default()
    }
}

/// The job a cancel returned, whichever way it went.
pub fn cancel_outcome_job(outcome: CancelOutcome) -> Job {
    match outcome {
        CancelOutcome::Cancelled(job) | CancelOutcome::Requested(job) => job,
    }
}

/// `result` is `StoreError::Conflict` about job `id` in `status`.
#[track_caller]
pub fn assert_conflict<T: Debug>(result: Result<T, StoreError>, id: JobId, status: JobStatus) {
    match result {
        Err(StoreError::Conflict {
            job_id,
            status: found,
        }) => {
            assert_eq!(job_id, id, "the conflict names the job");
            assert_eq!(found, status, "the conflict names the job's status");
        }
        other => panic!("expected Conflict {{ status: {status} }}, got {other:?}"),
    }
}

/// `result` is `StoreError::NotFound`.
#[track_caller]
pub fn assert_not_found<T: Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// A point [`PATIENCE`] from now, for loops that wait for something.
pub struct Deadline {
    at: Instant,
}

impl Deadline {
    pub fn soon() -> Deadline {
        Deadline {
            at: Instant::now() + PATIENCE,
        }
    }

    /// Fails the test once the deadline has passed; otherwise waits a moment.
    #[track_caller]
    pub fn wait(&self, what: &str) -> impl Future<Output = ()> {
        assert!(
            Instant::now() < self.at,
            "waited {PATIENCE:?} for {what} in vain"
        );
        tokio::time::sleep(Duration::from_millis(5))
    }
}

/// Waits until the wall clock, in the store's milliseconds, is past `at`.
pub async fn clock_past(at: Timestamp) {
    let deadline = Deadline::soon();
    while Timestamp::now() <= at {
        deadline.wait("the clock to move on").await;
    }
}

/// Calls `recover_expired` until it has returned every job of `expected` (and only those);
/// returns them in that order.
pub async fn recover(store: &Store, expected: &[JobId]) -> Vec<Job> {
    let deadline = Deadline::soon();
    let mut recovered: Vec<Job> = Vec::new();
    while recovered.len() < expected.len() {
        for job in store.recover_expired().await.expect("recover_expired") {
            assert!(
                expected.contains(&job.id),
                "recovered {} ({:?}), whose lease had not expired",
                job.id,
                job.job_type
            );
            assert!(
                !recovered.iter().any(|r| r.id == job.id),
                "recovered {} twice",
                job.id
            );
            recovered.push(job);
        }
        if recovered.len() < expected.len() {
            deadline.wait("the leases to expire").await;
        }
    }
    expected
        .iter()
        .map(|id| recovered.iter().find(|j| j.id == *id).unwrap().clone())
        .collect()
}

/// Every change above `mark`, read `page` rows at a time as the stream poller does, and the
/// mark after them.
pub async fn changes_above(
    store: &Store,
    mut mark: i64,
    page: i64,
) -> (Vec<(JobId, i64, i64)>, i64) {
    let mut all = Vec::new();
    loop {
        let rows = store
            .changes_since(mark, page)
            .await
            .expect("changes_since");
        let Some(&(_, _, last)) = rows.last() else {
            return (all, mark);
        };
        for &(_, _, seq) in &rows {
            assert!(seq > mark, "change {seq} at or below the mark {mark}");
            mark = seq;
        }
        assert!(mark == last);
        all.extend(rows);
    }
}

/// Every log line of `id`, oldest first.
pub async fn all_logs(store: &Store, id: JobId) -> Vec<LogLine> {
    store
        .logs_after_seq(id, 0, i64::MAX)
        .await
        .expect("logs_after_seq")
}
