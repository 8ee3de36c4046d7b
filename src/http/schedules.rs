//! The schedules (`[[schedules]]` in the config): `GET /api/schedules` lists them with their
//! state; `POST /api/schedules/{name}/pause`, `/resume` and `/trigger` (admin) control them.
//! Running them is [`crate::schedules`]'s.

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use serde_json::{json, Value};

use super::body::{self, Body};
use super::error::ApiError;
use super::view::view;
use super::AppState;
use crate::job::Timestamp;
use crate::schedules::{next_run, Schedule, TriggerError};
use crate::store::ScheduleState;

/// A schedule as the API shows it: its declaration and its state.
fn schedule_view(schedule: &Schedule, state: &ScheduleState) -> Value {
    let config = &schedule.config;
    json!({
        "name": config.name,
        "type": config.job_type,
        "cron": config.cron,
        "timezone": config.timezone,
        "missed": config.missed.as_str(),
        "payload": config.payload,
        "paused": state.paused,
        "next_run_at": if state.paused { None } else { next_run(schedule) },
        "last_run_at": state.last_run_at,
        "last_job_id": state.last_job_id,
        "run_count": state.run_count,
    })
}

/// `GET /api/schedules`: `{"schedules": [...]}`, in the config's order.
pub async fn list(state: &AppState) -> Result<Response<Body>, ApiError> {
    let schedules: Vec<Value> = state
        .schedules
        .states()
        .await?
        .iter()
        .map(|(schedule, stored)| schedule_view(schedule, stored))
        .collect();
    Ok(body::json(
        StatusCode::OK,
        &json!({ "schedules": schedules }),
    ))
}

fn unknown(name: &str) -> ApiError {
    ApiError::NotFound(format!("no schedule {name:?}"))
}

/// `POST /api/schedules/{name}/pause` and `/resume`: answers the schedule.
pub async fn pause_or_resume(
    state: &AppState,
    name: &str,
    paused: bool,
) -> Result<Response<Body>, ApiError> {
    let schedule = state.schedules.get(name).ok_or_else(|| unknown(name))?;
    let stored = state
        .store
        .set_schedule_paused(name, paused, Timestamp::now())
        .await?;
    tracing::info!(schedule = name, paused, "schedule paused or resumed");
    Ok(body::json(
        StatusCode::OK,
        &schedule_view(schedule, &stored),
    ))
}

/// `POST /api/schedules/{name}/trigger`: runs it now (paused or not); 201 with the schedule
/// and the job.
pub async fn trigger(state: &AppState, name: &str) -> Result<Response<Body>, ApiError> {
    let job = state.schedules.trigger(name).await.map_err(|e| match e {
        TriggerError::Unknown(name) => unknown(&name),
        TriggerError::Store(error) => error.into(),
    })?;
    let states = state.schedules.states().await?;
    let (schedule, stored) = states
        .iter()
        .find(|(s, _)| s.name() == name)
        .ok_or_else(|| unknown(name))?;
    let mut response = body::json(
        StatusCode::CREATED,
        &json!({ "schedule": schedule_view(schedule, stored), "job": view(state, &job) }),
    );
    if let Ok(location) = HeaderValue::from_str(&format!("/api/jobs/{}", job.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}
