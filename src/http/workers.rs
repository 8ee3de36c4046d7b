//! External workers over HTTP: `POST /api/workers/claim` hands a queued job of an `external`
//! type to a worker under a lease. The worker's progress, logs, complete and fail calls carry
//! the lease in a `Jobcast-Lease` header; each accepted one extends it. A lease that runs out
//! puts the job back in the queue (the runner's lease recovery does it, as for in-process
//! jobs), and the stale worker's later calls get 409.
//!
//! With `max`, a claim takes up to that many jobs at once, in one store call, all under the
//! same lease id; each job's lease then runs out, or is extended, on its own.

use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::body::{self, Body};
use super::error::ApiError;
use super::view::JobView;
use super::AppState;
use crate::job::{whole_number, Timestamp};
use crate::store::Claimant;

/// Lease a claim may ask for: at least a second, at most an hour; 30 s by default.
const MIN_LEASE: Duration = Duration::from_secs(1);
const MAX_LEASE: Duration = Duration::from_secs(3600);
const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Longest long poll.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// While a claim waits, it also looks this often, for jobs queued by retries, by lease
/// recovery, by `run_at` coming due or by another process.
const CLAIM_RECHECK: Duration = Duration::from_millis(250);
/// Longest worker name.
const MAX_WORKER_NAME: usize = 200;
/// Most jobs one claim may ask for (`max`).
const MAX_CLAIM: i64 = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimBody {
    types: Vec<String>,
    #[serde(default)]
    worker: Option<String>,
    #[serde(default)]
    lease: Option<String>,
    #[serde(default)]
    wait: Option<String>,
    /// Claim up to this many jobs and answer `{"jobs": [...]}`; without it (or null), one job
    /// and the job itself.
    #[serde(default, deserialize_with = "whole_number::optional")]
    max: Option<i64>,
}

/// The answer to a claim with `max`.
#[derive(Debug, Serialize)]
struct ClaimedJobs<'a> {
    jobs: Vec<Claimed<'a>>,
}

#[derive(Debug, Serialize)]
struct Claimed<'a> {
    #[serde(flatten)]
    job: JobView<'a>,
    lease_id: &'a str,
    lease_expires_at: Option<Timestamp>,
}

fn duration(
    field: &str,
    text: Option<&str>,
    default: Duration,
    min: Duration,
    max: Duration,
) -> Result<Duration, ApiError> {
    let Some(text) = text else { return Ok(default) };
    let parsed = humantime::parse_duration(text.trim())
        .map_err(|e| ApiError::invalid(field, format!("{e}; expected a duration like 30s")))?;
    if parsed < min || parsed > max {
        return Err(ApiError::invalid(
            field,
            format!(
                "must be from {} to {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ),
        ));
    }
    Ok(parsed)
}

/// `POST /api/workers/claim`
pub async fn claim(state: &AppState, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (parts, incoming) = req.into_parts();
    let bytes = body::read(incoming, &parts.headers, state.max_body_bytes).await?;
    let request: ClaimBody = body::parse_limited(&bytes, state.limits.config.max_json_depth)?;
    if request.types.is_empty() {
        return Err(ApiError::invalid("types", "name at least one job type"));
    }
    for job_type in &request.types {
        match state.types.get(job_type) {
            Some(t) if t.handler.is_none() => {}
            Some(_) => {
                return Err(ApiError::invalid(
                    "types",
                    format!("{job_type:?} runs in-process; workers claim external types only"),
                ))
            }
            None => {
                return Err(ApiError::invalid(
                    "types",
                    format!("unknown job type {job_type:?}"),
                ))
            }
        }
    }
    let worker = request.worker.unwrap_or_else(|| "worker".to_owned());
    if worker.trim().is_empty() || worker.len() > MAX_WORKER_NAME {
        return Err(ApiError::invalid(
            "worker",
            format!("must be 1 to {MAX_WORKER_NAME} bytes"),
        ));
    }
    let lease = duration(
        "lease",
        request.lease.as_deref(),
        DEFAULT_LEASE,
        MIN_LEASE,
        MAX_LEASE,
    )?;
    let wait = duration(
        "wait",
        request.wait.as_deref(),
        Duration::ZERO,
        Duration::ZERO,
        MAX_WAIT,
    )?;
    let max = request
        .max
        .map(|max| {
            usize::try_from(max)
                .ok()
                .filter(|max| (1..=MAX_CLAIM as usize).contains(max))
                .ok_or_else(|| ApiError::invalid("max", format!("must be from 1 to {MAX_CLAIM}")))
        })
        .transpose()?;
    let deadline = Instant::now() + wait;
    let lease_id = uuid::Uuid::now_v7().to_string();
    let claimant = Claimant {
        owner: &lease_id,
        worker: Some(&worker),
    };
    loop {
        // Registered before looking, so a job queued in between still wakes us.
        let queued = state.job_queued.notified();
        tokio::pin!(queued);
        queued.as_mut().enable();
        let mut jobs = state
            .store
            .claim(&request.types, &claimant, lease, max.unwrap_or(1))
            .await?;
        if !jobs.is_empty() {
            // In the order they were picked: highest priority first, then oldest.
            jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
            let claimed = |job| Claimed {
                job: JobView::new(job),
                lease_id: &lease_id,
                lease_expires_at: job.lease_expires_at,
            };
            if max.is_none() {
                return Ok(body::json(StatusCode::OK, &claimed(&jobs[0])));
            }
            let answer = ClaimedJobs {
                jobs: jobs.iter().map(claimed).collect(),
            };
            return Ok(body::json(StatusCode::OK, &answer));
        }
        let now = Instant::now();
        if now >= deadline {
            let mut response = Response::new(body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            return Ok(response);
        }
        tokio::select! {
            _ = &mut queued => {}
            _ = tokio::time::sleep_until(deadline.min(now + CLAIM_RECHECK)) => {}
            _ = state.shutdown.cancelled() => {
                let mut response = Response::new(body::empty());
                *response.status_mut() = StatusCode::NO_CONTENT;
                return Ok(response);
            }
        }
    }
}
