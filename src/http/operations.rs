//! The endpoints for whoever runs the server rather than its clients: liveness (`/healthz`),
//! readiness (`/readyz`) and Prometheus metrics (`/metrics`).

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::body::{self, Body};
use super::error::ApiError;
use super::AppState;

/// `GET /healthz`: the process is alive and answering (liveness; see `/readyz` for more).
pub fn health() -> Response<Body> {
    body::json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

/// How long `/readyz` waits for the database before calling it not ready.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /readyz`: 200 when the database is migrated and writable and the runner has started;
/// 503 with the reason otherwise, and from the moment shutdown begins.
pub async fn ready(state: &AppState) -> Result<Response<Body>, ApiError> {
    let not_ready = |reason: &str| {
        Ok(body::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"status": "not_ready", "reason": reason}),
        ))
    };
    if state.draining.is_cancelled() || state.shutdown.is_cancelled() {
        return not_ready("shutting down");
    }
    if !state.runner.is_started() {
        return not_ready("the runner has not started yet");
    }
    match tokio::time::timeout(READY_TIMEOUT, state.store.check_ready()).await {
        Err(_) => return not_ready("the database did not answer in time"),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check failed");
            state.metrics.store_error();
            return not_ready(&error.to_string());
        }
        Ok(Ok(())) => {}
    }
    Ok(body::json(
        StatusCode::OK,
        &serde_json::json!({"status": "ready"}),
    ))
}

/// `GET /metrics`: Prometheus text format; job counts are read from the store now.
pub async fn metrics(state: &AppState) -> Result<Response<Body>, ApiError> {
    let counts = state.store.count_by_type_and_status().await?;
    let paused = state.store.refresh_paused().await?;
    let schedules = state.schedules.states().await?;
    state.metrics.set_control(&crate::metrics::ControlState {
        types: state
            .types
            .names()
            .map(|name| (name.to_owned(), paused.contains_key(name)))
            .collect(),
        schedules: schedules
            .into_iter()
            .map(|(schedule, stored)| {
                (
                    schedule.name().to_owned(),
                    stored.paused,
                    stored.last_run_at,
                    stored.run_count,
                )
            })
            .collect(),
    });
    let text = state.metrics.render(&counts, state.store.commits());
    let mut response = Response::new(Full::new(Bytes::from(text)).boxed_unsync());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}
