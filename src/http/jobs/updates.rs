//! The calls outside code makes to report on an `external` job: progress, log lines, complete
//! and fail. A worker that claimed the job sends its lease in the `Jobcast-Lease` header.
//!
//! These handlers read and check the request; whether the update is allowed (the job's type,
//! its status, the lease) is [`crate::runner::external`]'s, whose refusals are 409.

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::Value;

use super::{check_json_size, MAX_SHORT_TEXT_BYTES};
use crate::http::body::{self, Body};
use crate::http::error::ApiError;
use crate::http::view::job_response;
use crate::http::AppState;
use crate::job::{whole_number, JobId, JobStatus, LogLevel, Progress};

/// The header that carries a claimed job's lease.
pub const LEASE_HEADER: &str = "jobcast-lease";

/// The lease an update carries in `Jobcast-Lease`, if any.
pub(super) fn lease_of(req: &Request<Incoming>) -> Result<Option<String>, ApiError> {
    match req.headers().get(LEASE_HEADER) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 64)
            .map(|v| Some(v.to_owned()))
            .ok_or_else(|| {
                ApiError::BadRequest("the Jobcast-Lease header is not a lease id".to_owned())
            }),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgressBody {
    progress: f64,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, deserialize_with = "whole_number::optional")]
    current: Option<i64>,
    #[serde(default, deserialize_with = "whole_number::optional")]
    total: Option<i64>,
    #[serde(default)]
    stage: Option<String>,
}

/// `POST /api/jobs/{id}/progress`
pub async fn progress(
    state: &AppState,
    id: JobId,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let lease = lease_of(&req)?;
    let update: ProgressBody = read_body(state, req).await?;
    if !update.progress.is_finite() || !(0.0..=100.0).contains(&update.progress) {
        return Err(ApiError::invalid(
            "progress",
            "must be a number from 0 to 100",
        ));
    }
    for (field, value) in [("current", update.current), ("total", update.total)] {
        if value.is_some_and(|v| v < 0) {
            return Err(ApiError::invalid(field, "must not be negative"));
        }
    }
    let max_line = state.limits.config.max_log_line_bytes;
    check_len("message", update.message.as_deref(), max_line)?;
    check_len("stage", update.stage.as_deref(), MAX_SHORT_TEXT_BYTES)?;
    let progress = Progress {
        progress: update.progress,
        message: update.message,
        current: update.current,
        total: update.total,
        stage: update.stage,
    };
    let job = state
        .external
        .report_progress(id, lease.as_deref(), &progress)
        .await?;
    Ok(job_response(state, StatusCode::OK, &job))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogBody {
    #[serde(default = "default_level")]
    level: LogLevel,
    message: String,
}

fn default_level() -> LogLevel {
    LogLevel::Info
}

/// `POST /api/jobs/{id}/logs`
pub async fn add_log(
    state: &AppState,
    id: JobId,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let lease = lease_of(&req)?;
    let line: LogBody = read_body(state, req).await?;
    let max_line = state.limits.config.max_log_line_bytes;
    check_len("message", Some(&line.message), max_line)?;
    let line = state
        .external
        .append_log(id, lease.as_deref(), line.level, &line.message)
        .await?;
    Ok(body::json(StatusCode::CREATED, &line))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    #[serde(default)]
    result: Option<Value>,
}

/// `POST /api/jobs/{id}/complete`
pub async fn complete(
    state: &AppState,
    id: JobId,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let lease = lease_of(&req)?;
    let (done, sent): (CompleteBody, usize) = read_body_sized(state, req).await?;
    let max = state.limits.config.max_payload_bytes;
    check_json_size("result", done.result.as_ref(), sent, max)?;
    let job = state
        .external
        .complete(id, lease.as_deref(), done.result.as_ref())
        .await?;
    Ok(job_response(state, StatusCode::OK, &job))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailBody {
    error: String,
    #[serde(default)]
    details: Option<Value>,
}

/// `POST /api/jobs/{id}/fail`
pub async fn fail(
    state: &AppState,
    id: JobId,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let lease = lease_of(&req)?;
    let (failure, sent): (FailBody, usize) = read_body_sized(state, req).await?;
    if failure.error.trim().is_empty() {
        return Err(ApiError::invalid("error", "must not be empty"));
    }
    let limits = &state.limits.config;
    check_len("error", Some(&failure.error), limits.max_log_line_bytes)?;
    check_json_size(
        "details",
        failure.details.as_ref(),
        sent,
        limits.max_payload_bytes,
    )?;
    let job = state
        .external
        .fail(
            id,
            lease.as_deref(),
            &failure.error,
            failure.details.as_ref(),
        )
        .await?;
    if job.status == JobStatus::Queued {
        state.job_queued.notify_waiters();
    }
    Ok(job_response(state, StatusCode::OK, &job))
}

async fn read_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<T, ApiError> {
    Ok(read_body_sized(state, req).await?.0)
}

/// A JSON body within the size and depth limits, and how many bytes it took.
async fn read_body_sized<T: serde::de::DeserializeOwned>(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<(T, usize), ApiError> {
    let (parts, incoming) = req.into_parts();
    let bytes = body::read(incoming, &parts.headers, state.max_body_bytes).await?;
    let value = body::parse_limited(&bytes, state.limits.config.max_json_depth)?;
    Ok((value, bytes.len()))
}

/// Refuses text over `max` bytes.
fn check_len(field: &str, text: Option<&str>, max: usize) -> Result<(), ApiError> {
    match text {
        Some(t) if t.len() > max => Err(ApiError::invalid(
            field,
            format!("must be at most {max} bytes"),
        )),
        _ => Ok(()),
    }
}
