//! PostgreSQL going away and coming back while jobcast serves: requests fail with a JSON 503
//! meanwhile, open streams keep their connection and resume, and nothing is lost.
//!
//! The server reaches PostgreSQL through a TCP proxy in this test, which stands in for the
//! restart: it cuts every connection and, until restored, closes new ones at once (what a
//! client sees of a server that is shutting down or not yet up). Restarting the machine's real
//! PostgreSQL would take the other tests' databases down with it.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use jobcast::Config;

use crate::helpers::{parse_frames, postgres_url_for, skip_on_sqlite, spawn_app_with, TestApp};

/// What the proxy does with connections.
const UP: u8 = 0;
/// New connections are closed at once: a server restarting, or refusing.
const REFUSING: u8 = 1;
/// New connections are accepted and then nothing: a host that stopped answering.
const SILENT: u8 = 2;

/// A TCP proxy to PostgreSQL that can be cut and restored.
struct Proxy {
    port: u16,
    shared: Arc<Shared>,
}

/// What the proxy's connections share.
struct Shared {
    state: AtomicU8,
    /// Bumped on every change of state: every connection made before it ends.
    changes: watch::Sender<u64>,
    /// Set by [`Proxy::cut_after_commit_of`]; taken, and `tripped` bumped, when it acts.
    armed: std::sync::Mutex<Option<Vec<u8>>>,
    tripped: watch::Sender<u64>,
}

impl Shared {
    fn set(&self, state: u8) {
        self.state.store(state, Ordering::SeqCst);
        self.changes.send_modify(|n| *n += 1);
    }
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            state: AtomicU8::new(UP),
            changes: watch::Sender::new(0u64),
            armed: std::sync::Mutex::new(None),
            tripped: watch::Sender::new(0u64),
        });
        let now = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let (upstream, mut changed) = (upstream.clone(), now.changes.subscribe());
                changed.mark_unchanged();
                match now.state.load(Ordering::SeqCst) {
                    REFUSING => drop(client),
                    SILENT => {
                        tokio::spawn(async move {
                            let _held = client;
                            let _ = changed.changed().await;
                        });
                    }
                    _ => {
                        let shared = now.clone();
                        tokio::spawn(async move {
                            let Ok(server) = TcpStream::connect(&upstream).await else {
                                return;
                            };
                            tokio::select! {
                                _ = relay(client, server, shared) => {}
                                _ = changed.changed() => {}
                            }
                        });
                    }
                }
            }
        });
        Proxy { port, shared }
    }

    fn set(&self, state: u8) {
        self.shared.set(state);
    }

    /// The COMMIT of the next transaction that sends `marker` (a value bound to one of its
    /// statements) reaches PostgreSQL, and then the proxy cuts as [`Proxy::cut`] before the
    /// answer comes back: the commit happened and jobcast never heard.
    fn cut_after_commit_of(&self, marker: &str) {
        *self.shared.armed.lock().unwrap() = Some(marker.as_bytes().to_vec());
    }

    /// Waits until [`Proxy::cut_after_commit_of`] has cut.
    async fn tripped(&self) {
        let mut tripped = self.shared.tripped.subscribe();
        tripped.wait_for(|n| *n > 0).await.unwrap();
    }

    /// PostgreSQL "goes down": open connections are cut, new ones closed at once.
    fn cut(&self) {
        self.set(REFUSING);
    }

    /// The database host stops answering: open connections are cut, new ones hang.
    fn silence(&self) {
        self.set(SILENT);
    }

    fn restore(&self) {
        self.set(UP);
    }
}

/// Copies bytes both ways between `client` and `server`, acting on an armed
/// [`Proxy::cut_after_commit_of`].
async fn relay(client: TcpStream, server: TcpStream, shared: Arc<Shared>) {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let deaf = Arc::new(AtomicBool::new(false));
    let answers = {
        let deaf = deaf.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = from_server.read(&mut buf).await.unwrap_or(0);
                if n == 0 || deaf.load(Ordering::SeqCst) {
                    return;
                }
                if to_client.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    };
    let queries = async move {
        let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        let mut buf = vec![0u8; 64 * 1024];
        let mut marked = false;
        loop {
            let n = from_client.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            let chunk = &buf[..n];
            let trip = {
                let mut armed = shared.armed.lock().unwrap();
                marked |= armed.as_ref().is_some_and(|marker| contains(chunk, marker));
                marked && contains(chunk, b"COMMIT") && armed.take().is_some()
            };
            if trip {
                deaf.store(true, Ordering::SeqCst);
            }
            if to_server.write_all(chunk).await.is_err() {
                return;
            }
            if trip {
                // Every connection goes now, this one too: the server reads the COMMIT before
                // the close, and whatever it answers is not read.
                shared.set(REFUSING);
                shared.tripped.send_modify(|n| *n += 1);
                return;
            }
        }
    };
    tokio::join!(answers, queries);
}

/// A server on a fresh PostgreSQL database (named after `name`) that it reaches through a
/// [`Proxy`], with a 500 ms `database_acquire_timeout` so an outage's 503s come soon, and
/// `tweak` applied.
async fn behind_proxy(name: &str, tweak: impl FnOnce(&mut Config)) -> (Proxy, TestApp) {
    let names = tempfile::tempdir().unwrap();
    let real = postgres_url_for(&names.path().join(format!("{name}.db")));
    let proxy = Proxy::start(upstream(&real)).await;
    let via_proxy = through(&real, proxy.port);
    let app = spawn_app_with(|c| {
        c.database_url = via_proxy;
        c.database_acquire_timeout = Duration::from_millis(500);
        tweak(c);
    })
    .await;
    (proxy, app)
}

/// `url` with its host and port replaced by the proxy's.
fn through(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let userinfo = authority
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"))
        .unwrap_or_default();
    format!("{scheme}://{userinfo}127.0.0.1:{port}/{path}")
}

fn upstream(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

/// Reads a stream in the background: the events' names and data as they come.
fn follow(response: reqwest::Response) -> tokio::sync::mpsc::UnboundedReceiver<(String, Value)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                for frame in parse_frames(&block) {
                    if let Some(name) = frame.name() {
                        let _ = tx.send((name.to_owned(), frame.data()));
                    }
                }
            }
        }
    });
    rx
}

/// The next event named `name` whose data passes `wanted`, within `within`, skipping others.
async fn next_named(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<(String, Value)>,
    name: &str,
    wanted: impl Fn(&Value) -> bool,
    within: Duration,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some((n, data))) if n == name && wanted(&data) => return data,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended while waiting for {name}"),
            Err(_) => panic!("no {name} event within {within:?}"),
        }
    }
}

async fn wait_ready(app: &TestApp, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (status, _) = app.get("/readyz").await;
        if status == StatusCode::OK {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "not ready within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_answers_503_keeps_streams_open_and_loses_nothing() {
    if skip_on_sqlite("the outage is PostgreSQL's") {
        return;
    }
    let (proxy, app) = behind_proxy("outage", |c| {
        c.stream.max_duration = Duration::from_secs(60);
    })
    .await;

    // Before: an external job followed by a stream, and a demo job running in the runner.
    let external = app.create(json!({"type": "external"})).await;
    let external = external["id"].as_str().unwrap().to_owned();
    let demo = app
        .create(json!({"type": "demo", "payload": {"steps": 40, "step_ms": 50}, "max_attempts": 3}))
        .await;
    let demo = demo["id"].as_str().unwrap().to_owned();
    let mut events = follow(app.stream(&external, None).await);
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{external}/progress"),
            &json!({"progress": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    next_named(
        &mut events,
        "progress",
        |p| p["progress"] == 10.0,
        Duration::from_secs(5),
    )
    .await;
    app.wait_for_status(&demo, &["running"], Duration::from_secs(10))
        .await;

    proxy.cut();
    // During the outage: JSON 503s, soon; liveness still fine, readiness not.
    let started = Instant::now();
    for attempt in 0..3 {
        let (status, body) = app
            .post_json("/api/jobs", &json!({"type": "external"}))
            .await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "create {attempt}: {body}"
        );
        assert_eq!(body["error"], "unavailable", "{body}");
        assert!(
            response_retry_after(&app, "/api/jobs").await >= 1,
            "a 503 says when to try again"
        );
        let (status, body) = app.get(&format!("/api/jobs/{external}")).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "get {attempt}: {body}"
        );
    }
    let took = started.elapsed();
    eprintln!("six requests answered 503 in {took:?}");
    assert!(took < Duration::from_secs(10), "six requests took {took:?}");
    assert_eq!(app.get("/healthz").await.0, StatusCode::OK);
    assert_eq!(app.get("/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
    // Longer than the runner's 2 s lease: the demo job's end is recorded when the database
    // is back, or its lapsed lease sends it round again; it ends completed either way.
    tokio::time::sleep(Duration::from_secs(3)).await;

    proxy.restore();
    let back = wait_ready(&app, Duration::from_secs(30)).await;
    eprintln!("ready again {back:?} after the restore");

    // The stream that was open all along carries on.
    let (status, body) = app
        .post_json(
            &format!("/api/jobs/{external}/progress"),
            &json!({"progress": 50}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    next_named(
        &mut events,
        "progress",
        |p| p["progress"] == 50.0,
        Duration::from_secs(10),
    )
    .await;
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{external}/complete"),
            &json!({"result": {"ok": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let completed = next_named(&mut events, "completed", |_| true, Duration::from_secs(10)).await;
    assert_eq!(completed["result"]["ok"], true);

    // The job that was running when the database went away ends, completed.
    let job = app
        .wait_for_status(&demo, &["completed"], Duration::from_secs(30))
        .await;
    assert_eq!(job["result"]["steps"], 40);
    eprintln!("the demo job completed in attempt {}", job["attempt"]);
    // New work is accepted again.
    let (status, _) = app
        .post_json("/api/jobs", &json!({"type": "external"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        app.count_jobs().await,
        3,
        "the two jobs from before and the new one"
    );
}

/// PostgreSQL goes away after a batch's COMMIT reached it and before its answer came back.
/// The writer asks whether that commit happened for as long as the database is away, but the
/// writes sent meanwhile wait for the question no longer than a connection would
/// (`database_acquire_timeout`), and get their 503. Once the database is back, the batch's own
/// write is answered with what happened: committed.
#[tokio::test]
async fn writes_sent_while_a_lost_commit_is_looked_up_get_their_503_not_a_hang() {
    if skip_on_sqlite("the outage is PostgreSQL's") {
        return;
    }
    let (proxy, app) = behind_proxy("lost-commit", |_| {}).await;
    app.create(json!({"type": "external"})).await;

    proxy.cut_after_commit_of("lost-commit");
    let keyed = json!({"type": "external", "idempotency_key": "lost-commit"});
    let lost = app.post_json("/api/jobs", &keyed);
    let meanwhile = async {
        proxy.tripped().await;
        let started = Instant::now();
        let mut answers = Vec::new();
        for _ in 0..3 {
            answers.push(
                app.post_json("/api/jobs", &json!({"type": "external"}))
                    .await,
            );
        }
        let took = started.elapsed();
        proxy.restore();
        (answers, took)
    };
    let ((status, created), (answers, took)) = tokio::join!(lost, meanwhile);
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"], "unavailable", "{body}");
    }
    eprintln!("three creates answered 503 in {took:?} while the commit was looked up");
    assert!(
        took < Duration::from_secs(10),
        "three creates took {took:?}"
    );
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the lost commit happened: {created}"
    );

    wait_ready(&app, Duration::from_secs(30)).await;
    let (_, page) = app.get("/api/jobs?limit=100").await;
    let keys: Vec<&Value> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| &job["idempotency_key"])
        .collect();
    assert_eq!(
        keys.len(),
        2,
        "the first job and the one whose commit was lost: {page}"
    );
    assert!(keys.contains(&&json!("lost-commit")), "{page}");
    assert_eq!(
        app.create(json!({"type": "external"})).await["status"],
        "queued"
    );
}

/// A database host that stops answering (no refusal, no reset) would hold each request until
/// the pool gives up: `database_acquire_timeout` bounds that, and the answer is still a 503.
#[tokio::test]
async fn an_unanswering_postgres_host_gets_a_503_after_the_acquire_timeout_not_a_hang() {
    if skip_on_sqlite("the outage is PostgreSQL's") {
        return;
    }
    let (proxy, app) = behind_proxy("silent", |_| {}).await;
    let job = app.create(json!({"type": "external"})).await;
    let id = job["id"].as_str().unwrap().to_owned();

    proxy.silence();
    for path in ["/api/jobs".to_owned(), format!("/api/jobs/{id}")] {
        let started = Instant::now();
        let (status, body) = app.get(&path).await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        assert_eq!(body["error"], "unavailable");
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_secs(5),
            "{path} answered after {took:?}, not after the 500 ms acquire timeout"
        );
    }

    proxy.restore();
    wait_ready(&app, Duration::from_secs(30)).await;
    assert_eq!(app.job(&id).await["status"], "queued");
}

/// An outage shorter than the lease: the job that ran meanwhile keeps every progress report
/// and log line it made while the database was away (the writes are tried again), and its
/// end is recorded once the database is back, so it does not run a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_outage_loses_no_log_line_and_runs_no_job_twice() {
    if skip_on_sqlite("the outage is PostgreSQL's") {
        return;
    }
    let (proxy, app) = behind_proxy("short", |c| {
        c.runner.lease = Duration::from_secs(15);
    })
    .await;
    let job = app
        .create(json!({"type": "demo", "payload": {"steps": 20, "step_ms": 50}, "max_attempts": 3}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&id, &["running"], Duration::from_secs(10))
        .await;

    proxy.cut();
    // The handler's remaining 1 s of steps, and then some, happen with the database away.
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();

    let job = app
        .wait_for_status(&id, &["completed"], Duration::from_secs(20))
        .await;
    assert_eq!(job["attempt"], 1, "ran once: {job}");
    assert_eq!(job["progress"], 100.0);
    let (_, logs) = app.get(&format!("/api/jobs/{id}/logs")).await;
    let messages: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "starting 20 steps (attempt 1)",
            "reached step 4 of 20",
            "reached step 8 of 20",
            "reached step 12 of 20",
            "reached step 16 of 20",
            "all 20 steps done",
        ]
    );
}

/// The `Retry-After` seconds of a `GET path` answered 503.
async fn response_retry_after(app: &TestApp, path: &str) -> u64 {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header of whole seconds")
}

/// A store failure that is not the database being away (here a query on a table that is
/// gone, as a SQL bug or a damaged schema would give) is a 500 that says nothing of the
/// internals: a 503 would have clients retry forever something that cannot succeed.
#[tokio::test]
async fn a_store_error_that_is_not_an_outage_is_a_500_without_internals_not_a_503() {
    use sqlx::Connection;

    let app = spawn_app_with(|_| {}).await;
    let id = app.create_external().await;
    let (status, _) = app.get(&format!("/api/jobs/{id}/logs")).await;
    assert_eq!(status, StatusCode::OK);

    let url = crate::helpers::database_url(&app.db_path);
    if crate::helpers::on_postgres() {
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("DROP TABLE job_logs")
            .execute(&mut conn)
            .await
            .unwrap();
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("DROP TABLE job_logs")
            .execute(&mut conn)
            .await
            .unwrap();
    }

    let response = app
        .client
        .get(app.url(&format!("/api/jobs/{id}/logs")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        response.headers().get("retry-after").is_none(),
        "no invitation to retry"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "internal", "{body}");
    let text = body.to_string();
    for internal in ["job_logs", "relation", "no such table", "sqlx", "SELECT"] {
        assert!(!text.contains(internal), "{internal:?} leaked: {body}");
    }
    // The rest of the API still answers: nothing else was touched.
    assert_eq!(app.job(&id).await["status"], "queued");
}
