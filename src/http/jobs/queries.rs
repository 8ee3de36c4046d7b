//! Reading: one job, a page of jobs, a job's log lines and its attempts.

use http::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{load, status_param};
use crate::http::body::{self, Body};
use crate::http::error::ApiError;
use crate::http::view::{job_response, view, JobView};
use crate::http::AppState;
use crate::job::{JobId, LogLine, Timestamp};
use crate::store::{Attempt, ListFilter};

/// Page size of `GET /api/jobs` when none is given, and the most a page may hold.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;
/// The longest `q` of `GET /api/jobs`, in characters.
const MAX_SEARCH_CHARS: usize = 200;

/// `GET /api/jobs/{id}`
pub async fn get(state: &AppState, id: JobId) -> Result<Response<Body>, ApiError> {
    Ok(job_response(state, StatusCode::OK, &load(state, id).await?))
}

/// One ended attempt as clients see it.
#[derive(Debug, Serialize)]
struct AttemptView<'a> {
    attempt: i64,
    started_at: Option<Timestamp>,
    finished_at: Timestamp,
    /// `finished_at - started_at`, in whole ms (`null` without a start).
    duration_ms: Option<i64>,
    outcome: &'a str,
    error: Option<&'a str>,
    details: Option<Value>,
    worker: Option<&'a str>,
    runner: Option<&'a str>,
}

impl<'a> AttemptView<'a> {
    fn new(attempt: &'a Attempt) -> Self {
        AttemptView {
            attempt: attempt.attempt,
            started_at: attempt.started_at,
            finished_at: attempt.finished_at,
            duration_ms: attempt.started_at.map(|started| {
                attempt
                    .finished_at
                    .as_millis()
                    .saturating_sub(started.as_millis())
                    .max(0)
            }),
            outcome: &attempt.outcome,
            error: attempt.error.as_deref(),
            // Stored as the JSON a failure sent; anything unreadable is left out.
            details: attempt
                .details
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok()),
            worker: attempt.worker.as_deref(),
            runner: attempt.runner.as_deref(),
        }
    }
}

/// `GET /api/jobs/{id}/attempts`: the job's ended attempts, oldest first.
pub async fn attempts(state: &AppState, id: JobId) -> Result<Response<Body>, ApiError> {
    load(state, id).await?;
    let attempts = state.store.attempts(id).await?;
    let views: Vec<AttemptView<'_>> = attempts.iter().map(AttemptView::new).collect();
    Ok(body::json(
        StatusCode::OK,
        &serde_json::json!({"attempts": views}),
    ))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
    #[serde(rename = "type")]
    job_type: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    schedule: Option<String>,
    q: Option<String>,
}

/// `q`: the text to search jobs for (see [`ListFilter::q`]), trimmed; blank means none. Too
/// long, or with control characters, it is refused.
fn search_param(q: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(q) = q else {
        return Ok(None);
    };
    if q.chars().count() > MAX_SEARCH_CHARS {
        return Err(ApiError::invalid(
            "q",
            format!("must be at most {MAX_SEARCH_CHARS} characters"),
        ));
    }
    if q.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "q",
            "must not contain control characters",
        ));
    }
    Ok(Some(q.trim().to_owned()).filter(|q| !q.is_empty()))
}

/// `GET /api/jobs?status=&type=&schedule=&q=&limit=&cursor=`
pub async fn list(state: &AppState, query: Option<&str>) -> Result<Response<Body>, ApiError> {
    let query: ListQuery = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("bad query string: {e}")))?;
    let status = status_param(query.status.as_deref())?;
    let q = search_param(query.q)?;
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
    let mut job_type = query.job_type.filter(|t| !t.is_empty());
    let schedule = match query.schedule.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => {
            // Jobs are found by their schedule's type; an undeclared schedule, like an unknown
            // type, matches no job, and no job of another type was made by this schedule.
            let of_schedule = state.schedules.get(name).map(|s| &s.config.job_type);
            let Some(of_schedule) =
                of_schedule.filter(|of| job_type.as_ref().is_none_or(|t| t == *of))
            else {
                return Ok(body::json(
                    StatusCode::OK,
                    &serde_json::json!({"jobs": [], "next_cursor": null}),
                ));
            };
            job_type = Some(of_schedule.clone());
            Some(name.to_owned())
        }
    };
    let filter = ListFilter {
        status,
        job_type,
        schedule,
        before,
        q,
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
