//! `jobcast watch` (and `submit --watch`): following a job's event stream to the job's end
//! through any number of connections, the way a browser's `EventSource` does. See
//! [`Client::watch`] for what it does when a connection drops or the server is away.
//!
//! The events themselves are [`super::events`]'s; printing them is [`super::render`]'s.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use super::client::Client;
use super::events::{blocks, terminal_event, SseEvent};
use super::outcome::{refusal, root_cause, ClientError, Outcome};
use super::render::Output;

/// The reconnection delay until the stream's `retry:` field says otherwise (the server's
/// default).
const DEFAULT_RETRY: Duration = Duration::from_secs(2);
/// The first wait after an attempt that reached no stream, whatever `retry:` says; doubled
/// per attempt in a row.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between attempts while the server is away (a `Retry-After` included).
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Client {
    /// Follows a job to its end, printing as it goes, through any number of connections; how
    /// the job ended is the outcome.
    ///
    /// Like a browser's `EventSource`: when the body ends without the job's end (the stream's
    /// `max_duration` cap, a server shutting down) it reconnects after the stream's `retry:` delay,
    /// silently; when the connection breaks (the server killed, a proxy's timeout, no byte for
    /// `READ_TIMEOUT`, 90 s) it says "connection lost (why), reconnecting in N" on stderr and does
    /// the same. Each new connection sends `Last-Event-ID`, the last event id seen, so the server
    /// sends only newer events; an event not newer than that (ids are job versions) is dropped here
    /// too, so nothing is printed twice. While the server is away (connection refused or reset,
    /// 5xx, 429) it tries again after `retry:` (at least 0.5 s), doubled per failed attempt up to
    /// 30 s, or after `Retry-After` when that is longer (up to 30 s too), with a note on stderr for
    /// each attempt. It keeps trying as long as the server is away, as `EventSource` does: a server
    /// that is restarted or failed over is picked up again, however long it takes, and the notes
    /// say it is waiting; Ctrl-C (or `timeout`) ends it.
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
}
