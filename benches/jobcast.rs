//! jobcast's benchmark: starts real `jobcast` server processes on loopback, loads them from this
//! process, and prints a table and a JSON document of what it measured.
//!
//! ```text
//! cargo bench --bench jobcast                        # every scenario, full size (several minutes)
//! cargo bench --bench jobcast -- --quick             # small sizes, for a smoke run
//! cargo bench --bench jobcast -- fanout idle         # some scenarios only
//! cargo bench --bench jobcast -- control             # types overview and bulk retry
//! cargo bench --bench jobcast -- families            # a parent's stream being its family's
//! cargo bench --bench jobcast -- throughput --no-peer  # throughput without the BullMQ peer
//! ```
//!
//! `JOBCAST_BENCH_SERVER_LOG=1` shows the servers' logs (warnings and errors) on stderr.
//!
//! Scenarios (see docs/benchmarks.md):
//! - `fanout`: J jobs x S streams, U progress updates per job; delivery latency from the
//!   update's POST to each client's receipt, with the update sent to the streaming server
//!   (in-process path) and to a second server process on the same database (poll path).
//! - `idle`: CPU and RSS of the server with 1 000 and 10 000 idle streams (the shared poller),
//!   and, for comparison, the CPU of the design it replaced, one query per stream per second,
//!   which the server no longer has: the bench runs that loop itself against the store
//!   ([`PollLoad`]). Fan-out latency through that design is no longer measured.
//! - `families`: through the library's store on SQLite, 2 000 external children (200 with
//!   `--quick`) each writing two log lines, two progress reports and its end, 16 at a time:
//!   once as one parent's children (each line and change copied onto the parent, its family's
//!   progress and counts recomputed), once as top-level jobs; seconds and writes per second.
//! - `throughput`: on SQLite (a fresh file per measurement, default config but the workers),
//!   N = 10 000 no-op `demo` jobs (1 step of 0 ms; 1 000 with `--quick`), each workload
//!   measured on jobcast and then on the BullMQ peer, in this order:
//!   - `create`: N jobs created by 16 concurrent keep-alive clients, no worker running
//!     (`JOBCAST_WORKERS=0`);
//!   - `drain` with 4 and with 16 workers: N jobs queued by a server with no worker (not
//!     timed), which is then stopped; a server with the workers is started on the same file
//!     and timed from the moment it listens (its runner starts then) until no job is queued or
//!     running;
//!   - `e2e` with 4 and 16 workers: N jobs created by 16 concurrent clients while the workers
//!     run, timed from the first create until none is queued or running;
//!   - `drain` with 4 workers and 1 000 000 finished jobs already in the file (100 000 with
//!     `--quick`), to see the rate stay flat (no peer run);
//!   - `bulk create`: 100 000 jobs (10 000) through `POST /api/jobs/bulk`, 1 000 per request,
//!     4 requests in flight; recorded as skipped if the server answers 404 or 405.
//!
//!   For each, jobs per second, the server's CPU (utime + stime from /proc) per job, and
//!   store commits per job: the difference of `jobcast_store_commits_total` (GET /metrics)
//!   over the timed part, divided by N (a drain server's counter is taken from 0, its start).
//!   The peer is `node benches/peer/bullmq.mjs SCENARIO N WORKERS REDIS_URL` (`npm ci` there
//!   first if `node_modules` is missing) on the Redis at `JOBCAST_BENCH_REDIS_URL` (default
//!   `redis://127.0.0.1:6379`); its JSON is recorded with the ratios jobcast / BullMQ of jobs
//!   per second and CPU per job. Without Redis, node or npm, or with `--no-peer`, the bench
//!   prints that the peer is skipped and why, and goes on. Then progress updates per second
//!   through the API, and a summary table: workload | jobcast jobs/s | BullMQ jobs/s | ratio |
//!   jobcast commits/job.
//! - `open`: streams opened per second, and the time for N streams to get their first event.
//! - `work`: command jobs per second (a `sh` program per job) and external worker claims per
//!   second.
//! - `postgres`: on PostgreSQL (the server `JOBCAST_BENCH_POSTGRES_URL` names, default
//!   `postgres://postgres@127.0.0.1:5432/test`, a role that may create databases; skipped if it
//!   cannot be reached), a fresh database per measurement: jobs per second end to end with 1
//!   and 2 server processes on the database; a drain with 4 workers per node by 1 and by 2
//!   processes started together (jobs queued first by a node with no worker), with commits
//!   per job summed over the nodes; and fan-out delivery latency with the updates posted to
//!   another process (notification path) and to the streaming one.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Time zero for the timestamps that updates carry in their `message`.
fn clock() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    clock().elapsed().as_nanos() as u64
}

// ---------------------------------------------------------------------------------------------
// The server under test

/// A jobcast process.
struct Server {
    child: Child,
    addr: String,
    pid: u32,
}

impl Server {
    /// Starts on the database `database_url` (`sqlite://...`, see [`sqlite_url`], or
    /// `postgres://...`).
    fn start(database_url: &str, env: &[(&str, &str)]) -> Server {
        Self::start_with(database_url, env, None)
    }

    /// Starts with a config file (`--config`) instead of the repository's default one.
    fn start_with(database_url: &str, env: &[(&str, &str)], config: Option<&Path>) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jobcast"));
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command
            .env("JOBCAST_LISTEN", "127.0.0.1:0")
            .env("JOBCAST_DATABASE_URL", database_url)
            .env("RUST_LOG", "warn,jobcast::app=info")
            // One local client drives thousands of streams and jobs: lift the per-client
            // limits, which would otherwise be what the benchmark measures.
            .env("JOBCAST_MAX_STREAMS", "1000000")
            .env("JOBCAST_MAX_STREAMS_PER_CLIENT", "1000000")
            .env("JOBCAST_MAX_STREAMS_PER_JOB", "1000000")
            .env("JOBCAST_CREATE_RATE", "1000000")
            .env("JOBCAST_CREATE_BURST", "1000000")
            .env("JOBCAST_MAX_QUEUED_PER_TYPE", "100000000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start jobcast");
        let pid = child.id();
        // JOBCAST_BENCH_SERVER_LOG=1 shows the servers' logs (warnings and errors, and their
        // start-up lines) on this process's stderr.
        let echo = std::env::var_os("JOBCAST_BENCH_SERVER_LOG").is_some();
        let show = move |line: &str| {
            if echo {
                eprintln!("[jobcast {pid}] {line}");
            }
        };
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("jobcast exited before listening")
                .unwrap();
            show(&line);
            if let Some(at) = line.find("listening on http://") {
                let rest = &line[at + "listening on http://".len()..];
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.by_ref() {
                show(line.as_deref().unwrap_or("(a line that is not UTF-8)"));
            }
        });
        Server { child, addr, pid }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// CPU seconds (user + system) used so far, from /proc.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(self.pid)
    }

    /// Resident set size in KiB, from /proc.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) process `pid` has used so far, from /proc.
fn cpu_seconds_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

// ---------------------------------------------------------------------------------------------
// One query per stream, for comparison

/// The servers' `stream.poll_interval` (the shipped default), which the polling loops keep too.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The argument that makes this bench binary a [`PollLoad`] child instead of the bench.
const POLL_LOAD_ARG: &str = "--poll-load";

/// The design the shared poller replaced, which the server no longer has: every stream reads
/// its job from the store once per poll interval. Run by this bench binary in a child process
/// (`--poll-load`), so that its CPU is measured on its own, through jobcast's public store API
/// on the database file of a running server. It has no HTTP and no streams: it is the cost of
/// the queries and their timers alone, which that design added to what the streams cost (the
/// shared poller's `idle` row).
struct PollLoad {
    child: Child,
    pid: u32,
}

impl PollLoad {
    /// Starts one polling loop per entry of `ids` (a job id per would-be stream) on
    /// `database_url`; returns once every loop runs.
    fn start(database_url: &str, ids: &[String]) -> PollLoad {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg(POLL_LOAD_ARG)
            .arg(database_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the polling loops");
        let mut stdin = child.stdin.take().unwrap();
        for id in ids {
            writeln!(stdin, "{id}").unwrap();
        }
        drop(stdin);
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert!(
            ready.starts_with("polling"),
            "the polling loops did not start: {ready:?}"
        );
        PollLoad {
            pid: child.id(),
            child,
        }
    }

    fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(self.pid)
    }
}

impl Drop for PollLoad {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The [`PollLoad`] child: reads job ids from stdin, one loop per line, each reading its job
/// every [`POLL_INTERVAL`] as a stream of the old design did, their starts spread over one
/// interval as streams opened at different times would be. Says `polling N` on stdout once
/// they all run, then runs until killed.
async fn poll_load(database_url: &str) {
    let store = jobcast::store::Store::connect(database_url)
        .await
        .expect("open the database");
    let ids: Vec<jobcast::JobId> = std::io::stdin()
        .lines()
        .map(|line| line.unwrap().trim().parse().expect("a job id"))
        .collect();
    let start = tokio::time::Instant::now();
    let mut loops = tokio::task::JoinSet::new();
    for (i, id) in ids.iter().copied().enumerate() {
        let store = store.clone();
        let first = start + POLL_INTERVAL.mul_f64(i as f64 / ids.len() as f64);
        loops.spawn(async move {
            let mut ticks = tokio::time::interval_at(first, POLL_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = store.get_job(id).await {
                    eprintln!("poll of {id} failed: {error}");
                }
            }
        });
    }
    println!("polling {}", ids.len());
    std::io::stdout().flush().unwrap();
    loops.join_next().await;
}

/// The database URL of the SQLite file `db`.
fn sqlite_url(db: &Path) -> String {
    format!("sqlite://{}", db.display())
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn create_jobs(
    client: &reqwest::Client,
    server: &Server,
    body: Value,
    n: usize,
) -> Vec<String> {
    create_jobs_on(client, &[server], body, n, 64).await
}

/// Creates `n` jobs, `clients` requests in flight (each on a kept-alive connection of the
/// shared client's pool), spread round-robin over `servers`.
async fn create_jobs_on(
    client: &reqwest::Client,
    servers: &[&Server],
    body: Value,
    n: usize,
    clients: usize,
) -> Vec<String> {
    let gate = Arc::new(Semaphore::new(clients));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let server = servers[i % servers.len()];
        let (client, url, body) = (client.clone(), server.url("/api/jobs"), body.clone());
        tasks.spawn(async move {
            let job: Value = client
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            drop(permit);
            job["id"].as_str().unwrap().to_owned()
        });
    }
    let mut ids = Vec::with_capacity(n);
    while let Some(id) = tasks.join_next().await {
        ids.push(id.unwrap());
    }
    ids
}

// ---------------------------------------------------------------------------------------------
// Stream clients

/// What all the streams of a scenario saw.
#[derive(Default)]
struct StreamStats {
    /// Streams that got their first event.
    opened: AtomicUsize,
    /// Streams that got a terminal event.
    finished: AtomicUsize,
    /// Delivery latencies in nanoseconds.
    latencies: Mutex<Vec<u64>>,
    /// Time (ns on the bench clock) the last stream got its first event.
    last_first_event: AtomicU64,
    failed_to_open: AtomicUsize,
}

/// Opens one SSE stream with a bare hyper client (one connection) and reads it to its end.
async fn run_stream(
    addr: String,
    job_id: String,
    stats: Arc<StreamStats>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let Ok(tcp) = TcpStream::connect(&addr).await else {
        stats.failed_to_open.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let _ = tcp.set_nodelay(true);
    let Ok((mut sender, connection)) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await
    else {
        stats.failed_to_open.fetch_add(1, Ordering::Relaxed);
        return;
    };
    tokio::spawn(connection);
    let request = http::Request::get(format!("/api/jobs/{job_id}/stream"))
        .header("host", &addr)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let Ok(response) = sender.send_request(request).await else {
        stats.failed_to_open.fetch_add(1, Ordering::Relaxed);
        return;
    };
    // The connect slot is free once the response head is in.
    drop(permit);
    let mut body = response.into_body();
    let mut buffer = String::new();
    let mut first = true;
    let mut latencies = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let received = now_ns();
        buffer.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let name = block.lines().find_map(|l| l.strip_prefix("event: "));
            let Some(name) = name else { continue };
            if first {
                first = false;
                stats.opened.fetch_add(1, Ordering::Relaxed);
                stats
                    .last_first_event
                    .fetch_max(received, Ordering::Relaxed);
            }
            if let Some(sent) = block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .and_then(|d| d.split("\"message\":\"t=").nth(1))
                .and_then(|rest| rest.split('"').next())
                .and_then(|t| t.parse::<u64>().ok())
            {
                if name == "progress" {
                    latencies.push(received.saturating_sub(sent));
                }
            }
            if name == "completed" || name == "failed" {
                stats.latencies.lock().unwrap().append(&mut latencies);
                stats.finished.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    stats.latencies.lock().unwrap().append(&mut latencies);
}

/// Opens `per_job` streams on each job, `concurrency` connects at a time; returns when all have
/// their first event (or `within` passed) and the time that took.
async fn open_streams(
    server: &Server,
    jobs: &[String],
    per_job: usize,
    concurrency: usize,
    stats: &Arc<StreamStats>,
    within: Duration,
) -> (Duration, tokio::task::JoinSet<()>) {
    let started = Instant::now();
    let total = jobs.len() * per_job;
    let mut tasks = tokio::task::JoinSet::new();
    let gate = Arc::new(Semaphore::new(concurrency));
    for _ in 0..per_job {
        for job in jobs {
            let permit = gate.clone().acquire_owned().await.unwrap();
            let (addr, job, stats) = (server.addr.clone(), job.clone(), stats.clone());
            tasks.spawn(run_stream(addr, job, stats, permit));
        }
    }
    let deadline = Instant::now() + within;
    while stats.opened.load(Ordering::Relaxed) + stats.failed_to_open.load(Ordering::Relaxed)
        < total
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (started.elapsed(), tasks)
}

fn percentiles(mut values: Vec<u64>) -> Value {
    if values.is_empty() {
        return json!(null);
    }
    values.sort_unstable();
    let at = |q: f64| values[((values.len() as f64 - 1.0) * q).round() as usize] as f64 / 1e6;
    json!({
        "count": values.len(),
        "p50_ms": round2(at(0.50)),
        "p95_ms": round2(at(0.95)),
        "p99_ms": round2(at(0.99)),
        "max_ms": round2(at(1.0)),
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

// ---------------------------------------------------------------------------------------------
// Throughput accounting

/// Concurrent clients creating jobs in the throughput workloads, as many as the peer's
/// producers (`PRODUCERS` in benches/peer/bullmq.mjs).
const PEER_CLIENTS: usize = 16;

/// Jobs per request in the bulk create workload.
const BULK_SIZE: usize = 1000;

/// Requests in flight in the bulk create workload (the peer's `BULK_PRODUCERS`).
const BULK_CLIENTS: usize = 4;

/// The no-op job of the throughput workloads: one step of 0 ms.
fn demo_job() -> Value {
    json!({"type": "demo", "payload": {"steps": 1, "step_ms": 0}})
}

/// What some jobcast processes had used at one moment: CPU seconds each, store commits in all.
struct Usage {
    node_cpu: Vec<f64>,
    commits: u64,
}

impl Usage {
    /// Adds to `result` what the processes used between `before` and `self` for `n` jobs:
    /// server CPU seconds and milliseconds per job (each node's too if there are several),
    /// store commits and commits per job.
    fn costs_since(&self, before: &Usage, n: usize, result: &mut Value) {
        let node_cpu: Vec<f64> = self
            .node_cpu
            .iter()
            .zip(&before.node_cpu)
            .map(|(after, before)| after - before)
            .collect();
        let cpu: f64 = node_cpu.iter().sum();
        let commits = self.commits.saturating_sub(before.commits);
        result["server_cpu_seconds"] = json!(round2(cpu));
        result["cpu_ms_per_job"] = json!(round3(cpu * 1000.0 / n as f64));
        if node_cpu.len() > 1 {
            result["node_cpu_seconds"] =
                json!(node_cpu.into_iter().map(round2).collect::<Vec<_>>());
        }
        result["commits"] = json!(commits);
        result["commits_per_job"] = json!(round3(commits as f64 / n as f64));
    }
}

/// CPU seconds this bench process (the HTTP clients) has used so far.
fn bench_cpu_seconds() -> f64 {
    cpu_seconds_of(std::process::id())
}

/// The value of `series` (a metric name with its labels, as exposed) in a Prometheus text
/// exposition.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Deletes a SQLite database file and its WAL and shared-memory files.
fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
}

/// Starts `count` jobcast processes on `database_url` at the same time; returns them and the
/// moment the first of them listened (its runner starts then).
fn start_together(
    database_url: &str,
    env: &[(&str, &str)],
    count: usize,
) -> (Vec<Server>, Instant) {
    let started: Vec<(Server, Instant)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|_| {
                scope.spawn(|| {
                    let server = Server::start(database_url, env);
                    (server, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = started.iter().map(|(_, at)| *at).min().unwrap();
    (
        started.into_iter().map(|(server, _)| server).collect(),
        first,
    )
}

/// One workload's line in the throughput summary.
struct SummaryRow {
    workload: String,
    /// Jobs per second, or why there is no figure.
    jobcast_rate: Result<f64, String>,
    bullmq_rate: Result<f64, String>,
    commits_per_job: Option<f64>,
}

/// The table that ends the throughput scenario.
fn print_summary(rows: &[SummaryRow]) {
    let rate = |r: &Result<f64, String>| match r {
        Ok(rate) => format!("{rate:.0}"),
        Err(why) => why.clone(),
    };
    println!("\nthroughput summary (SQLite; ratio = jobcast jobs/s / BullMQ jobs/s)");
    println!("| workload | jobcast jobs/s | BullMQ jobs/s | ratio | jobcast commits/job |");
    println!("|---|---|---|---|---|");
    for row in rows {
        let ratio = match (&row.jobcast_rate, &row.bullmq_rate) {
            (Ok(a), Ok(b)) if *b > 0.0 => format!("{:.2}", a / b),
            _ => "-".to_owned(),
        };
        let commits = row
            .commits_per_job
            .map_or("-".to_owned(), |c| format!("{c:.3}"));
        println!(
            "| {} | {} | {} | {ratio} | {commits} |",
            row.workload,
            rate(&row.jobcast_rate),
            rate(&row.bullmq_rate),
        );
    }
    println!();
}

// ---------------------------------------------------------------------------------------------
// The peer: the same workloads on BullMQ

/// The Redis the peer uses unless `JOBCAST_BENCH_REDIS_URL` names another.
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// How long one peer run may take before it is stopped and counted as failed.
const PEER_TIMEOUT: Duration = Duration::from_secs(600);

/// `benches/peer/bullmq.mjs`, run by node on a Redis that answered.
struct Peer {
    redis_url: String,
    dir: PathBuf,
}

impl Peer {
    /// The peer, ready to run (its npm dependencies installed with `npm ci` if they are
    /// not), or why it is skipped: `--no-peer`, Redis not answering, node or npm missing.
    async fn find(no_peer: bool) -> Result<Peer, String> {
        if no_peer {
            return Err("--no-peer was given".to_owned());
        }
        let redis_url = std::env::var("JOBCAST_BENCH_REDIS_URL")
            .unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
        redis_ping(&redis_url).await?;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer");
        let version = run_quietly(tokio::process::Command::new("node").arg("--version"))
            .await
            .map_err(|e| format!("node is needed to run the peer: {e}"))?;
        let major: u32 = version
            .trim()
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if major < 20 {
            return Err(format!(
                "the peer needs node 20 or later, this is {}",
                version.trim()
            ));
        }
        if !dir.join("node_modules").exists() {
            run_quietly(
                tokio::process::Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--silent"])
                    .current_dir(&dir),
            )
            .await
            .map_err(|e| format!("`npm ci` in {} did not work: {e}", dir.display()))?;
        }
        Ok(Peer { redis_url, dir })
    }

    /// `node bullmq.mjs SCENARIO JOBS WORKERS REDIS_URL`: the JSON it prints.
    async fn run(&self, scenario: &str, jobs: usize, workers: usize) -> Result<Value, String> {
        let out = run_quietly(
            tokio::process::Command::new("node")
                .arg("bullmq.mjs")
                .args([scenario, &jobs.to_string(), &workers.to_string()])
                .arg(&self.redis_url)
                .current_dir(&self.dir),
        )
        .await?;
        let line = out
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        serde_json::from_str(line).map_err(|e| format!("the peer printed {line:?}: {e}"))
    }
}

/// Runs `command` to its end (within [`PEER_TIMEOUT`]) with its output captured: its stdout,
/// or what went wrong, with the end of its stderr.
async fn run_quietly(command: &mut tokio::process::Command) -> Result<String, String> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", command.as_std().get_program()))?;
    let output = tokio::time::timeout(PEER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("no end within {} s", PEER_TIMEOUT.as_secs()))?
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!("{}: {}", output.status, tail.join(" / ")));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Sends PING to the Redis at `url` (`redis://[user:password@]host[:port][/db]`); Ok if it
/// answers PONG within 2 s.
async fn redis_ping(url: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| format!("JOBCAST_BENCH_REDIS_URL {url:?} is not a redis:// URL"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let address = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    };
    let unreachable = |why: String| format!("Redis at {url} cannot be reached: {why}");
    let ping = async {
        let mut tcp = TcpStream::connect(&address)
            .await
            .map_err(|e| e.to_string())?;
        tcp.write_all(b"PING\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut reply = [0u8; 64];
        let read = tcp.read(&mut reply).await.map_err(|e| e.to_string())?;
        Ok::<String, String>(String::from_utf8_lossy(&reply[..read]).trim().to_owned())
    };
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Err(_) => Err(unreachable("no answer within 2 s".to_owned())),
        Ok(Err(why)) => Err(unreachable(why)),
        Ok(Ok(reply)) if reply == "+PONG" => Ok(()),
        Ok(Ok(reply)) => Err(format!("Redis at {url} answered PING with {reply:?}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

struct Bench {
    dir: tempfile::TempDir,
    client: reqwest::Client,
    results: BTreeMap<String, Value>,
    /// What was not measured, and why: printed, and in the JSON.
    notes: Vec<String>,
    quick: bool,
}

impl Bench {
    fn db(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.db"))
    }

    fn record(&mut self, key: String, value: Value) {
        println!("{key:<48} {value}");
        self.results.insert(key, value);
    }

    fn note(&mut self, text: &str) {
        println!("note: {text}");
        self.notes.push(text.to_owned());
    }

    /// J jobs x S streams, U updates per job, through `via` ("local": the streaming server;
    /// "remote": a second server on the same database file).
    async fn fanout(&mut self, jobs: usize, streams: usize, updates: usize, via: &str) {
        let db = self.db(&format!("fanout-{jobs}x{streams}-{via}"));
        let server = Server::start(&sqlite_url(&db), &[]);
        let remote = (via == "remote").then(|| Server::start(&sqlite_url(&db), &[]));
        let writer = remote.as_ref().unwrap_or(&server);
        // Another process sees an update at its next 1 s poll: rounds further apart.
        let gap = Duration::from_millis(if via == "remote" { 1200 } else { 300 });
        let result = self
            .fanout_on(&server, writer, jobs, streams, updates, gap)
            .await;
        self.record(
            format!("fanout {jobs}x{streams} U={updates} via {via}"),
            result,
        );
    }

    /// The fan-out measurement: `jobs` external jobs made on `streaming`, `streams` streams on
    /// each opened there, `updates` rounds of one progress update per job posted to `writer`
    /// (`gap` apart), each carrying its send time; then every job completed through `writer`.
    /// Returns the delivery latencies and how many streams missed their terminal event.
    async fn fanout_on(
        &self,
        streaming: &Server,
        writer: &Server,
        jobs: usize,
        streams: usize,
        updates: usize,
        gap: Duration,
    ) -> Value {
        let ids = create_jobs(&self.client, streaming, json!({"type": "external"}), jobs).await;
        let stats = Arc::new(StreamStats::default());
        let (_, mut tasks) = open_streams(
            streaming,
            &ids,
            streams,
            512,
            &stats,
            Duration::from_secs(60),
        )
        .await;
        let opened = stats.opened.load(Ordering::Relaxed);
        let mut posts_failed = 0usize;
        for round in 1..=updates {
            let gate = Arc::new(Semaphore::new(64));
            let mut posts = tokio::task::JoinSet::new();
            for id in &ids {
                let permit = gate.clone().acquire_owned().await.unwrap();
                let (client, url) = (
                    self.client.clone(),
                    writer.url(&format!("/api/jobs/{id}/progress")),
                );
                posts.spawn(async move {
                    let body = json!({"progress": round as f64 * 90.0 / updates as f64, "message": format!("t={}", now_ns())});
                    let status = client.post(url).json(&body).send().await.map(|r| r.status());
                    drop(permit);
                    status
                });
            }
            while let Some(status) = posts.join_next().await {
                if !matches!(status, Ok(Ok(status)) if status.is_success()) {
                    posts_failed += 1;
                }
            }
            // Let this round arrive before the next, so each update is measured on its own.
            tokio::time::sleep(gap).await;
        }
        for id in &ids {
            let status = self
                .client
                .post(writer.url(&format!("/api/jobs/{id}/complete")))
                .json(&json!({}))
                .send()
                .await
                .map(|r| r.status());
            if !matches!(status, Ok(status) if status.is_success()) {
                posts_failed += 1;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while stats.finished.load(Ordering::Relaxed) < opened && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tasks.abort_all();
        let finished = stats.finished.load(Ordering::Relaxed);
        let latencies = std::mem::take(&mut *stats.latencies.lock().unwrap());
        let mut result = percentiles(latencies);
        if result.is_null() {
            result = json!({"count": 0});
        }
        result["updates_expected"] = json!(opened * updates);
        result["streams"] = json!(jobs * streams);
        result["streams_opened"] = json!(opened);
        result["terminal_events_lost"] = json!(opened.saturating_sub(finished));
        result["posts_failed"] = json!(posts_failed);
        result
    }

    /// CPU and memory of a server holding `n` idle streams.
    async fn idle(&mut self, n: usize, window: Duration) {
        let db = self.db(&format!("idle-{n}"));
        let server = Server::start(&sqlite_url(&db), &[]);
        let jobs = (n / 10).max(1);
        let ids = create_jobs(&self.client, &server, json!({"type": "external"}), jobs).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_before = server.rss_kib();
        let stats = Arc::new(StreamStats::default());
        let (took, mut tasks) = open_streams(
            &server,
            &ids,
            n / jobs,
            512,
            &stats,
            Duration::from_secs(120),
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_open = server.rss_kib();
        let cpu_before = server.cpu_seconds();
        let t0 = Instant::now();
        tokio::time::sleep(window).await;
        let cpu = server.cpu_seconds() - cpu_before;
        let elapsed = t0.elapsed().as_secs_f64();
        let opened = stats.opened.load(Ordering::Relaxed);
        tasks.abort_all();
        self.record(
            format!("idle {n} streams, shared poller"),
            json!({
                "streams_open": opened,
                "cpu_seconds_per_minute": round2(cpu / elapsed * 60.0),
                "cpu_percent_of_one_core": round2(cpu / elapsed * 100.0),
                "rss_mib": round2(rss_open as f64 / 1024.0),
                "rss_per_stream_kib": round2((rss_open.saturating_sub(rss_before)) as f64 / opened.max(1) as f64),
                "open_seconds": round2(took.as_secs_f64()),
                "window_seconds": round2(elapsed),
            }),
        );
    }

    /// CPU of one query per stream per second for `n` streams, on jobs like [`Bench::idle`]'s
    /// (10 streams per job): the design the shared poller replaced, run by [`PollLoad`].
    async fn idle_polling(&mut self, n: usize, window: Duration) {
        let db = self.db(&format!("idle-polling-{n}"));
        let server = Server::start(&sqlite_url(&db), &[]);
        let jobs = (n / 10).max(1);
        let ids = create_jobs(&self.client, &server, json!({"type": "external"}), jobs).await;
        let streams: Vec<String> = ids
            .iter()
            .cycle()
            .take(jobs * (n / jobs))
            .cloned()
            .collect();
        let load = PollLoad::start(&sqlite_url(&db), &streams);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let cpu_before = load.cpu_seconds();
        let t0 = Instant::now();
        tokio::time::sleep(window).await;
        let cpu = load.cpu_seconds() - cpu_before;
        let elapsed = t0.elapsed().as_secs_f64();
        drop(load);
        drop(server);
        self.record(
            format!("idle {n} streams, one query each (bench loop)"),
            json!({
                "polling_loops": streams.len(),
                "cpu_seconds_per_minute": round2(cpu / elapsed * 60.0),
                "cpu_percent_of_one_core": round2(cpu / elapsed * 100.0),
                "window_seconds": round2(elapsed),
            }),
        );
    }

    /// Creates `n` no-op demo jobs round-robin over `nodes` (servers on one database), from
    /// `clients` concurrent clients, and waits until none is queued or running: jobs and
    /// creates per second, the nodes' CPU time and store commits per job.
    async fn jobs_end_to_end(&self, nodes: &[&Server], n: usize, clients: usize) -> Value {
        let before = self.usage(nodes).await;
        let bench_cpu = bench_cpu_seconds();
        let started = Instant::now();
        create_jobs_on(&self.client, nodes, demo_job(), n, clients).await;
        let created = started.elapsed();
        self.wait_until_idle(nodes[0]).await;
        let elapsed = started.elapsed().as_secs_f64();
        let bench_cpu = bench_cpu_seconds() - bench_cpu;
        let after = self.usage(nodes).await;
        let mut result = json!({
            "jobs_per_second": round2(n as f64 / elapsed),
            "creates_per_second": round2(n as f64 / created.as_secs_f64()),
            "seconds": round2(elapsed),
            "clients": clients,
        });
        after.costs_since(&before, n, &mut result);
        result["bench_client_cpu_ms_per_job"] = json!(round3(bench_cpu * 1000.0 / n as f64));
        result
    }

    /// The servers' CPU seconds (from /proc) and store commits (`jobcast_store_commits_total`
    /// from their /metrics), each summed over `nodes`.
    async fn usage(&self, nodes: &[&Server]) -> Usage {
        let mut usage = Usage {
            node_cpu: Vec::new(),
            commits: 0,
        };
        for node in nodes {
            usage.node_cpu.push(node.cpu_seconds());
            let text = self.get_text(node.url("/metrics")).await;
            usage.commits += metric(&text, "jobcast_store_commits_total")
                .expect("/metrics has jobcast_store_commits_total")
                as u64;
        }
        usage
    }

    /// Like [`Bench::usage`] for processes that were just started: their commit counters
    /// start at 0 with the process, and everything they commit belongs to what they are
    /// started for, so the counters are taken as 0 rather than read (a read would miss the
    /// first commits of workers that begin at once).
    fn usage_from_start(nodes: &[&Server]) -> Usage {
        Usage {
            node_cpu: nodes.iter().map(|node| node.cpu_seconds()).collect(),
            commits: 0,
        }
    }

    /// How many jobs of type `demo` the store holds with `status`, from /metrics.
    async fn demo_jobs(&self, server: &Server, status: &str) -> u64 {
        let text = self.get_text(server.url("/metrics")).await;
        let series = format!("jobcast_jobs{{type=\"demo\",status=\"{status}\"}}");
        metric(&text, &series).unwrap_or(0.0) as u64
    }

    /// The `throughput` scenario: SQLite, a fresh file per measurement, no-op `demo` jobs;
    /// each workload measured on jobcast and then, unless the peer is skipped, on BullMQ.
    /// Ends with a summary table.
    async fn throughput(&mut self, no_peer: bool) {
        let n = self.scale(10_000, 1000);
        let peer = Peer::find(no_peer).await;
        if let Err(why) = &peer {
            println!("{:<48} skipped: {why}", "bullmq (peer)");
            self.notes
                .push(format!("the BullMQ peer was skipped: {why}"));
        }
        let mut rows = Vec::new();

        let jobcast = self.throughput_create(n).await;
        rows.push(
            self.compare("create", jobcast, &peer, Some(("create", n, 1)))
                .await,
        );
        for workers in [4, 16] {
            let jobcast = self.throughput_drain(n, workers, 0).await;
            let workload = format!("drain, {workers} workers");
            rows.push(
                self.compare(&workload, jobcast, &peer, Some(("drain", n, workers)))
                    .await,
            );
        }
        for workers in [4, 16] {
            let jobcast = self.throughput_e2e(n, workers).await;
            let workload = format!("e2e, {workers} workers");
            rows.push(
                self.compare(&workload, jobcast, &peer, Some(("e2e", n, workers)))
                    .await,
            );
        }
        let stored = self.scale(1_000_000, 100_000);
        let jobcast = self.throughput_drain(n, 4, stored).await;
        let workload = format!("drain, 4 workers, {stored} stored");
        rows.push(self.compare(&workload, jobcast, &peer, None).await);
        if peer.is_ok() {
            self.notes.push(format!(
                "BullMQ is not measured with {stored} jobs stored: the peer has no such preload"
            ));
        }
        let bulk = self.scale(100_000, 10_000);
        let jobcast = self.throughput_bulk(bulk).await;
        rows.push(
            self.compare(
                "bulk create",
                jobcast,
                &peer,
                Some(("bulk", bulk, BULK_CLIENTS)),
            )
            .await,
        );

        self.progress_rate(Duration::from_secs(if self.quick { 2 } else { 5 }))
            .await;
        print_summary(&rows);
    }

    /// `create`: `n` jobs created by [`PEER_CLIENTS`] concurrent clients on a server with no
    /// worker.
    async fn throughput_create(&mut self, n: usize) -> Result<Value, String> {
        let db = self.db("throughput-create");
        let server = Server::start(&sqlite_url(&db), &[("JOBCAST_WORKERS", "0")]);
        let before = self.usage(&[&server]).await;
        let bench_cpu = bench_cpu_seconds();
        let started = Instant::now();
        create_jobs_on(&self.client, &[&server], demo_job(), n, PEER_CLIENTS).await;
        let seconds = started.elapsed().as_secs_f64();
        let bench_cpu = bench_cpu_seconds() - bench_cpu;
        let after = self.usage(&[&server]).await;
        let mut result = json!({
            "jobs_per_second": round2(n as f64 / seconds),
            "seconds": round3(seconds),
            "clients": PEER_CLIENTS,
        });
        after.costs_since(&before, n, &mut result);
        result["bench_client_cpu_ms_per_job"] = json!(round3(bench_cpu * 1000.0 / n as f64));
        let queued = self.demo_jobs(&server, "queued").await;
        drop(server);
        remove_db(&db);
        self.record_checked(
            format!("throughput create {n} jobs, {PEER_CLIENTS} clients"),
            result,
            queued,
            n as u64,
            "queued",
        )
    }

    /// `drain`: `n` jobs queued by a server with no worker (64 clients, not timed), which is
    /// then stopped; a server with `workers` workers started on the same file drains them,
    /// timed from its start (the moment it says it listens; its runner starts then) until
    /// none is queued or running. With `stored` > 0 the file holds that many finished jobs
    /// first.
    async fn throughput_drain(
        &mut self,
        n: usize,
        workers: usize,
        stored: usize,
    ) -> Result<Value, String> {
        let db = self.db(&format!("throughput-drain-{workers}-{stored}"));
        if stored > 0 {
            preload_finished_jobs(&db, stored).await;
        }
        let url = sqlite_url(&db);
        let queuer = Server::start(&url, &[("JOBCAST_WORKERS", "0")]);
        create_jobs_on(&self.client, &[&queuer], demo_job(), n, 64).await;
        drop(queuer);
        let workers_text = workers.to_string();
        let (servers, started) = start_together(&url, &[("JOBCAST_WORKERS", &workers_text)], 1);
        let nodes: Vec<&Server> = servers.iter().collect();
        let before = Self::usage_from_start(&nodes);
        self.wait_until_idle(nodes[0]).await;
        let seconds = started.elapsed().as_secs_f64();
        let after = self.usage(&nodes).await;
        let mut result = json!({
            "jobs_per_second": round2(n as f64 / seconds),
            "seconds": round3(seconds),
            "workers": workers,
        });
        after.costs_since(&before, n, &mut result);
        let completed = self.demo_jobs(nodes[0], "completed").await;
        drop(servers);
        remove_db(&db);
        let label = if stored > 0 {
            format!("throughput drain {n} jobs, {workers} workers, {stored} stored")
        } else {
            format!("throughput drain {n} jobs, {workers} workers")
        };
        self.record_checked(label, result, completed, (stored + n) as u64, "completed")
    }

    /// `e2e`: `n` jobs created by [`PEER_CLIENTS`] concurrent clients while `workers` workers
    /// run them; from the first create until none is queued or running.
    async fn throughput_e2e(&mut self, n: usize, workers: usize) -> Result<Value, String> {
        let db = self.db(&format!("throughput-e2e-{workers}"));
        let workers_text = workers.to_string();
        let server = Server::start(&sqlite_url(&db), &[("JOBCAST_WORKERS", &workers_text)]);
        let mut result = self.jobs_end_to_end(&[&server], n, PEER_CLIENTS).await;
        result["workers"] = json!(workers);
        let completed = self.demo_jobs(&server, "completed").await;
        drop(server);
        remove_db(&db);
        self.record_checked(
            format!("throughput e2e {n} jobs, {workers} workers"),
            result,
            completed,
            n as u64,
            "completed",
        )
    }

    /// `bulk create`: `n` jobs created through `POST /api/jobs/bulk`, [`BULK_SIZE`] per
    /// request, [`BULK_CLIENTS`] requests in flight, on a server with no worker. Skipped (not
    /// failed) if the server has no such endpoint (404 or 405).
    async fn throughput_bulk(&mut self, n: usize) -> Result<Value, String> {
        let label = format!("throughput bulk create {n} jobs, {BULK_CLIENTS} clients");
        let db = self.db("throughput-bulk");
        let server = Server::start(&sqlite_url(&db), &[("JOBCAST_WORKERS", "0")]);
        let before = self.usage(&[&server]).await;
        let batches = n.div_ceil(BULK_SIZE);
        let next = Arc::new(AtomicUsize::new(0));
        let bench_cpu = bench_cpu_seconds();
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..BULK_CLIENTS {
            let (client, url, next) = (
                self.client.clone(),
                server.url("/api/jobs/bulk"),
                next.clone(),
            );
            tasks.spawn(async move {
                loop {
                    let batch = next.fetch_add(1, Ordering::Relaxed);
                    if batch >= batches {
                        return Ok(());
                    }
                    let size = BULK_SIZE.min(n - batch * BULK_SIZE);
                    let body = json!({"jobs": vec![demo_job(); size]});
                    let response = client
                        .post(&url)
                        .json(&body)
                        .send()
                        .await
                        .map_err(|e| (None, e.to_string()))?;
                    let status = response.status();
                    if !status.is_success() {
                        // Stop the other clients too.
                        next.store(batches, Ordering::Relaxed);
                        let text = response.text().await.unwrap_or_default();
                        return Err((Some(status.as_u16()), text));
                    }
                }
            });
        }
        let mut failure = None;
        while let Some(outcome) = tasks.join_next().await {
            if let Err(error) = outcome.unwrap() {
                failure.get_or_insert(error);
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let bench_cpu = bench_cpu_seconds() - bench_cpu;
        let after = self.usage(&[&server]).await;
        let queued = self.demo_jobs(&server, "queued").await;
        drop(server);
        remove_db(&db);
        match failure {
            Some((Some(status @ (404 | 405)), _)) => {
                let why = format!(
                    "POST /api/jobs/bulk answered {status}: this server has no bulk endpoint"
                );
                println!("{label:<48} skipped: {why}");
                self.notes.push(format!("{label}: skipped, {why}"));
                Err(why)
            }
            Some((status, text)) => {
                let status = status.map_or("no answer".to_owned(), |s| s.to_string());
                let text: String = text.chars().take(200).collect();
                let why = format!("POST /api/jobs/bulk failed ({status}): {text}");
                self.record(label, json!({"failed": why}));
                Err(why)
            }
            None => {
                let mut result = json!({
                    "jobs_per_second": round2(n as f64 / seconds),
                    "seconds": round3(seconds),
                    "clients": BULK_CLIENTS,
                    "jobs_per_request": BULK_SIZE,
                });
                after.costs_since(&before, n, &mut result);
                result["bench_client_cpu_ms_per_job"] =
                    json!(round3(bench_cpu * 1000.0 / n as f64));
                self.record_checked(label, result, queued, n as u64, "queued")
            }
        }
    }

    /// Records `result`; if the store does not hold `expected` jobs `status` (it holds
    /// `found`), says so in the result and in the notes.
    fn record_checked(
        &mut self,
        label: String,
        mut result: Value,
        found: u64,
        expected: u64,
        status: &str,
    ) -> Result<Value, String> {
        if found != expected {
            result[format!("jobs_{status}")] = json!(found);
            result[format!("jobs_{status}_expected")] = json!(expected);
            self.notes.push(format!(
                "{label}: the store held {found} jobs {status}, not {expected}"
            ));
        }
        self.record(label, result.clone());
        Ok(result)
    }

    /// Runs `peer` (scenario, jobs, workers) on BullMQ unless it is skipped, records its
    /// result with the ratios jobcast / BullMQ, and makes the workload's summary row.
    async fn compare(
        &mut self,
        workload: &str,
        jobcast: Result<Value, String>,
        peer: &Result<Peer, String>,
        spec: Option<(&str, usize, usize)>,
    ) -> SummaryRow {
        let bullmq = match (peer, spec) {
            (Err(_), _) => Err("skipped".to_owned()),
            (Ok(_), None) => Err("not run".to_owned()),
            (Ok(peer), Some((scenario, jobs, workers))) => {
                let label = match scenario {
                    "create" => format!("bullmq create {jobs} jobs, {PEER_CLIENTS} producers"),
                    "bulk" => format!("bullmq bulk create {jobs} jobs, {workers} producers"),
                    _ => format!("bullmq {scenario} {jobs} jobs, {workers} workers"),
                };
                match peer.run(scenario, jobs, workers).await {
                    Ok(mut result) => {
                        if let Ok(jobcast) = &jobcast {
                            let ratio =
                                |key: &str| match (jobcast[key].as_f64(), result[key].as_f64()) {
                                    (Some(a), Some(b)) if b > 0.0 => json!(round2(a / b)),
                                    _ => Value::Null,
                                };
                            result["jobcast_to_bullmq"] = json!({
                                "jobs_per_second": ratio("jobs_per_second"),
                                "cpu_ms_per_job": ratio("cpu_ms_per_job"),
                            });
                        }
                        self.record(label, result.clone());
                        Ok(result)
                    }
                    Err(why) => {
                        println!("{label:<48} failed: {why}");
                        self.notes.push(format!("{label}: failed, {why}"));
                        Err("failed".to_owned())
                    }
                }
            }
        };
        SummaryRow {
            workload: workload.to_owned(),
            jobcast_rate: jobcast
                .as_ref()
                .map_err(|_| "skipped".to_owned())
                .and_then(|r| r["jobs_per_second"].as_f64().ok_or_else(|| "?".to_owned())),
            bullmq_rate: bullmq
                .and_then(|r| r["jobs_per_second"].as_f64().ok_or_else(|| "?".to_owned())),
            commits_per_job: jobcast.ok().and_then(|r| r["commits_per_job"].as_f64()),
        }
    }

    /// Progress updates per second accepted through the API, from 64 concurrent clients.
    async fn progress_rate(&mut self, window: Duration) {
        let db = self.db("progress");
        let server = Server::start(&sqlite_url(&db), &[]);
        let ids = create_jobs(&self.client, &server, json!({"type": "external"}), 64).await;
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Instant::now() + window;
        let mut tasks = tokio::task::JoinSet::new();
        for id in ids {
            let (client, url, accepted) = (
                self.client.clone(),
                server.url(&format!("/api/jobs/{id}/progress")),
                accepted.clone(),
            );
            tasks.spawn(async move {
                let mut i = 0u64;
                while Instant::now() < stop {
                    i += 1;
                    let body = json!({"progress": (i % 100) as f64, "message": "working"});
                    if let Ok(r) = client.post(&url).json(&body).send().await {
                        if r.status().is_success() {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        let started = Instant::now();
        while tasks.join_next().await.is_some() {}
        let rate = accepted.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
        self.record(
            "progress updates through the API".to_owned(),
            json!({"per_second": round2(rate)}),
        );
    }

    /// How fast streams open: `n` streams on n/10 jobs, 512 connects at a time.
    async fn open(&mut self, n: usize) {
        let db = self.db(&format!("open-{n}"));
        let server = Server::start(&sqlite_url(&db), &[]);
        let ids = create_jobs(
            &self.client,
            &server,
            json!({"type": "external"}),
            (n / 10).max(1),
        )
        .await;
        let stats = Arc::new(StreamStats::default());
        let started_ns = now_ns();
        let (took, mut tasks) = open_streams(
            &server,
            &ids,
            n / ids.len(),
            512,
            &stats,
            Duration::from_secs(120),
        )
        .await;
        let opened = stats.opened.load(Ordering::Relaxed);
        let all_first = (stats
            .last_first_event
            .load(Ordering::Relaxed)
            .saturating_sub(started_ns)) as f64
            / 1e9;
        tasks.abort_all();
        self.record(
            format!("open {n} streams"),
            json!({
                "streams_opened": opened,
                "failed": stats.failed_to_open.load(Ordering::Relaxed),
                "streams_per_second": round2(opened as f64 / took.as_secs_f64()),
                "seconds_until_all_had_their_first_event": round2(all_first),
            }),
        );
    }
}

/// The server the `postgres` scenario makes its databases on, unless
/// `JOBCAST_BENCH_POSTGRES_URL` names another.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

impl Bench {
    /// The `postgres` scenario: jobs per second with 1 and 2 nodes, and fan-out delivery
    /// latency with the updates posted to another node and to the streaming one. Skipped, with
    /// a line saying why, if the server cannot be reached or refuses to create a database.
    async fn postgres(&mut self) {
        let admin = std::env::var("JOBCAST_BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        match PgDatabase::create(&admin).await {
            Ok(probe) => probe.remove().await,
            Err(error) => {
                let hint = "set JOBCAST_BENCH_POSTGRES_URL to a server and a role that may \
                            create databases";
                println!("{:<48} skipped: {error} ({hint})", "postgres");
                return;
            }
        }
        let n = self.scale(10_000, 1000);
        for nodes in [1, 2] {
            self.postgres_throughput(&admin, n, nodes).await;
        }
        for nodes in [1, 2] {
            self.postgres_drain(&admin, n, nodes).await;
        }
        for (jobs, streams) in [
            (1, self.scale(1000, 100)),
            (self.scale(100, 10), self.scale(100, 10)),
        ] {
            for via in ["remote", "local"] {
                self.postgres_fanout(&admin, jobs, streams, 5, via).await;
            }
        }
    }

    fn scale(&self, full: usize, small: usize) -> usize {
        if self.quick {
            small
        } else {
            full
        }
    }

    /// A jobcast process on the PostgreSQL database `db`, 4 workers, uploads in a folder all
    /// the processes share.
    fn postgres_server(&self, db: &PgDatabase) -> Server {
        self.postgres_servers(db, 1, 4).0.pop().unwrap()
    }

    /// `count` jobcast processes started together on the PostgreSQL database `db`, `workers`
    /// workers each, uploads in a folder all the processes share; and the moment the first
    /// listened.
    fn postgres_servers(
        &self,
        db: &PgDatabase,
        count: usize,
        workers: usize,
    ) -> (Vec<Server>, Instant) {
        let uploads = self.dir.path().join("postgres-uploads");
        let workers = workers.to_string();
        start_together(
            &db.url,
            &[
                ("JOBCAST_UPLOAD_DIR", uploads.to_str().unwrap()),
                ("JOBCAST_WORKERS", &workers),
            ],
            count,
        )
    }

    /// Drain on a fresh PostgreSQL database: `n` demo jobs queued by a node with no worker
    /// (stopped then), drained by `nodes` processes of 4 workers started together, timed from
    /// the first one's start until none is queued or running; commits summed over the nodes.
    async fn postgres_drain(&mut self, admin: &str, n: usize, nodes: usize) {
        let db = PgDatabase::create(admin).await.unwrap();
        let queuer = self.postgres_servers(&db, 1, 0).0.pop().unwrap();
        create_jobs_on(&self.client, &[&queuer], demo_job(), n, 64).await;
        drop(queuer);
        let (servers, started) = self.postgres_servers(&db, nodes, 4);
        let refs: Vec<&Server> = servers.iter().collect();
        let before = Self::usage_from_start(&refs);
        self.wait_until_idle(refs[0]).await;
        let seconds = started.elapsed().as_secs_f64();
        let after = self.usage(&refs).await;
        let mut result = json!({
            "jobs_per_second": round2(n as f64 / seconds),
            "seconds": round3(seconds),
            "workers_per_node": 4,
        });
        after.costs_since(&before, n, &mut result);
        let completed = self.demo_jobs(refs[0], "completed").await;
        drop(servers);
        db.remove().await;
        let label = format!(
            "postgres drain {n} jobs, {nodes} node{} x 4 workers",
            if nodes == 1 { "" } else { "s" }
        );
        let _ = self.record_checked(label, result, completed, n as u64, "completed");
    }

    /// Jobs per second end to end on a fresh PostgreSQL database served by `nodes` processes.
    async fn postgres_throughput(&mut self, admin: &str, n: usize, nodes: usize) {
        let db = PgDatabase::create(admin).await.unwrap();
        let servers: Vec<Server> = (0..nodes).map(|_| self.postgres_server(&db)).collect();
        let refs: Vec<&Server> = servers.iter().collect();
        let mut result = self.jobs_end_to_end(&refs, n, 64).await;
        result["workers_per_node"] = json!(4);
        let label = format!(
            "postgres throughput {n} jobs, {nodes} node{}",
            if nodes == 1 { "" } else { "s" }
        );
        drop(servers);
        db.remove().await;
        self.record(label, result);
    }

    /// Fan-out on a fresh PostgreSQL database: streams on node A, updates posted to node B
    /// (`via` "remote": B's writes notify A) or to A itself ("local").
    async fn postgres_fanout(
        &mut self,
        admin: &str,
        jobs: usize,
        streams: usize,
        updates: usize,
        via: &str,
    ) {
        let db = PgDatabase::create(admin).await.unwrap();
        let server = self.postgres_server(&db);
        let remote = (via == "remote").then(|| self.postgres_server(&db));
        let writer = remote.as_ref().unwrap_or(&server);
        let gap = Duration::from_millis(300);
        let result = self
            .fanout_on(&server, writer, jobs, streams, updates, gap)
            .await;
        drop(remote);
        drop(server);
        db.remove().await;
        self.record(
            format!("postgres fanout {jobs}x{streams} U={updates} via {via}"),
            result,
        );
    }
}

/// A fresh PostgreSQL database for one measurement, `jobcast_bench_<uuid>`.
struct PgDatabase {
    admin: String,
    name: String,
    /// The URL of this database on the admin URL's server.
    url: String,
}

impl PgDatabase {
    async fn create(admin: &str) -> Result<PgDatabase, String> {
        use sqlx::Executor;
        let name = format!("jobcast_bench_{}", uuid::Uuid::now_v7().simple());
        let mut conn = pg_connect(admin).await?;
        conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .map_err(|e| format!("cannot create a database on {admin}: {e}"))?;
        let _ = sqlx::Connection::close(conn).await;
        Ok(PgDatabase {
            url: with_database(admin, &name),
            admin: admin.to_owned(),
            name,
        })
    }

    /// Drops the database, closing whatever connections are still open to it.
    async fn remove(self) {
        use sqlx::Executor;
        let dropped = match pg_connect(&self.admin).await {
            Ok(mut conn) => conn
                .execute(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name).as_str())
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Err(error) => Err(error),
        };
        if let Err(error) = dropped {
            eprintln!("could not drop the database {}: {error}", self.name);
        }
    }
}

/// A connection to the PostgreSQL server at `url`, or why not (within 5 s).
async fn pg_connect(url: &str) -> Result<sqlx::PgConnection, String> {
    match tokio::time::timeout(
        Duration::from_secs(5),
        <sqlx::PgConnection as sqlx::Connection>::connect(url),
    )
    .await
    {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(error)) => Err(format!("cannot connect to {url}: {error}")),
        Err(_) => Err(format!("cannot connect to {url}: no answer within 5 s")),
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

impl Bench {
    /// Command jobs per second: `n` jobs of a type whose program prints a result and exits,
    /// run by 4 workers.
    async fn commands(&mut self, n: usize) {
        let config = self.dir.path().join("commands.toml");
        std::fs::write(
            &config,
            "[job_types.echo]\nkind = \"command\"\nmax_attempts = 1\n\
             command = [\"sh\", \"-c\", \"read p; echo '{\\\"progress\\\": 50}'; echo '{\\\"result\\\": 1}'\"]\n",
        )
        .unwrap();
        let db = self.db("commands");
        let server = Server::start_with(&sqlite_url(&db), &[], Some(&config));
        let started = Instant::now();
        create_jobs(&self.client, &server, json!({"type": "echo"}), n).await;
        self.wait_until_idle(&server).await;
        let seconds = started.elapsed().as_secs_f64();
        let failed: Value = self
            .get_json(server.url("/api/jobs?status=failed&type=echo&limit=1"))
            .await;
        assert!(
            failed["jobs"].as_array().unwrap().is_empty(),
            "command jobs failed: {failed}"
        );
        self.record(
            format!("command jobs, {n} jobs, 4 workers"),
            json!({"jobs_per_second": round2(n as f64 / seconds), "seconds": round2(seconds)}),
        );
    }

    /// Claims per second: `n` external jobs claimed and completed by 8 concurrent workers.
    async fn claims(&mut self, n: usize) {
        let db = self.db("claims");
        let server = Server::start(&sqlite_url(&db), &[]);
        create_jobs(&self.client, &server, json!({"type": "external"}), n).await;
        let started = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for w in 0..8 {
            let (client, base) = (self.client.clone(), server.url(""));
            workers.spawn(async move {
                let mut claimed = 0usize;
                loop {
                    let response = client
                        .post(format!("{base}/api/workers/claim"))
                        .json(&json!({"types": ["external"], "worker": format!("w{w}")}))
                        .send()
                        .await
                        .unwrap();
                    if response.status() == 204 {
                        return claimed;
                    }
                    let job: Value = response.json().await.unwrap();
                    let id = job["id"].as_str().unwrap();
                    client
                        .post(format!("{base}/api/jobs/{id}/complete"))
                        .header("Jobcast-Lease", job["lease_id"].as_str().unwrap())
                        .json(&json!({}))
                        .send()
                        .await
                        .unwrap();
                    claimed += 1;
                }
            });
        }
        let mut claimed = 0;
        while let Some(count) = workers.join_next().await {
            claimed += count.unwrap();
        }
        let seconds = started.elapsed().as_secs_f64();
        self.record(
            format!("worker claims, {n} jobs, 8 workers"),
            json!({
                "claims": claimed,
                "claims_per_second": round2(claimed as f64 / seconds),
                "note": "each claim is followed by the worker's complete call",
            }),
        );
    }

    async fn get_text(&self, url: String) -> String {
        self.client
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn get_json(&self, url: String) -> Value {
        self.client
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until no job is queued or running.
    async fn wait_until_idle(&self, server: &Server) {
        loop {
            let mut busy = false;
            for status in ["queued", "running"] {
                let page: Value = self
                    .get_json(server.url(&format!("/api/jobs?status={status}&limit=1")))
                    .await;
                busy |= !page["jobs"].as_array().unwrap().is_empty();
            }
            if !busy {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Control: the types overview and bulk retry

/// Creates jobs one after another on each of `clients` connections until `stop`; every
/// create's latency in nanoseconds.
async fn create_steadily(
    client: reqwest::Client,
    url: String,
    clients: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<u64> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, url, stop) = (client.clone(), url.clone(), stop.clone());
        tasks.spawn(async move {
            let mut took = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let response = client
                    .post(&url)
                    .json(&json!({"type": "external"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201);
                took.push(started.elapsed().as_nanos() as u64);
            }
            took
        });
    }
    let mut all = Vec::new();
    while let Some(took) = tasks.join_next().await {
        all.extend(took.unwrap());
    }
    all
}

impl Bench {
    /// The `control` scenario, on SQLite: `GET /api/types` with 1 000 000 jobs stored, and a
    /// bulk retry of 100 000 failed jobs while 4 clients create jobs one after another.
    /// The cost of a parent's stream being its family's: `children` external children each
    /// writing two log lines, two progress reports and its end through the library's store
    /// (16 at a time, so writes share batches), once as children of one parent and once as
    /// top-level jobs; every child's line and change then reaches the parent's log and stream.
    async fn families(&mut self) {
        use jobcast::job::{ChildPolicy, LogLevel, NewJob, Progress};
        use jobcast::store::{FamilyLimits, Store, Writer};
        let children = self.scale(2_000, 200);
        for family in [false, true] {
            let db = self.db(if family { "family" } else { "family-none" });
            let store = Store::connect_with(&sqlite_url(&db), 4).await.unwrap();
            let new = |n: usize| NewJob {
                job_type: "external".to_owned(),
                payload: json!({"part": n}),
                priority: 0,
                max_attempts: 1,
                timeout: None,
                run_at: None,
                idempotency_key: None,
                upload_id: None,
            };
            let ids: Vec<jobcast::job::JobId> = if family {
                let (parent, _) = store.create_job(new(0)).await.unwrap();
                let mut ids = Vec::new();
                for chunk in (0..children).collect::<Vec<_>>().chunks(500) {
                    let made = store
                        .spawn_children(
                            parent.id,
                            Writer::External,
                            chunk.iter().map(|n| new(*n)).collect(),
                            ChildPolicy::WaitForAll,
                            FamilyLimits::default(),
                        )
                        .await
                        .unwrap();
                    ids.extend(made.into_iter().map(|(job, _)| job.id));
                }
                ids
            } else {
                let made = store
                    .create_jobs((0..children).map(new).collect())
                    .await
                    .unwrap();
                made.into_iter().map(|(job, _)| job.id).collect()
            };
            let started = Instant::now();
            let gate = Arc::new(Semaphore::new(16));
            let mut tasks = Vec::new();
            for id in ids {
                let (store, gate) = (store.clone(), gate.clone());
                tasks.push(tokio::spawn(async move {
                    let _turn = gate.acquire().await.unwrap();
                    let w = Writer::External;
                    for step in 1..=2 {
                        let line = format!("part step {step}");
                        store
                            .append_log(id, w, LogLevel::Info, &line)
                            .await
                            .unwrap();
                        let report = Progress {
                            progress: 40.0 * f64::from(step),
                            ..Progress::default()
                        };
                        store.report_progress(id, w, &report).await.unwrap();
                    }
                    store.complete(id, w, Some(&json!(1))).await.unwrap();
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
            let took = started.elapsed();
            let writes = children * 5;
            self.record(
                format!(
                    "{} {children} children, 5 writes each",
                    if family { "family of" } else { "no parent," }
                ),
                json!({
                    "seconds": took.as_secs_f64(),
                    "writes_per_second": (writes as f64 / took.as_secs_f64()).round(),
                }),
            );
            store.close().await;
            remove_db(&db);
        }
    }

    async fn control(&mut self) {
        let stored = self.scale(1_000_000, 100_000);
        let db = self.db("control-types");
        preload_control_jobs(&db, stored, 10_000, 0).await;
        let url = sqlite_url(&db);
        let server = Server::start(&url, &[("JOBCAST_WORKERS", "0")]);
        let mut took = Vec::new();
        for i in 0..220 {
            let started = Instant::now();
            let text = self.get_text(server.url("/api/types")).await;
            if i >= 20 {
                took.push(started.elapsed().as_nanos() as u64);
            }
            assert!(text.contains("\"counts\""), "{text}");
        }
        self.record(
            format!("types overview, {stored} jobs stored"),
            json!({"get_api_types": percentiles(took)}),
        );
        // The same counts the way the overview does not: one GROUP BY over every job.
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let mut took = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            sqlx::query("SELECT type, status, COUNT(*) FROM jobs GROUP BY type, status")
                .fetch_all(&pool)
                .await
                .unwrap();
            took.push(started.elapsed().as_nanos() as u64);
        }
        pool.close().await;
        self.record(
            format!("full count, {stored} jobs stored (for comparison)"),
            json!({"group_by_over_jobs": percentiles(took)}),
        );
        drop(server);
        remove_db(&db);

        let failed = self.scale(100_000, 10_000);
        let db = self.db("control-retry");
        preload_control_jobs(&db, stored - failed, 0, failed).await;
        let url = sqlite_url(&db);
        let server = Server::start(&url, &[("JOBCAST_WORKERS", "0")]);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Creates alone first, for the baseline.
        let baseline = tokio::spawn(create_steadily(
            self.client.clone(),
            server.url("/api/jobs"),
            4,
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.store(true, Ordering::Relaxed);
        let baseline = baseline.await.unwrap();
        stop.store(false, Ordering::Relaxed);
        let during = tokio::spawn(create_steadily(
            self.client.clone(),
            server.url("/api/jobs"),
            4,
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        let answer: Value = self
            .client
            .post(server.url("/api/jobs/retry"))
            .json(&json!({"type": "demo", "status": "failed"}))
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let seconds = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let during = during.await.unwrap();
        assert_eq!(answer["affected"], failed, "{answer}");
        let cpu = server.cpu_seconds();
        self.record(
            format!("bulk retry {failed} failed jobs, {stored} stored"),
            json!({
                "seconds": round3(seconds),
                "jobs_per_second": round2(failed as f64 / seconds),
                "creates_alone": percentiles(baseline),
                "creates_during_retry": percentiles(during),
                "server_cpu_seconds_total": round2(cpu),
            }),
        );
        drop(server);
        remove_db(&db);
    }
}

/// Stores, straight into a fresh database (migrated by a short server run): `finished`
/// completed `demo` jobs that finished over the last 7 days (retention keeps them), `queued`
/// queued `external` jobs due over the last hour, and `failed` failed `demo` jobs.
async fn preload_control_jobs(db: &Path, finished: usize, queued: usize, failed: usize) {
    let url = sqlite_url(db);
    drop(Server::start(&url, &[]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for (n, first, status, kind, spread) in [
        (finished, 0, "completed", "demo", 7 * 86_400_000_i64),
        (queued, finished, "queued", "external", 3_600_000),
        (failed, finished + queued, "failed", "demo", 3_600_000),
    ] {
        if n == 0 {
            continue;
        }
        let done = if status == "queued" {
            "NULL"
        } else {
            "?2 - (i * ?3 / ?1)"
        };
        sqlx::query(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
             INSERT INTO jobs (id, type, status, progress, payload, error, attempt, max_attempts, \
                 run_at, created_at, started_at, finished_at, updated_at, change_seq) \
             SELECT printf('00000000-0000-7000-8000-%012d', i + ?4), '{kind}', '{status}', 0, '{{}}', \
                 CASE WHEN '{status}' = 'failed' THEN 'the outage' END, 1, 1, \
                 ?2 - (i * ?3 / ?1), ?2 - (i * ?3 / ?1), ?2 - (i * ?3 / ?1), {done}, ?2, i + ?4 FROM n"
        ))
        .bind(n as i64)
        .bind(now)
        .bind(spread)
        .bind(first as i64)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
}

/// Stores `n` finished jobs straight into a fresh database (migrated by a short server run).
/// They finished just now: jobs stamped at time 0 would be older than retention's
/// `keep_finished` (7 days by default), and the server would spend the measurement deleting
/// them.
async fn preload_finished_jobs(db: &Path, n: usize) {
    let url = sqlite_url(db);
    drop(Server::start(&url, &[]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
         INSERT INTO jobs (id, type, status, progress, payload, result, attempt, max_attempts, run_at, \
             created_at, started_at, finished_at, updated_at, change_seq) \
         SELECT printf('00000000-0000-7000-8000-%012d', i), 'demo', 'completed', 100, '{}', '{}', 1, 1, \
             ?2, ?2, ?2, ?2, ?2, i FROM n",
    )
    .bind(n as i64)
    .bind(now)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some(POLL_LOAD_ARG) {
        let url = args.next().expect("--poll-load DATABASE_URL");
        return poll_load(&url).await;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--bench"))
        .collect();
    let quick = args.iter().any(|a| a == "--quick");
    let no_peer = args.iter().any(|a| a == "--no-peer");
    let wanted: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let run = |name: &str| wanted.is_empty() || wanted.contains(&name);
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("could not raise the open-file limit: {error}");
    }
    clock();
    let mut bench = Bench {
        dir: tempfile::tempdir().unwrap(),
        client: http(),
        results: BTreeMap::new(),
        notes: Vec::new(),
        quick,
    };
    println!("{:<48} result", "scenario");
    let scale = |full: usize, small: usize| if quick { small } else { full };

    if run("fanout") {
        for (jobs, streams) in [
            (1, scale(1000, 100)),
            (scale(100, 10), scale(100, 10)),
            (scale(1000, 20), 10),
        ] {
            bench.fanout(jobs, streams, 5, "local").await;
        }
        bench.note(
            "fan-out through one query per stream is not measured: the server has only the \
             shared poller now, and the bench's own polling loop (idle) serves no streams",
        );
        for (jobs, streams) in [(1, scale(1000, 100)), (scale(100, 10), scale(100, 10))] {
            bench.fanout(jobs, streams, 5, "remote").await;
        }
    }
    if run("idle") {
        let window = Duration::from_secs(if bench.quick { 5 } else { 30 });
        for n in [1000, scale(10_000, 2000)] {
            bench.idle(n, window).await;
            bench.idle_polling(n, window).await;
        }
    }
    if run("open") {
        bench.open(scale(10_000, 1000)).await;
    }
    if run("throughput") {
        bench.throughput(no_peer).await;
    }

    if run("work") {
        bench.commands(scale(2_000, 200)).await;
        bench.claims(scale(5_000, 500)).await;
    }
    if run("postgres") {
        bench.postgres().await;
    }
    if run("control") {
        bench.control().await;
    }
    if run("families") {
        bench.families().await;
    }

    let report = json!({
        "machine": {
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "os": std::env::consts::OS,
        },
        "quick": quick,
        "results": bench.results,
        "notes": bench.notes,
    });
    println!("\n{}", serde_json::to_string_pretty(&report).unwrap());
}
