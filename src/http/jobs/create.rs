//! `POST /api/jobs`: a new job, checked against its declared type and the limits on what a
//! request may ask for (attempts, priority, timeout, idempotency key, upload). A bulk create
//! (`bulk`) checks each of its jobs the same way.

use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::Value;

use super::{check_json_size, MAX_SHORT_TEXT_BYTES};
use crate::http::body::{self, Body};
use crate::http::error::ApiError;
use crate::http::limits::client_of;
use crate::http::view::job_response;
use crate::http::AppState;
use crate::job::{whole_number, NewJob, Timestamp};
use crate::runner::JobType;

/// `max_attempts` a request may ask for.
const MAX_ATTEMPTS: i64 = 100;
/// `priority` a request may ask for, either way.
const MAX_PRIORITY: i64 = 1000;
/// Longest per-job `timeout`: a week.
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// What `POST /api/jobs` takes, and each job of `POST /api/jobs/bulk`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateJob {
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
    /// The job's payload as sent, for the size check (which needs the request's size).
    pub(super) fn payload(&self) -> Option<&Value> {
        self.payload.as_ref()
    }

    /// The job to store, or the first field that is wrong (422 naming it). The upload a
    /// payload names is looked up later ([`check_upload`]), after the cheaper limits.
    pub(super) fn validate(self, state: &AppState) -> Result<NewJob, ApiError> {
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
            if key.starts_with(crate::job::SCHEDULE_KEY_PREFIX) {
                return Err(ApiError::invalid(
                    "idempotency_key",
                    format!(
                        "keys starting with {:?} are the schedules' own",
                        crate::job::SCHEDULE_KEY_PREFIX
                    ),
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
        check_upload(state, upload_id).await?;
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

/// 422 on `payload.upload_id` unless the upload is there.
pub(super) async fn check_upload(state: &AppState, upload_id: &str) -> Result<(), ApiError> {
    if state.store.get_upload(upload_id).await?.is_none() {
        return Err(ApiError::invalid(
            "payload.upload_id",
            format!("no upload {upload_id:?}"),
        ));
    }
    Ok(())
}
