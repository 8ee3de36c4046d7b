//! A table of bad requests: each gets a JSON 4xx `{"error": code, "message": text}` with the
//! expected status and code (never a 5xx), and none of them changes a stored job.
//!
//! The table machinery ([`Case`], [`run_table`], [`fixture`]) is shared with `hostile.rs`.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// A `run_at` that keeps a job queued for the whole test.
const FAR_FUTURE: &str = "2099-01-01T00:00:00Z";
pub(crate) const MIB: usize = 1024 * 1024;

/// One bad request and what it must get.
pub(crate) struct Case {
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    /// Sent byte for byte on a new connection instead of through reqwest, for requests reqwest
    /// would refuse or tidy up; `method` and `path` then only describe it.
    wire: Option<Vec<u8>>,
    /// Answered by hyper before any of our code runs: the status is checked, there is no JSON
    /// body to check.
    by_hyper: bool,
    /// 0: the connection is closed without an answer.
    status: u16,
    code: &'static str,
    /// For 422: the field the answer names.
    field: Option<&'static str>,
    /// For 405: a method the `Allow` header must list.
    allow: Option<&'static str>,
}

pub(crate) fn case(
    method: Method,
    path: impl Into<String>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        method,
        path: path.into(),
        headers: Vec::new(),
        body: None,
        wire: None,
        by_hyper: false,
        status,
        code,
        field: None,
        allow: None,
    }
}

/// Raw HTTP/1.1 bytes, sent as they are; the answer must be `status` with `code`.
pub(crate) fn wire(request: impl Into<Vec<u8>>, status: u16, code: &'static str) -> Case {
    let request = request.into();
    let line = request.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = Method::from_bytes(parts.next().unwrap_or_default().as_bytes());
    let target = parts.next().unwrap_or_default();
    let mut c = case(method.unwrap_or_default(), target, status, code);
    c.wire = Some(request);
    c
}

/// Raw bytes that hyper itself refuses with `status` (no JSON body) before our code sees them.
pub(crate) fn refused_by_hyper(request: impl Into<Vec<u8>>, status: u16) -> Case {
    let mut c = wire(request, status, "");
    c.by_hyper = true;
    c
}

/// Raw bytes on which hyper closes the connection without answering.
pub(crate) fn dropped_by_hyper(request: impl Into<Vec<u8>>) -> Case {
    refused_by_hyper(request, 0)
}

/// `POST path` with a JSON body, expecting 422 naming `field`.
pub(crate) fn invalid(path: impl Into<String>, body: Value, field: &'static str) -> Case {
    case(Method::POST, path, 422, "invalid_field")
        .json(&body)
        .field(field)
}

/// `method path` expecting 405 with `allow` in the `Allow` header.
pub(crate) fn wrong_method(method: Method, path: impl Into<String>, allow: &'static str) -> Case {
    let mut c = case(method, path, 405, "method_not_allowed");
    c.allow = Some(allow);
    c
}

impl Case {
    pub(crate) fn json(self, body: &Value) -> Self {
        self.raw(body.to_string().into_bytes())
    }

    pub(crate) fn raw(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self.headers
            .push(("content-type", "application/json".to_owned()));
        self
    }

    pub(crate) fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn describe(&self) -> String {
        let body = match &self.body {
            None => String::new(),
            Some(b) if b.len() > 120 => format!(" <{} bytes>", b.len()),
            Some(b) => format!(" {}", String::from_utf8_lossy(b)),
        };
        let path = match self.path.char_indices().nth(120) {
            Some((end, _)) => format!("{}... <{} bytes>", &self.path[..end], self.path.len()),
            None => self.path.clone(),
        };
        let raw = if self.wire.is_some() { " (raw)" } else { "" };
        format!("{} {path:?}{body}{raw}", self.method)
    }

    /// Sends the request through reqwest.
    async fn send(&self, app: &TestApp) -> Result<Answer, String> {
        let mut request = app.client.request(self.method.clone(), app.url(&self.path));
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = &self.body {
            request = request.body(body.clone());
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default().to_vec();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Sends the request; returns what was wrong with the answer, if anything, including a
    /// server that no longer answers `GET /healthz` afterwards.
    async fn check(&self, app: &TestApp) -> Vec<String> {
        let answer = match &self.wire {
            Some(request) => raw_exchange(app, request.clone()).await,
            None => self.send(app).await,
        };
        let mut wrong = match answer {
            Ok(answer) => self.judge(&answer),
            Err(e) => vec![format!("no answer: {e}")],
        };
        match app.client.get(app.url("/healthz")).send().await {
            Ok(health) if health.status() == StatusCode::OK => {}
            Ok(health) => wrong.push(format!("GET /healthz is {} afterwards", health.status())),
            Err(e) => wrong.push(format!("GET /healthz has no answer afterwards: {e}")),
        }
        wrong
    }

    /// What is wrong with `answer`, if anything.
    fn judge(&self, answer: &Answer) -> Vec<String> {
        let mut wrong = Vec::new();
        let status = answer.status;
        if status >= 500 {
            wrong.push(format!("a server error: {status}"));
        }
        if status != self.status {
            let closed = if status == 0 {
                " (closed, no answer)"
            } else {
                ""
            };
            wrong.push(format!("status {status}{closed}, expected {}", self.status));
        }
        if self.by_hyper {
            return wrong;
        }
        if let Some(method) = self.allow {
            let allow = answer
                .headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            if !allow.split(',').any(|m| m.trim() == method) {
                wrong.push(format!("Allow is {allow:?}, expected it to list {method}"));
            }
            if allow.split(',').any(|m| m.trim() == self.method.as_str()) {
                wrong.push(format!("Allow is {allow:?}, which lists {}", self.method));
            }
        }
        let content_type = answer
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if !content_type.starts_with("application/json") {
            wrong.push(format!("content-type {content_type:?}, expected JSON"));
        }
        let body: Value = match serde_json::from_slice(&answer.body) {
            Ok(body) => body,
            Err(_) => {
                wrong.push(format!(
                    "body is not JSON: {:?}",
                    String::from_utf8_lossy(&answer.body)
                ));
                return wrong;
            }
        };
        if body["error"] != self.code {
            wrong.push(format!("error {}, expected {:?}", body["error"], self.code));
        }
        if body["message"].as_str().is_none_or(str::is_empty) {
            wrong.push(format!("no message: {body}"));
        }
        if let Some(field) = self.field {
            if body["field"] != field {
                wrong.push(format!(
                    "field {}, expected {field:?}: {body}",
                    body["field"]
                ));
            }
        }
        wrong
    }
}

/// An answer's status, headers and body, however the request was sent.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Every stored job with its log lines, oldest first.
async fn snapshot(app: &TestApp) -> Vec<(Value, Value)> {
    let (status, page) = app.get("/api/jobs?limit=500").await;
    assert_eq!(status, StatusCode::OK);
    let mut jobs = Vec::new();
    for job in page["jobs"].as_array().unwrap().iter().rev() {
        let id = job["id"].as_str().unwrap();
        let (status, logs) = app.get(&format!("/api/jobs/{id}/logs")).await;
        assert_eq!(status, StatusCode::OK);
        jobs.push((app.job(id).await, logs));
    }
    jobs
}

/// An id shaped like the real ones that names no job.
fn sibling(id: &str) -> String {
    let last = id.chars().last().unwrap();
    let other = if last == '0' { '1' } else { '0' };
    format!("{}{other}", &id[..id.len() - 1])
}

/// A create body of exactly `len` bytes.
fn create_body_of(len: usize) -> Vec<u8> {
    let shell = json!({"type": "external", "payload": {"pad": ""}}).to_string();
    assert!(len >= shell.len());
    let pad = "x".repeat(len - shell.len());
    let body = json!({"type": "external", "payload": {"pad": pad}})
        .to_string()
        .into_bytes();
    assert_eq!(body.len(), len);
    body
}

/// Runs every case and fails with the full list of wrong answers, or if any stored job or its
/// log lines changed, or a job was added.
pub(crate) async fn run_table(app: &TestApp, cases: &[Case]) {
    let before = snapshot(app).await;
    check_all(app, cases).await;
    let after = snapshot(app).await;
    assert_eq!(after.len(), before.len(), "a bad request stored a job");
    for ((job_before, logs_before), (job_after, logs_after)) in before.iter().zip(&after) {
        assert_eq!(job_after, job_before, "a bad request changed a job");
        assert_eq!(
            logs_after, logs_before,
            "a bad request changed a job's logs"
        );
    }
}

/// Sends every case and checks each answer (not the stored jobs: see [`run_table`]).
pub(crate) async fn check_all(app: &TestApp, cases: &[Case]) {
    let mut failures = Vec::new();
    for c in cases {
        for wrong in c.check(app).await {
            failures.push(format!("{}: {wrong}", c.describe()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad requests were answered wrongly:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Jobs in every state a bad request could disturb; nothing runs, so any change would come
/// from a bad request.
pub(crate) struct Fixture {
    pub(crate) queued: String,
    /// Has a progress report and a log line.
    pub(crate) running: String,
    pub(crate) done: String,
    /// A demo job waiting for its `run_at`.
    pub(crate) parked: String,
    /// An id shaped like the others that names no job.
    pub(crate) missing: String,
}

pub(crate) async fn fixture(app: &TestApp) -> Fixture {
    let queued = app.create_external().await;
    let running = app.create_external().await;
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{running}/progress"),
            &json!({"progress": 5, "message": "started", "stage": "one"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{running}/logs"),
            &json!({"level": "info", "message": "hello"}),
        )
        .await;
    assert!(status.is_success());
    let done = app.create_external().await;
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{done}/complete"),
            &json!({"result": {"n": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let parked = app
        .create(json!({"type": "demo", "payload": {"steps": 3}, "run_at": FAR_FUTURE}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let missing = sibling(&queued);
    Fixture {
        queued,
        running,
        done,
        parked,
        missing,
    }
}

#[tokio::test]
async fn bad_requests_get_a_json_4xx_and_change_no_stored_job() {
    let app = spawn_app().await;
    let Fixture {
        queued,
        running,
        done,
        parked,
        missing,
    } = fixture(&app).await;

    let jobs = "/api/jobs";
    let progress = |id: &str| format!("/api/jobs/{id}/progress");
    let demo = |payload: Value| json!({"type": "demo", "payload": payload});
    let huge = create_body_of(MIB + 1);
    let nested_array = "[".repeat(100_000);
    let nested_payload = format!(
        r#"{{"type": "external", "payload": {}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );

    let cases = vec![
        // Create: not JSON, or not an object.
        case(Method::POST, jobs, 400, "malformed_json").raw(r#"{"type": "external","#),
        case(Method::POST, jobs, 400, "malformed_json").raw("type=external"),
        // Nested past `limits.max_json_depth`: refused before parsing.
        case(Method::POST, jobs, 400, "json_too_deep").raw(nested_array),
        case(Method::POST, jobs, 400, "json_too_deep").raw(nested_payload),
        case(Method::POST, jobs, 422, "invalid_field").raw(r#"[{"type": "external"}]"#),
        case(Method::POST, jobs, 413, "payload_too_large").raw(huge),
        // Create: wrong types and out-of-range values.
        invalid(jobs, json!({"type": 5}), "type"),
        invalid(jobs, json!({"type": "nope"}), "type"),
        invalid(jobs, json!({"payload": {}}), "type"),
        invalid(jobs, json!({"type": null}), "type"),
        case(Method::POST, jobs, 400, "malformed_json").raw(vec![0xff, 0xfe, b'{', b'}']),
        invalid(jobs, json!({"type": "external", "colour": "red"}), "colour"),
        invalid(
            jobs,
            json!({"type": "external", "priority": "high"}),
            "priority",
        ),
        invalid(
            jobs,
            json!({"type": "external", "priority": 1.5}),
            "priority",
        ),
        invalid(
            jobs,
            json!({"type": "external", "priority": 100_000}),
            "priority",
        ),
        invalid(
            jobs,
            json!({"type": "external", "max_attempts": 0}),
            "max_attempts",
        ),
        invalid(
            jobs,
            json!({"type": "external", "max_attempts": 101}),
            "max_attempts",
        ),
        invalid(jobs, demo(json!({"steps": 0})), "payload.steps"),
        invalid(jobs, demo(json!({"steps": 10_001})), "payload.steps"),
        invalid(jobs, demo(json!({"steps": "x"})), "payload.steps"),
        invalid(jobs, demo(json!({"step_ms": -1})), "payload.step_ms"),
        invalid(
            jobs,
            demo(json!({"steps": 5, "fail_at_step": 6})),
            "payload.fail_at_step",
        ),
        invalid(
            jobs,
            json!({"type": "external", "timeout": "soon"}),
            "timeout",
        ),
        invalid(
            jobs,
            json!({"type": "external", "timeout": "0s"}),
            "timeout",
        ),
        invalid(
            jobs,
            json!({"type": "external", "run_at": "yesterday"}),
            "run_at",
        ),
        invalid(
            jobs,
            json!({"type": "external", "run_at": "2026-01-02"}),
            "run_at",
        ),
        invalid(
            jobs,
            json!({"type": "external", "max_attempts": -1}),
            "max_attempts",
        ),
        invalid(
            jobs,
            json!({"type": "external", "idempotency_key": ""}),
            "idempotency_key",
        ),
        // Updates of external jobs with bad bodies.
        invalid(progress(&queued), json!({"progress": -1}), "progress"),
        invalid(progress(&queued), json!({"progress": 101}), "progress"),
        invalid(progress(&queued), json!({"progress": "x"}), "progress"),
        invalid(
            progress(&queued),
            json!({"message": "no number"}),
            "progress",
        ),
        invalid(progress(&running), json!({"progress": -1}), "progress"),
        invalid(progress(&running), json!({"progress": 101}), "progress"),
        case(Method::POST, progress(&running), 400, "malformed_json").raw("{progress: 5}"),
        invalid(
            format!("/api/jobs/{queued}/logs"),
            json!({"level": "loud", "message": "hi"}),
            "level",
        ),
        invalid(
            format!("/api/jobs/{running}/logs"),
            json!({"level": "info"}),
            "message",
        ),
        invalid(
            format!("/api/jobs/{running}/fail"),
            json!({"details": {"why": "unknown"}}),
            "error",
        ),
        // Updates that are not allowed at all.
        case(Method::POST, progress(&done), 409, "conflict").json(&json!({"progress": 50})),
        case(Method::POST, progress(&parked), 409, "conflict").json(&json!({"progress": 50})),
        case(
            Method::POST,
            format!("/api/jobs/{done}/cancel"),
            409,
            "conflict",
        ),
        // Ids that name no job.
        case(Method::GET, "/api/jobs/not-a-uuid", 404, "not_found"),
        case(
            Method::GET,
            format!("/api/jobs/{missing}"),
            404,
            "not_found",
        ),
        case(Method::GET, "/api/jobs/not-a-uuid/stream", 404, "not_found"),
        case(
            Method::GET,
            format!("/api/jobs/{missing}/stream"),
            404,
            "not_found",
        ),
        case(
            Method::GET,
            format!("/api/jobs/{missing}/logs"),
            404,
            "not_found",
        ),
        case(
            Method::POST,
            "/api/jobs/not-a-uuid/cancel",
            404,
            "not_found",
        ),
        case(
            Method::POST,
            format!("/api/jobs/{missing}/cancel"),
            404,
            "not_found",
        ),
        case(Method::POST, progress(&missing), 404, "not_found").json(&json!({"progress": 5})),
        case(Method::GET, "/api/jobs/%00", 404, "not_found"),
        case(Method::POST, "/api/jobs//cancel", 404, "not_found"),
        case(
            Method::GET,
            format!("/api/jobs/{}", "a".repeat(10_000)),
            404,
            "not_found",
        ),
        case(
            Method::GET,
            "/api/jobs/00000000-0000-0000-0000-000000000000/logs",
            404,
            "not_found",
        ),
        // Routes that do not exist.
        case(Method::GET, "/index.php", 404, "not_found"),
        case(Method::GET, "/api/nope", 404, "not_found"),
        case(
            Method::GET,
            format!("/api/jobs/{queued}/explode"),
            404,
            "not_found",
        ),
        // Known routes, wrong methods.
        wrong_method(Method::DELETE, format!("/api/jobs/{queued}"), "GET"),
        wrong_method(Method::PUT, jobs, "POST"),
        wrong_method(Method::GET, format!("/api/jobs/{queued}/cancel"), "POST"),
        wrong_method(Method::POST, format!("/api/jobs/{queued}/stream"), "GET"),
        wrong_method(Method::PATCH, progress(&running), "POST"),
        wrong_method(Method::POST, "/healthz", "GET"),
        wrong_method(Method::DELETE, format!("/api/jobs/{queued}/logs"), "GET"),
        // Bad query strings.
        case(Method::GET, "/api/jobs?status=bogus", 422, "invalid_field").field("status"),
        case(Method::GET, "/api/jobs?limit=0", 422, "invalid_field").field("limit"),
        case(Method::GET, "/api/jobs?limit=abc", 422, "invalid_field").field("limit"),
        case(Method::GET, "/api/jobs?limit=-5", 422, "invalid_field").field("limit"),
        case(
            Method::GET,
            "/api/jobs?cursor=garbage",
            422,
            "invalid_field",
        )
        .field("cursor"),
        case(
            Method::GET,
            format!("/api/jobs/{running}/logs?limit=0"),
            422,
            "invalid_field",
        )
        .field("limit"),
        case(
            Method::GET,
            format!("/api/jobs/{running}/logs?after=-1"),
            422,
            "invalid_field",
        )
        .field("after"),
        case(
            Method::GET,
            format!("/api/jobs/{running}/logs?after=abc"),
            422,
            "invalid_field",
        )
        .field("after"),
    ];
    assert!(cases.len() >= 25);
    run_table(&app, &cases).await;
    assert_eq!(app.count_jobs().await, 4);
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413_and_one_just_under_is_accepted() {
    // The body limit, not the (smaller) payload limit, is what this test is about.
    let app = spawn_app_with(|c| c.limits.max_payload_bytes = 2 * MIB).await;
    let (status, answer) = app.post_raw("/api/jobs", create_body_of(MIB + 1)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"], "payload_too_large");
    assert_eq!(app.count_jobs().await, 0);

    let (status, job) = app.post_raw("/api/jobs", create_body_of(MIB)).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "exactly 1 MiB is allowed: {job}"
    );
    assert_eq!(app.count_jobs().await, 1);
}

#[tokio::test]
async fn the_body_limit_is_configurable() {
    let app = spawn_app_with(|c| c.http.max_body_bytes = 1024).await;
    let (status, answer) = app.post_raw("/api/jobs", create_body_of(1025)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"], "payload_too_large");
    assert!(answer["message"].is_string());
    assert_eq!(app.count_jobs().await, 0);

    let (status, job) = app.post_raw("/api/jobs", create_body_of(1024)).await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();

    // The update calls share the limit.
    let before = app.job(&id).await;
    let long_message = "m".repeat(2000);
    let (status, answer) = app
        .post_json(
            &format!("/api/jobs/{id}/progress"),
            &json!({"progress": 50, "message": long_message}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    let (status, answer) = app
        .post_json(
            &format!("/api/jobs/{id}/logs"),
            &json!({"level": "info", "message": long_message}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(app.job(&id).await, before);
    assert_eq!(app.count_jobs().await, 1);
}

/// Sends raw HTTP/1.1 and returns the status line's code and the body after the headers.
async fn raw_http(app: &TestApp, request: Vec<u8>) -> (u16, String) {
    let answer = raw_exchange(app, request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (
        answer.status,
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

/// Sends raw bytes on a new connection and reads one answer: until its `Content-Length` is in,
/// or the server closes the connection. A connection closed without a byte is status 0.
async fn raw_exchange(app: &TestApp, request: Vec<u8>) -> Result<Answer, String> {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut reader, mut writer) = stream.into_split();
    // The server may answer before it has read everything; keep writing in the background.
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        writer
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            let text = String::from_utf8_lossy(&answer);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if answer.len() >= end + 4 + length {
                    break;
                }
            }
        }
    })
    .await;
    writing.abort();
    if read.is_err() {
        return Err(format!(
            "no complete answer within 10 s: {:?}",
            String::from_utf8_lossy(&answer)
        ));
    }
    if answer.is_empty() {
        return Ok(Answer {
            status: 0,
            headers: HeaderMap::new(),
            body: Vec::new(),
        });
    }
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("not an HTTP answer: {:?}", String::from_utf8_lossy(&answer)))?;
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {head:?}"))?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("not a header line: {line:?}"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| e.to_string())?;
        let value = HeaderValue::from_str(value.trim()).map_err(|e| e.to_string())?;
        headers.append(name, value);
    }
    Ok(Answer {
        status,
        headers,
        body: answer[end + 4..].to_vec(),
    })
}

#[tokio::test]
async fn a_chunked_body_without_a_length_is_limited_too() {
    let app = spawn_app_with(|c| c.http.max_body_bytes = 1024).await;
    let body = create_body_of(4096);
    let mut request = format!(
        "POST /api/jobs HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.base.trim_start_matches("http://")
    )
    .into_bytes();
    for chunk in body.chunks(512) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (status, body) = raw_http(&app, request).await;
    assert_eq!(status, 413, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    assert_eq!(answer["error"], "payload_too_large");
    assert_eq!(app.count_jobs().await, 0);
}
