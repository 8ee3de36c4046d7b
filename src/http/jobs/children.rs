//! `/api/jobs/{id}/children`: a job's children, listed with cursor paging, and made by the
//! worker (or outside code) that reports on the job, each child what `POST /api/jobs` takes,
//! all made together with the check on the parent, or none. The families themselves (waiting,
//! policies, cascades) are the store's (`store/batch/family/`).

use std::collections::BTreeSet;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::bulk::{max_jobs, new_job};
use super::create::check_upload;
use super::updates::lease_of;
use super::{load, parse_id};
use crate::http::body::{self, Body};
use crate::http::error::ApiError;
use crate::http::view::{view, JobView};
use crate::http::AppState;
use crate::job::ChildPolicy;

/// Levels of nesting the body adds around each child (the body object and its array).
const ENVELOPE_DEPTH: usize = 2;
/// Children per page unless `limit` says otherwise, and at most (as `GET /api/jobs`).
const PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

/// Query parameters it does not know are ignored, as on every route (proxies and pages add
/// their own).
#[derive(Debug, Deserialize)]
struct ListQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

#[derive(Debug, Serialize)]
struct Page<'a> {
    children: Vec<JobView<'a>>,
    /// The `cursor` of the next page; null on the last.
    next_cursor: Option<String>,
}

/// `GET /api/jobs/{id}/children?cursor=&limit=`: oldest first.
pub async fn children(
    state: &AppState,
    id: crate::job::JobId,
    query: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let query: ListQuery = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("bad query string: {e}")))?;
    let after = match query.cursor.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse()
                .map_err(|_| ApiError::invalid("cursor", "not a cursor from a previous page"))?,
        ),
        None => None,
    };
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
        None => PAGE,
    };
    load(state, id).await?;
    // One more than asked: whether there is a next page.
    let mut jobs = state.store.children(id, after, limit + 1).await?;
    let more = jobs.len() as i64 > limit;
    jobs.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let page = Page {
        next_cursor: more
            .then(|| jobs.last().map(|job| job.id.to_string()))
            .flatten(),
        children: jobs.iter().map(|job| view(state, job)).collect(),
    };
    Ok(body::json(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpawnBody {
    /// Read as JSON first, so a child's errors are named by its index.
    children: Vec<Value>,
    #[serde(default)]
    policy: Option<ChildPolicy>,
}

#[derive(Debug, Serialize)]
struct Made<'a> {
    /// False when the child's `idempotency_key` already named a child of this job.
    created: bool,
    job: JobView<'a>,
}

#[derive(Debug, Serialize)]
struct Answer<'a> {
    children: Vec<Made<'a>>,
}

/// `POST /api/jobs/{id}/children`
pub async fn spawn(
    state: &AppState,
    raw_id: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let id = parse_id(raw_id)?;
    let lease = lease_of(&req)?;
    let (parts, incoming) = req.into_parts();
    let bytes = body::read(incoming, &parts.headers, state.max_bulk_body_bytes).await?;
    let request: SpawnBody =
        body::parse_limited(&bytes, state.limits.config.max_json_depth + ENVELOPE_DEPTH)?;
    let (most, setting) = max_jobs(state);
    let count = request.children.len();
    if count == 0 {
        return Err(ApiError::invalid("children", "name at least one child"));
    }
    if count > most {
        return Err(ApiError::invalid(
            "children",
            format!("{count} children; at most {most} per request ({setting})"),
        ));
    }
    let mut children = Vec::with_capacity(count);
    for (index, child) in request.children.into_iter().enumerate() {
        let child = new_job(state, child, bytes.len()).map_err(|e| in_child(e, index))?;
        children.push(child);
    }
    let mut looked_up = BTreeSet::new();
    for (index, child) in children.iter().enumerate() {
        if let Some(upload_id) = child.upload_id.as_deref() {
            if looked_up.insert(upload_id) {
                check_upload(state, upload_id)
                    .await
                    .map_err(|e| in_child(e, index))?;
            }
        }
    }
    let made = state
        .external
        .spawn_children(
            id,
            lease.as_deref(),
            children,
            request.policy.unwrap_or_default(),
        )
        .await?;
    let status = if made.iter().any(|(_, created)| *created) {
        state.runner.wake();
        state.job_queued.notify_waiters();
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let answer = Answer {
        children: made
            .iter()
            .map(|(job, created)| Made {
                created: *created,
                job: view(state, job),
            })
            .collect(),
    };
    Ok(body::json(status, &answer))
}

/// An error about the child at `index`, named from the request's top (`children[2].type`).
fn in_child(error: ApiError, index: usize) -> ApiError {
    match error.in_job(index) {
        ApiError::InvalidField {
            field,
            message,
            index,
        } => ApiError::InvalidField {
            field: field.replacen("jobs[", "children[", 1),
            message,
            index,
        },
        other => other,
    }
}
