//! Hostile requests: malformed and deeply nested JSON, wrong types, invalid UTF-8, huge
//! numbers, path tricks, SQL-looking ids and fields, every wrong method on every route,
//! oversized bodies and header tricks. Each gets a JSON 4xx (or, where hyper answers before our
//! code runs, hyper's 4xx), never a 5xx; the server stays healthy and no stored job changes.
//!
//! The table machinery is shared with `bad_requests.rs`, whose cases are not repeated here.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::bad_requests::{
    case, dropped_by_hyper, fixture, invalid, refused_by_hyper, run_table, wire, wrong_method,
    Case, Fixture, MIB,
};
use crate::helpers::*;
use jobcast::http::routes::ROUTES;

/// `POST path` with a raw (not necessarily JSON) body.
fn post(
    path: impl Into<String>,
    status: u16,
    code: &'static str,
    body: impl Into<Vec<u8>>,
) -> Case {
    case(Method::POST, path, status, code).raw(body)
}

/// `method path`, expecting 404 `not_found`.
fn not_found(method: Method, path: impl Into<String>) -> Case {
    case(method, path, 404, "not_found")
}

/// A raw HTTP/1.1 request to `app`: the request line, `Host`, `extra` header lines,
/// `Connection: close`, then `body` as is (no `Content-Length` unless `extra` has one).
fn http(app: &TestApp, line: &str, extra: &[&str], body: &[u8]) -> Vec<u8> {
    let host = app.base.trim_start_matches("http://");
    let mut head = format!("{line}\r\nHost: {host}\r\n");
    for header in extra {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    request
}

/// `GET target` sent as is, so neither reqwest nor the url crate tidies `..` or `%2e` away.
fn get_raw(app: &TestApp, target: &str) -> Vec<u8> {
    http(app, &format!("GET {target} HTTP/1.1"), &[], b"")
}

/// `request` with the first `placeholder` replaced by `bytes` (which need not be UTF-8).
fn with_bytes(request: Vec<u8>, placeholder: &str, bytes: &[u8]) -> Vec<u8> {
    let at = request
        .windows(placeholder.len())
        .position(|w| w == placeholder.as_bytes())
        .expect("the placeholder is in the request");
    [&request[..at], bytes, &request[at + placeholder.len()..]].concat()
}

/// `depth` objects nested inside each other around `inner`: `{"a":{"a":...inner...}}`.
fn nested_objects(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

/// A JSON body `{"field": "xxx..."}` plus `rest`, longer than 1 MiB.
fn over_a_mebibyte(field: &str, rest: &str) -> Vec<u8> {
    let pad = "x".repeat(MIB + 1);
    format!(r#"{{"{field}": "{pad}"{rest}}}"#).into_bytes()
}

/// Wrong methods `bad_requests.rs` already tries.
const WRONG_METHODS_ELSEWHERE: &[(&str, &str)] = &[
    ("DELETE", "/api/jobs/{id}"),
    ("PUT", "/api/jobs"),
    ("GET", "/api/jobs/{id}/cancel"),
    ("POST", "/api/jobs/{id}/stream"),
    ("PATCH", "/api/jobs/{id}/progress"),
    ("POST", "/healthz"),
    ("DELETE", "/api/jobs/{id}/logs"),
];

/// Every method of GET, POST, PUT, DELETE and PATCH that a route does not allow, on every route
/// of the router's table: 405 with an `Allow` header that lists the route's methods and not
/// this one. `{id}` is a real job's id.
fn every_wrong_method(id: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for &(pattern, allowed) in ROUTES {
        let path = pattern.replace("{id}", id);
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ] {
            let elsewhere = WRONG_METHODS_ELSEWHERE.contains(&(method.as_str(), pattern));
            if !allowed.contains(&method.as_str()) && !elsewhere {
                cases.push(wrong_method(method, path.clone(), allowed[0]));
            }
        }
    }
    cases
}

#[tokio::test]
async fn hostile_requests_get_a_4xx_leave_the_server_healthy_and_change_no_stored_job() {
    let app = spawn_app().await;
    let Fixture {
        queued,
        running,
        done,
        ..
    } = fixture(&app).await;

    let jobs = "/api/jobs";
    let external = |extra: Value| {
        let mut body = json!({"type": "external"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let demo = |payload: Value| json!({"type": "demo", "payload": payload});
    let progress = format!("/api/jobs/{running}/progress");
    let logs = format!("/api/jobs/{running}/logs");
    let complete = format!("/api/jobs/{running}/complete");
    let fail = format!("/api/jobs/{running}/fail");
    let claim = "/api/workers/claim";
    let sql = "' OR 1=1 --";
    let sql_encoded = "%27%20OR%201%3D1%20--";
    let two_hundred_headers: Vec<String> = (0..200).map(|i| format!("X-H{i}: {i}")).collect();
    let two_hundred_headers: Vec<&str> = two_hundred_headers.iter().map(String::as_str).collect();

    let mut cases = vec![
        // Malformed JSON, other than bad_requests.rs's.
        post(jobs, 400, "malformed_json", r#"{"type": "external"}}"#),
        post(jobs, 400, "malformed_json", r#"{"type": 'external'}"#),
        post(jobs, 400, "malformed_json", r#"{"type": "external",}"#),
        post(
            jobs,
            400,
            "malformed_json",
            r#"{"type": "external" /* hi */}"#,
        ),
        post(
            jobs,
            400,
            "malformed_json",
            r#"{"type": "external"} {"type": "external"}"#,
        ),
        post(
            jobs,
            400,
            "malformed_json",
            "\u{feff}{\"type\": \"external\"}",
        ),
        case(Method::POST, jobs, 422, "invalid_field")
            .raw("null")
            .field("body"),
        post(&progress, 400, "malformed_json", r#"{"progress": 5"#),
        case(Method::POST, &logs, 422, "invalid_field")
            .raw(r#""just a string""#)
            .field("body"),
        post(&complete, 400, "malformed_json", r#"{"result": }"#),
        post(&fail, 400, "malformed_json", r#"{"error": "x""#),
        post(claim, 400, "malformed_json", r#"{types: ["external"]}"#),
        // (Deep nesting, past `limits.max_json_depth`, is in `limits_...` below.)
        // Invalid UTF-8 in a JSON string, an overlong encoding, a lone surrogate, UTF-16.
        post(
            jobs,
            400,
            "malformed_json",
            b"{\"type\": \"ext\xffernal\"}".to_vec(),
        ),
        post(
            &progress,
            400,
            "malformed_json",
            b"{\"progress\": 5, \"message\": \"\xc0\xaf\"}".to_vec(),
        ),
        post(&logs, 400, "malformed_json", r#"{"message": "\ud800"}"#),
        post(
            jobs,
            400,
            "malformed_json",
            "{\"type\": \"external\"}"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>(),
        ),
        // Wrong types for every field of a create (bad_requests.rs has a number and null for
        // `type`, a string and a fraction for `priority`, strings for `timeout` and `run_at`).
        invalid(jobs, json!({"type": ["external"]}), "type"),
        invalid(jobs, json!({"type": {"name": "external"}}), "type"),
        invalid(jobs, json!({"type": true}), "type"),
        invalid(jobs, demo(json!("steps=3")), "payload"),
        invalid(jobs, demo(json!([1, 2])), "payload"),
        invalid(jobs, demo(json!({"steps": [3]})), "payload.steps"),
        invalid(jobs, external(json!({"priority": "5"})), "priority"),
        invalid(jobs, external(json!({"priority": true})), "priority"),
        invalid(jobs, external(json!({"priority": [1]})), "priority"),
        invalid(jobs, external(json!({"max_attempts": "3"})), "max_attempts"),
        invalid(jobs, external(json!({"max_attempts": 2.5})), "max_attempts"),
        invalid(jobs, external(json!({"max_attempts": {}})), "max_attempts"),
        invalid(jobs, external(json!({"timeout": 30})), "timeout"),
        invalid(jobs, external(json!({"timeout": {"secs": 30}})), "timeout"),
        invalid(jobs, external(json!({"run_at": 1_767_225_600})), "run_at"),
        invalid(
            jobs,
            external(json!({"run_at": ["2026-01-01T00:00:00Z"]})),
            "run_at",
        ),
        invalid(
            jobs,
            external(json!({"idempotency_key": 5})),
            "idempotency_key",
        ),
        invalid(
            jobs,
            external(json!({"idempotency_key": {"k": 1}})),
            "idempotency_key",
        ),
        invalid(
            jobs,
            external(json!({"idempotency_key": true})),
            "idempotency_key",
        ),
        // Huge numbers. serde_json refuses a number past f64's range while parsing, so 1e400 is
        // malformed JSON; whole numbers past i64 are the wrong type for the field.
        post(
            jobs,
            400,
            "malformed_json",
            r#"{"type": "external", "priority": 1e400}"#,
        ),
        post(
            jobs,
            400,
            "malformed_json",
            r#"{"type": "external", "priority": -1e400}"#,
        ),
        case(Method::POST, jobs, 422, "invalid_field")
            .raw(r#"{"type": "external", "priority": 18446744073709551616}"#)
            .field("priority"),
        case(Method::POST, jobs, 422, "invalid_field")
            .raw(r#"{"type": "external", "priority": 9223372036854775808}"#)
            .field("priority"),
        case(Method::POST, jobs, 422, "invalid_field")
            .raw(r#"{"type": "external", "priority": -9223372036854775809}"#)
            .field("priority"),
        invalid(jobs, external(json!({"priority": i64::MIN})), "priority"),
        case(Method::POST, jobs, 422, "invalid_field")
            .raw(r#"{"type": "external", "max_attempts": 18446744073709551616}"#)
            .field("max_attempts"),
        case(Method::POST, jobs, 422, "invalid_field")
            .raw(r#"{"type": "external", "max_attempts": -9223372036854775809}"#)
            .field("max_attempts"),
        invalid(
            jobs,
            external(json!({"max_attempts": i64::MAX})),
            "max_attempts",
        ),
        case(Method::POST, jobs, 422, "invalid_field")
            .raw(r#"{"type": "demo", "payload": {"steps": 18446744073709551616}}"#)
            .field("payload.steps"),
        post(&progress, 400, "malformed_json", r#"{"progress": 1e400}"#),
        case(Method::POST, &progress, 422, "invalid_field")
            .raw(r#"{"progress": 5, "current": 18446744073709551616}"#)
            .field("current"),
        case(Method::POST, &progress, 422, "invalid_field")
            .raw(r#"{"progress": 5, "total": -9223372036854775809}"#)
            .field("total"),
        invalid(&progress, json!({"progress": 5, "current": -1}), "current"),
        // NaN and infinities: as strings they are the wrong type, bare they are not JSON.
        invalid(&progress, json!({"progress": "NaN"}), "progress"),
        invalid(&progress, json!({"progress": "Infinity"}), "progress"),
        invalid(&progress, json!({"progress": "-Infinity"}), "progress"),
        invalid(jobs, external(json!({"priority": "NaN"})), "priority"),
        post(&progress, 400, "malformed_json", r#"{"progress": NaN}"#),
        post(
            &progress,
            400,
            "malformed_json",
            r#"{"progress": Infinity}"#,
        ),
        post(
            &progress,
            400,
            "malformed_json",
            r#"{"progress": -Infinity}"#,
        ),
        // Path tricks, sent raw so that nothing on the way resolves `..` or `%2e%2e`.
        wire(
            get_raw(&app, "/api/jobs/../../etc/passwd"),
            404,
            "not_found",
        ),
        wire(
            get_raw(&app, "/api/jobs/%2e%2e/%2e%2e/etc/passwd"),
            404,
            "not_found",
        ),
        wire(
            get_raw(&app, "/api/jobs/..%2f..%2fetc%2fpasswd"),
            404,
            "not_found",
        ),
        wire(
            get_raw(
                &app,
                "/api/jobs/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
            ),
            404,
            "not_found",
        ),
        wire(get_raw(&app, "/../../../../etc/passwd"), 404, "not_found"),
        wire(get_raw(&app, "/%2e%2e/%2e%2e/etc/passwd"), 404, "not_found"),
        wire(get_raw(&app, "/..%5c..%5cetc%5cpasswd"), 404, "not_found"),
        wire(
            get_raw(&app, "/api/jobs/..\\..\\etc\\passwd"),
            404,
            "not_found",
        ),
        wire(get_raw(&app, "*"), 404, "not_found"),
        wire(get_raw(&app, "127.0.0.1:80"), 404, "not_found"),
        wire(get_raw(&app, "//api//jobs"), 404, "not_found"),
        wire(get_raw(&app, "/api/jobs/./"), 404, "not_found"),
        wire(
            get_raw(&app, "http://evil.example/api/jobs/../../etc/passwd"),
            404,
            "not_found",
        ),
        // `/api/jobs/{done}/../{queued}/cancel` must not cancel `queued`.
        wire(
            http(
                &app,
                &format!("POST /api/jobs/{done}/../{queued}/cancel HTTP/1.1"),
                &["Content-Length: 0"],
                b"",
            ),
            404,
            "not_found",
        ),
        not_found(Method::GET, format!("/api/jobs/{queued}%00")),
        not_found(Method::GET, "/api/jobs/%00/stream"),
        not_found(Method::GET, format!("/api/jobs/{queued}%2f..%2f{done}")),
        not_found(Method::GET, "/API/JOBS"),
        not_found(Method::GET, "/healthz/"),
        not_found(Method::GET, "/api/jobs;jsessionid=1"),
        // A NUL byte, a raw 0xff and a space in the request target: the request line is not
        // HTTP, answered by hyper.
        refused_by_hyper(get_raw(&app, "/api/jobs/\0"), 400),
        refused_by_hyper(
            with_bytes(get_raw(&app, "/api/jobs/BYTE"), "BYTE", &[0xff]),
            400,
        ),
        refused_by_hyper(
            http(&app, &format!("GET /api/jobs/{sql} HTTP/1.1"), &[], b""),
            400,
        ),
        // SQL-looking ids on every route that takes an id: not UUIDs, so 404.
        not_found(Method::GET, format!("/api/jobs/{sql}")),
        not_found(Method::GET, format!("/api/jobs/{sql_encoded}/stream")),
        not_found(Method::GET, "/api/jobs/1%27;DROP%20TABLE%20jobs;--/logs"),
        not_found(
            Method::POST,
            "/api/jobs/x' UNION SELECT id FROM jobs--/logs",
        )
        .json(&json!({"message": "hi"})),
        not_found(
            Method::POST,
            format!("/api/jobs/{queued}' OR '1'='1/cancel"),
        ),
        not_found(Method::POST, "/api/jobs/' OR ''='/retry"),
        not_found(Method::POST, format!("/api/jobs/{sql_encoded}/progress"))
            .json(&json!({"progress": 5})),
        not_found(Method::POST, "/api/jobs/1 OR 1=1/complete").json(&json!({})),
        not_found(Method::POST, "/api/jobs/\");DROP TABLE jobs;--/fail")
            .json(&json!({"error": "x"})),
        not_found(Method::GET, format!("/api/jobs/{queued}' OR '1'='1")),
        // SQL-looking fields.
        invalid(jobs, json!({"type": "external' OR '1'='1"}), "type"),
        invalid(
            jobs,
            json!({"type": "external\"; DROP TABLE jobs; --"}),
            "type",
        ),
        invalid(
            jobs,
            external(json!({"idempotency_key": sql.repeat(200)})),
            "idempotency_key",
        ),
        case(
            Method::GET,
            format!("/api/jobs?status={sql}"),
            422,
            "invalid_field",
        )
        .field("status"),
        case(
            Method::GET,
            "/api/jobs?status=queued%27%20OR%20%271%27%3D%271",
            422,
            "invalid_field",
        )
        .field("status"),
        case(
            Method::GET,
            format!("/api/jobs?cursor={sql}"),
            422,
            "invalid_field",
        )
        .field("cursor"),
        case(
            Method::GET,
            "/api/jobs?limit=1;DROP%20TABLE%20jobs",
            422,
            "invalid_field",
        )
        .field("limit"),
        case(
            Method::GET,
            format!("/api/jobs/{running}/logs?after=0 OR 1=1"),
            422,
            "invalid_field",
        )
        .field("after"),
        case(
            Method::GET,
            format!("/api/events?status={sql}"),
            422,
            "invalid_field",
        )
        .field("status"),
        case(
            Method::GET,
            format!("/api/events/token?status={sql}"),
            422,
            "invalid_field",
        )
        .field("status"),
        invalid(claim, json!({"types": [format!("external{sql}")]}), "types"),
        // A lease header that is SQL, too long, or not UTF-8.
        case(Method::POST, &progress, 409, "conflict")
            .json(&json!({"progress": 50}))
            .header("jobcast-lease", sql),
        case(Method::POST, &progress, 400, "bad_request")
            .json(&json!({"progress": 50}))
            .header("jobcast-lease", "a".repeat(65)),
        wire(
            with_bytes(
                http(
                    &app,
                    &format!("POST {progress} HTTP/1.1"),
                    &["Content-Length: 16", "Jobcast-Lease: LEASE"],
                    br#"{"progress": 50}"#,
                ),
                "LEASE",
                &[0xff, 0xfe],
            ),
            400,
            "bad_request",
        ),
        // Methods nobody allows anywhere, and a method in lower case (methods are
        // case-sensitive: `get` is not GET).
        wrong_method(Method::from_bytes(b"BREW").unwrap(), jobs, "GET"),
        wrong_method(Method::from_bytes(b"TRACE").unwrap(), "/healthz", "GET"),
        wrong_method(Method::from_bytes(b"get").unwrap(), "/healthz", "GET"),
        // Oversized bodies on every call that reads one.
        post(
            &progress,
            413,
            "payload_too_large",
            over_a_mebibyte("message", r#", "progress": 5"#),
        ),
        post(
            &logs,
            413,
            "payload_too_large",
            over_a_mebibyte("message", ""),
        ),
        post(
            &complete,
            413,
            "payload_too_large",
            over_a_mebibyte("result", ""),
        ),
        post(
            &fail,
            413,
            "payload_too_large",
            over_a_mebibyte("error", ""),
        ),
        post(
            claim,
            413,
            "payload_too_large",
            over_a_mebibyte("worker", r#", "types": ["external"]"#),
        ),
        // A declared length far past the limit is refused before any of the body is read;
        // with `Expect: 100-continue` the client never has to send it.
        wire(
            http(
                &app,
                "POST /api/jobs HTTP/1.1",
                &[
                    "Content-Type: application/json",
                    "Content-Length: 10737418240",
                ],
                br#"{"type": "external"}"#,
            ),
            413,
            "payload_too_large",
        ),
        wire(
            http(
                &app,
                "POST /api/jobs HTTP/1.1",
                &[
                    "Content-Type: application/json",
                    "Content-Length: 2097152",
                    "Expect: 100-continue",
                ],
                b"",
            ),
            413,
            "payload_too_large",
        ),
        // Header tricks. A Content-Length shorter than the body: the body is its first 5
        // bytes, which are not JSON (the rest is never read as a request: Connection: close).
        wire(
            http(
                &app,
                "POST /api/jobs HTTP/1.1",
                &["Content-Type: application/json", "Content-Length: 5"],
                br#"{"type": "external"}"#,
            ),
            400,
            "malformed_json",
        ),
        // A chunked body whose chunk size is not hex: the body cannot be read.
        wire(
            http(
                &app,
                "POST /api/jobs HTTP/1.1",
                &[
                    "Content-Type: application/json",
                    "Transfer-Encoding: chunked",
                ],
                b"zz\r\n{\"type\": \"external\"}\r\n0\r\n\r\n",
            ),
            400,
            "bad_request",
        ),
        // A chunk longer than its declared size: the body cannot be read.
        wire(
            http(
                &app,
                "POST /api/jobs HTTP/1.1",
                &[
                    "Content-Type: application/json",
                    "Transfer-Encoding: chunked",
                ],
                b"2\r\n{\"type\": \"external\"}\r\n0\r\n\r\n",
            ),
            400,
            "bad_request",
        ),
        // A chunk size past u64.
        wire(
            http(
                &app,
                "POST /api/jobs HTTP/1.1",
                &["Transfer-Encoding: chunked"],
                b"ffffffffffffffffffff\r\n{\"type\": \"external\"}\r\n0\r\n\r\n",
            ),
            400,
            "bad_request",
        ),
        // Request smuggling: with both Transfer-Encoding and Content-Length the chunked
        // framing wins (RFC 9112, 6.3), so the body read is the whole `{"type": "nope"}`
        // (422), not its first 5 bytes (400).
        wire(
            http(
                &app,
                "POST /api/jobs HTTP/1.1",
                &["Content-Length: 5", "Transfer-Encoding: chunked"],
                b"10\r\n{\"type\": \"nope\"}\r\n0\r\n\r\n",
            ),
            422,
            "invalid_field",
        )
        .field("type"),
        // Two equal lengths are one length (RFC 9112 allows taking them as such).
        wire(
            http(
                &app,
                "POST /api/jobs HTTP/1.1",
                &["Content-Length: 16", "Content-Length: 16"],
                br#"{"type": "nope"}"#,
            ),
            422,
            "invalid_field",
        )
        .field("type"),
        // Two different lengths: which body is meant? Answered by hyper, as are a length
        // with a sign and a list of lengths.
        refused_by_hyper(
            http(
                &app,
                "POST /api/jobs HTTP/1.1",
                &[
                    "Content-Type: application/json",
                    "Content-Length: 20",
                    "Content-Length: 5",
                ],
                br#"{"type": "external"}"#,
            ),
            400,
        ),
        refused_by_hyper(
            http(
                &app,
                "POST /api/jobs HTTP/1.1",
                &["Content-Length: +16"],
                br#"{"type": "nope"}"#,
            ),
            400,
        ),
        refused_by_hyper(
            http(
                &app,
                "POST /api/jobs HTTP/1.1",
                &["Content-Length: 16, 16"],
                br#"{"type": "nope"}"#,
            ),
            400,
        ),
        // A length that is negative, or past u64. Answered by hyper.
        refused_by_hyper(
            http(
                &app,
                "POST /api/jobs HTTP/1.1",
                &["Content-Length: -1"],
                b"",
            ),
            400,
        ),
        refused_by_hyper(
            http(
                &app,
                "POST /api/jobs HTTP/1.1",
                &["Content-Length: 99999999999999999999999"],
                b"",
            ),
            400,
        ),
        // A header name with a space, a folded header line, no request line at all, and the
        // HTTP/2 preface on an HTTP/1.1 server. Answered by hyper.
        refused_by_hyper(
            http(&app, "GET /healthz HTTP/1.1", &["Bad Header: x"], b""),
            400,
        ),
        refused_by_hyper(
            http(&app, "GET /healthz HTTP/1.1", &["X-Folded: a", " b"], b""),
            400,
        ),
        refused_by_hyper(b"HELLO\r\n\r\n".to_vec(), 400),
        // hyper (HTTP/1 only here) hangs up on the HTTP/2 preface without a word.
        dropped_by_hyper(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
        // An unknown HTTP version, a lower-case one, a CR or a NUL inside a header value
        // (header injection), a space before a header's colon, a tab in the request target.
        // Answered by hyper.
        refused_by_hyper(http(&app, "GET /healthz HTTP/9.9", &[], b""), 400),
        refused_by_hyper(http(&app, "GET /healthz http/1.1", &[], b""), 400),
        refused_by_hyper(
            http(
                &app,
                "GET /healthz HTTP/1.1",
                &["X-A: a\rSet-Cookie: b"],
                b"",
            ),
            400,
        ),
        refused_by_hyper(
            http(&app, "GET /healthz HTTP/1.1", &["X-A: a\0b"], b""),
            400,
        ),
        refused_by_hyper(http(&app, "GET /healthz HTTP/1.1", &["X-A : a"], b""), 400),
        refused_by_hyper(get_raw(&app, "/api/jobs/\tx"), 400),
        // A request target longer than the URI type holds (64 KiB): hyper's 414.
        refused_by_hyper(
            get_raw(&app, &format!("/api/jobs/{}", "a".repeat(70_000))),
            414,
        ),
        // A megabyte of cookie and two hundred headers, far past what hyper buffers or counts:
        // answered by hyper.
        refused_by_hyper(
            http(
                &app,
                "GET /healthz HTTP/1.1",
                &[&format!("Cookie: c={}", "x".repeat(MIB))],
                b"",
            ),
            431,
        ),
        refused_by_hyper(
            http(&app, "GET /healthz HTTP/1.1", &two_hundred_headers, b""),
            431,
        ),
    ];
    cases.extend(every_wrong_method(&queued));
    assert!(cases.len() >= 45, "{} cases", cases.len());
    run_table(&app, &cases).await;
    assert_eq!(app.count_jobs().await, 4);
}

#[tokio::test]
async fn a_12_kib_cookie_still_works() {
    let app = spawn_app().await;
    let cookie = format!("session={}", "c".repeat(12 * 1024));
    let response = app
        .client
        .post(app.url("/api/jobs"))
        .header("cookie", &cookie)
        .json(&json!({"type": "external"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let job = body_json(response).await;
    let response = app
        .client
        .get(app.url(&format!("/api/jobs/{}", job["id"].as_str().unwrap())))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await, job);
}

#[tokio::test]
async fn sql_looking_text_is_stored_and_matched_as_text() {
    let app = spawn_app().await;
    let key = "'; DROP TABLE jobs; --";
    let message = "1' OR '1'='1\"; DELETE FROM jobs WHERE ''='";
    let job = app
        .create(json!({"type": "external", "idempotency_key": key, "payload": {"q": message}}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(job["idempotency_key"], key);
    assert_eq!(job["payload"]["q"], message);
    // The same key finds the same job, and nothing else.
    let (status, again) = app
        .post_json(
            "/api/jobs",
            &json!({"type": "external", "idempotency_key": key}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], id.as_str());
    let other = app
        .create(json!({"type": "external", "idempotency_key": "' OR 1=1 --"}))
        .await;
    assert_ne!(other["id"], id.as_str());

    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{id}/progress"),
            &json!({"progress": 1, "message": message, "stage": key}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, line) = app
        .post_json(
            &format!("/api/jobs/{id}/logs"),
            &json!({"message": message}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(line["message"], message);
    let stored = app.job(&id).await;
    assert_eq!(stored["message"], message);
    assert_eq!(stored["stage"], key);

    // A type filter that is SQL matches no type.
    for filter in [
        "external' OR '1'='1",
        "external%27%20OR%20%271%27%3D%271",
        "%25",
    ] {
        let (status, page) = app.get(&format!("/api/jobs?type={filter}")).await;
        assert_eq!(status, StatusCode::OK, "{filter}: {page}");
        assert_eq!(page["jobs"], json!([]), "{filter}");
    }
    assert_eq!(app.count_jobs().await, 2);
}

/// A request head of about `bytes` bytes in one cookie.
fn big_cookie(bytes: usize) -> String {
    format!("c={}", "x".repeat(bytes))
}

/// `limits.*` (being added alongside these tests): JSON nested deeper than
/// `max_json_depth` is 400 `json_too_deep`; a request head over `max_header_bytes` is 431
/// `headers_too_large`; a payload, result or details over `max_payload_bytes` as JSON is 422
/// naming it.
#[tokio::test]
async fn limits_refuse_deep_json_large_heads_and_large_payloads_with_json_answers() {
    let app = spawn_app().await;
    let Fixture { running, .. } = fixture(&app).await;
    let jobs = "/api/jobs";
    let progress = format!("/api/jobs/{running}/progress");
    let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let too_deep = |path: &str, body: String| post(path, 400, "json_too_deep", body);
    // Serialized, `{"pad":"xx..."}` is 10 bytes more than its padding.
    let big = |bytes: usize| json!({"pad": "x".repeat(bytes - 10)});
    let over = 256 * 1024 + 1;

    let cases = vec![
        too_deep(jobs, "[".repeat(10_000)),
        too_deep(jobs, deep(10_000)),
        too_deep(jobs, "{\"a\":".repeat(10_000)),
        too_deep(
            jobs,
            format!(
                r#"{{"type": "external", "payload": {}}}"#,
                nested_objects(100, "1")
            ),
        ),
        // The body's own object is level 1: a payload 32 deep makes 33.
        too_deep(
            jobs,
            format!(
                r#"{{"type": "external", "payload": {}}}"#,
                nested_objects(32, "1")
            ),
        ),
        too_deep(&progress, format!(r#"{{"progress": {}}}"#, deep(40))),
        too_deep(
            &format!("/api/jobs/{running}/logs"),
            format!(r#"{{"message": {}}}"#, deep(40)),
        ),
        too_deep(
            &format!("/api/jobs/{running}/complete"),
            format!(r#"{{"result": {}}}"#, nested_objects(40, "null")),
        ),
        too_deep(
            &format!("/api/jobs/{running}/fail"),
            format!(r#"{{"error": "x", "details": {}}}"#, deep(40)),
        ),
        too_deep(
            "/api/workers/claim",
            format!(r#"{{"types": {}}}"#, deep(40)),
        ),
        // Brackets inside strings are text, not nesting.
        invalid(
            jobs,
            json!({"type": "nope", "payload": "[".repeat(10_000)}),
            "type",
        ),
        // Heads over 32 KiB, in one header or in many.
        case(Method::GET, jobs, 431, "headers_too_large").header("cookie", big_cookie(40 * 1024)),
        {
            let mut c = case(Method::GET, jobs, 431, "headers_too_large");
            for name in [
                "x-pad-0", "x-pad-1", "x-pad-2", "x-pad-3", "x-pad-4", "x-pad-5", "x-pad-6",
                "x-pad-7", "x-pad-8", "x-pad-9",
            ] {
                c = c.header(name, "p".repeat(4 * 1024));
            }
            c
        },
        // Payloads, results and details over 256 KiB as JSON.
        invalid(
            jobs,
            json!({"type": "external", "payload": big(over)}),
            "payload",
        ),
        invalid(
            format!("/api/jobs/{running}/complete"),
            json!({"result": big(over)}),
            "result",
        ),
        invalid(
            format!("/api/jobs/{running}/fail"),
            json!({"error": "x", "details": big(over)}),
            "details",
        ),
    ];
    run_table(&app, &cases).await;

    // Just inside each limit is fine.
    let (status, job) = app
        .post_raw(
            jobs,
            format!(
                r#"{{"type": "external", "payload": {}}}"#,
                nested_objects(31, "1")
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let (status, job) = app
        .post_json(
            jobs,
            &json!({"type": "external", "payload": big(256 * 1024)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let response = app
        .client
        .get(app.url(jobs))
        .header("cookie", big_cookie(28 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn limits_on_depth_head_and_payload_size_are_configurable() {
    let app = spawn_app_with(|c| {
        c.limits.max_json_depth = 4;
        c.limits.max_header_bytes = 8 * 1024;
        c.limits.max_payload_bytes = 1024;
    })
    .await;
    let with_payload = |payload: String| format!(r#"{{"type": "external", "payload": {payload}}}"#);
    let (status, answer) = app
        .post_raw("/api/jobs", with_payload(nested_objects(4, "1")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"], "json_too_deep");
    let (status, answer) = app
        .post_raw("/api/jobs", with_payload(nested_objects(3, "1")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    let (status, answer) = app
        .post_json(
            "/api/jobs",
            &json!({"type": "external", "payload": "x".repeat(1023)}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["field"], "payload");
    let (status, answer) = app
        .post_json(
            "/api/jobs",
            &json!({"type": "external", "payload": "x".repeat(1022)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    for (bytes, expected) in [(10 * 1024, 431), (6 * 1024, 200)] {
        let response = app
            .client
            .get(app.url("/api/jobs"))
            .header("cookie", big_cookie(bytes))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            expected,
            "a {bytes}-byte cookie"
        );
        if expected == 431 {
            assert_eq!(body_json(response).await["error"], "headers_too_large");
        }
    }
    assert_eq!(app.count_jobs().await, 2);
}
