//! Handlers for `/api/jobs...`: create, read, list, cancel, the `external` update calls, logs,
//! and the event stream. Each one validates, calls the store or the runner, and renders JSON.

use std::net::IpAddr;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::body::{self, Body};
use super::error::ApiError;
use super::limits::StreamPermit;
use super::AppState;
use crate::auth::StreamGrant;
use crate::job::{
    whole_number, Job, JobId, JobStatus, LogLevel, LogLine, NewJob, Progress, Timestamp,
};
use crate::runner::JobType;
use crate::sse;
use crate::sse::job::News;
use crate::sse::poller::Snapshot;
use crate::store::{CancelOutcome, ListFilter, StoreError};

/// Longest `stage`, `error` summary and idempotency key, in bytes.
const MAX_SHORT_TEXT_BYTES: usize = 1024;
/// `max_attempts` a request may ask for.
const MAX_ATTEMPTS: i64 = 100;
/// `priority` a request may ask for, either way.
const MAX_PRIORITY: i64 = 1000;
/// Longest per-job `timeout`: a week.
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);
/// Page size of `GET /api/jobs` when none is given, and the most a page may hold.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;
/// How long a cancel of a running job waits for the runner to confirm before answering 202.
const CANCEL_CONFIRM_WAIT: Duration = Duration::from_secs(1);

/// A job as clients see it.
#[derive(Debug, Serialize)]
pub struct JobView<'a> {
    id: JobId,
    #[serde(rename = "type")]
    job_type: &'a str,
    status: JobStatus,
    progress: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<&'a str>,
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
    stream_url: String,
}

impl<'a> JobView<'a> {
    pub fn new(job: &'a Job) -> Self {
        JobView {
            id: job.id,
            job_type: &job.job_type,
            status: job.status,
            progress: job.progress,
            message: job.message.as_deref(),
            current: job.current,
            total: job.total,
            stage: job.stage.as_deref(),
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
            worker: job
                .worker
                .as_deref()
                .filter(|_| job.status == JobStatus::Running && job.lease_owner.is_some()),
            stream_url: format!("/api/jobs/{}/stream", job.id),
        }
    }
}

fn job_response(state: &AppState, status: StatusCode, job: &Job) -> Response<Body> {
    body::json(status, &view(state, job))
}

/// The client's view of `job`, its `stream_url` signed when tokens are on (so a browser's
/// `EventSource` can open it without a header, for as long as the job runs).
pub fn view<'a>(state: &AppState, job: &'a Job) -> JobView<'a> {
    let mut view = JobView::new(job);
    if let Some(signer) = &state.signer {
        let token = signer.sign_job(&job.id.to_string());
        view.stream_url = format!("/api/jobs/{}/stream?token={token}", job.id);
    }
    view
}

/// The value of query parameter `name`, if present.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
        .ok()?
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// Checks a signed stream URL's `token` for `scope` (when tokens are on and it carries one;
/// without a token the header was already checked by the router). `None` when there is
/// nothing more to check, else what the token grants, for the caller to hold the job to.
fn check_stream_token(
    state: &AppState,
    query: Option<&str>,
    scope: &str,
) -> Result<Option<StreamGrant>, ApiError> {
    let (Some(signer), Some(token)) = (&state.signer, query_param(query, "token")) else {
        return Ok(None);
    };
    signer.verify(scope, &token).map(Some).ok_or_else(|| {
        ApiError::Unauthorized(
            "the stream token is invalid, for another stream, or expired; ask the API for a \
             fresh URL (a job's stream_url, or GET /api/events/token)"
                .to_owned(),
        )
    })
}

/// A job token opens the job's stream while the job can change and for the TTL after.
fn check_job_grant(
    state: &AppState,
    grant: Option<StreamGrant>,
    job: &Job,
) -> Result<(), ApiError> {
    let (Some(signer), Some(StreamGrant::WhileJobIsLive)) = (&state.signer, grant) else {
        return Ok(());
    };
    if signer.job_token_open(job.status, job.finished_at) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(format!(
            "the stream URL expired: the job is {} and ended more than {} ago; read it with \
             GET /api/jobs/{}",
            job.status,
            humantime::format_duration(signer.ttl()),
            job.id
        )))
    }
}

/// Parses an id from the path; anything that is not a UUID is simply not found.
pub fn parse_id(raw: &str) -> Result<JobId, ApiError> {
    raw.parse().map_err(|_| ApiError::job_not_found())
}

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

fn check_len(field: &str, text: Option<&str>, max: usize) -> Result<(), ApiError> {
    match text {
        Some(t) if t.len() > max => Err(ApiError::invalid(
            field,
            format!("must be at most {max} bytes"),
        )),
        _ => Ok(()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateJob {
    #[serde(rename = "type")]
    job_type: String,
    #[serde(default)]
    payload: Option<Value>,
    #[serde(default, deserialize_with = "whole_number::optional")]
    priority: Option<i64>,
    #[serde(default, deserialize_with = "whole_number::optional")]
    max_attempts: Option<i64>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    run_at: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

impl CreateJob {
    fn validate(self, state: &AppState) -> Result<NewJob, ApiError> {
        let job_type: &JobType = state.types.get(&self.job_type).ok_or_else(|| {
            let known: Vec<&str> = state.types.names().collect();
            ApiError::invalid(
                "type",
                format!(
                    "unknown job type {:?}; declared types: {}",
                    self.job_type,
                    known.join(", ")
                ),
            )
        })?;
        let payload = self.payload.unwrap_or(Value::Null);
        if let Some(handler) = &job_type.handler {
            handler
                .validate(&payload)
                .map_err(|e| ApiError::invalid(e.field, e.message))?;
        }
        let priority = self.priority.unwrap_or(0);
        if !(-MAX_PRIORITY..=MAX_PRIORITY).contains(&priority) {
            return Err(ApiError::invalid(
                "priority",
                format!("must be from -{MAX_PRIORITY} to {MAX_PRIORITY}"),
            ));
        }
        let max_attempts = self.max_attempts.unwrap_or(job_type.config.max_attempts);
        if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
            return Err(ApiError::invalid(
                "max_attempts",
                format!("must be from 1 to {MAX_ATTEMPTS}"),
            ));
        }
        let timeout = self
            .timeout
            .map(|t| {
                let parsed = humantime::parse_duration(t.trim()).map_err(|e| {
                    ApiError::invalid(
                        "timeout",
                        format!("{e}; expected a duration like 30s or 5m"),
                    )
                })?;
                if parsed.is_zero() || parsed > MAX_TIMEOUT {
                    return Err(ApiError::invalid(
                        "timeout",
                        "must be above zero and at most 7 days",
                    ));
                }
                Ok(parsed)
            })
            .transpose()?;
        let run_at = self
            .run_at
            .map(|t| {
                Timestamp::parse_rfc3339(&t).map_err(|e| {
                    ApiError::invalid(
                        "run_at",
                        format!("{e}; expected an RFC 3339 time like 2026-01-02T03:04:05Z"),
                    )
                })
            })
            .transpose()?;
        if let Some(key) = &self.idempotency_key {
            if key.is_empty() || key.len() > MAX_SHORT_TEXT_BYTES {
                return Err(ApiError::invalid(
                    "idempotency_key",
                    format!("must be 1 to {MAX_SHORT_TEXT_BYTES} bytes"),
                ));
            }
        }
        let upload_id = match payload.get("upload_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) if crate::uploads::is_upload_id(id) => Some(id.clone()),
            Some(_) => {
                return Err(ApiError::invalid(
                    "payload.upload_id",
                    "must be an upload_id from POST /api/uploads",
                ))
            }
        };
        Ok(NewJob {
            upload_id,
            job_type: self.job_type,
            payload,
            priority,
            max_attempts,
            timeout,
            run_at,
            idempotency_key: self.idempotency_key,
        })
    }
}

/// `POST /api/jobs`
pub async fn create(state: &AppState, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (parts, incoming) = req.into_parts();
    let bytes = body::read(incoming, &parts.headers, state.max_body_bytes).await?;
    let limits = &state.limits;
    let new = body::parse_limited::<CreateJob>(&bytes, limits.config.max_json_depth)?;
    check_json_size(
        "payload",
        new.payload.as_ref(),
        bytes.len(),
        limits.config.max_payload_bytes,
    )?;
    let new = new.validate(state)?;
    limits
        .creates
        .check(&parts.headers, client_of(&parts.extensions))?;
    limits.queues.check(&state.store, &new.job_type).await?;
    if let Some(upload_id) = &new.upload_id {
        if state.store.get_upload(upload_id).await?.is_none() {
            return Err(ApiError::invalid(
                "payload.upload_id",
                format!("no upload {upload_id:?}"),
            ));
        }
    }
    let (job, created) = state.store.create_job(new).await?;
    if !created {
        return Ok(job_response(state, StatusCode::OK, &job));
    }
    limits.queues.accepted(&job.job_type);
    state.runner.wake();
    state.job_queued.notify_waiters();
    let mut response = job_response(state, StatusCode::CREATED, &job);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/jobs/{}", job.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /api/jobs/{id}`
pub async fn get(state: &AppState, id: JobId) -> Result<Response<Body>, ApiError> {
    Ok(job_response(state, StatusCode::OK, &load(state, id).await?))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    #[serde(rename = "type")]
    job_type: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
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

/// `GET /api/jobs?status=&type=&limit=&cursor=`
pub async fn list(state: &AppState, query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let query: ListQuery = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("bad query string: {e}")))?;
    let status = status_param(query.status.as_deref())?;
    let limit = match query.limit.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_PAGE}"),
                )
            })?,
        None => DEFAULT_PAGE,
    };
    let before = match query.cursor.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<JobId>()
                .map_err(|_| ApiError::invalid("cursor", "not a cursor from a previous page"))?,
        ),
        None => None,
    };
    let filter = ListFilter {
        status,
        job_type: query.job_type.filter(|t| !t.is_empty()),
        before,
        limit: limit + 1,
    };
    let mut jobs = state.store.list_jobs(&filter).await?;
    let next_cursor = if jobs.len() as i64 > limit {
        jobs.truncate(limit as usize);
        jobs.last().map(|j| j.id.to_string())
    } else {
        None
    };
    let views: Vec<JobView<'_>> = jobs.iter().map(|job| view(state, job)).collect();
    Ok(body::json(
        StatusCode::OK,
        &serde_json::json!({"jobs": views, "next_cursor": next_cursor}),
    ))
}

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

/// The lease an update carries in `Jobcast-Lease`, if any.
fn lease_of(req: &Request<Incoming>) -> Result<Option<String>, ApiError> {
    match req.headers().get(super::workers::LEASE_HEADER) {
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

/// The client address the accept loop recorded (loopback if none was, as in unit tests).
pub fn client_of(extensions: &http::Extensions) -> IpAddr {
    extensions
        .get::<super::limits::ClientAddr>()
        .map(|c| c.0)
        .unwrap_or(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST))
}

#[derive(Debug, Deserialize)]
struct LogsQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /api/jobs/{id}/logs?after=SEQ&limit=N`
pub async fn logs(
    state: &AppState,
    id: JobId,
    query: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let query: LogsQuery = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("bad query string: {e}")))?;
    let after = match query.after.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::invalid("after", "must be a log sequence number (0 or more)")
        })?,
        None => 0,
    };
    let limit = match query.limit.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "must be a whole number from 1 to 10000"))?,
        None => 1000,
    };
    load(state, id).await?;
    let lines: Vec<LogLine> = state.store.logs_after_seq(id, after, limit).await?;
    Ok(body::json(
        StatusCode::OK,
        &serde_json::json!({"logs": lines}),
    ))
}

/// `?last_event_id=N`, which stands in for the header where a client cannot set it (a new
/// `EventSource` resuming from an id it read on an earlier connection).
fn last_event_id_param(query: Option<&str>) -> Option<i64> {
    query_param(query, "last_event_id")
        .and_then(|value| value.parse::<i64>().ok())
        .filter(|v| *v >= 0)
}

/// Reads `Last-Event-ID`; an id that is not a version is ignored (the client starts afresh).
fn last_event_id(headers: &HeaderMap) -> Option<i64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v >= 0)
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    status: Option<String>,
    #[serde(rename = "type")]
    job_type: Option<String>,
}

/// `GET /api/events?type=&status=&last_event_id=`: every job's changes on one stream.
pub async fn events(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    client: IpAddr,
) -> Result<Response<Body>, ApiError> {
    let raw_query = query;
    let query: EventsQuery = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("bad query string: {e}")))?;
    let status = status_param(query.status.as_deref())?;
    let filter = sse::events::EventFilter {
        job_type: query.job_type.filter(|t| !t.is_empty()),
        status,
    };
    check_stream_token(state, raw_query, &events_scope(&filter))?;
    let permit = state.limits.streams.admit(client, None)?;
    let last_seen = last_event_id(headers).or_else(|| last_event_id_param(raw_query));
    let events = sse::events::events_stream(stream_context(state), filter, last_seen);
    Ok(event_stream_response(events, permit, &state.metrics))
}

/// What a signed `/api/events` token opens: exactly one filter.
fn events_scope(filter: &sse::events::EventFilter) -> String {
    format!(
        "events:{}:{}",
        filter.job_type.as_deref().unwrap_or(""),
        filter.status.map(|s| s.as_str()).unwrap_or("")
    )
}

/// `GET /api/events/token?type=&status=`: the `/api/events` URL for that filter, signed for a
/// browser when tokens are on.
pub fn events_token(state: &AppState, query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let parsed: EventsQuery = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("bad query string: {e}")))?;
    let filter = sse::events::EventFilter {
        job_type: parsed.job_type.filter(|t| !t.is_empty()),
        status: status_param(parsed.status.as_deref())?,
    };
    let mut params = Vec::new();
    if let Some(job_type) = &filter.job_type {
        params.push(("type", job_type.clone()));
    }
    if let Some(status) = filter.status {
        params.push(("status", status.as_str().to_owned()));
    }
    if let Some(signer) = &state.signer {
        params.push(("token", signer.sign(&events_scope(&filter))));
    }
    let encoded = serde_urlencoded::to_string(&params).unwrap_or_default();
    let url = if encoded.is_empty() {
        "/api/events".to_owned()
    } else {
        format!("/api/events?{encoded}")
    };
    Ok(body::json(
        StatusCode::OK,
        &serde_json::json!({ "url": url }),
    ))
}

fn stream_context(state: &AppState) -> sse::job::StreamContext {
    sse::job::StreamContext {
        store: state.store.clone(),
        timings: state.timings,
        shutdown: state.shutdown.clone(),
        heartbeat: state.heartbeat.join(),
        guard: state.streams.open(),
    }
}

/// A `text/event-stream` response carrying `events`; the body holds `permit` until it is
/// dropped (stream ended, client gone or shutdown).
fn event_stream_response(
    events: impl futures_util::Stream<Item = bytes::Bytes> + Send + 'static,
    permit: StreamPermit,
    metrics: &crate::metrics::Metrics,
) -> Response<Body> {
    let metrics = metrics.clone();
    let frames = futures_util::StreamExt::map(events, move |bytes| {
        let _held = &permit;
        metrics.event_sent(sse::frame::kind(&bytes));
        Ok(Frame::data(bytes))
    });
    let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// `GET /api/types`: the declared job types, for forms.
pub fn types(state: &AppState) -> Result<Response<Body>, ApiError> {
    let types: Vec<Value> = state
        .types
        .names()
        .filter_map(|name| state.types.get(name).map(|t| (name, t)))
        .map(|(name, t)| {
            serde_json::json!({
                "name": name,
                "kind": format!("{:?}", t.config.kind).to_lowercase(),
                "file_input": t.config.file_input,
                "max_attempts": t.config.max_attempts,
            })
        })
        .collect();
    Ok(body::json(StatusCode::OK, &types))
}

/// `GET /api/jobs/{id}/stream`; `?last_event_id=N` stands in for the header where a client
/// cannot set it (a new `EventSource` resuming from a version it read elsewhere).
pub async fn stream(
    state: &AppState,
    id: JobId,
    headers: &HeaderMap,
    query: Option<&str>,
    client: IpAddr,
) -> Result<Response<Body>, ApiError> {
    let grant = check_stream_token(state, query, &crate::auth::job_scope(&id.to_string()))?;
    let permit = state.limits.streams.admit(client, Some(id))?;
    let (snapshot, news) = match &state.poller {
        Some(poller) => {
            let mut subscription = poller
                .subscribe(id)
                .await?
                .ok_or_else(ApiError::job_not_found)?;
            (subscription.latest(), News::Shared(subscription))
        }
        None => {
            let job = load(state, id).await?;
            (
                Snapshot::new(job),
                News::polling(state.store.clone(), state.timings.poll_interval),
            )
        }
    };
    check_job_grant(state, grant, &snapshot.job)?;
    let last_seen = last_event_id(headers).or_else(|| last_event_id_param(query));
    if sse::job::already_seen_the_end(&snapshot.job, last_seen) {
        let mut response = Response::new(body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        return Ok(response);
    }
    let events = sse::job::job_stream(stream_context(state), snapshot, news, last_seen);
    Ok(event_stream_response(events, permit, &state.metrics))
}
