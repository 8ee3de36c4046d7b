//! The HTTP server: a plain hyper 1.x accept loop with graceful shutdown, request logging, CORS
//! and JSON errors. The route table is [`routes`]; [`dispatch`] sends a request to its handler:
//! the job handlers in [`jobs`] (a job's JSON is [`view`]'s), the worker claim in [`workers`],
//! the types overview, pausing types and bulk cancel and retry in [`control`], the schedules
//! in [`schedules`], uploads, the dashboard's [`assets`], [`operations`] (health, readiness,
//! metrics) and the API document ([`openapi`]).
//!
//! Handlers reach the store and the runner only through their APIs, held in [`AppState`].

pub mod assets;
pub mod body;
pub mod control;
pub mod cors;
pub mod dispatch;
pub mod error;
pub mod jobs;
pub mod limits;
pub mod openapi;
pub mod operations;
pub mod routes;
pub mod schedules;
pub mod uploads;
pub mod view;
pub mod workers;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::runner::{JobTypes, RunnerHandle};
use crate::sse::job::StreamTimings;
use crate::sse::poller::Poller;
use crate::sse::{Heartbeat, StreamGauge};
use crate::store::Store;
use body::Body;
use cors::Cors;
use error::ApiError;

/// After shutdown begins, open connections get this long to finish their responses.
const CONNECTION_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What every handler may use.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    /// The process's metrics registry (the store records into it too).
    pub metrics: crate::metrics::Metrics,
    pub types: Arc<JobTypes>,
    pub runner: RunnerHandle,
    pub cors: Arc<Cors>,
    pub timings: StreamTimings,
    /// The shared poller every job stream subscribes to.
    pub poller: Poller,
    pub max_body_bytes: usize,
    /// Largest `POST /api/jobs/bulk` body (`http.max_bulk_body_bytes`).
    pub max_bulk_body_bytes: usize,
    /// Most jobs per `POST /api/jobs/bulk` as configured (`http.max_bulk_jobs`); the creation
    /// burst may allow fewer ([`jobs::max_bulk_jobs`]).
    pub max_bulk_jobs: usize,
    /// Fired once at shutdown; every open stream watches it and ends.
    pub shutdown: CancellationToken,
    /// Fired when shutdown is asked for, `http.shutdown_drain` before `shutdown`: from then on
    /// `/readyz` answers 503.
    pub draining: CancellationToken,
    pub streams: StreamGauge,
    /// The shared heartbeat clock streams join.
    pub heartbeat: Heartbeat,
    /// Woken (all waiters) when a job is queued here: long-polling worker claims look again.
    pub job_queued: Arc<tokio::sync::Notify>,
    /// Updates to external jobs, under the rules of who may make them.
    pub external: crate::runner::external::ExternalJobs,
    /// Where uploads go.
    pub uploads: crate::uploads::Uploads,
    /// API tokens; open when there are none.
    pub auth: Arc<crate::auth::Auth>,
    /// Signs stream URLs for browsers when tokens are on.
    pub signer: Option<crate::auth::StreamSigner>,
    /// What clients may hold and ask for (streams, creation rate, queue depth, sizes).
    pub limits: limits::Limits,
    /// `/metrics` without a token even when tokens are on (`auth.public_metrics`).
    pub public_metrics: bool,
    /// The declared schedules, and running one by hand.
    pub schedules: crate::schedules::Schedules,
}

/// Accepts connections until `state.shutdown` fires, then lets open ones finish.
pub async fn serve(listener: TcpListener, state: AppState) {
    let state = Arc::new(state);
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(state.limits.config.header_read_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = state.shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let service = service_fn(move |mut req: Request<Incoming>| {
            let state = state.clone();
            let client = limits::client_addr(
                req.headers(),
                peer.ip(),
                state.limits.config.trust_forwarded_for,
            );
            req.extensions_mut().insert(limits::ClientAddr(client));
            // Boxed: hyper keeps the service future's slot inline in the connection for the
            // connection's whole life, and an SSE connection lives long. Boxing frees the
            // handler's state as soon as the response head is out.
            Box::pin(async move { Ok::<_, Infallible>(handle(&state, req).await) })
                as Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(CONNECTION_DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after the drain timeout");
    }
}

/// Routes one request, renders errors, adds CORS headers and logs the outcome.
async fn handle(state: &AppState, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let origin = req.headers().get(http::header::ORIGIN).cloned();
    let is_preflight = method == http::Method::OPTIONS;
    let request_id = request_id(req.headers());
    // Every log line written while handling the request carries its id.
    let span = tracing::info_span!("request", request_id = %request_id);
    let head_limit = state.limits.config.max_header_bytes;
    let result = if head_size(&req) > head_limit {
        Err(ApiError::HeadersTooLarge { limit: head_limit })
    } else {
        dispatch::dispatch(state, req)
            .instrument(span.clone())
            .await
    };
    let _entered = span.enter();
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            match &error {
                ApiError::Internal(cause)
                | ApiError::Unavailable(cause)
                | ApiError::Unconfirmed(cause) => {
                    state.metrics.store_error();
                    let cause = crate::telemetry::error_chain(cause.as_ref());
                    tracing::error!(%method, %path, error = %error, %cause, "request failed");
                }
                _ => {}
            }
            body::error(&error)
        }
    };
    if is_preflight {
        state
            .cors
            .apply_preflight(origin.as_ref(), response.headers_mut());
    } else {
        state.cors.apply(origin.as_ref(), response.headers_mut());
    }
    if let Ok(value) = http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    let took = started.elapsed();
    state
        .metrics
        .request(routes::template(&path), method.as_str(), status, took);
    tracing::info!(
        %method,
        %path,
        status,
        duration_ms = (took.as_secs_f64() * 100_000.0).round() / 100.0,
        "request"
    );
    response
}

/// The request id header, taken from the client (or a proxy) and sent back.
const REQUEST_ID: &str = "x-request-id";

/// The request's `X-Request-Id` if it is a sane one (1 to 128 visible ASCII characters), else
/// a new UUID: ids from a proxy tie its logs to ours, and junk never reaches the logs.
fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// The size of a request's head as sent: request line and headers.
fn head_size(req: &Request<Incoming>) -> usize {
    let line = req.method().as_str().len() + req.uri().to_string().len() + 12;
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + line
}
