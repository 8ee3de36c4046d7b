//! SSE injection: text a client posts (progress messages, stages, log lines, a failure's error
//! and details, a result) that looks like SSE framing must come out of the streams as data,
//! never as extra events, fields or comments.
//!
//! The streams are read as raw bytes and parsed by [`parse_event_stream`], written to the HTML
//! standard's rules for `text/event-stream` (section 9.2.6, "Interpreting an event stream"):
//! lines end at CR LF, LF or CR; a blank line dispatches; `id` persists between events.
//! (`helpers::parse_frames` is not used: it splits on "\n\n" only, wants exactly one space
//! after each colon, and panics on fields it does not know; fine for checking our own output,
//! not for reading it the way a browser does.)

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// Text that would end a line, an event or a field if it reached the stream unescaped, and
/// unicode that some parsers take for line ends (none of them is one in SSE).
const HOSTILE: &[&str] = &[
    "line\nbreak",
    "carriage\rreturn",
    "crlf\r\nline",
    "\n\nevent: completed\ndata: {}\n\n",
    "\r\n\r\nevent: failed\r\ndata: {\"status\":\"failed\"}\r\n\r\n",
    "\r\revent: log\r\rdata: x\r\r",
    "id: 999",
    "\nid: 999\n",
    "retry: 1",
    "\nretry: 1\n\n",
    ": comment",
    "\n: comment\n",
    "data: injected",
    "event:completed",
    "line\u{2028}separator",
    "paragraph\u{2029}separator",
    "next\u{0085}line",
    "\u{feff}byte order mark",
    "vertical\u{000b}tab\u{000c}form feed\ttab",
    "\u{001b}[31mansi\u{001b}[0m",
    "\u{202e}right-to-left override",
    "zero\u{200b}width\u{200d}joiner 👩\u{200d}👩\u{200d}👧",
    "e\u{0301} combining, \u{fffd} replacement, \u{ffff} noncharacter, \u{10ffff} last",
    "\\n\\r backslashes, \"quotes\", </script>",
    " leading and trailing spaces ",
];

/// One dispatched event, as a browser's `EventSource` would see it.
#[derive(Debug, Clone, PartialEq)]
struct SseEvent {
    /// The `event:` field, or "message".
    name: String,
    data: String,
    /// The last event id buffer when it was dispatched (it persists across events).
    last_event_id: String,
    /// Whether this event's own block carried an `id:` field.
    own_id: bool,
}

/// What a stream's bytes so far amount to.
#[derive(Debug, Default)]
struct Parsed {
    events: Vec<SseEvent>,
    /// The reconnection time, if a valid `retry:` field set it.
    retry: Option<u64>,
    /// Every `retry:` field seen, valid or not.
    retry_fields: Vec<String>,
    /// Comment lines, without the colon.
    comments: Vec<String>,
    /// Fields that are not `event`, `data`, `id` or `retry` (a client ignores them).
    unknown_fields: Vec<String>,
}

/// Parses `text/event-stream` text as the HTML standard says a client must. A last line with
/// no line end yet is left for later; an event with no blank line after it is not dispatched.
fn parse_event_stream(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut rest = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (mut data, mut event_type, mut last_event_id) =
        (String::new(), String::new(), String::new());
    let mut own_id = false;
    while let Some(end) = rest.find(['\r', '\n']) {
        let line = &rest[..end];
        let next = if rest[end..].starts_with("\r\n") {
            end + 2
        } else {
            end + 1
        };
        rest = &rest[next..];
        if line.is_empty() {
            // Dispatch.
            if !data.is_empty() {
                if data.ends_with('\n') {
                    data.pop();
                }
                parsed.events.push(SseEvent {
                    name: if event_type.is_empty() {
                        "message".to_owned()
                    } else {
                        event_type.clone()
                    },
                    data: std::mem::take(&mut data),
                    last_event_id: last_event_id.clone(),
                    own_id,
                });
            }
            data.clear();
            event_type.clear();
            own_id = false;
            continue;
        }
        if let Some(comment) = line.strip_prefix(':') {
            parsed.comments.push(comment.to_owned());
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => event_type = value.to_owned(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" => {
                if !value.contains('\0') {
                    last_event_id = value.to_owned();
                    own_id = true;
                }
            }
            "retry" => {
                parsed.retry_fields.push(value.to_owned());
                if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                    parsed.retry = value.parse().ok();
                }
            }
            other => parsed.unknown_fields.push(other.to_owned()),
        }
    }
    parsed
}

#[test]
fn the_parser_follows_the_standard() {
    let parsed = parse_event_stream(
        "\u{feff}retry: 5\r\n: hi\r\nevent:a\rid: 1\ndata\r\ndata:  x\n\ndata: y\r\n\r\nid: 2\0\n\
         data: z\nfoo: bar\n\nevent: lost\ndata: never dispatched",
    );
    let events: Vec<(&str, &str, &str)> = parsed
        .events
        .iter()
        .map(|e| (e.name.as_str(), e.data.as_str(), e.last_event_id.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            ("a", "\n x", "1"),
            ("message", "y", "1"),
            ("message", "z", "1")
        ]
    );
    assert_eq!(parsed.retry, Some(5));
    assert_eq!(parsed.comments, [" hi"]);
    assert_eq!(parsed.unknown_fields, ["foo"]);
    // A blank line with no data dispatches nothing and forgets the event name.
    let parsed = parse_event_stream("event: x\n\ndata: 1\n\n");
    assert_eq!(parsed.events[0].name, "message");
    assert_eq!(parsed.events.len(), 1);
}

/// A stream body read as raw bytes.
struct RawStream {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    bytes: Vec<u8>,
    ended: bool,
}

impl RawStream {
    async fn open(app: &TestApp, path: &str, last_event_id: Option<i64>) -> RawStream {
        let mut request = app.client.get(app.url(path));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        RawStream {
            body: Box::pin(response.bytes_stream()),
            bytes: Vec::new(),
            ended: false,
        }
    }

    /// The bytes so far, parsed. A multi-byte character cut at the end waits for the rest;
    /// anything else that is not UTF-8 fails the test.
    fn parsed(&self) -> Parsed {
        let text = match std::str::from_utf8(&self.bytes) {
            Ok(text) => text,
            Err(e) if e.error_len().is_none() => {
                std::str::from_utf8(&self.bytes[..e.valid_up_to()]).unwrap()
            }
            Err(e) => panic!("the stream is not UTF-8: {e}"),
        };
        parse_event_stream(text)
    }

    /// Reads until `count` events have been dispatched; fails after 10 s.
    async fn until(&mut self, count: usize) -> Parsed {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let parsed = self.parsed();
            if parsed.events.len() >= count {
                return parsed;
            }
            assert!(!self.ended, "the stream ended after {parsed:#?}");
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.bytes.extend_from_slice(&chunk),
                Ok(Some(Err(e))) => panic!("the stream broke: {e}"),
                Ok(None) => self.ended = true,
                Err(_) => panic!("no event {count} within 10 s; so far {parsed:#?}"),
            }
        }
    }

    /// Reads for `wait` more (or to the end), so that anything extra would show.
    async fn settle(&mut self, wait: Duration) -> Parsed {
        let deadline = tokio::time::Instant::now() + wait;
        while !self.ended {
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.bytes.extend_from_slice(&chunk),
                Ok(Some(Err(e))) => panic!("the stream broke: {e}"),
                Ok(None) => self.ended = true,
                Err(_) => break,
            }
        }
        self.parsed()
    }
}

/// What a stream must show for one write.
struct Expected {
    name: &'static str,
    /// The job's version after the write: the event's id on the job's stream.
    version: i64,
    /// Fields the event's data must have, with exactly these values.
    fields: Value,
}

/// Asserts that nothing but events reached the client: one `retry:` field with the server's
/// value, heartbeat comments only, no other fields.
fn assert_clean(parsed: &Parsed, retry: u64) {
    assert_eq!(
        parsed.retry,
        Some(retry),
        "an injected retry: took effect: {:?}",
        parsed.retry_fields
    );
    assert_eq!(parsed.retry_fields, [retry.to_string()]);
    assert!(
        parsed.comments.iter().all(|c| c == " heartbeat"),
        "an injected comment: {:?}",
        parsed.comments
    );
    assert!(
        parsed.unknown_fields.is_empty(),
        "injected fields: {:?}",
        parsed.unknown_fields
    );
}

/// Asserts that `event` is named as `expected`, has an id of its own (on the job's stream the
/// job's version) and carries `expected.fields` in its JSON data.
fn assert_event(event: &SseEvent, expected: &Expected, job_stream: bool) {
    assert_eq!(event.name, expected.name, "{event:?}");
    assert!(event.own_id, "an event without its own id: {event:?}");
    if job_stream {
        assert_eq!(
            event.last_event_id,
            expected.version.to_string(),
            "{event:?}"
        );
    }
    let data: Value = serde_json::from_str(&event.data)
        .unwrap_or_else(|e| panic!("data is not JSON ({e}): {:?}", event.data));
    for (key, value) in expected.fields.as_object().unwrap() {
        assert_eq!(&data[key], value, "{key} in {event:?}");
    }
}

/// The two streams under test: one job's, and `/api/events`.
struct Streams {
    job: RawStream,
    all: RawStream,
    /// Events each must have dispatched so far (`/api/events` after its `ready`).
    on_job: Vec<Expected>,
    on_all: Vec<Expected>,
}

impl Streams {
    /// Records a write's expected events and waits until both streams have them, so that no
    /// two writes are ever folded into one event.
    async fn wrote(&mut self, job: Option<Expected>, all: Expected) {
        let job_before = self.on_job.len();
        if let Some(expected) = job {
            self.on_job.push(expected);
        }
        self.on_all.push(all);
        let parsed = self.job.until(self.on_job.len()).await;
        for (event, expected) in parsed.events.iter().zip(&self.on_job).skip(job_before) {
            assert_event(event, expected, true);
        }
        // After the `ready` event.
        let parsed = self.all.until(1 + self.on_all.len()).await;
        let event = &parsed.events[self.on_all.len()];
        assert_event(event, self.on_all.last().unwrap(), false);
    }
}

#[tokio::test]
async fn text_that_looks_like_sse_framing_stays_data_on_the_job_stream_and_on_api_events() {
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(60)).await;
    let retry = 100;
    let mut all = RawStream::open(&app, "/api/events", None).await;
    let ready = all.until(1).await.events[0].clone();
    assert_eq!(ready.name, "ready");

    let id = app.create_external().await;
    let created = app.job(&id).await["version"].as_i64().unwrap();
    let job = RawStream::open(&app, &format!("/api/jobs/{id}/stream"), None).await;
    let mut streams = Streams {
        job,
        all,
        on_job: Vec::new(),
        on_all: Vec::new(),
    };
    // The creation, on /api/events, and the job's state on connecting, on its stream.
    streams
        .wrote(
            Some(Expected {
                name: "progress",
                version: created,
                fields: json!({"status": "queued"}),
            }),
            Expected {
                name: "progress",
                version: created,
                fields: json!({"job_id": id, "status": "queued", "version": created}),
            },
        )
        .await;

    let mut log_versions = Vec::new();
    for (i, text) in HOSTILE.iter().enumerate() {
        let (status, job) = app
            .post_json(
                &format!("/api/jobs/{id}/progress"),
                &json!({"progress": i + 1, "message": text, "stage": text}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{job}");
        assert_eq!(job["message"], *text, "stored as sent");
        let version = job["version"].as_i64().unwrap();
        let state = json!({"status": "running", "progress": (i + 1) as f64, "message": text, "stage": text});
        let mut on_all = state.clone();
        on_all["version"] = json!(version);
        streams
            .wrote(
                Some(Expected {
                    name: "progress",
                    version,
                    fields: state,
                }),
                Expected {
                    name: "progress",
                    version,
                    fields: on_all.clone(),
                },
            )
            .await;

        let (status, line) = app
            .post_json(
                &format!("/api/jobs/{id}/logs"),
                &json!({"level": "warning", "message": text}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{line}");
        let version = app.job(&id).await["version"].as_i64().unwrap();
        log_versions.push(version);
        on_all["version"] = json!(version);
        streams
            .wrote(
                Some(Expected {
                    name: "log",
                    version,
                    fields: json!({"seq": i + 1, "level": "warning", "message": text}),
                }),
                Expected {
                    name: "progress",
                    version,
                    fields: on_all,
                },
            )
            .await;
    }

    // The result's keys and values are hostile too.
    let mut result = json!({"texts": HOSTILE});
    for (i, text) in HOSTILE.iter().enumerate() {
        result[*text] = json!(i);
    }
    let (status, job) = app
        .post_json(
            &format!("/api/jobs/{id}/complete"),
            &json!({"result": result}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    let completed = job["version"].as_i64().unwrap();
    streams
        .wrote(
            Some(Expected {
                name: "completed",
                version: completed,
                fields: json!({"status": "completed", "progress": 100.0, "result": result}),
            }),
            Expected {
                name: "completed",
                version: completed,
                fields: json!({"job_id": id, "status": "completed", "result": result, "version": completed}),
            },
        )
        .await;

    // A second job fails with every hostile text in its error and its details.
    let failing = app.create_external().await;
    let version = app.job(&failing).await["version"].as_i64().unwrap();
    streams
        .wrote(
            None,
            Expected {
                name: "progress",
                version,
                fields: json!({"job_id": failing, "status": "queued"}),
            },
        )
        .await;
    let error = HOSTILE.concat();
    let details = json!({"texts": HOSTILE, "first": HOSTILE[3]});
    let (status, job) = app
        .post_json(
            &format!("/api/jobs/{failing}/fail"),
            &json!({"error": error, "details": details}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    let failed = job["version"].as_i64().unwrap();
    streams
        .wrote(
            None,
            Expected {
                name: "failed",
                version: failed,
                fields: json!({"job_id": failing, "status": "failed", "error": error, "details": details, "version": failed}),
            },
        )
        .await;

    // Nothing more on either stream: the job's ends after its terminal event.
    let on_job = streams.job.settle(Duration::from_secs(2)).await;
    assert!(streams.job.ended, "the job stream ends after `completed`");
    assert_eq!(on_job.events.len(), streams.on_job.len(), "{on_job:#?}");
    let names: Vec<&str> = on_job.events.iter().map(|e| e.name.as_str()).collect();
    let mut expected_names = vec!["progress"];
    for _ in HOSTILE {
        expected_names.extend(["progress", "log"]);
    }
    expected_names.push("completed");
    assert_eq!(names, expected_names);
    assert_clean(&on_job, retry);
    assert_eq!(
        on_job.events.last().unwrap().last_event_id,
        completed.to_string()
    );

    let on_all = streams.all.settle(Duration::from_millis(500)).await;
    assert_eq!(on_all.events.len(), 1 + streams.on_all.len(), "{on_all:#?}");
    assert_eq!(on_all.events[0], ready);
    let ids: Vec<i64> = on_all
        .events
        .iter()
        .map(|e| e.last_event_id.parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    let mut expected_names = vec!["ready", "progress"];
    for _ in HOSTILE {
        expected_names.extend(["progress", "progress"]);
    }
    expected_names.extend(["completed", "progress", "failed"]);
    let names: Vec<&str> = on_all.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, expected_names);
    assert_clean(&on_all, retry);

    // A reconnect that saw only the first event gets every log line, then the end.
    let mut resumed = RawStream::open(&app, &format!("/api/jobs/{id}/stream"), Some(created)).await;
    let parsed = resumed.settle(Duration::from_secs(5)).await;
    assert!(resumed.ended);
    assert_eq!(parsed.events.len(), HOSTILE.len() + 1, "{parsed:#?}");
    for ((event, text), version) in parsed.events.iter().zip(HOSTILE).zip(&log_versions) {
        assert_event(
            event,
            &Expected {
                name: "log",
                version: *version,
                fields: json!({"message": text}),
            },
            true,
        );
    }
    assert_event(
        parsed.events.last().unwrap(),
        &Expected {
            name: "completed",
            version: completed,
            fields: json!({"result": result}),
        },
        true,
    );
    assert_clean(&parsed, retry);

    // A new connection to the failed job gets its one terminal event.
    let mut fresh = RawStream::open(&app, &format!("/api/jobs/{failing}/stream"), None).await;
    let parsed = fresh.settle(Duration::from_secs(5)).await;
    assert!(fresh.ended);
    assert_eq!(parsed.events.len(), 1, "{parsed:#?}");
    assert_event(
        &parsed.events[0],
        &Expected {
            name: "failed",
            version: failed,
            fields: json!({"status": "failed", "error": error, "details": details}),
        },
        true,
    );
    assert_clean(&parsed, retry);
}
