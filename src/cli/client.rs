//! The HTTP client behind `jobcast submit`, `jobs` and `cancel` (and the connection `watch`
//! uses), its errors, and the one place where a client command's end becomes an exit code.
//!
//! Following a job's stream is [`super::watch`]'s; what gets printed is [`super::render`]'s.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use super::args::ClientCommand;
use super::render;
use super::watch::READ_TIMEOUT;

/// How a client command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; the watched job completed.
    Ok,
    /// The watched job failed or was cancelled.
    JobFailed,
    /// Bad usage, an unknown job, a refused request, or a server that could not be reached
    /// (`watch`: only before it had answered anything; after that it is waited for).
    Error,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::JobFailed => 1,
            Outcome::Error => 2,
        }
    }
}

/// The exit code of a client command, its error (if any) said on stderr: the one place where
/// outcomes and client errors become exit codes.
pub fn exit_code(result: Result<Outcome, ClientError>) -> ExitCode {
    let outcome = result.unwrap_or_else(|error| {
        eprintln!("error: {error}");
        Outcome::Error
    });
    ExitCode::from(outcome.code())
}

/// A failure of the client itself (not of a job); always exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach jobcast at {url}: {reason} (is the server running? set --url or JOBCAST_URL)"
    )]
    Unreachable { url: String, reason: String },
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Usage(String),
}

/// A connection to a jobcast server.
pub struct Client {
    pub(super) base: String,
    pub(super) http: reqwest::Client,
    /// Whether the server has answered anything yet: until it has, an unreachable server is
    /// most likely a wrong `--url`, and `watch` says so instead of waiting for it.
    pub(super) answered: AtomicBool,
}

/// The innermost cause of `error`, which says what went wrong ("Connection refused (os error
/// 111)") where the outer ones say what was being done.
pub(super) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The `message` of a JSON error body, with the status: "404 Not Found: job not found".
pub(super) async fn refusal(response: reqwest::Response, fallback: &str) -> String {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let message = body["message"].as_str().unwrap_or(fallback);
    format!("{status}: {message}")
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

    /// Runs one client command to its end.
    pub async fn run(&self, command: ClientCommand) -> Result<Outcome, ClientError> {
        match command {
            ClientCommand::Submit {
                job_type,
                payload,
                payload_file,
                watch,
                json,
            } => {
                let payload = read_payload(payload.as_deref(), payload_file.as_deref())?;
                let job = self.submit(&job_type, payload).await?;
                let id = job["id"].as_str().unwrap_or_default().to_owned();
                if !watch {
                    println!("{id}");
                    return Ok(Outcome::Ok);
                }
                if !json {
                    eprintln!("job {id}");
                }
                self.watch(&id, json).await
            }
            ClientCommand::Watch { id, json } => self.watch(&id, json).await,
            ClientCommand::Jobs {
                status,
                job_type,
                limit,
            } => {
                let page = self
                    .jobs(status.as_deref(), job_type.as_deref(), limit)
                    .await?;
                render::print_jobs(&page);
                Ok(Outcome::Ok)
            }
            ClientCommand::Cancel { id } => {
                let job = self.cancel(&id).await?;
                render::print_status(&job);
                Ok(Outcome::Ok)
            }
        }
    }
}

/// Reads `--payload` or `--payload-file` (neither: `{}`).
fn read_payload(
    inline: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Value, ClientError> {
    let text = match (inline, file) {
        (Some(_), Some(_)) => {
            return Err(ClientError::Usage(
                "give --payload or --payload-file, not both".into(),
            ))
        }
        (Some(text), None) => text.to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| ClientError::Usage(format!("cannot read {}: {e}", path.display())))?,
        (None, None) => return Ok(json!({})),
    };
    serde_json::from_str(&text)
        .map_err(|e| ClientError::Usage(format!("the payload is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_exit_codes_0_1_and_2() {
        assert_eq!(
            [Outcome::Ok, Outcome::JobFailed, Outcome::Error].map(Outcome::code),
            [0, 1, 2]
        );
    }

    #[test]
    fn payloads_come_from_one_place_and_must_be_json() {
        assert_eq!(read_payload(None, None).unwrap(), json!({}));
        assert_eq!(
            read_payload(Some("{\"a\":1}"), None).unwrap(),
            json!({"a": 1})
        );
        assert!(read_payload(Some("{"), None).is_err());
    }
}
