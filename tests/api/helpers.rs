//! The test harness: a real jobcast server on port 0 with a fresh database and short
//! durations, a reqwest client, and a small SSE reader that keeps raw frames with the time
//! each arrived.
//!
//! The database is a fresh SQLite file by default. With `JOBCAST_TEST_BACKEND=postgres` it is
//! a fresh PostgreSQL database per test instead, made on the server `JOBCAST_TEST_POSTGRES_URL`
//! names (e.g. `postgres://postgres@127.0.0.1:5432/test`, a role that may create databases);
//! tests that look inside the SQLite file skip themselves there, saying why.

// Not every test file uses every helper.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use jobcast::{AppHandle, Application, Config};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Stream timings used by every test unless it says otherwise.
pub const POLL: Duration = Duration::from_millis(50);
pub const HEARTBEAT: Duration = Duration::from_millis(200);
pub const MAX_DURATION: Duration = Duration::from_secs(1);
pub const CLOSE_DELAY: Duration = Duration::from_millis(100);

static TRACING: Once = Once::new();

/// Logs go nowhere unless `TEST_LOG` is set.
fn init_tracing() {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(
                    "debug,sqlx=warn,hyper=info",
                ))
                .with_test_writer()
                .init();
        }
    });
}

/// Whether the tests run against PostgreSQL (`JOBCAST_TEST_BACKEND=postgres`).
pub fn on_postgres() -> bool {
    match std::env::var("JOBCAST_TEST_BACKEND").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("JOBCAST_TEST_BACKEND={other:?}: expected sqlite or postgres"),
    }
}

/// Skips the calling test on PostgreSQL: `if skip_on_postgres("why") { return; }`.
#[track_caller]
pub fn skip_on_postgres(reason: &str) -> bool {
    if on_postgres() {
        eprintln!(
            "skipped on postgres ({}): {reason}",
            std::panic::Location::caller()
        );
    }
    on_postgres()
}

/// Skips the calling test on SQLite, for PostgreSQL-only behaviour. Says so where the test
/// runner's output capture does not hide it, so a run without PostgreSQL never looks like one
/// that tested it.
#[track_caller]
pub fn skip_on_sqlite(reason: &str) -> bool {
    if !on_postgres() {
        use std::io::Write;
        // Straight to the process's stderr: `eprintln!` in a passing test is captured.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED (PostgreSQL only) {}: {reason}. Run the PostgreSQL tests with \
             JOBCAST_TEST_BACKEND=postgres JOBCAST_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
             cargo test --test api",
            std::panic::Location::caller()
        );
    }
    !on_postgres()
}

/// Test databases made by this process, by the database file path a test asked for: a test
/// that restarts the server on the same path, or starts a second one on it, gets the same
/// database.
static POSTGRES_DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);

/// Test databases are named `jobcast_test_<unix seconds>_<uuid>`; those older than this are
/// left over from earlier runs (no test takes this long) and are dropped.
const STALE_TEST_DATABASE: Duration = Duration::from_secs(15 * 60);

/// The URL of the PostgreSQL database standing in for the SQLite file `db`, created on first
/// use.
pub fn postgres_url_for(db: &Path) -> String {
    let admin = std::env::var("JOBCAST_TEST_POSTGRES_URL").expect(
        "JOBCAST_TEST_BACKEND=postgres needs JOBCAST_TEST_POSTGRES_URL, \
         e.g. postgres://postgres@127.0.0.1:5432/test",
    );
    let mut databases = POSTGRES_DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    let first = databases.is_none();
    let databases = databases.get_or_insert_with(HashMap::new);
    if let Some(name) = databases.get(db) {
        return with_database(&admin, name);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let name = format!(
        "jobcast_test_{}_{}",
        now.as_secs(),
        uuid::Uuid::now_v7().simple()
    );
    let (admin_url, new) = (admin.clone(), name.clone());
    // Tests call this from inside their runtime, and some from none: a thread of its own with
    // a runtime of its own works from both.
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(create_database(&admin_url, &new, first.then_some(now)))
    })
    .join()
    .expect("creating the test database");
    databases.insert(db.to_owned(), name.clone());
    with_database(&admin, &name)
}

/// The database URL a test's server uses for the database file `db`: the file itself, or the
/// PostgreSQL database standing in for it.
pub fn database_url(db: &Path) -> String {
    if on_postgres() {
        postgres_url_for(db)
    } else {
        format!("sqlite://{}", db.display())
    }
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, format!("?{query}")),
        None => (rest, String::new()),
    };
    let host = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{host}/{name}{query}")
}

/// Creates the database `name`; first (at `now`) drops test databases left over from runs
/// long past.
async fn create_database(admin: &str, name: &str, now: Option<Duration>) {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {admin}: {e}"));
    if let Some(now) = now {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'jobcast\\_test\\_%'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for stale in names {
            let made = stale
                .split('_')
                .nth(2)
                .and_then(|secs| secs.parse::<u64>().ok());
            if made.is_some_and(|made| made + STALE_TEST_DATABASE.as_secs() < now.as_secs()) {
                // One still in use (another run's) refuses; that is fine.
                let _ = conn
                    .execute(format!("DROP DATABASE IF EXISTS \"{stale}\"").as_str())
                    .await;
            }
        }
    }
    conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
    let _ = conn.close().await;
}

/// A config for tests: port 0, the given database file (or a PostgreSQL database standing in
/// for it, with uploads in the file's folder), short durations.
pub fn test_config(db: &Path) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: database_url(db),
        ..Config::default()
    };
    if on_postgres() {
        config.uploads.dir = Some(db.with_file_name("uploads"));
        // Tests run in parallel against one server with a connection limit of its own.
        config.database_max_connections = 4;
    }
    config.stream.poll_interval = POLL;
    config.stream.heartbeat = HEARTBEAT;
    config.stream.max_duration = MAX_DURATION;
    config.stream.close_delay = CLOSE_DELAY;
    config.stream.retry = Duration::from_millis(100);
    config.runner.poll_interval = Duration::from_millis(50);
    config.runner.lease = Duration::from_secs(2);
    config.runner.grace_period = Duration::from_secs(1);
    config.runner.retry_base = Duration::from_millis(20);
    config.runner.retry_max = Duration::from_millis(200);
    config
}

/// A running server and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub handle: AppHandle,
    pub db_path: PathBuf,
    /// Keeps the database folder alive for the test.
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server whose config `tweak` may change first.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("jobcast.db");
    let mut config = test_config(&db_path);
    tweak(&mut config);
    start(config, dir, db_path).await
}

/// Starts a server on an existing database folder (for restart tests).
pub async fn start(config: Config, dir: tempfile::TempDir, db_path: PathBuf) -> TestApp {
    let app = Application::build(config).await.expect("app builds");
    from_application(app, dir, db_path)
}

/// Runs an application built by the test itself (for example with Rust handlers).
pub fn from_application(app: Application, dir: tempfile::TempDir, db_path: PathBuf) -> TestApp {
    init_tracing();
    let base = format!("http://{}", app.local_addr());
    let handle = app.handle();
    let task = tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        base,
        client: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        handle,
        db_path,
        dir,
        task,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Shuts the server down gracefully and waits for it to stop; returns the folder.
    pub async fn stop(self) -> (tempfile::TempDir, PathBuf) {
        self.handle.shutdown();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops within 10 s")
            .expect("server task ok");
        (self.dir, self.db_path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, body_json(response).await)
    }

    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, body_json(response).await)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        let status = response.status();
        (status, body_json(response).await)
    }

    /// Creates a job and returns it; panics unless the answer is 201.
    pub async fn create(&self, body: Value) -> Value {
        let (status, job) = self.post_json("/api/jobs", &body).await;
        assert_eq!(status, StatusCode::CREATED, "create failed: {job}");
        job
    }

    /// A demo job with `steps` steps of `step_ms` each.
    pub async fn create_demo(&self, steps: u64, step_ms: u64) -> String {
        let job = self
            .create(json!({"type": "demo", "payload": {"steps": steps, "step_ms": step_ms}}))
            .await;
        job["id"].as_str().unwrap().to_owned()
    }

    pub async fn create_external(&self) -> String {
        let job = self.create(json!({"type": "external"})).await;
        job["id"].as_str().unwrap().to_owned()
    }

    pub async fn job(&self, id: &str) -> Value {
        let (status, job) = self.get(&format!("/api/jobs/{id}")).await;
        assert_eq!(status, StatusCode::OK, "get failed: {job}");
        job
    }

    /// Waits until the job's status is one of `statuses`; panics after `within`.
    #[track_caller]
    pub fn wait_for_status<'a>(
        &'a self,
        id: &'a str,
        statuses: &'a [&'a str],
        within: Duration,
    ) -> impl std::future::Future<Output = Value> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let deadline = Instant::now() + within;
            loop {
                let job = self.job(id).await;
                if statuses.contains(&job["status"].as_str().unwrap_or_default()) {
                    return job;
                }
                if Instant::now() > deadline {
                    panic!("{caller}: job {id} never reached {statuses:?} within {within:?}; last: {job}");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Counts jobs in the store by listing them.
    pub async fn count_jobs(&self) -> usize {
        let mut count = 0;
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/jobs?limit=500&cursor={c}"),
                None => "/api/jobs?limit=500".to_owned(),
            };
            let (status, page) = self.get(&path).await;
            assert_eq!(status, StatusCode::OK);
            count += page["jobs"].as_array().unwrap().len();
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return count,
            }
        }
    }

    /// Counts jobs through the API with a bearer token.
    pub async fn count_jobs_as(&self, token: &str) -> usize {
        let response = self
            .client
            .get(self.url("/api/jobs?limit=500"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        body_json(response).await["jobs"].as_array().unwrap().len()
    }

    /// Opens the job's stream, optionally resuming after `last_event_id`.
    pub async fn stream(&self, id: &str, last_event_id: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(&format!("/api/jobs/{id}/stream")));
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last);
        }
        request.send().await.unwrap()
    }

    /// Opens the stream and reads it to its end (or `within`), returning every frame.
    pub async fn read_stream(
        &self,
        id: &str,
        last_event_id: Option<&str>,
        within: Duration,
    ) -> SseLog {
        let response = self.stream(id, last_event_id).await;
        assert_eq!(response.status(), StatusCode::OK);
        SseLog::read(response, within).await
    }
}

pub async fn body_json(response: reqwest::Response) -> Value {
    let bytes = response.bytes().await.unwrap();
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "body is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// One parsed SSE frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Event {
        name: String,
        id: Option<String>,
        data: String,
    },
    Comment(String),
    Retry(u64),
}

impl Frame {
    pub fn name(&self) -> Option<&str> {
        match self {
            Frame::Event { name, .. } => Some(name),
            _ => None,
        }
    }

    pub fn id(&self) -> Option<i64> {
        match self {
            Frame::Event { id, .. } => id.as_deref().and_then(|i| i.parse().ok()),
            _ => None,
        }
    }

    pub fn data(&self) -> Value {
        match self {
            Frame::Event { data, .. } => serde_json::from_str(data).unwrap(),
            _ => Value::Null,
        }
    }
}

/// Parses `text/event-stream` text into frames (blank-line separated).
pub fn parse_frames(text: &str) -> Vec<Frame> {
    let mut frames = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut name = None;
        let mut id = None;
        let mut data: Vec<&str> = Vec::new();
        let mut comment = None;
        let mut retry = None;
        for line in block.lines() {
            if let Some(rest) = line.strip_prefix(':') {
                comment = Some(rest.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("event: ") {
                name = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push(v);
            } else if let Some(v) = line.strip_prefix("retry: ") {
                retry = Some(v.parse().unwrap());
            } else {
                panic!("unexpected SSE line {line:?} in {text:?}");
            }
        }
        if let Some(r) = retry {
            frames.push(Frame::Retry(r));
        } else if let Some(c) = comment {
            frames.push(Frame::Comment(c));
        } else {
            frames.push(Frame::Event {
                name: name.unwrap_or_else(|| "message".to_owned()),
                id,
                data: data.join("\n"),
            });
        }
    }
    frames
}

/// What a client read from one stream.
#[derive(Debug)]
pub struct SseLog {
    /// Frames in order, with the time since the request was answered.
    pub frames: Vec<(Duration, Frame)>,
    /// When the body ended, if it did within the time allowed.
    pub ended_at: Option<Duration>,
}

impl SseLog {
    pub async fn read(response: reqwest::Response, within: Duration) -> SseLog {
        let started = Instant::now();
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, body.next()).await {
                Ok(Some(Ok(chunk))) => {
                    buffer.push_str(std::str::from_utf8(&chunk).unwrap());
                    while let Some(end) = buffer.find("\n\n") {
                        let block: String = buffer.drain(..end + 2).collect();
                        for frame in parse_frames(&block) {
                            frames.push((started.elapsed(), frame));
                        }
                    }
                }
                Ok(Some(Err(e))) => panic!("stream broke: {e}"),
                Ok(None) => {
                    assert!(
                        buffer.trim().is_empty(),
                        "stream ended mid-frame: {buffer:?}"
                    );
                    return SseLog {
                        frames,
                        ended_at: Some(started.elapsed()),
                    };
                }
                Err(_) => {
                    return SseLog {
                        frames,
                        ended_at: None,
                    }
                }
            }
        }
    }

    pub fn events(&self) -> Vec<&Frame> {
        self.frames
            .iter()
            .map(|(_, f)| f)
            .filter(|f| matches!(f, Frame::Event { .. }))
            .collect()
    }

    pub fn names(&self) -> Vec<&str> {
        self.events().iter().filter_map(|f| f.name()).collect()
    }

    pub fn heartbeats(&self) -> usize {
        self.frames
            .iter()
            .filter(|(_, f)| matches!(f, Frame::Comment(c) if c == "heartbeat"))
            .count()
    }

    /// The last event, which for a finished job is the terminal one.
    pub fn last_event(&self) -> &Frame {
        self.events().last().copied().expect("at least one event")
    }

    pub fn last_id(&self) -> i64 {
        self.events()
            .iter()
            .rev()
            .find_map(|f| f.id())
            .expect("an id")
    }

    /// When the first event named `name` arrived.
    pub fn time_of(&self, name: &str) -> Option<Duration> {
        self.frames
            .iter()
            .find(|(_, f)| f.name() == Some(name))
            .map(|(t, _)| *t)
    }
}

/// A free port for a server that must come back on the same one after a restart: below the
/// range the kernel hands out for port 0 and outgoing connections (32768 and up on Linux), so
/// no other test's listener or client socket takes it in between.
pub fn port_for_restarts() -> u16 {
    loop {
        let port = 20_000 + rand::random::<u16>() % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
