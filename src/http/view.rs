//! A job as clients see it ([`JobView`]): the JSON every job answer carries, from the job
//! handlers and from a worker's claim alike, with the job's `stream_url`.

use http::{Response, StatusCode};
use serde::Serialize;
use serde_json::Value;

use super::body::{self, Body};
use super::AppState;
use crate::job::{Job, JobId, JobStatus, ProgressFields, Timestamp};

/// A job as clients see it.
#[derive(Debug, Serialize)]
pub struct JobView<'a> {
    id: JobId,
    #[serde(rename = "type")]
    job_type: &'a str,
    status: JobStatus,
    #[serde(flatten)]
    bar: ProgressFields<'a>,
    payload: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Value>,
    priority: i64,
    attempt: i64,
    max_attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idempotency_key: Option<&'a str>,
    run_at: Timestamp,
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<Timestamp>,
    updated_at: Timestamp,
    version: i64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    cancel_requested: bool,
    /// The external worker holding the job, while one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    worker: Option<&'a str>,
    /// The schedule that made the job, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule: Option<&'a str>,
    /// Present (true) while the job is queued and its type is paused: nobody claims it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    paused: bool,
    /// The job that made this one, for a child.
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<JobId>,
    /// How many children this job has made, for a parent.
    #[serde(skip_serializing_if = "is_zero")]
    children: i64,
    /// A parent's children by status.
    #[serde(skip_serializing_if = "Option::is_none")]
    family: Option<crate::job::FamilyCounts>,
    stream_url: String,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl<'a> JobView<'a> {
    /// The view of `job` with a plain `stream_url`; [`view`] signs it when tokens are on.
    pub fn new(job: &'a Job) -> Self {
        JobView {
            id: job.id,
            job_type: &job.job_type,
            status: job.status,
            bar: job.progress_fields(),
            payload: &job.payload,
            result: job.result.as_ref(),
            error: job.error.as_deref(),
            details: job.details.as_ref(),
            priority: job.priority,
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            timeout: job
                .timeout
                .map(|t| humantime::format_duration(t).to_string()),
            idempotency_key: job.idempotency_key.as_deref(),
            run_at: job.run_at,
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            updated_at: job.updated_at,
            version: job.version,
            cancel_requested: job.cancel_requested && !job.status.is_finished(),
            parent_id: job.parent_id,
            children: job.children,
            family: job.family,
            worker: job
                .worker
                .as_deref()
                .filter(|_| job.status == JobStatus::Running && job.lease_owner.is_some()),
            schedule: job
                .idempotency_key
                .as_deref()
                .and_then(crate::job::schedule_of_key),
            paused: false,
            stream_url: format!("/api/jobs/{}/stream", job.id),
        }
    }
}

/// The client's view of `job`, its `stream_url` signed when tokens are on (so a browser's
/// `EventSource` can open it without a header, for as long as the job runs).
pub fn view<'a>(state: &AppState, job: &'a Job) -> JobView<'a> {
    let mut view = JobView::new(job);
    view.paused =
        job.status == JobStatus::Queued && state.store.paused().contains_key(&job.job_type);
    if let Some(signer) = &state.signer {
        let token = signer.sign_job(&job.id.to_string());
        view.stream_url = format!("/api/jobs/{}/stream?token={token}", job.id);
    }
    view
}

/// `job` as the answer, with `status`.
pub fn job_response(state: &AppState, status: StatusCode, job: &Job) -> Response<Body> {
    body::json(status, &view(state, job))
}
