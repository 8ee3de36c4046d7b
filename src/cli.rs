//! The terminal client: `jobcast submit`, `watch`, `jobs` and `cancel` against a running
//! server (`--url` or `JOBCAST_URL`).
//!
//! `watch` follows the job's event stream with a live progress bar (log lines printed above
//! it) and exits 0 when the job completed, 1 when it failed or was cancelled, and 2 on usage
//! or connection errors; `--json` prints the raw events, one JSON object per line, instead.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

/// How a client command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; the watched job completed.
    Ok,
    /// The watched job failed or was cancelled.
    JobFailed,
    /// Bad usage, or the server could not be reached or refused the request.
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
    base: String,
    http: reqwest::Client,
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
                .default_headers(headers)
                .build()
                .unwrap_or_default(),
        }
    }

    fn unreachable(&self, error: reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            url: self.base.clone(),
            reason: error.without_url().to_string(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            let message = body["message"].as_str().unwrap_or("request refused");
            Err(ClientError::Refused(format!("{status}: {message}")))
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

    /// Follows a job to its end, printing as it goes; reconnects after the stream's cap.
    pub async fn watch(&self, id: &str, raw_json: bool) -> Result<Outcome, ClientError> {
        let bar = (!raw_json).then(new_bar);
        let mut last_id: Option<String> = None;
        loop {
            let mut request = self.http.get(format!("{}/api/jobs/{id}/stream", self.base));
            if let Some(last) = &last_id {
                request = request.header("Last-Event-ID", last);
            }
            let response = request.send().await.map_err(|e| self.unreachable(e))?;
            match response.status().as_u16() {
                200 => {}
                204 => return Ok(Outcome::Ok),
                _ => {
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    let message = body["message"].as_str().unwrap_or("the stream was refused");
                    return Err(ClientError::Refused(message.to_owned()));
                }
            }
            let mut blocks = std::pin::pin!(blocks(response.bytes_stream()));
            while let Some(block) = blocks.next().await {
                let block = block.map_err(|e| ClientError::Unreachable {
                    url: self.base.clone(),
                    reason: e.to_string(),
                })?;
                let Some(event) = block.event else {
                    continue;
                };
                if let Some(event_id) = &event.id {
                    last_id = Some(event_id.clone());
                }
                if let Some(outcome) = show(&event, bar.as_ref(), raw_json) {
                    return Ok(outcome);
                }
            }
            // The body ended without a terminal event (the stream's cap): resume.
        }
    }
}

/// One SSE event.
#[derive(Debug, Clone, PartialEq)]
struct SseEvent {
    name: String,
    id: Option<String>,
    data: Value,
}

/// One block of an event stream, as a watch uses it.
#[derive(Debug, Default, PartialEq)]
struct Block {
    /// The `retry:` field: the reconnection delay from now on.
    retry: Option<Duration>,
    /// The event, if the block carries data (a block of only `id:` or `retry:` dispatches
    /// none, as in `EventSource`).
    event: Option<SseEvent>,
}

impl From<sse_stream::Sse> for Block {
    fn from(sse: sse_stream::Sse) -> Self {
        Block {
            retry: sse.retry.map(Duration::from_millis),
            event: sse.data.map(|data| SseEvent {
                name: sse
                    .event
                    .filter(|name| !name.is_empty())
                    .unwrap_or_else(|| "message".to_owned()),
                id: sse.id,
                data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
            }),
        }
    }
}

/// The blocks of an event-stream body, parsed by `sse-stream` (CR, LF or CRLF line ends,
/// UTF-8 characters split across chunks, comments skipped). Ends at the body's end; a broken
/// body is one error, then the end.
fn blocks<S, E>(body: S) -> impl Stream<Item = Result<Block, sse_stream::Error>>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    sse_stream::SseByteStream::new(body).map(|block| block.map(Block::from))
}

fn new_bar() -> ProgressBar {
    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{bar:40.cyan/blue} {pos:>3}% {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Prints one event; returns how the watch ends if the event was terminal.
fn show(event: &SseEvent, bar: Option<&ProgressBar>, raw_json: bool) -> Option<Outcome> {
    let data = &event.data;
    if raw_json {
        let line = json!({ "event": event.name, "id": event.id, "data": data });
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    let text = |key: &str| data[key].as_str().unwrap_or_default().to_owned();
    match event.name.as_str() {
        "progress" => {
            if let Some(bar) = bar {
                bar.set_position(data["progress"].as_f64().unwrap_or(0.0).round() as u64);
                let counts = match (data["current"].as_i64(), data["total"].as_i64()) {
                    (Some(c), Some(t)) => format!(" ({c}/{t})"),
                    _ => String::new(),
                };
                let stage = data["stage"]
                    .as_str()
                    .map(|s| format!("[{s}] "))
                    .unwrap_or_default();
                bar.set_message(format!(
                    "{stage}{}{counts} {}",
                    text("message"),
                    text("status")
                ));
            }
            None
        }
        "log" => {
            if let Some(bar) = bar {
                bar.println(format!("{:>7} {}", text("level"), text("message")));
            }
            None
        }
        "completed" => {
            if let Some(bar) = bar {
                bar.set_position(100);
                bar.finish_with_message("completed");
                println!("result: {}", data["result"]);
            }
            Some(Outcome::Ok)
        }
        "failed" => {
            if let Some(bar) = bar {
                bar.abandon_with_message(text("status"));
                eprintln!("{}: {}", text("status"), text("error"));
                if !data["details"].is_null() {
                    eprintln!("details: {}", data["details"]);
                }
            }
            Some(Outcome::JobFailed)
        }
        _ => None,
    }
}

/// Prints jobs as a table.
pub fn print_jobs(page: &Value) {
    println!(
        "{:<36}  {:<14} {:<9} {:>5}  MESSAGE",
        "ID", "TYPE", "STATUS", "%"
    );
    for job in page["jobs"].as_array().into_iter().flatten() {
        let message = job["error"]
            .as_str()
            .or(job["message"].as_str())
            .unwrap_or("");
        println!(
            "{:<36}  {:<14} {:<9} {:>5.0}  {}",
            job["id"].as_str().unwrap_or(""),
            job["type"].as_str().unwrap_or(""),
            job["status"].as_str().unwrap_or(""),
            job["progress"].as_f64().unwrap_or(0.0),
            message
        );
    }
}

/// Reads `--payload` or `--payload-file` (neither: `{}`).
pub fn read_payload(
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

    /// Runs `chunks` through the stream adapter.
    async fn read_blocks(chunks: &[&[u8]]) -> Vec<Block> {
        let chunks: Vec<Result<Bytes, std::convert::Infallible>> = chunks
            .iter()
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        blocks(futures_util::stream::iter(chunks))
            .map(|block| block.unwrap())
            .collect()
            .await
    }

    #[tokio::test]
    async fn the_stream_adapter_reads_crlf_and_a_character_split_across_chunks() {
        let text = "retry: 150\r\n\r\n: heartbeat\r\n\r\nevent: log\r\nid: 7\r\n\
                    data: {\"message\":\"caf\u{e9} \u{2713}\"}\r\n\r\nevent: progress\rid: 8\r\
                    data: {\"progress\":5}\r\r";
        let bytes = text.as_bytes();
        // Cut inside the two bytes of "é" and between a CR and its LF.
        let e_acute = text.find('\u{e9}').unwrap() + 1;
        let crlf = text.find("\r\n\r\nevent: log").unwrap() + 1;
        let got = read_blocks(&[&bytes[..crlf], &bytes[crlf..e_acute], &bytes[e_acute..]]).await;
        assert_eq!(
            got,
            [
                Block {
                    retry: Some(Duration::from_millis(150)),
                    event: None
                },
                Block {
                    retry: None,
                    event: Some(SseEvent {
                        name: "log".into(),
                        id: Some("7".into()),
                        data: json!({"message": "caf\u{e9} \u{2713}"}),
                    })
                },
                Block {
                    retry: None,
                    event: Some(SseEvent {
                        name: "progress".into(),
                        id: Some("8".into()),
                        data: json!({"progress": 5}),
                    })
                },
            ]
        );
    }

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
