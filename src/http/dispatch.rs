//! One request to its handler: the route [`super::routes`] matched, the CORS preflight, the
//! token check for what the route needs, and the method. Errors come back as values for
//! [`super::serve`]'s request loop to render.

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::body::{self, Body};
use super::error::ApiError;
use super::routes::{Control, JobAction, Route};
use super::{
    assets, control, jobs, limits, openapi, operations, schedules, uploads, workers, AppState,
};
use crate::auth::{Denied, Permission};

/// Dispatches one request; errors come back as values for the caller to render.
pub async fn dispatch(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let route =
        Route::parse(&path).ok_or_else(|| ApiError::NotFound(format!("no route for {path}")))?;
    let method = req.method().clone();
    if method == Method::OPTIONS {
        let mut response = Response::new(body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        if let Ok(allow) = http::HeaderValue::from_str(route.allow()) {
            response.headers_mut().insert(http::header::ALLOW, allow);
        }
        return Ok(response);
    }
    let query = query.as_deref();
    let signed = query.is_some_and(|q| q.split('&').any(|pair| pair.starts_with("token=")))
        && matches!(route, Route::JobStream(_) | Route::Events);
    if let Some(permission) = permission(state, &method, &route).filter(|_| !signed) {
        state
            .auth
            .check(req.headers(), permission)
            .map_err(|denied| match denied {
                Denied::Unauthenticated => ApiError::Unauthorized(
                    "send an API token: Authorization: Bearer TOKEN".to_owned(),
                ),
                Denied::Forbidden => {
                    ApiError::Forbidden("this token's role does not allow this".to_owned())
                }
            })?;
    }
    match (&method, route) {
        (&Method::GET, Route::Health) => Ok(operations::health()),
        (&Method::GET, Route::Ready) => operations::ready(state).await,
        (&Method::GET, Route::Metrics) => operations::metrics(state).await,
        (&Method::GET, Route::OpenApi) => Ok(openapi::openapi(state)),
        (&Method::GET, Route::Types) => control::types(state).await,
        (&Method::POST, Route::TypeControl(name, action)) => {
            control::pause_or_resume(state, name, action).await
        }
        (&Method::POST, Route::JobsControl(action)) => control::bulk(state, req, action).await,
        (&Method::GET, Route::Schedules) => schedules::list(state).await,
        (&Method::POST, Route::ScheduleControl(name, action)) => match action {
            Control::Trigger => schedules::trigger(state, name).await,
            _ => schedules::pause_or_resume(state, name, action == Control::Pause).await,
        },
        (&Method::GET, Route::Asset(asset)) => Ok(assets::response(asset, req.headers())),
        (&Method::GET, Route::Jobs) => jobs::list(state, query).await,
        (&Method::GET, Route::Events) => {
            jobs::events(
                state,
                query,
                req.headers(),
                limits::client_of(req.extensions()),
            )
            .await
        }
        (&Method::GET, Route::EventsToken) => jobs::events_token(state, query),
        (&Method::POST, Route::Jobs) => jobs::create(state, req).await,
        (&Method::POST, Route::JobsBulk) => jobs::create_bulk(state, req).await,
        (&Method::GET, Route::Job(id)) => jobs::get(state, jobs::parse_id(id)?).await,
        (&Method::GET, Route::JobStream(id)) => {
            let client = limits::client_of(req.extensions());
            jobs::stream(state, jobs::parse_id(id)?, req.headers(), query, client).await
        }
        (&Method::GET, Route::JobLogs(id)) => jobs::logs(state, jobs::parse_id(id)?, query).await,
        (&Method::GET, Route::JobAttempts(id)) => jobs::attempts(state, jobs::parse_id(id)?).await,
        (&Method::POST, Route::JobLogs(id)) => jobs::add_log(state, jobs::parse_id(id)?, req).await,
        (&Method::GET, Route::JobChildren(id)) => {
            jobs::children(state, jobs::parse_id(id)?, query).await
        }
        (&Method::POST, Route::JobChildren(id)) => jobs::spawn_children(state, id, req).await,
        (&Method::POST, Route::JobAction(id, action)) => {
            let id = jobs::parse_id(id)?;
            match action {
                JobAction::Cancel => jobs::cancel(state, id).await,
                JobAction::Retry => jobs::retry(state, id).await,
                JobAction::Progress => jobs::progress(state, id, req).await,
                JobAction::Complete => jobs::complete(state, id, req).await,
                JobAction::Fail => jobs::fail(state, id, req).await,
            }
        }
        (&Method::POST, Route::WorkerClaim) => workers::claim(state, req).await,
        (&Method::POST, Route::Uploads) => uploads::create(state, req).await,
        (_, route) => Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
            allow: route.allow(),
        }),
    }
}

/// What a request needs: `None` for the public pages (health, the API document, the
/// dashboard's files).
fn permission(state: &AppState, method: &Method, route: &Route<'_>) -> Option<Permission> {
    match (method, route) {
        (_, Route::Health | Route::Ready | Route::OpenApi | Route::Asset(_)) => None,
        (_, Route::Metrics) if state.public_metrics => None,
        (
            &Method::POST,
            Route::JobsControl(_) | Route::TypeControl(..) | Route::ScheduleControl(..),
        ) => Some(Permission::Admin),
        (&Method::POST, Route::Jobs | Route::JobsBulk | Route::Uploads) => Some(Permission::Submit),
        (&Method::POST, Route::JobAction(_, JobAction::Cancel | JobAction::Retry)) => {
            Some(Permission::Submit)
        }
        (
            &Method::POST,
            Route::WorkerClaim | Route::JobAction(..) | Route::JobLogs(_) | Route::JobChildren(_),
        ) => Some(Permission::Work),
        _ => Some(Permission::Read),
    }
}
