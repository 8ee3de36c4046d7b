//! The route table: path and method to handler. Unknown paths are 404, known paths with the
//! wrong method 405 (with `Allow`), and every known path answers a CORS preflight.

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::body::{self, Body};
use super::error::ApiError;
use super::{assets, jobs, uploads, workers, AppState};
use crate::auth::{Denied, Permission};

/// A matched path, before the method is checked.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Health,
    Jobs,
    Events,
    /// A signed `/api/events` URL for a browser.
    EventsToken,
    Types,
    /// A file of the dashboard or the browser client.
    Asset(&'static assets::Asset),
    Job(&'a str),
    JobStream(&'a str),
    JobLogs(&'a str),
    /// `cancel`, `retry`, `progress`, `complete` or `fail`.
    JobAction(&'a str, &'a str),
    WorkerClaim,
    Uploads,
}

impl<'a> Route<'a> {
    fn parse(path: &'a str) -> Option<Self> {
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        match segments.as_slice() {
            ["healthz"] => Some(Route::Health),
            ["api", "types"] => Some(Route::Types),
            ["api", "jobs"] => Some(Route::Jobs),
            ["api", "events"] => Some(Route::Events),
            ["api", "events", "token"] => Some(Route::EventsToken),
            ["api", "jobs", id] if !id.is_empty() => Some(Route::Job(id)),
            ["api", "jobs", id, "stream"] => Some(Route::JobStream(id)),
            ["api", "jobs", id, "logs"] => Some(Route::JobLogs(id)),
            ["api", "jobs", id, action @ ("cancel" | "retry" | "progress" | "complete" | "fail")] => {
                Some(Route::JobAction(id, action))
            }
            ["api", "workers", "claim"] => Some(Route::WorkerClaim),
            ["api", "uploads"] => Some(Route::Uploads),
            _ => assets::find(path).map(Route::Asset),
        }
    }

    /// The `Allow` header for this route.
    fn allow(&self) -> &'static str {
        match self {
            Route::Health
            | Route::Events
            | Route::EventsToken
            | Route::Types
            | Route::Asset(_)
            | Route::Job(_)
            | Route::JobStream(_) => "GET, OPTIONS",
            Route::Jobs | Route::JobLogs(_) => "GET, POST, OPTIONS",
            Route::JobAction(..) | Route::WorkerClaim | Route::Uploads => "POST, OPTIONS",
        }
    }
}

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
    if let Some(permission) = permission(&method, &route).filter(|_| !signed) {
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
        (&Method::GET, Route::Health) => health(state).await,
        (&Method::GET, Route::Types) => jobs::types(state),
        (&Method::GET, Route::Asset(asset)) => Ok(assets::response(asset)),
        (&Method::GET, Route::Jobs) => jobs::list(state, query).await,
        (&Method::GET, Route::Events) => jobs::events(state, query, req.headers()).await,
        (&Method::GET, Route::EventsToken) => jobs::events_token(state, query),
        (&Method::POST, Route::Jobs) => jobs::create(state, req).await,
        (&Method::GET, Route::Job(id)) => jobs::get(state, jobs::parse_id(id)?).await,
        (&Method::GET, Route::JobStream(id)) => {
            jobs::stream(state, jobs::parse_id(id)?, req.headers(), query).await
        }
        (&Method::GET, Route::JobLogs(id)) => jobs::logs(state, jobs::parse_id(id)?, query).await,
        (&Method::POST, Route::JobLogs(id)) => jobs::add_log(state, jobs::parse_id(id)?, req).await,
        (&Method::POST, Route::JobAction(id, action)) => {
            let id = jobs::parse_id(id)?;
            match action {
                "cancel" => jobs::cancel(state, id).await,
                "retry" => jobs::retry(state, id).await,
                "progress" => jobs::progress(state, id, req).await,
                "complete" => jobs::complete(state, id, req).await,
                _ => jobs::fail(state, id, req).await,
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

/// What a request needs: `None` for the public pages (health, the dashboard's files).
fn permission(method: &Method, route: &Route<'_>) -> Option<Permission> {
    match (method, route) {
        (_, Route::Health | Route::Asset(_)) => None,
        (&Method::POST, Route::Jobs | Route::Uploads) => Some(Permission::Submit),
        (&Method::POST, Route::JobAction(_, "cancel" | "retry")) => Some(Permission::Submit),
        (&Method::POST, Route::WorkerClaim | Route::JobAction(..) | Route::JobLogs(_)) => {
            Some(Permission::Work)
        }
        _ => Some(Permission::Read),
    }
}

/// `GET /healthz`: 200 when the database answers.
async fn health(state: &AppState) -> Result<Response<Body>, ApiError> {
    state.store.ping().await?;
    Ok(body::json(
        StatusCode::OK,
        &serde_json::json!({"status": "ok"}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_their_routes() {
        assert_eq!(Route::parse("/healthz"), Some(Route::Health));
        assert_eq!(Route::parse("/api/jobs"), Some(Route::Jobs));
        assert_eq!(Route::parse("/api/jobs/abc"), Some(Route::Job("abc")));
        assert_eq!(
            Route::parse("/api/jobs/abc/stream"),
            Some(Route::JobStream("abc"))
        );
        assert_eq!(
            Route::parse("/api/jobs/abc/cancel"),
            Some(Route::JobAction("abc", "cancel"))
        );
        assert_eq!(Route::parse("/api/jobs/abc/explode"), None);
        assert_eq!(Route::parse("/api/jobs/"), None);
        assert_eq!(Route::parse("/api/jobs/abc/stream/more"), None);
        assert_eq!(Route::parse("api/jobs"), None);
    }
}
