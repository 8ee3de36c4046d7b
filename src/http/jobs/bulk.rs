//! `POST /api/jobs/bulk`: many jobs in one request, each exactly what `POST /api/jobs` takes,
//! all checked before any is stored and then stored together, in one transaction, or not at
//! all.
//!
//! The limits are the single create's, counted per job: the creation rate limiter takes one
//! creation per job (all or none), and each type's queue must have room for all of the
//! request's jobs of that type. On top: at most [`max_jobs`] jobs, and a body of at most
//! `http.max_bulk_body_bytes`.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::check_json_size;
use super::create::{check_upload, CreateJob};
use crate::http::body::{self, Body};
use crate::http::error::ApiError;
use crate::http::limits::client_of;
use crate::http::view::{view, JobView};
use crate::http::AppState;
use crate::job::NewJob;

/// Levels of nesting a bulk body adds around each job (the body object and the `jobs` array):
/// a job may nest as deep in a bulk as on its own.
const ENVELOPE_DEPTH: usize = 2;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    /// Read as JSON first, so a job's errors are named by its index.
    jobs: Vec<Value>,
}

/// One job of the answer.
#[derive(Debug, Serialize)]
struct BulkJob<'a> {
    /// False when the job's `idempotency_key` already named a job (that job is `job`).
    created: bool,
    job: JobView<'a>,
}

#[derive(Debug, Serialize)]
struct BulkAnswer<'a> {
    jobs: Vec<BulkJob<'a>>,
}

/// The most jobs one bulk create may hold on this server, and the setting that says so:
/// `http.max_bulk_jobs`, but never more than the creation rate limiter's bucket holds
/// (`limits.create_burst`), since a bulk takes a creation per job, all at once.
pub fn max_jobs(state: &AppState) -> (usize, &'static str) {
    let burst = usize::try_from(state.limits.creates.capacity()).unwrap_or(usize::MAX);
    if burst < state.max_bulk_jobs {
        (burst, "limits.create_burst")
    } else {
        (state.max_bulk_jobs, "http.max_bulk_jobs")
    }
}

/// `POST /api/jobs/bulk`
pub async fn create_bulk(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let (parts, incoming) = req.into_parts();
    let bytes = body::read(incoming, &parts.headers, state.max_bulk_body_bytes).await?;
    let limits = &state.limits;
    let request: BulkBody =
        body::parse_limited(&bytes, limits.config.max_json_depth + ENVELOPE_DEPTH)?;
    let (most, setting) = max_jobs(state);
    let count = request.jobs.len();
    if count == 0 {
        return Err(ApiError::invalid("jobs", "name at least one job"));
    }
    if count > most {
        return Err(ApiError::invalid(
            "jobs",
            format!("{count} jobs; at most {most} per request ({setting})"),
        ));
    }
    let mut jobs = Vec::with_capacity(count);
    for (index, job) in request.jobs.into_iter().enumerate() {
        let job = new_job(state, job, bytes.len()).map_err(|e| e.in_job(index))?;
        jobs.push(job);
    }

    let n = u32::try_from(count)
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| ApiError::invalid("jobs", "too many jobs"))?;
    limits
        .creates
        .check_n(&parts.headers, client_of(&parts.extensions), n)?;
    let mut per_type: BTreeMap<&str, i64> = BTreeMap::new();
    for job in &jobs {
        *per_type.entry(&job.job_type).or_default() += 1;
    }
    for (job_type, n) in per_type {
        limits.queues.check_n(&state.store, job_type, n).await?;
    }
    let mut looked_up = BTreeSet::new();
    for (index, job) in jobs.iter().enumerate() {
        if let Some(upload_id) = job.upload_id.as_deref() {
            if looked_up.insert(upload_id) {
                check_upload(state, upload_id)
                    .await
                    .map_err(|e| e.in_job(index))?;
            }
        }
    }

    let made = state.store.create_jobs(jobs).await?;
    let mut queued: BTreeMap<&str, i64> = BTreeMap::new();
    for (job, _) in made.iter().filter(|(_, created)| *created) {
        *queued.entry(&job.job_type).or_default() += 1;
    }
    for (job_type, n) in &queued {
        limits.queues.accepted_n(job_type, *n);
    }
    let status = if queued.is_empty() {
        StatusCode::OK
    } else {
        state.runner.wake();
        state.job_queued.notify_waiters();
        StatusCode::CREATED
    };
    let answer = BulkAnswer {
        jobs: made
            .iter()
            .map(|(job, created)| BulkJob {
                created: *created,
                job: view(state, job),
            })
            .collect(),
    };
    Ok(body::json(status, &answer))
}

/// One job of the request, checked as `POST /api/jobs` checks its body (`sent`: the size of
/// the whole request, which bounds the payload's).
pub(super) fn new_job(state: &AppState, job: Value, sent: usize) -> Result<NewJob, ApiError> {
    let job: CreateJob = body::from_value(job)?;
    check_json_size(
        "payload",
        job.payload(),
        sent,
        state.limits.config.max_payload_bytes,
    )?;
    job.validate(state)
}
