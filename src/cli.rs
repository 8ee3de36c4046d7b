//! The terminal client: `jobcast submit`, `watch`, `jobs` and `cancel` against a running
//! server (`--url` or `JOBCAST_URL`).
//!
//! `watch` follows the job's event stream with a live progress bar (log lines printed above
//! it) and exits 0 when the job completed, 1 when it failed or was cancelled, and 2 for usage
//! errors, an unknown job or a refused token; `--json` prints the raw events, one JSON object
//! per line, instead. Like a browser's `EventSource` it outlives dropped connections: see
//! [`Client::watch`].

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::StatusCode;
use serde_json::{json, Value};

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

/// The reconnection delay until the stream's `retry:` field says otherwise (the server's
/// default).
const DEFAULT_RETRY: Duration = Duration::from_secs(2);
/// The first wait after an attempt that reached no stream, whatever `retry:` says; doubled
/// per attempt in a row.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between attempts while the server is away (a `Retry-After` included).
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A connection silent this long (no event, no heartbeat: three of the server's default
/// 30 s heartbeats) is taken for dead and opened again.
const READ_TIMEOUT: Duration = Duration::from_secs(90);

/// A connection to a jobcast server.
pub struct Client {
    base: String,
    http: reqwest::Client,
    /// Whether the server has answered anything yet: until it has, an unreachable server is
    /// most likely a wrong `--url`, and `watch` says so instead of waiting for it.
    answered: AtomicBool,
}

/// The innermost cause of `error`, which says what went wrong ("Connection refused (os error
/// 111)") where the outer ones say what was being done.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The `message` of a JSON error body, with the status: "404 Not Found: job not found".
async fn refusal(response: reqwest::Response, fallback: &str) -> String {
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

    fn unreachable(&self, error: &reqwest::Error) -> ClientError {
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

    /// Follows a job to its end, printing as it goes, through any number of connections; how
    /// the job ended is the outcome.
    ///
    /// Like a browser's `EventSource`: when the body ends without the job's end (the stream's
    /// `max_duration` cap, a server shutting down) it reconnects after the stream's `retry:`
    /// delay, silently; when the connection breaks (the server killed, a proxy's timeout, no
    /// byte for [`READ_TIMEOUT`]) it says "connection lost (why), reconnecting in N" on stderr
    /// and does the same. Each new connection sends `Last-Event-ID`, the last event id seen, so
    /// the server sends only newer events; an event not newer than that (ids are job versions)
    /// is dropped here too, so nothing is printed twice. While the server is away (connection
    /// refused or reset, 5xx, 429) it tries again after `retry:` (at least 0.5 s), doubled per
    /// failed attempt up to 30 s, or after `Retry-After` when that is longer (up to 30 s too),
    /// with a note on stderr for each attempt. It keeps trying as long as the server is away,
    /// as `EventSource` does: a server that is restarted or failed over is picked up again,
    /// however long it takes, and the notes say it is waiting; Ctrl-C (or `timeout`) ends it.
    ///
    /// It ends with an error (exit code 2) only where trying again cannot help: the job is not
    /// there (404), the token is refused (401, 403), another 4xx, an answer that is not an
    /// event stream, or a server that could not be reached before it answered anything at all
    /// (most likely a wrong `--url`). A 204 answer to a reconnect means the job has ended and
    /// this client had every event but the terminal one: the job is read once to learn how it
    /// ended, which is shown and decides the outcome.
    pub async fn watch(&self, id: &str, raw_json: bool) -> Result<Outcome, ClientError> {
        let out = Output::new(raw_json);
        let mut resume = Resume::new();
        loop {
            let wait = match self.connect(id, &mut resume, &out).await? {
                Connection::Done(outcome) => return Ok(outcome),
                Connection::Ended => {
                    resume.failures = 0;
                    resume.retry
                }
                Connection::Dropped(reason) => {
                    resume.failures = 0;
                    out.note(&format!(
                        "connection lost ({reason}), reconnecting in {}",
                        seconds(resume.retry)
                    ));
                    resume.retry
                }
                Connection::Away {
                    reason,
                    retry_after,
                } => {
                    resume.failures += 1;
                    let wait = resume.backoff(retry_after);
                    out.note(&format!(
                        "jobcast at {} is unavailable ({reason}), trying again in {}",
                        self.base,
                        seconds(wait)
                    ));
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends one request of a watch: the answer if it is a success, else whether to try again
    /// later (`Ok`) or stop (`Err`).
    async fn attempt(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Result<reqwest::Response, Connection>, ClientError> {
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) if !self.answered.load(Ordering::Relaxed) => {
                return Err(self.unreachable(&error))
            }
            Err(error) => {
                return Ok(Err(Connection::Away {
                    reason: root_cause(&error),
                    retry_after: None,
                }))
            }
        };
        self.answered.store(true, Ordering::Relaxed);
        let status = response.status();
        if status.is_success() {
            return Ok(Ok(response));
        }
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
        {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Ok(Err(Connection::Away {
                reason: refusal(response, "try again later").await,
                retry_after,
            }));
        }
        Err(ClientError::Refused(
            refusal(response, "the stream was refused").await,
        ))
    }

    /// One connection of a watch, read until it ends one way or another.
    async fn connect(
        &self,
        id: &str,
        resume: &mut Resume,
        out: &Output,
    ) -> Result<Connection, ClientError> {
        let mut request = self
            .http
            .get(format!("{}/api/jobs/{id}/stream", self.base))
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(last) = &resume.last_id {
            request = request.header("Last-Event-ID", last);
        }
        let response = match self.attempt(request).await? {
            Ok(response) => response,
            Err(away) => return Ok(away),
        };
        if response.status() == StatusCode::NO_CONTENT {
            return self.final_state(id, out).await;
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type.starts_with("text/event-stream") {
            return Err(ClientError::Refused(format!(
                "{} answered {} with {content_type:?}, not an event stream (is --url right?)",
                self.base,
                response.status()
            )));
        }
        let mut blocks = std::pin::pin!(blocks(response.bytes_stream()));
        let mut read_any = false;
        while let Some(block) = blocks.next().await {
            let block = match block {
                Ok(block) => block,
                Err(error) => {
                    let reason = root_cause(&error);
                    return Ok(if read_any {
                        Connection::Dropped(reason)
                    } else {
                        Connection::Away {
                            reason,
                            retry_after: None,
                        }
                    });
                }
            };
            read_any = true;
            if let Some(retry) = block.retry {
                resume.retry = retry;
            }
            if let Some(event) = block.event {
                if resume.is_new(&event) {
                    if let Some(outcome) = out.show(&event) {
                        return Ok(Connection::Done(outcome));
                    }
                }
            }
        }
        Ok(if read_any {
            Connection::Ended
        } else {
            Connection::Away {
                reason: "the stream ended before its first frame".into(),
                retry_after: None,
            }
        })
    }

    /// After a 204: the job has ended; reads it, shows its end as the terminal event would
    /// have, and ends the watch accordingly.
    async fn final_state(&self, id: &str, out: &Output) -> Result<Connection, ClientError> {
        let request = self.http.get(format!("{}/api/jobs/{id}", self.base));
        let response = match self.attempt(request).await? {
            Ok(response) => response,
            Err(away) => return Ok(away),
        };
        let job: Value = response.json().await.unwrap_or(Value::Null);
        match terminal_event(&job) {
            Some(event) => Ok(Connection::Done(out.show(&event).unwrap_or(Outcome::Error))),
            // A 204 for a job that has not ended: a server out of step with itself; try again.
            None => Ok(Connection::Away {
                reason: format!("the stream ended but the job is {}", job["status"]),
                retry_after: None,
            }),
        }
    }
}

/// "2s", "0.5s".
fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

/// What one connection of a watch came to.
#[derive(Debug)]
enum Connection {
    /// The job's end was shown: how the watch ends.
    Done(Outcome),
    /// The body ended before the job did: the stream's cap or a server shutting down.
    Ended,
    /// The connection broke after the stream had started.
    Dropped(String),
    /// No stream: the server could not be reached, broke off at once, or answered 5xx or 429.
    Away {
        reason: String,
        retry_after: Option<Duration>,
    },
}

/// What a watch carries from one connection to the next.
#[derive(Debug)]
struct Resume {
    /// The last event id seen, sent back as `Last-Event-ID`.
    last_id: Option<String>,
    /// The same as a number (event ids are job versions), to drop anything not newer.
    last_version: Option<i64>,
    /// The stream's `retry:`.
    retry: Duration,
    /// Attempts in a row that reached no stream.
    failures: u32,
}

impl Resume {
    fn new() -> Self {
        Resume {
            last_id: None,
            last_version: None,
            retry: DEFAULT_RETRY,
            failures: 0,
        }
    }

    /// Whether `event` is news, remembering its id if so. A terminal event always is: it ends
    /// the watch.
    fn is_new(&mut self, event: &SseEvent) -> bool {
        let version = event
            .id
            .as_deref()
            .and_then(|id| id.trim().parse::<i64>().ok());
        if let (Some(version), Some(last)) = (version, self.last_version) {
            if version <= last && !event.is_terminal() {
                return false;
            }
        }
        if let Some(id) = &event.id {
            self.last_id = Some(id.clone());
        }
        if version.is_some() {
            self.last_version = version;
        }
        true
    }

    /// The wait after `failures` attempts in a row reached no stream.
    fn backoff(&self, retry_after: Option<Duration>) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(16);
        self.retry
            .max(MIN_BACKOFF)
            .saturating_mul(1 << doublings)
            .max(retry_after.unwrap_or_default())
            .min(MAX_BACKOFF)
    }
}

/// One SSE event.
#[derive(Debug, Clone, PartialEq)]
struct SseEvent {
    name: String,
    id: Option<String>,
    data: Value,
}

impl SseEvent {
    fn is_terminal(&self) -> bool {
        matches!(self.name.as_str(), "completed" | "failed")
    }
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

/// The terminal event the stream would have sent for `job`, if it has ended.
fn terminal_event(job: &Value) -> Option<SseEvent> {
    let status = job["status"].as_str()?;
    let id = job["version"].as_i64().map(|v| v.to_string());
    let (name, data) = match status {
        "completed" => (
            "completed",
            json!({"status": status, "progress": 100.0, "result": job["result"]}),
        ),
        "failed" | "cancelled" => {
            let mut data = json!({
                "status": status,
                "error": job["error"].as_str().unwrap_or(status),
            });
            if !job["details"].is_null() {
                data["details"] = job["details"].clone();
            }
            ("failed", data)
        }
        _ => return None,
    };
    Some(SseEvent {
        name: name.to_owned(),
        id,
        data,
    })
}

/// Where a watch prints: JSON lines on stdout (`--json`), or a progress bar on stderr with
/// log lines and notes above it.
struct Output {
    /// `None` with `--json`. Hidden when stderr is not a terminal, but its lines still print.
    bar: Option<ProgressBar>,
}

impl Output {
    fn new(raw_json: bool) -> Self {
        Output {
            bar: (!raw_json).then(new_bar),
        }
    }

    /// A line on stderr, above the bar.
    fn note(&self, text: &str) {
        match &self.bar {
            // `println` would print nothing while the bar is hidden (stderr not a terminal).
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    /// Prints one event; returns how the watch ends if the event was terminal.
    fn show(&self, event: &SseEvent) -> Option<Outcome> {
        let data = &event.data;
        if self.bar.is_none() {
            // Line-buffered even into a pipe: each event reaches a script as it comes.
            println!(
                "{}",
                json!({ "event": event.name, "id": event.id, "data": data })
            );
        }
        let text = |key: &str| data[key].as_str().unwrap_or_default().to_owned();
        match event.name.as_str() {
            "progress" => {
                if let Some(bar) = &self.bar {
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
                if self.bar.is_some() {
                    self.note(&format!("{:>7} {}", text("level"), text("message")));
                }
                None
            }
            "completed" => {
                if let Some(bar) = &self.bar {
                    bar.set_position(100);
                    bar.finish_with_message("completed");
                    println!("result: {}", data["result"]);
                }
                Some(Outcome::Ok)
            }
            "failed" => {
                if let Some(bar) = &self.bar {
                    bar.abandon_with_message(text("status"));
                }
                eprintln!("{}: {}", text("status"), text("error"));
                if !data["details"].is_null() {
                    eprintln!("details: {}", data["details"]);
                }
                Some(Outcome::JobFailed)
            }
            _ => None,
        }
    }
}

fn new_bar() -> ProgressBar {
    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{bar:40.cyan/blue} {pos:>3}% {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
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

    fn event(name: &str, id: &str) -> SseEvent {
        SseEvent {
            name: name.into(),
            id: Some(id.into()),
            data: Value::Null,
        }
    }

    #[test]
    fn an_event_not_newer_than_the_last_one_seen_is_not_shown_again() {
        let mut resume = Resume::new();
        assert!(resume.is_new(&event("progress", "4")));
        assert!(resume.is_new(&event("log", "6")));
        assert!(!resume.is_new(&event("log", "6")));
        assert!(!resume.is_new(&event("progress", "5")));
        assert_eq!(resume.last_id.as_deref(), Some("6"));
        assert!(resume.is_new(&event("failed", "6")), "the end always ends");
    }

    #[test]
    fn reconnects_back_off_from_the_retry_delay_up_to_a_cap() {
        let mut resume = Resume::new();
        resume.retry = Duration::from_millis(200);
        let waits: Vec<Duration> = (1..=8)
            .map(|failures| {
                resume.failures = failures;
                resume.backoff(None)
            })
            .collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            waits,
            [
                ms(500),
                ms(1000),
                ms(2000),
                ms(4000),
                ms(8000),
                ms(16000),
                MAX_BACKOFF,
                MAX_BACKOFF
            ]
        );
        resume.failures = 1;
        assert_eq!(
            resume.backoff(Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(resume.backoff(Some(Duration::from_secs(3600))), MAX_BACKOFF);
        resume.failures = u32::MAX;
        assert_eq!(resume.backoff(None), MAX_BACKOFF);
    }

    #[test]
    fn outcomes_are_exit_codes_0_1_and_2() {
        assert_eq!(
            [Outcome::Ok, Outcome::JobFailed, Outcome::Error].map(Outcome::code),
            [0, 1, 2]
        );
    }

    /// Answers HTTP requests in turn with `answers`, then stops; returns each request's head.
    async fn scripted_server(
        answers: Vec<Vec<u8>>,
    ) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut heads = Vec::new();
            for answer in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut byte = [0u8; 1];
                    if socket.read(&mut byte).await.unwrap() == 0 {
                        break;
                    }
                    head.push(byte[0]);
                }
                heads.push(String::from_utf8_lossy(&head).to_lowercase());
                socket.write_all(&answer).await.unwrap();
                socket.flush().await.unwrap();
                // Dropped: the connection closes, mid-body for a chunked answer left open.
            }
            heads
        });
        (base, task)
    }

    #[tokio::test]
    async fn a_dropped_stream_resumes_after_its_last_id_and_a_204_ends_as_the_job_did() {
        let id = "0190f0f0-0000-7000-8000-000000000001";
        let frames =
            "retry: 10\n\nevent: log\nid: 5\ndata: {\"level\":\"info\",\"message\":\"hi\"}\n\n";
        let stream = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n\
             {:x}\r\n{frames}\r\n",
            frames.len()
        );
        let gone = "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_owned();
        let body = json!({"id": id, "status": "failed", "error": "boom", "version": 6}).to_string();
        let job = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
        let (base, server) = scripted_server(vec![
            stream.into_bytes(),
            gone.into_bytes(),
            job.into_bytes(),
        ])
        .await;
        let outcome = Client::new(&base, None).watch(id, true).await.unwrap();
        assert_eq!(outcome, Outcome::JobFailed);
        let heads = server.await.unwrap();
        assert!(heads[0].starts_with(&format!("get /api/jobs/{id}/stream ")));
        assert!(!heads[0].contains("last-event-id"), "{}", heads[0]);
        assert!(heads[1].contains("last-event-id: 5\r\n"), "{}", heads[1]);
        assert!(
            heads[2].starts_with(&format!("get /api/jobs/{id} ")),
            "{}",
            heads[2]
        );
    }

    #[test]
    fn the_end_of_a_job_read_after_a_204_is_its_terminal_event() {
        let completed = terminal_event(&json!({"status": "completed", "result": 1, "version": 9}));
        assert_eq!(
            completed,
            Some(SseEvent {
                name: "completed".into(),
                id: Some("9".into()),
                data: json!({"status": "completed", "progress": 100.0, "result": 1}),
            })
        );
        let cancelled = terminal_event(&json!({"status": "cancelled", "version": 3})).unwrap();
        assert_eq!(
            (cancelled.name.as_str(), &cancelled.data["error"]),
            ("failed", &json!("cancelled"))
        );
        assert_eq!(terminal_event(&json!({"status": "running"})), None);
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
