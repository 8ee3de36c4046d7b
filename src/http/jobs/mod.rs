//! Handlers for `/api/jobs...` and the event streams, one file per concern. Each one
//! validates, calls the store, the runner or [`crate::runner::external`], and renders JSON.
//!
//! - `create`: `POST /api/jobs` and what a new job may ask for.
//! - `bulk`: `POST /api/jobs/bulk`, many such jobs stored together or not at all.
//! - `children`: a job's children, listed and made (`/api/jobs/{id}/children`).
//! - `queries`: reading jobs, their log lines and their attempts.
//! - `control`: cancel and retry.
//! - `updates`: the progress, log, complete and fail calls of outside code and workers,
//!   with the `Jobcast-Lease` header; whether they are allowed is decided outside HTTP.
//! - `streams`: a job's event stream, the all-jobs stream, and their signed URLs.
//!
//! What they share is here: path ids, reading a job, and the size checks on fields.

mod bulk;
mod children;
mod control;
mod create;
mod queries;
mod streams;
mod updates;

pub use bulk::{create_bulk, max_jobs as max_bulk_jobs};
pub use children::{children, spawn as spawn_children};
pub use control::{cancel, retry};
pub use create::create;
pub use queries::{attempts, get, list, logs};
pub use streams::{events, events_token, stream};
pub use updates::{add_log, complete, fail, progress, LEASE_HEADER};

use serde_json::Value;

use super::error::ApiError;
use super::AppState;
use crate::job::{Job, JobId, JobStatus};

/// Longest `stage`, `error` summary and idempotency key, in bytes.
const MAX_SHORT_TEXT_BYTES: usize = 1024;

/// Parses an id from the path; anything that is not a UUID is simply not found.
pub fn parse_id(raw: &str) -> Result<JobId, ApiError> {
    raw.parse().map_err(|_| ApiError::job_not_found())
}

/// The job `id`, or 404.
async fn load(state: &AppState, id: JobId) -> Result<Job, ApiError> {
    state
        .store
        .get_job(id)
        .await?
        .ok_or_else(ApiError::job_not_found)
}

/// Refuses a JSON value over `max` bytes when written out; `sent` is the size of the body it
/// came in, which bounds it, so small bodies are never serialized again.
fn check_json_size(
    field: &str,
    value: Option<&Value>,
    sent: usize,
    max: usize,
) -> Result<(), ApiError> {
    let Some(value) = value.filter(|_| sent > max) else {
        return Ok(());
    };
    if serde_json::to_vec(value).map_or(0, |v| v.len()) > max {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {max} bytes as JSON"),
        ));
    }
    Ok(())
}

/// A `status=` query parameter: empty or absent means any.
fn status_param(text: Option<&str>) -> Result<Option<JobStatus>, ApiError> {
    text.filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<JobStatus>()
                .map_err(|e| ApiError::invalid("status", e))
        })
        .transpose()
}
