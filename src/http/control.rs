//! Control over job types and many jobs at once: the types overview (`GET /api/types`),
//! pausing and resuming a type (`POST /api/types/{type}/pause`, `/resume`), and cancelling or
//! retrying every job that matches a filter (`POST /api/jobs/cancel`, `/retry`). All but the
//! overview are the admin role's (see `dispatch.rs`).
//!
//! What a pause means for claims is the store's (`Backend::pause_type`); what a bulk action
//! does to each job is the single-job action's, applied in bounded steps (`Store::bulk`).

use std::collections::BTreeMap;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::body::{self, Body};
use super::error::ApiError;
use super::routes::Control;
use super::AppState;
use crate::job::{Job, JobId, JobStatus, Timestamp};
use crate::store::{BulkAction, JobFilter, TypeStats};

/// Jobs changed per step of a bulk action. Each step is one transaction, so other writes
/// (creates, claims, progress) wait for one step at most: a few milliseconds (see
/// docs/benchmarks.md, "Bulk retry").
pub const BULK_STEP: usize = 500;

/// Most ids one bulk action may list.
pub const MAX_BULK_IDS: usize = 10_000;

/// `GET /api/types`: every declared type with its settings, whether it is paused, its jobs by
/// status, how long its oldest due job has waited, and its throughput.
pub async fn types(state: &AppState) -> Result<Response<Body>, ApiError> {
    let views = overview(state).await?;
    Ok(body::json(StatusCode::OK, &views))
}

/// The overview of every declared type (the database's view of pauses, not this process's).
async fn overview(state: &AppState) -> Result<Vec<Value>, ApiError> {
    let now = Timestamp::now();
    let stats: BTreeMap<String, TypeStats> = state
        .store
        .type_stats(now)
        .await?
        .into_iter()
        .map(|s| (s.job_type.clone(), s))
        .collect();
    let paused = state.store.refresh_paused().await?;
    let empty = TypeStats::default();
    Ok(state
        .types
        .names()
        .filter_map(|name| state.types.get(name).map(|t| (name, t)))
        .map(|(name, t)| {
            let stats = stats.get(name).unwrap_or(&empty);
            let counts: serde_json::Map<String, Value> = JobStatus::ALL
                .iter()
                .map(|status| {
                    let n = stats.counts.get(status).copied().unwrap_or(0);
                    (status.as_str().to_owned(), json!(n))
                })
                .collect();
            json!({
                "name": name,
                "kind": format!("{:?}", t.config.kind).to_lowercase(),
                "file_input": t.config.file_input,
                "max_attempts": t.config.max_attempts,
                "concurrency": t.config.concurrency,
                "paused": paused.contains_key(name),
                "paused_at": paused.get(name),
                "counts": counts,
                "oldest_queued_age_ms": stats
                    .oldest_due
                    .map(|due| (now.as_millis() - due.as_millis()).max(0)),
                "finished_last_minute": stats.finished_last_minute,
                "finished_last_hour": stats.finished_last_hour,
                "finished_per_minute": per_minute(&stats.finished_per_minute),
                "failed_last_hour": stats.failed_last_hour,
            })
        })
        .collect())
}

/// The last hour's finishes by minute, oldest first: always 60 of them.
fn per_minute(counts: &[i64]) -> Vec<i64> {
    let mut minutes = vec![0; 60];
    for (minute, n) in minutes.iter_mut().zip(counts) {
        *minute = *n;
    }
    minutes
}

/// `POST /api/types/{type}/pause` and `/resume`: answers the type as the overview shows it.
pub async fn pause_or_resume(
    state: &AppState,
    name: &str,
    action: Control,
) -> Result<Response<Body>, ApiError> {
    if state.types.get(name).is_none() {
        return Err(ApiError::NotFound(format!("no job type {name:?}")));
    }
    if action == Control::Pause {
        let at = state.store.pause_type(name).await?;
        tracing::info!(job_type = name, paused_at = %at.to_rfc3339(), "job type paused");
    } else if state.store.resume_type(name).await? {
        tracing::info!(job_type = name, "job type resumed");
        // Its queued jobs are claimable now: this process's runner and waiting claims look at
        // once (other processes are told by the store, where it can).
        state.runner.wake();
        state.job_queued.notify_waiters();
    }
    let view = overview(state)
        .await?
        .into_iter()
        .find(|t| t["name"] == name)
        .unwrap_or(Value::Null);
    Ok(body::json(StatusCode::OK, &view))
}

/// The body of `POST /api/jobs/cancel` and `/retry`: which jobs (every condition given must
/// hold; at least one must be given), and whether only to count them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    #[serde(default, rename = "type", deserialize_with = "present")]
    job_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    created_before: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

/// A field that may be left out but is never null: a filter of `"type": null` would be a
/// filter that names nothing, so it is refused (422) rather than read as absent.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// What a bulk action did (or would do, with `dry_run`).
#[derive(Debug, Serialize)]
struct BulkAnswer {
    /// Jobs changed: cancelled, asked to stop, or queued again.
    affected: u64,
    /// Of those, running jobs asked to stop (a cancel only): their runners stop them within a
    /// poll interval, and their streams end with `cancelled` then.
    #[serde(skip_serializing_if = "Option::is_none")]
    stopping: Option<u64>,
    dry_run: bool,
}

/// One part of a bulk action: what it does, to which jobs.
struct Part {
    action: BulkAction,
    status: JobStatus,
    filter: JobFilter,
}

/// `POST /api/jobs/cancel` and `POST /api/jobs/retry`.
pub async fn bulk(
    state: &AppState,
    req: Request<Incoming>,
    action: Control,
) -> Result<Response<Body>, ApiError> {
    let (parts, incoming) = req.into_parts();
    let bytes = body::read(incoming, &parts.headers, state.max_body_bytes).await?;
    let request: BulkBody = body::parse_limited(&bytes, state.limits.config.max_json_depth)?;
    let dry_run = request.dry_run;
    let plan = plan(state, request, action)?;
    if dry_run {
        let mut affected = 0;
        let mut stopping = 0;
        for part in &plan {
            let n = state
                .store
                .count_matching(&part.filter, part.status)
                .await?;
            affected += n;
            if part.action == BulkAction::RequestCancel {
                stopping += n;
            }
        }
        let stopping = (action == Control::Cancel).then_some(stopping);
        return Ok(answer(affected, stopping, true));
    }
    // In a task of its own: a client that goes away does not stop it halfway.
    let (store, runner, queued) = (
        state.store.clone(),
        state.runner.clone(),
        state.job_queued.clone(),
    );
    let done = tokio::spawn(async move {
        let (mut affected, mut stopping) = (0, 0);
        for part in plan {
            let changed = store
                .bulk(
                    part.action,
                    &part.filter,
                    &[part.status],
                    BULK_STEP,
                    |jobs: &[Job]| {
                        if part.action == BulkAction::RequestCancel {
                            for job in jobs {
                                runner.cancel(job.id);
                            }
                        }
                    },
                )
                .await?;
            affected += changed;
            if part.action == BulkAction::RequestCancel {
                stopping += changed;
            }
            if part.action == BulkAction::Retry && changed > 0 {
                runner.wake();
                queued.notify_waiters();
            }
        }
        Ok::<_, crate::store::StoreError>((affected, stopping))
    });
    let (affected, stopping) = done.await.map_err(|e| ApiError::Internal(Box::new(e)))??;
    tracing::info!(?action, affected, "bulk action done");
    Ok(answer(
        affected,
        (action == Control::Cancel).then_some(stopping),
        false,
    ))
}

fn answer(affected: u64, stopping: Option<u64>, dry_run: bool) -> Response<Body> {
    body::json(
        StatusCode::OK,
        &BulkAnswer {
            affected,
            stopping,
            dry_run,
        },
    )
}

/// The parts of a bulk action, after checking its filter: an empty filter is refused (400),
/// a field that is wrong is named (422). A cancel cancels queued jobs and unfinished jobs of
/// external types at once and asks the runners of running in-process jobs to stop them, as
/// the single cancel does; a retry queues failed and cancelled jobs again.
fn plan(state: &AppState, request: BulkBody, action: Control) -> Result<Vec<Part>, ApiError> {
    if request.job_type.is_none()
        && request.status.is_none()
        && request.ids.is_none()
        && request.created_before.is_none()
    {
        return Err(ApiError::BadRequest(
            "name the jobs: give at least one of type, status, ids, created_before \
             (an empty filter would match every job)"
                .to_owned(),
        ));
    }
    if let Some(job_type) = &request.job_type {
        if state.types.get(job_type).is_none() {
            let known: Vec<&str> = state.types.names().collect();
            return Err(ApiError::invalid(
                "type",
                format!(
                    "unknown job type {job_type:?}; declared types: {}",
                    known.join(", ")
                ),
            ));
        }
    }
    let applies: &[JobStatus] = match action {
        Control::Retry => &[JobStatus::Failed, JobStatus::Cancelled],
        // A waiting parent is unfinished: cancelled at once, its children with it.
        _ => &[JobStatus::Queued, JobStatus::Running, JobStatus::Waiting],
    };
    let statuses: Vec<JobStatus> = match &request.status {
        None => applies.to_vec(),
        Some(text) => {
            let status = text
                .parse::<JobStatus>()
                .ok()
                .filter(|s| applies.contains(s))
                .ok_or_else(|| {
                    let names: Vec<&str> = applies.iter().map(|s| s.as_str()).collect();
                    ApiError::invalid(
                        "status",
                        format!(
                            "must be one of {}: the jobs this applies to",
                            names.join(", ")
                        ),
                    )
                })?;
            vec![status]
        }
    };
    let ids = match request.ids {
        None => None,
        Some(ids) => {
            if ids.is_empty() || ids.len() > MAX_BULK_IDS {
                return Err(ApiError::invalid(
                    "ids",
                    format!("must list 1 to {MAX_BULK_IDS} job ids"),
                ));
            }
            let parsed = ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    id.parse::<JobId>()
                        .map_err(|_| ApiError::invalid(format!("ids[{i}]"), "not a job id"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(parsed)
        }
    };
    let created_before = request
        .created_before
        .map(|text| {
            Timestamp::parse_rfc3339(&text).map_err(|e| {
                ApiError::invalid(
                    "created_before",
                    format!("{e}; expected an RFC 3339 time like 2026-01-02T03:04:05Z"),
                )
            })
        })
        .transpose()?;
    let filter = JobFilter {
        types: request.job_type.map(|t| vec![t]),
        ids,
        created_before,
    };
    // The types of the filter that are (or are not) run by outside code.
    let of_kind = |external: bool| -> Vec<String> {
        let names: Vec<String> = match &filter.types {
            Some(types) => types.clone(),
            None => state.types.names().map(str::to_owned).collect(),
        };
        names
            .into_iter()
            .filter(|t| state.types.is_external(t) == external)
            .collect()
    };
    let mut parts = Vec::new();
    for status in statuses {
        match (action, status) {
            (Control::Retry, status) => parts.push(Part {
                action: BulkAction::Retry,
                status,
                filter: filter.clone(),
            }),
            (_, JobStatus::Running) => {
                parts.push(Part {
                    action: BulkAction::CancelExternal,
                    status,
                    filter: JobFilter {
                        types: Some(of_kind(true)),
                        ..filter.clone()
                    },
                });
                parts.push(Part {
                    action: BulkAction::RequestCancel,
                    status,
                    filter: JobFilter {
                        types: Some(of_kind(false)),
                        ..filter.clone()
                    },
                });
            }
            (_, status) => parts.push(Part {
                action: BulkAction::Cancel,
                status,
                filter: filter.clone(),
            }),
        }
    }
    Ok(parts)
}
