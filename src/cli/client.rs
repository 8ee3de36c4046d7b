//! The HTTP connection to a jobcast server behind `jobcast submit`, `jobs` and `cancel` (and the
//! one `watch` reads its stream through): the requests, and their answers as JSON or a
//! [`ClientError`].
//!
//! Running a whole command is [`super::commands`]'s; following a job's stream is
//! [`super::watch`]'s; what gets printed is [`super::render`]'s.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use super::outcome::{refusal, root_cause, ClientError};

/// A connection silent this long (no event, no heartbeat: three of the server's default
/// 30 s heartbeats) is taken for dead and opened again.
pub(super) const READ_TIMEOUT: Duration = Duration::from_secs(90);

/// A connection to a jobcast server.
pub struct Client {
    pub(super) base: String,
    pub(super) http: reqwest::Client,
    /// Whether the server has answered anything yet: until it has, an unreachable server is
    /// most likely a wrong `--url`, and `watch` says so instead of waiting for it.
    pub(super) answered: AtomicBool,
}

impl Client {
    /// A client for the server at `base`, sending `token` (if any) as a bearer token.
    pub fn new(base: &str, token: Option<&str>) -> Client {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(value) = token.and_then(|t| format!("Bearer {t}").parse().ok()) {
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        Client {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .read_timeout(READ_TIMEOUT)
                .default_headers(headers)
                .build()
                .unwrap_or_default(),
            answered: AtomicBool::new(false),
        }
    }

    pub(super) fn unreachable(&self, error: &reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            url: self.base.clone(),
            reason: root_cause(error),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        self.answered.store(true, Ordering::Relaxed);
        let status = response.status();
        if status.is_success() {
            Ok(response.json().await.unwrap_or(Value::Null))
        } else {
            Err(ClientError::Refused(
                refusal(response, "request refused").await,
            ))
        }
    }

    /// Creates a job and returns it.
    pub async fn submit(&self, job_type: &str, payload: Value) -> Result<Value, ClientError> {
        let body = json!({ "type": job_type, "payload": payload });
        self.send(
            self.http
                .post(format!("{}/api/jobs", self.base))
                .json(&body),
        )
        .await
    }

    pub async fn cancel(&self, id: &str) -> Result<Value, ClientError> {
        self.send(
            self.http
                .post(format!("{}/api/jobs/{id}/cancel", self.base)),
        )
        .await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// `POST path` with an empty body.
    pub async fn post(&self, path: &str) -> Result<Value, ClientError> {
        self.send(self.http.post(format!("{}{path}", self.base)))
            .await
    }

    pub async fn jobs(
        &self,
        status: Option<&str>,
        job_type: Option<&str>,
        limit: u32,
    ) -> Result<Value, ClientError> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(status) = status {
            query.push(("status", status.to_owned()));
        }
        if let Some(job_type) = job_type {
            query.push(("type", job_type.to_owned()));
        }
        self.send(
            self.http
                .get(format!("{}/api/jobs", self.base))
                .query(&query),
        )
        .await
    }
}
