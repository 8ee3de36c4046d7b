//! The event streams: `GET /api/jobs/{id}/stream` (one job), `GET /api/events` (every job's
//! changes, filtered), `GET /api/events/token` (a signed URL for the latter), and the
//! `text/event-stream` response they share. The streams themselves are [`crate::sse`]'s.
//!
//! A browser's `EventSource` can send no header, so with tokens on a stream URL may carry a
//! signed `token` instead; and `?last_event_id=` stands in for `Last-Event-ID`.

use std::net::IpAddr;

use http::header::{self, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde::Deserialize;

use super::status_param;
use crate::auth::StreamGrant;
use crate::http::body::{self, Body};
use crate::http::error::ApiError;
use crate::http::limits::StreamPermit;
use crate::http::AppState;
use crate::job::{Job, JobId};
use crate::sse;

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
    let mut subscription = state
        .poller
        .subscribe(id)
        .await?
        .ok_or_else(ApiError::job_not_found)?;
    let snapshot = subscription.latest();
    check_job_grant(state, grant, &snapshot.job)?;
    let last_seen = last_event_id(headers).or_else(|| last_event_id_param(query));
    if sse::job::already_seen_the_end(&snapshot.job, last_seen) {
        let mut response = Response::new(body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        return Ok(response);
    }
    let events = sse::job::job_stream(stream_context(state), snapshot, subscription, last_seen);
    Ok(event_stream_response(events, permit, &state.metrics))
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
