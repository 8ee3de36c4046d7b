//! What a client does to a job it made: cancel it, or retry a failed or cancelled one.

use std::time::Duration;

use http::{Response, StatusCode};

use super::load;
use crate::http::body::Body;
use crate::http::error::ApiError;
use crate::http::view::job_response;
use crate::http::AppState;
use crate::job::{JobId, JobStatus};
use crate::store::{CancelOutcome, StoreError};

/// How long a cancel of a running job waits for the runner to confirm before answering 202.
const CANCEL_CONFIRM_WAIT: Duration = Duration::from_secs(1);

/// `POST /api/jobs/{id}/cancel`
pub async fn cancel(state: &AppState, id: JobId) -> Result<Response<Body>, ApiError> {
    let job = load(state, id).await?;
    if job.status.is_finished() {
        return Err(ApiError::Conflict(format!(
            "the job is already {}",
            job.status
        )));
    }
    let external = state.types.is_external(&job.job_type);
    match state.store.cancel(id, external).await? {
        CancelOutcome::Cancelled(job) => Ok(job_response(state, StatusCode::OK, &job)),
        CancelOutcome::Requested(job) => {
            state.runner.cancel(id);
            // The runner drops the attempt at once when it runs here; wait briefly so the
            // answer can usually say `cancelled`.
            let deadline = tokio::time::Instant::now() + CANCEL_CONFIRM_WAIT;
            let mut latest = job;
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
                latest = load(state, id).await?;
                if latest.status.is_finished() {
                    return Ok(job_response(state, StatusCode::OK, &latest));
                }
            }
            Ok(job_response(state, StatusCode::ACCEPTED, &latest))
        }
    }
}

/// `POST /api/jobs/{id}/retry`: a failed or cancelled job goes back to the queue, same id, with
/// a fresh attempt budget; its log lines so far are kept.
pub async fn retry(state: &AppState, id: JobId) -> Result<Response<Body>, ApiError> {
    let job = load(state, id).await?;
    if !matches!(job.status, JobStatus::Failed | JobStatus::Cancelled) {
        return Err(ApiError::Conflict(format!(
            "only failed or cancelled jobs can be retried; the job is {}",
            job.status
        )));
    }
    let job = state.store.retry(id).await.map_err(|error| match error {
        StoreError::Conflict { status, .. } => ApiError::Conflict(format!(
            "only failed or cancelled jobs can be retried; the job is {status}"
        )),
        other => other.into(),
    })?;
    state.runner.wake();
    state.job_queued.notify_waiters();
    Ok(job_response(state, StatusCode::OK, &job))
}
