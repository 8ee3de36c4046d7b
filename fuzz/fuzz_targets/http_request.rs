//! `http_request`: request parsing and validation end to end, against a real jobcast server.
//!
//! Once per process a tokio runtime starts a jobcast `Application` on 127.0.0.1:0 with a fresh
//! SQLite file, job types `external` and `demo`, and short stream timings. Each input becomes
//! one HTTP/1.1 request written over a fresh TCP connection:
//!
//! - **raw mode** (first byte `0xF0..=0xFF`): the rest of the input is sent as it is;
//! - **structured mode** (any other first byte): the input is read as
//!
//!   ```text
//!   [method byte][route byte][id byte]PATH-LINE\nID-LINE\nQUERY-LINE\nHEADER\n...\n\nBODY
//!   ```
//!
//!   The method byte picks from [`METHODS`]. The route byte picks a path template from the
//!   router's own table (`jobcast::http::routes::ROUTES`, so new routes are fuzzed with no
//!   change here), or, when `0x80` or above, takes PATH-LINE as the template (the committed
//!   seeds do this, so they keep their routes when the table changes order). The id byte
//!   says what fills `{id}` ([`IdChoice`]: a fresh external or demo job made for this input,
//!   a long-lived one, an unknown UUID, or ID-LINE). QUERY-LINE becomes the query string;
//!   each `Name: value` line a header; the rest is the body, always with a correct
//!   `Content-Length`. Everything is made valid on the wire (percent-encoding in the target,
//!   bytes a header cannot hold dropped); missing parts are empty.
//!
//! Checked for every response (see [`check`]):
//! - the server answers with a status line (a dropped connection without one is how a panic
//!   in the connection task shows; in this process any panic also aborts at once through
//!   libFuzzer's panic hook, with the input saved);
//! - the status is not 5xx (except 503 `queue_full`, a documented limit);
//! - a 4xx carries `Content-Type: application/json` and a JSON object with string `error` and
//!   `message`, unless it is hyper's own answer to a request it could not parse (400, 414,
//!   431 or 505 with no `Content-Type` and an empty body);
//! - a JSON success body is JSON;
//! - every [`HEALTH_EVERY`] inputs, `GET /healthz` answers 200.
//!
//! A raw request that is incomplete (by `httparse`'s reading) may go unanswered; the write
//! side is then shut so the server sees the end, and any answer that does come is checked.
//! A `POST /api/workers/claim` may legitimately long-poll past the response timeout.

#![no_main]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use jobcast::config::{JobKind, JobTypeConfig};
use jobcast::{Application, Config};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// How long a complete request may take to be answered. The slowest legitimate handler is a
/// cancel of a running job, which waits up to 1 s for the runner.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for an answer to an incomplete raw request (after shutting the write
/// side), just to check one if it comes.
const INCOMPLETE_TIMEOUT: Duration = Duration::from_millis(500);
/// Largest response body read for checking.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// `GET /healthz` every this many inputs.
const HEALTH_EVERY: u64 = 64;

const METHODS: &[&str] = &[
    "GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "PATCH", "TRACE", "CONNECT", "FOO",
];

/// The path template for the route byte: a row of the router's table, or `None` for "use
/// PATH-LINE".
fn route(byte: u8) -> Option<&'static str> {
    if byte >= 0x80 {
        return None;
    }
    let routes = jobcast::http::routes::ROUTES;
    Some(routes[usize::from(byte) % routes.len()].0)
}

/// What fills `{id}`.
#[derive(Debug, Clone, Copy)]
enum IdChoice {
    /// An `external` job created for this input (queued, unclaimed): the update calls work.
    FreshExternal,
    /// A short `demo` job created for this input (queued or running).
    FreshDemo,
    /// An `external` job created at start and shared by all inputs.
    SharedExternal,
    /// A `demo` job created at start (long finished).
    SharedDemo,
    /// A well-formed UUID no job has.
    Unknown,
    /// ID-LINE, percent-encoded as one path segment.
    Line,
}

const ID_CHOICES: &[IdChoice] = &[
    IdChoice::FreshExternal,
    IdChoice::FreshDemo,
    IdChoice::SharedExternal,
    IdChoice::SharedDemo,
    IdChoice::Unknown,
    IdChoice::Line,
];

struct Server {
    addr: SocketAddr,
    shared_external: String,
    shared_demo: String,
    /// Kept alive for the life of the process (never dropped: the database folder stays in
    /// the temp dir, named `jobcast-fuzz-*`). `None` when fuzzing a server at
    /// `JOBCAST_FUZZ_ADDR`.
    _runtime: Option<tokio::runtime::Runtime>,
    _dir: Option<tempfile::TempDir>,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static INPUTS: AtomicU64 = AtomicU64::new(0);

fn server() -> &'static Server {
    SERVER.get_or_init(start)
}

fn start() -> Server {
    // libFuzzer's C `main` replaces Rust's, which would have set SIGPIPE to ignored as it does
    // in the jobcast binary. Without this, a server write to a socket the client already
    // closed (`writev`, which unlike `send` has no MSG_NOSIGNAL) would kill the whole run.
    // SAFETY: only changes the process-wide disposition of SIGPIPE to "ignore"; no handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    // `JOBCAST_FUZZ_ADDR=HOST:PORT` fuzzes a server that is already running instead (a release
    // build with its own config, say; it needs open auth and the `external` and `demo` types).
    if let Some(addr) = std::env::var_os("JOBCAST_FUZZ_ADDR") {
        let addr: SocketAddr = addr
            .to_str()
            .and_then(|a| a.parse().ok())
            .expect("JOBCAST_FUZZ_ADDR is HOST:PORT");
        return Server {
            addr,
            shared_external: try_create_job(addr, SHARED_EXTERNAL).unwrap(),
            shared_demo: try_create_job(addr, SHARED_DEMO).unwrap(),
            _runtime: None,
            _dir: None,
        };
    }
    let dir = tempfile::Builder::new()
        .prefix("jobcast-fuzz-")
        .tempdir()
        .expect("temp dir");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite://{}", dir.path().join("jobs.db").display()),
        ..Config::default()
    };
    config.job_types.clear();
    config
        .job_types
        .insert("external".to_owned(), JobTypeConfig::new(JobKind::External));
    config.job_types.insert(
        "demo".to_owned(),
        JobTypeConfig {
            max_attempts: 1,
            ..JobTypeConfig::new(JobKind::Demo)
        },
    );
    config.stream.poll_interval = Duration::from_millis(50);
    config.stream.heartbeat = Duration::from_millis(100);
    config.stream.max_duration = Duration::from_millis(200);
    config.stream.close_delay = Duration::ZERO;
    config.stream.retry = Duration::from_millis(100);
    config.runner.poll_interval = Duration::from_millis(50);
    config.runner.lease = Duration::from_secs(2);
    config.runner.grace_period = Duration::from_millis(100);
    config.runner.retry_base = Duration::from_millis(20);
    config.runner.retry_max = Duration::from_millis(200);
    config.uploads.max_bytes = 256 * 1024;
    config.uploads.keep_unused = Duration::from_secs(1);
    // Fuzz validation, not the creation throttle: thousands of jobs a minute come from one
    // address. The other limits (sizes, depth, streams) stay at their defaults.
    config.limits.create_rate = 1e9;
    config.limits.create_burst = u32::MAX;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let app = runtime
        .block_on(Application::builder(config).build())
        .expect("jobcast application builds");
    let addr = app.local_addr();
    runtime.spawn(app.run_until_stopped(std::future::pending()));

    Server {
        addr,
        shared_external: try_create_job(addr, SHARED_EXTERNAL).unwrap(),
        shared_demo: try_create_job(addr, SHARED_DEMO).unwrap(),
        _runtime: Some(runtime),
        _dir: Some(dir),
    }
}

const SHARED_EXTERNAL: &str = r#"{"type":"external","payload":{"shared":true}}"#;
const SHARED_DEMO: &str = r#"{"type":"demo","payload":{"steps":1,"step_ms":0}}"#;

/// A well-formed job id no job has.
const UNKNOWN_ID: &str = "0190a6f2-7c3b-7d2e-9f00-000000000000";

/// A fresh job for one input: its id, or when the server's limits refuse (429
/// `too_many_requests`, 503 `queue_full`: possible in long runs) the matching shared job.
fn create_job(server: &Server, body: &str) -> String {
    static WARNED: std::sync::Once = std::sync::Once::new();
    match try_create_job(server.addr, body) {
        Ok(id) => id,
        Err(response) => {
            WARNED.call_once(|| {
                eprintln!(
                    "http_request: a fresh job was refused ({} {}), using the shared jobs \
                     instead from now on when that happens",
                    response.status,
                    response.body.as_deref().map(show).unwrap_or_default()
                )
            });
            if body.contains("external") {
                server.shared_external.clone()
            } else {
                server.shared_demo.clone()
            }
        }
    }
}

/// `POST /api/jobs` with `body`: the new job's id, or a response refused by the server's
/// limits (429, 503 `queue_full`). Anything else is a failure.
fn try_create_job(addr: SocketAddr, body: &str) -> Result<String, Response> {
    let request = format!(
        "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    match exchange(addr, request.as_bytes(), true, false, RESPONSE_TIMEOUT) {
        Outcome::Response(response) if response.status == 201 => {
            let json: Value = serde_json::from_slice(response.body.as_deref().unwrap_or_default())
                .expect("201 body is JSON");
            Ok(json["id"].as_str().expect("job has an id").to_owned())
        }
        Outcome::Response(response) if is_limit(&response) => Err(response),
        other => panic!("creating a job with {body} failed: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client over a blocking socket: it keeps what arrived, so a missing or
// partial answer is visible.

#[derive(Debug)]
struct Response {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    /// `None` when not read: HEAD, 204, a success that is not JSON (assets, event streams),
    /// or too large.
    body: Option<Vec<u8>>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
enum Outcome {
    Response(Response),
    /// The server closed (or reset) the connection before a full status line and headers.
    Closed {
        received: Vec<u8>,
        error: Option<String>,
    },
    /// Nothing complete within the time allowed.
    TimedOut {
        received: Vec<u8>,
    },
    /// Bytes that are not an HTTP response.
    Garbage {
        received: Vec<u8>,
        error: String,
    },
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    deadline: Instant,
    eof: bool,
}

enum Fill {
    More,
    Eof(Option<String>),
    TimedOut,
}

impl Conn {
    /// Reads what is there, waiting at most until the deadline.
    fn fill(&mut self) -> Fill {
        if self.eof {
            return Fill::Eof(None);
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Fill::TimedOut;
        }
        let _ = self.stream.set_read_timeout(Some(left));
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Fill::Eof(None);
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Fill::More;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Fill::TimedOut
                }
                Err(e) => {
                    self.eof = true;
                    return Fill::Eof(Some(e.to_string()));
                }
            }
        }
    }
}

/// Sends `request` on a new connection and reads one final (non-1xx) response. The body is
/// read when `want_body` (and the request was not HEAD); a body of unknown length is read to
/// the end of the connection. `complete` says whether the request is whole: if not, the write
/// side is shut so the server sees its end.
fn exchange(
    addr: SocketAddr,
    request: &[u8],
    complete: bool,
    head: bool,
    timeout: Duration,
) -> Outcome {
    let stream = TcpStream::connect_timeout(&addr, timeout).expect("connect to jobcast");
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
        deadline: Instant::now() + timeout,
        eof: false,
    };
    // The server may answer (and close) before taking the whole request, for example a 400
    // for a bad request line: a failed write is not the end, what was answered is read.
    let _ = conn.stream.set_write_timeout(Some(timeout));
    let write_error = conn.stream.write_all(request).err();
    if !complete || write_error.is_some() {
        let _ = conn.stream.shutdown(Shutdown::Write);
    }
    let write_error = write_error.map(|e| format!("write: {e}"));

    // Status line and headers, skipping any 1xx.
    let (status, reason, headers) = loop {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut slots);
        match parsed.parse(&conn.buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = parsed.code.unwrap_or(0);
                let reason = parsed.reason.unwrap_or("").to_owned();
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_owned(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                conn.buf.drain(..len);
                if (100..200).contains(&status) {
                    continue;
                }
                break (status, reason, headers);
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => {
                return Outcome::Garbage {
                    received: conn.buf,
                    error: e.to_string(),
                }
            }
        }
        match conn.fill() {
            Fill::More => {}
            Fill::Eof(error) => {
                return Outcome::Closed {
                    received: conn.buf,
                    error: error.or(write_error),
                }
            }
            Fill::TimedOut => return Outcome::TimedOut { received: conn.buf },
        }
    };
    let mut response = Response {
        status,
        reason,
        headers,
        body: None,
    };
    // Only error bodies and JSON bodies are checked; the rest (assets, event streams) is left.
    let json = response
        .header("content-type")
        .is_some_and(|ct| ct.starts_with("application/json"));
    if head || status == 204 || status == 304 || (status < 400 && !json) {
        return Outcome::Response(response);
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let length = response
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok());
    response.body = if chunked {
        read_chunked(&mut conn)
    } else if let Some(length) = length {
        read_exact_len(&mut conn, length)
    } else {
        read_to_end(&mut conn)
    };
    Outcome::Response(response)
}

fn read_exact_len(conn: &mut Conn, length: usize) -> Option<Vec<u8>> {
    if length > MAX_BODY {
        return None;
    }
    while conn.buf.len() < length {
        if !matches!(conn.fill(), Fill::More) {
            return Some(std::mem::take(&mut conn.buf)); // short: the checks will see it
        }
    }
    conn.buf.truncate(length);
    Some(std::mem::take(&mut conn.buf))
}

fn read_to_end(conn: &mut Conn) -> Option<Vec<u8>> {
    while conn.buf.len() <= MAX_BODY {
        if !matches!(conn.fill(), Fill::More) {
            return Some(std::mem::take(&mut conn.buf));
        }
    }
    None
}

fn read_chunked(conn: &mut Conn) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        // Chunk size line.
        let line_end = loop {
            if let Some(i) = conn.buf[pos..].windows(2).position(|w| w == b"\r\n") {
                break pos + i;
            }
            if !matches!(conn.fill(), Fill::More) {
                return Some(body);
            }
        };
        let line = String::from_utf8_lossy(&conn.buf[pos..line_end]).into_owned();
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16).ok()?;
        pos = line_end + 2;
        if size == 0 {
            return Some(body);
        }
        if body.len() + size > MAX_BODY {
            return None;
        }
        while conn.buf.len() < pos + size + 2 {
            if !matches!(conn.fill(), Fill::More) {
                return Some(body);
            }
        }
        body.extend_from_slice(&conn.buf[pos..pos + size]);
        pos += size + 2;
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs to requests.

/// One request to send and what may be expected of its answer.
struct Plan {
    bytes: Vec<u8>,
    /// The request is whole: an answer is owed.
    complete: bool,
    head: bool,
    /// A worker claim may long-poll: no answer within the timeout is fine.
    may_long_poll: bool,
}

fn pct(out: &mut String, byte: u8, keep: impl Fn(u8) -> bool) {
    if keep(byte) {
        out.push(byte as char);
    } else {
        out.push_str(&format!("%{byte:02X}"));
    }
}

/// Bytes that may appear as they are in a path segment (RFC 3986 pchar, plus `%` so the
/// fuzzer can write its own escapes, valid or not).
fn pchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%".contains(&b)
}

fn query_char(b: u8) -> bool {
    pchar(b) || b == b'/' || b == b'?'
}

fn segment(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        pct(&mut out, b, pchar);
    }
    out
}

/// Splits at the first `\n`.
fn line(rest: &[u8]) -> (&[u8], &[u8]) {
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[]),
    }
}

fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `body` holds a whole chunked body (chunks, the last chunk, trailers, blank line).
fn chunked_complete(mut body: &[u8]) -> bool {
    loop {
        let Some(end) = body.windows(2).position(|w| w == b"\r\n") else {
            return false;
        };
        let size_text = String::from_utf8_lossy(&body[..end]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            // A bad chunk size: the server answers 400 at once.
            return true;
        };
        body = &body[end + 2..];
        if size == 0 {
            // Trailers end at a blank line.
            return body.starts_with(b"\r\n") || body.windows(4).any(|w| w == b"\r\n\r\n");
        }
        if body.len() < size + 2 {
            return false;
        }
        body = &body[size + 2..];
    }
}

fn plan_raw(bytes: &[u8]) -> Plan {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut slots);
    let parsed = request.parse(bytes);
    let head = request.method == Some("HEAD");
    let may_long_poll = request
        .path
        .is_some_and(|p| p.starts_with("/api/workers/claim"));
    let complete = match parsed {
        Ok(httparse::Status::Complete(head_len)) => {
            let mut lengths = request
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("content-length"));
            let chunked = request
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
            let length = match (lengths.next(), lengths.next()) {
                (None, _) => Some(0),
                (Some(h), None) => std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok()),
                (Some(_), Some(_)) => None,
            };
            let body = &bytes[head_len..];
            if chunked {
                chunked_complete(body)
            } else {
                length.is_some_and(|len| len <= body.len())
            }
        }
        _ => false,
    };
    Plan {
        bytes: bytes.to_vec(),
        complete,
        head,
        may_long_poll,
    }
}

fn plan_structured(data: &[u8], server: &Server) -> Plan {
    let method = METHODS[usize::from(data[0]) % METHODS.len()];
    let route = route(*data.get(1).unwrap_or(&0));
    let id_choice = ID_CHOICES[usize::from(*data.get(2).unwrap_or(&0)) % ID_CHOICES.len()];
    let rest = data.get(3..).unwrap_or_default();
    let (path_line, rest) = line(rest);
    let (id_line, rest) = line(rest);
    let (query_line, mut rest) = line(rest);
    let mut headers = Vec::new();
    loop {
        if rest.is_empty() {
            break;
        }
        let (header, after) = line(rest);
        rest = after;
        if header.is_empty() {
            break;
        }
        headers.push(header);
    }
    let body = rest;

    // The template: `{id}` stands for one path segment, the rest goes out as it is (made a
    // valid request target).
    let template = match route {
        Some(template) => template.to_owned(),
        None => {
            let mut path = String::from("/");
            let raw = path_line.strip_prefix(b"/").unwrap_or(path_line);
            for &b in raw {
                pct(&mut path, b, |b| {
                    pchar(b) || b == b'/' || b == b'{' || b == b'}'
                });
            }
            path
        }
    };
    let path = if template.contains("{id}") {
        let id = match id_choice {
            IdChoice::FreshExternal => create_job(server, r#"{"type":"external"}"#),
            IdChoice::FreshDemo => create_job(
                server,
                r#"{"type":"demo","payload":{"steps":3,"step_ms":30}}"#,
            ),
            IdChoice::SharedExternal => server.shared_external.clone(),
            IdChoice::SharedDemo => server.shared_demo.clone(),
            IdChoice::Unknown => UNKNOWN_ID.to_owned(),
            IdChoice::Line => segment(id_line),
        };
        template.replace("{id}", &id)
    } else {
        template
    };
    // Braces are not valid in a request target: any left are escaped.
    let path = path.replace('{', "%7B").replace('}', "%7D");

    let mut out = Vec::with_capacity(data.len() + 128);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    if !query_line.is_empty() {
        out.push(b'?');
        let mut query = String::new();
        for &b in query_line {
            pct(&mut query, b, query_char);
        }
        out.extend_from_slice(query.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for header in headers {
        let (name, value) = match header.iter().position(|&b| b == b':') {
            Some(i) => (&header[..i], &header[i + 1..]),
            None => (header, &[][..]),
        };
        let name: Vec<u8> = name.iter().copied().filter(|&b| tchar(b)).collect();
        let lower = name.to_ascii_lowercase();
        if name.is_empty()
            || lower == b"content-length"
            || lower == b"transfer-encoding"
            || lower == b"host"
        {
            continue;
        }
        out.extend_from_slice(&name);
        out.extend_from_slice(b": ");
        let value = value.strip_prefix(b" ").unwrap_or(value);
        out.extend(
            value
                .iter()
                .copied()
                .filter(|&b| b == b'\t' || (b >= 0x20 && b != 0x7F)),
        );
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Plan {
        bytes: out,
        complete: true,
        head: method == "HEAD",
        may_long_poll: path.starts_with("/api/workers/claim"),
    }
}

// ---------------------------------------------------------------------------------------------
// The checks.

fn show(bytes: &[u8]) -> String {
    const MAX: usize = 2048;
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]).into_owned();
    if bytes.len() > MAX {
        format!("{shown:?}... ({} bytes)", bytes.len())
    } else {
        format!("{shown:?}")
    }
}

fn check(plan: &Plan, outcome: Outcome) {
    let request = show(&plan.bytes);
    let response = match outcome {
        Outcome::Response(response) => response,
        Outcome::Closed { received, error } if plan.complete => panic!(
            "the connection closed without a response (a panic in the connection task?)\n\
             request: {request}\nreceived: {}\nerror: {error:?}",
            show(&received)
        ),
        Outcome::TimedOut { received } if plan.complete && !plan.may_long_poll => panic!(
            "no response within {RESPONSE_TIMEOUT:?}\nrequest: {request}\nreceived: {}",
            show(&received)
        ),
        Outcome::Garbage { received, error } => panic!(
            "the server's answer is not HTTP ({error})\nrequest: {request}\nreceived: {}",
            show(&received)
        ),
        // Incomplete requests may go unanswered; long polls may outlast the timeout.
        Outcome::Closed { .. } | Outcome::TimedOut { .. } => return,
    };
    let status = response.status;
    let body = response.body.as_deref();
    let context = || {
        format!(
            "request: {request}\nresponse: {status} {}\nheaders: {:?}\nbody: {}",
            response.reason,
            response.headers,
            body.map(show).unwrap_or_else(|| "(not read)".to_owned())
        )
    };
    assert!(
        (200..=599).contains(&status),
        "status {status} out of range\n{}",
        context()
    );
    let documented_503 = status == 503 && json_error(body) == Some("queue_full".to_owned());
    assert!(
        status < 500 || documented_503,
        "server error {status}\n{}",
        context()
    );

    let content_type = response.header("content-type");
    let json = content_type.is_some_and(|ct| ct.starts_with("application/json"));
    if (400..500).contains(&status) {
        let empty = body.is_none_or(<[u8]>::is_empty);
        let from_hyper = matches!(status, 400 | 414 | 431 | 505) && content_type.is_none() && empty;
        if from_hyper {
            return;
        }
        assert!(json, "a 4xx without a JSON content type\n{}", context());
        if plan.head {
            return;
        }
        let value: Value = serde_json::from_slice(body.unwrap_or_default())
            .unwrap_or_else(|e| panic!("a 4xx body that is not JSON: {e}\n{}", context()));
        assert!(
            value["error"].is_string() && value["message"].is_string(),
            "a 4xx body without string `error` and `message`\n{}",
            context()
        );
    } else if json && !plan.head {
        if let Some(body) = body {
            if let Err(e) = serde_json::from_slice::<Value>(body) {
                panic!("a JSON response that is not JSON: {e}\n{}", context());
            }
        }
    }
}

/// The `error` code of a JSON error body.
fn json_error(body: Option<&[u8]>) -> Option<String> {
    let value: Value = serde_json::from_slice(body?).ok()?;
    value["error"].as_str().map(str::to_owned)
}

/// A refusal by the server's limits: 429, or 503 `queue_full`.
fn is_limit(response: &Response) -> bool {
    response.status == 429
        || (response.status == 503
            && json_error(response.body.as_deref()) == Some("queue_full".to_owned()))
}

/// Every [`HEALTH_EVERY`]th input, starting with the first.
// `%`, not `is_multiple_of` (Rust 1.87), so this builds with jobcast's rust-version, 1.85.
#[allow(unknown_lints, clippy::manual_is_multiple_of)]
fn health_due() -> bool {
    INPUTS.fetch_add(1, Ordering::Relaxed) % HEALTH_EVERY == 0
}

fn health(server: &Server) {
    let request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    match exchange(server.addr, request, true, false, RESPONSE_TIMEOUT) {
        Outcome::Response(response) if response.status == 200 => {}
        other => panic!("GET /healthz is not 200: {other:?}"),
    }
}

/// `JOBCAST_FUZZ_VERBOSE=1` prints each request and what came back (for reproducing).
fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("JOBCAST_FUZZ_VERBOSE").is_some())
}

fuzz_target!(|data: &[u8]| {
    let server = server();
    if data.is_empty() {
        return;
    }
    let plan = if data[0] >= 0xF0 {
        plan_raw(&data[1..])
    } else {
        plan_structured(data, server)
    };
    let timeout = if plan.complete {
        RESPONSE_TIMEOUT
    } else {
        INCOMPLETE_TIMEOUT
    };
    let outcome = exchange(server.addr, &plan.bytes, plan.complete, plan.head, timeout);
    if verbose() {
        eprintln!("request: {}", show(&plan.bytes));
        match &outcome {
            Outcome::Response(r) => eprintln!(
                "response: {} {} {:?}\n{}",
                r.status,
                r.reason,
                r.headers,
                r.body
                    .as_deref()
                    .map(show)
                    .unwrap_or_else(|| "(body not read)".to_owned())
            ),
            other => eprintln!("outcome: {other:?}"),
        }
    }
    check(&plan, outcome);
    if health_due() {
        health(server);
    }
});
