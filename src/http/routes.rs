//! The route table: path and method to handler. Unknown paths are 404, known paths with the
//! wrong method 405 (with `Allow`), and every known path answers a CORS preflight.
//!
//! [`ROUTES`] lists every route; [`Route::parse`], `Route::allow` and [`dispatch`] agree with it
//! (the tests below check it), and `openapi.json`, served at `/openapi.json`, documents exactly
//! these routes (`tests/api/openapi.rs` checks it).

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::body::{self, Body};
use super::error::ApiError;
use super::{assets, jobs, limits, uploads, workers, AppState};
use crate::auth::{Denied, Permission};

/// Every route the router knows: its path template (`{id}` stands for one non-empty path
/// segment, a job id) and the methods it answers besides `OPTIONS`, which every route answers
/// (the CORS preflight, with `Allow`). The dashboard's files are routes too. Paths not listed
/// here are 404; a listed path with another method is 405.
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/healthz", &["GET"]),
    ("/readyz", &["GET"]),
    ("/metrics", &["GET"]),
    ("/openapi.json", &["GET"]),
    ("/api/types", &["GET"]),
    ("/api/jobs", &["GET", "POST"]),
    ("/api/jobs/{id}", &["GET"]),
    ("/api/jobs/{id}/stream", &["GET"]),
    ("/api/jobs/{id}/logs", &["GET", "POST"]),
    ("/api/jobs/{id}/cancel", &["POST"]),
    ("/api/jobs/{id}/retry", &["POST"]),
    ("/api/jobs/{id}/progress", &["POST"]),
    ("/api/jobs/{id}/complete", &["POST"]),
    ("/api/jobs/{id}/fail", &["POST"]),
    ("/api/events", &["GET"]),
    ("/api/events/token", &["GET"]),
    ("/api/workers/claim", &["POST"]),
    ("/api/uploads", &["POST"]),
    // The dashboard and the browser client (`assets`).
    ("/", &["GET"]),
    ("/dashboard.js", &["GET"]),
    ("/dashboard.css", &["GET"]),
    ("/jobcast.js", &["GET"]),
    ("/jobcast.d.ts", &["GET"]),
];

/// The OpenAPI 3.2 document of this API, kept by hand next to this file. It describes a server
/// with the built-in job types and default limits; [`openapi_document`] fills in a server's own.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// Which of a server's declared job types a list in the document names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeList {
    /// Every declared type: what `POST /api/jobs` takes.
    All,
    /// Types of the `demo` kind, whose payload is a `DemoPayload`.
    Demo,
    /// Types of the other kinds.
    NotDemo,
    /// Types outside code runs (`external`): what a worker may claim.
    External,
}

/// The `enum`s in the document that list job types.
pub const DOCUMENT_TYPE_LISTS: &[(&str, TypeList)] = &[
    (
        "/components/schemas/CreateJob/properties/type/enum",
        TypeList::All,
    ),
    (
        "/components/schemas/CreateJob/anyOf/0/properties/type/enum",
        TypeList::Demo,
    ),
    (
        "/components/schemas/CreateJob/anyOf/1/properties/type/enum",
        TypeList::NotDemo,
    ),
    (
        "/components/schemas/ClaimBody/properties/types/items/enum",
        TypeList::External,
    ),
];

/// The `maxLength`s in the document that are `limits.max_log_line_bytes`.
pub const DOCUMENT_LOG_LINE_LIMITS: &[&str] = &[
    "/components/schemas/ProgressBody/properties/message/maxLength",
    "/components/schemas/LogBody/properties/message/maxLength",
    "/components/schemas/FailBody/properties/error/maxLength",
];

/// The names of the declared types in `list`.
pub fn type_list(types: &crate::runner::JobTypes, list: TypeList) -> Vec<&str> {
    types
        .names()
        .filter(|name| {
            let Some(t) = types.get(name) else {
                return false;
            };
            let demo = t.config.kind == crate::config::JobKind::Demo;
            match list {
                TypeList::All => true,
                TypeList::Demo => demo,
                TypeList::NotDemo => !demo,
                TypeList::External => t.handler.is_none(),
            }
        })
        .collect()
}

/// The document as this server serves it: [`OPENAPI_JSON`] with the job types it declares and
/// its log line limit, so that a request the document allows is one the server takes.
pub fn openapi_document(types: &crate::runner::JobTypes, max_log_line_bytes: usize) -> Vec<u8> {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(OPENAPI_JSON) else {
        return OPENAPI_JSON.as_bytes().to_vec();
    };
    for (pointer, list) in DOCUMENT_TYPE_LISTS {
        if let Some(slot) = doc.pointer_mut(pointer) {
            *slot = serde_json::json!(type_list(types, *list));
        }
    }
    for pointer in DOCUMENT_LOG_LINE_LIMITS {
        if let Some(slot) = doc.pointer_mut(pointer) {
            *slot = serde_json::json!(max_log_line_bytes);
        }
    }
    serde_json::to_vec(&doc).unwrap_or_else(|_| OPENAPI_JSON.as_bytes().to_vec())
}

/// A matched path, before the method is checked.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    /// Liveness: the process answers.
    Health,
    /// Readiness: database writable and migrated, runner started, not shutting down.
    Ready,
    /// Prometheus metrics.
    Metrics,
    /// This API's OpenAPI document.
    OpenApi,
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
    /// `POST /api/jobs/{id}/{action}`.
    JobAction(&'a str, JobAction),
    WorkerClaim,
    Uploads,
}

impl<'a> Route<'a> {
    fn parse(path: &'a str) -> Option<Self> {
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        match segments.as_slice() {
            ["healthz"] => Some(Route::Health),
            ["readyz"] => Some(Route::Ready),
            ["metrics"] => Some(Route::Metrics),
            ["openapi.json"] => Some(Route::OpenApi),
            ["api", "types"] => Some(Route::Types),
            ["api", "jobs"] => Some(Route::Jobs),
            ["api", "events"] => Some(Route::Events),
            ["api", "events", "token"] => Some(Route::EventsToken),
            ["api", "jobs", id] if !id.is_empty() => Some(Route::Job(id)),
            ["api", "jobs", id, "stream"] if !id.is_empty() => Some(Route::JobStream(id)),
            ["api", "jobs", id, "logs"] if !id.is_empty() => Some(Route::JobLogs(id)),
            ["api", "jobs", id, action] if !id.is_empty() => {
                JobAction::from_segment(action).map(|action| Route::JobAction(id, action))
            }
            ["api", "workers", "claim"] => Some(Route::WorkerClaim),
            ["api", "uploads"] => Some(Route::Uploads),
            _ => assets::find(path).map(Route::Asset),
        }
    }

    /// The route's row in [`ROUTES`]: its path template, which metrics use instead of the raw
    /// path. One arm per variant, so a new variant does not compile until it names its row.
    fn template(&self) -> &'static str {
        match self {
            Route::Health => "/healthz",
            Route::Ready => "/readyz",
            Route::Metrics => "/metrics",
            Route::OpenApi => "/openapi.json",
            Route::Types => "/api/types",
            Route::Jobs => "/api/jobs",
            Route::Events => "/api/events",
            Route::EventsToken => "/api/events/token",
            Route::Asset(asset) => asset.path(),
            Route::Job(_) => "/api/jobs/{id}",
            Route::JobStream(_) => "/api/jobs/{id}/stream",
            Route::JobLogs(_) => "/api/jobs/{id}/logs",
            Route::JobAction(_, action) => action.template(),
            Route::WorkerClaim => "/api/workers/claim",
            Route::Uploads => "/api/uploads",
        }
    }

    /// The `Allow` header for this route.
    fn allow(&self) -> &'static str {
        match self {
            Route::Health
            | Route::Ready
            | Route::Metrics
            | Route::OpenApi
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

/// What `POST /api/jobs/{id}/{action}` does to a job: the client's cancel and retry, and the
/// reports of outside code and workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    Cancel,
    Retry,
    Progress,
    Complete,
    Fail,
}

impl JobAction {
    /// Every action, for matching a path segment (a test checks each has its row in
    /// [`ROUTES`]).
    const ALL: [JobAction; 5] = [
        JobAction::Cancel,
        JobAction::Retry,
        JobAction::Progress,
        JobAction::Complete,
        JobAction::Fail,
    ];

    /// The action's row in [`ROUTES`]. Its last segment is the action's name in the path:
    /// the one place each name is spelled.
    fn template(self) -> &'static str {
        match self {
            JobAction::Cancel => "/api/jobs/{id}/cancel",
            JobAction::Retry => "/api/jobs/{id}/retry",
            JobAction::Progress => "/api/jobs/{id}/progress",
            JobAction::Complete => "/api/jobs/{id}/complete",
            JobAction::Fail => "/api/jobs/{id}/fail",
        }
    }

    /// The action's name in the path, such as `cancel`.
    fn segment(self) -> &'static str {
        let template = self.template();
        template.rsplit_once('/').map_or(template, |(_, last)| last)
    }

    /// The action `segment` names, if any.
    fn from_segment(segment: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|action| action.segment() == segment)
    }
}

/// The template of the route `path` matches, or `"unmatched"` (for metrics labels).
pub fn template(path: &str) -> &'static str {
    Route::parse(path).map_or("unmatched", |route| route.template())
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
        (&Method::GET, Route::Health) => Ok(health()),
        (&Method::GET, Route::Ready) => ready(state).await,
        (&Method::GET, Route::Metrics) => metrics(state).await,
        (&Method::GET, Route::OpenApi) => Ok(openapi(state)),
        (&Method::GET, Route::Types) => jobs::types(state),
        (&Method::GET, Route::Asset(asset)) => Ok(assets::response(asset)),
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
        (&Method::GET, Route::Job(id)) => jobs::get(state, jobs::parse_id(id)?).await,
        (&Method::GET, Route::JobStream(id)) => {
            let client = limits::client_of(req.extensions());
            jobs::stream(state, jobs::parse_id(id)?, req.headers(), query, client).await
        }
        (&Method::GET, Route::JobLogs(id)) => jobs::logs(state, jobs::parse_id(id)?, query).await,
        (&Method::POST, Route::JobLogs(id)) => jobs::add_log(state, jobs::parse_id(id)?, req).await,
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
        (&Method::POST, Route::Jobs | Route::Uploads) => Some(Permission::Submit),
        (&Method::POST, Route::JobAction(_, JobAction::Cancel | JobAction::Retry)) => {
            Some(Permission::Submit)
        }
        (&Method::POST, Route::WorkerClaim | Route::JobAction(..) | Route::JobLogs(_)) => {
            Some(Permission::Work)
        }
        _ => Some(Permission::Read),
    }
}

/// `GET /healthz`: the process is alive and answering (liveness; see `/readyz` for more).
fn health() -> Response<Body> {
    body::json(StatusCode::OK, &serde_json::json!({"status": "ok"}))
}

/// How long `/readyz` waits for the database before calling it not ready.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /readyz`: 200 when the database is migrated and writable and the runner has started;
/// 503 with the reason otherwise, and from the moment shutdown begins.
async fn ready(state: &AppState) -> Result<Response<Body>, ApiError> {
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
async fn metrics(state: &AppState) -> Result<Response<Body>, ApiError> {
    let counts = state.store.count_by_type_and_status().await?;
    let text = state.metrics.render(&counts);
    let mut response = Response::new(Full::new(Bytes::from(text)).boxed_unsync());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}

/// `GET /openapi.json`: the API document, public like `/healthz`.
fn openapi(state: &AppState) -> Response<Body> {
    let document = openapi_document(&state.types, state.limits.config.max_log_line_bytes);
    let mut response = Response::new(Full::new(Bytes::from(document)).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
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
            Some(Route::JobAction("abc", JobAction::Cancel))
        );
        assert_eq!(Route::parse("/api/jobs/abc/explode"), None);
        assert_eq!(Route::parse("/api/jobs/"), None);
        assert_eq!(Route::parse("/api/jobs/abc/stream/more"), None);
        assert_eq!(Route::parse("/api/jobs//stream"), None);
        assert_eq!(Route::parse("api/jobs"), None);
        assert_eq!(Route::parse("/openapi.json"), Some(Route::OpenApi));
    }

    /// A job id for the `{id}` of the templates.
    const ID: &str = "0190f5a2-7c1e-7d3a-9b4e-2f6a8c0d1e2f";

    /// The id a parsed route carries, if its template has one.
    fn id_of<'a>(route: &Route<'a>) -> Option<&'a str> {
        match route {
            Route::Job(id)
            | Route::JobStream(id)
            | Route::JobLogs(id)
            | Route::JobAction(id, _) => Some(id),
            _ => None,
        }
    }

    /// The table's rows whose template matches `path` (`{id}`: any one non-empty segment).
    fn table_rows(path: &str) -> Vec<&'static str> {
        let Some(rest) = path.strip_prefix('/') else {
            return Vec::new();
        };
        let segments: Vec<&str> = rest.split('/').collect();
        ROUTES
            .iter()
            .map(|(template, _)| *template)
            .filter(|template| {
                let parts: Vec<&str> = template[1..].split('/').collect();
                parts.len() == segments.len()
                    && parts.iter().zip(&segments).all(|(part, segment)| {
                        if *part == "{id}" {
                            !segment.is_empty()
                        } else {
                            part == segment
                        }
                    })
            })
            .collect()
    }

    #[test]
    fn every_row_of_the_table_parses_to_its_route_and_allows_its_methods() {
        for (i, (template, methods)) in ROUTES.iter().enumerate() {
            assert!(
                ROUTES[..i].iter().all(|(other, _)| other != template),
                "{template} is listed twice"
            );
            assert!(!methods.is_empty(), "{template} has no methods");
            for (j, method) in methods.iter().enumerate() {
                assert!(
                    ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(method),
                    "{template}: {method} (OPTIONS is implied)"
                );
                assert!(!methods[..j].contains(method), "{template}: {method} twice");
            }
            let path = template.replace("{id}", ID);
            let route = Route::parse(&path).unwrap_or_else(|| panic!("{path} does not parse"));
            assert_eq!(route.template(), *template, "{path} parses to {route:?}");
            assert_eq!(
                id_of(&route),
                template.contains("{id}").then_some(ID),
                "{path}"
            );
            assert_eq!(
                route.allow(),
                format!("{}, OPTIONS", methods.join(", ")),
                "{template}"
            );
            assert_eq!(
                table_rows(&path),
                [*template],
                "{path} matches several rows"
            );
        }
    }

    #[test]
    fn every_job_action_is_a_post_row_of_the_table_named_by_its_last_segment() {
        for action in JobAction::ALL {
            assert!(
                ROUTES.contains(&(action.template(), &["POST"][..])),
                "{action:?}"
            );
            assert_eq!(JobAction::from_segment(action.segment()), Some(action));
            assert_eq!(
                format!("/api/jobs/{{id}}/{}", action.segment()),
                action.template()
            );
        }
        assert_eq!(JobAction::from_segment("explode"), None);
    }

    #[test]
    fn the_dashboard_files_are_in_the_table() {
        for asset in assets::all() {
            assert!(
                ROUTES.contains(&(asset.path(), &["GET"][..])),
                "{} is served but not in ROUTES",
                asset.path()
            );
        }
        assert!(serde_json::from_str::<serde_json::Value>(OPENAPI_JSON).is_ok());
    }

    /// Paths built from the table's own words (and some others): each is a route exactly when
    /// a row matches it, and then the route of that row.
    #[test]
    fn parse_accepts_exactly_the_paths_of_the_table() {
        let mut words: Vec<&str> = vec!["", ID, "x", "API", "jobs.json", "index.html"];
        for (template, _) in ROUTES {
            for part in template[1..].split('/') {
                if part != "{id}" && !words.contains(&part) {
                    words.push(part);
                }
            }
        }
        for asset in assets::all() {
            let name = &asset.path()[1..];
            if !words.contains(&name) {
                words.push(name);
            }
        }
        // The words `parse` itself matches on, read from this file: a path the router takes
        // up but the table lacks is built from them.
        let source = include_str!("routes.rs");
        let start = source.find("fn parse(").expect("parse is in this file");
        let end = start
            + source[start..]
                .find("fn allow(")
                .expect("allow follows parse");
        for literal in source[start..end].split('"').skip(1).step_by(2) {
            for word in literal.split('/') {
                if !words.contains(&word) {
                    words.push(word);
                }
            }
        }
        let mut paths: Vec<String> = Vec::new();
        // Every path of up to three segments from those words...
        for a in &words {
            paths.push(format!("/{a}"));
            for b in &words {
                paths.push(format!("/{a}/{b}"));
                for c in &words {
                    paths.push(format!("/{a}/{b}/{c}"));
                }
            }
        }
        // ...and every row with one segment changed, one more, one fewer, or no leading slash.
        for (template, _) in ROUTES {
            let row: Vec<String> = template[1..]
                .split('/')
                .map(|part| part.replace("{id}", ID))
                .collect();
            for i in 0..row.len() {
                for word in &words {
                    let mut changed = row.clone();
                    changed[i] = (*word).to_owned();
                    paths.push(format!("/{}", changed.join("/")));
                }
            }
            for word in &words {
                paths.push(format!("/{}/{word}", row.join("/")));
            }
            paths.push(format!("/{}", row[..row.len() - 1].join("/")));
            paths.push(row.join("/"));
        }
        for path in &paths {
            let rows = table_rows(path);
            assert!(rows.len() <= 1, "{path} matches {rows:?}");
            let parsed = Route::parse(path);
            assert_eq!(
                parsed.as_ref().map(Route::template),
                rows.first().copied(),
                "{path}: the router and ROUTES disagree"
            );
        }
    }
}
