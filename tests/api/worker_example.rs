//! examples/worker.py, the standard-library Python worker users copy, as a child process
//! against a real server with tokens on: it completes jobs with a token from `JOBCAST_TOKEN`,
//! renews its lease through a long step, goes on after a lost lease, waits out a server that
//! is away, and stops with a clear message on a refused token.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::binary::{db_env, Server};
use crate::helpers::*;

const TOKENS: &str = "admin:admin-token,worker:worker-token,read:read-token";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/worker.py");
const WORKER: &str = "py-test";

/// Skips the calling test, loudly, when there is no python3.
fn no_python() -> bool {
    let found = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        // Straight to the process's stderr: `eprintln!` in a passing test is captured.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED: no python3 to run examples/worker.py ***\n"
        );
    }
    !found
}

/// `python3 examples/worker.py BASE external --worker py-test ARGS`, with `token` (if any) in
/// `JOBCAST_TOKEN`; its log lines (stderr) are read as they come. Killed when dropped.
struct Worker {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Worker {
    fn start(base: &str, token: Option<&str>, args: &[&str]) -> Worker {
        let mut command = Command::new("python3");
        command
            .arg(SCRIPT)
            .args([base, "external", "--worker", WORKER])
            .args(args)
            .env_remove("JOBCAST_TOKEN")
            .env("NO_PROXY", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(token) = token {
            command.env("JOBCAST_TOKEN", token);
        }
        let mut child = command.spawn().expect("python3 starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Worker {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Everything the worker logged so far.
    fn output(&mut self) -> String {
        self.seen.extend(self.lines.try_iter());
        self.seen.join("\n")
    }

    /// Waits for a log line, after those already waited for, that contains every one of
    /// `parts`. Polls, so that a server on the test's own runtime goes on answering.
    async fn wait_for_line(&mut self, parts: &[&str], within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            for line in self.lines.try_iter() {
                self.seen.push(line.clone());
                if parts.iter().all(|part| line.contains(part)) {
                    return line;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the worker logged no line with {parts:?} within {within:?}:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the worker to exit; its status and everything it logged.
    async fn exit(mut self, within: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the worker did not exit within {within:?}:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // Its stderr closed with it: read to the end.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status, self.output())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The API as the admin token sees it, on an in-process server or a child one.
struct Admin {
    client: reqwest::Client,
    base: String,
}

impl Admin {
    fn new(base: &str) -> Admin {
        Admin {
            // No kept-alive connections: the server may be killed and started again.
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth("admin-token");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, body_json(response).await)
    }

    /// Creates an `external` job with `payload`; its id.
    async fn create(&self, payload: Value) -> String {
        let body = json!({"type": "external", "payload": payload});
        let (status, job) = self.call("POST", "/api/jobs", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        job["id"].as_str().unwrap().to_owned()
    }

    async fn job(&self, id: &str) -> Value {
        let (status, job) = self.call("GET", &format!("/api/jobs/{id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        job
    }

    /// Polls the job until `pred` holds; panics after `within` with the worker's log.
    async fn until(
        &self,
        id: &str,
        worker: &mut Worker,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let job = self.job(id).await;
            if pred(&job) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "condition not met within {within:?}: {job}\nworker:\n{}",
                worker.output()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

fn finished(job: &Value) -> bool {
    ["completed", "failed", "cancelled"].contains(&job["status"].as_str().unwrap_or(""))
}

async fn secured() -> TestApp {
    spawn_app_with(|c| c.auth.plain_tokens = jobcast::auth::parse_pairs(TOKENS).unwrap()).await
}

#[tokio::test]
async fn the_example_worker_completes_a_job_with_the_token_in_jobcast_token() {
    if no_python() {
        return;
    }
    let app = secured().await;
    let admin = Admin::new(&app.base);
    let mut worker = Worker::start(&app.base, Some("worker-token"), &["--wait", "1"]);
    let id = admin.create(json!({"steps": 3, "step_ms": 50})).await;

    let job = admin
        .until(&id, &mut worker, Duration::from_secs(30), finished)
        .await;
    assert_eq!(job["status"], "completed", "{job}\n{}", worker.output());
    assert_eq!(job["result"], json!({"steps": 3}), "{job}");
    assert_eq!(job["attempt"], 1, "{job}");
    assert_eq!(job["message"], "step 3/3", "{job}");
    let (status, logs) = admin
        .call("GET", &format!("/api/jobs/{id}/logs"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{logs}");
    let lines: Vec<(&str, &str)> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["level"].as_str().unwrap(), l["message"].as_str().unwrap()))
        .collect();
    assert!(lines.contains(&("success", "done")), "{lines:?}");
    worker
        .wait_for_line(&[&id, "completed"], Duration::from_secs(10))
        .await;
}

#[tokio::test]
async fn the_example_worker_renews_its_lease_through_a_step_longer_than_the_lease() {
    if no_python() {
        return;
    }
    let app = secured().await;
    let admin = Admin::new(&app.base);
    // A 1 s lease and steps of 1.5 s: only the renewals in between keep the job (one attempt,
    // so a lease that ran out would fail it).
    let mut worker = Worker::start(
        &app.base,
        Some("worker-token"),
        &["--lease", "1", "--wait", "1"],
    );
    let id = admin.create(json!({"steps": 2, "step_ms": 1500})).await;
    let job = admin
        .until(&id, &mut worker, Duration::from_secs(30), finished)
        .await;
    assert_eq!(job["status"], "completed", "{job}\n{}", worker.output());
    assert_eq!(job["attempt"], 1, "{job}");
}

#[tokio::test]
async fn the_example_worker_logs_a_lost_lease_even_on_fail_and_goes_on_to_the_next_job() {
    if no_python() {
        return;
    }
    let app = secured().await;
    let admin = Admin::new(&app.base);
    // A 30 s lease is renewed every 10 s: no renewal comes before the fail call, which is the
    // first to hear that the lease is gone.
    let mut worker = Worker::start(&app.base, Some("worker-token"), &["--wait", "1"]);
    let first = admin
        .create(json!({"steps": 1, "step_ms": 3000, "fail": "boom"}))
        .await;
    admin
        .until(&first, &mut worker, Duration::from_secs(30), |job| {
            job["status"] == "running" && job["message"] == "step 1/1"
        })
        .await;
    assert_eq!(admin.job(&first).await["worker"], WORKER);
    let (status, job) = admin
        .call("POST", &format!("/api/jobs/{first}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["status"], "cancelled", "{job}");

    let lost = worker
        .wait_for_line(&[&first, "lease lost"], Duration::from_secs(20))
        .await;
    assert!(lost.contains("/fail"), "the fail call got the 409: {lost}");
    let second = admin.create(json!({"steps": 2, "step_ms": 10})).await;
    let job = admin
        .until(&second, &mut worker, Duration::from_secs(30), finished)
        .await;
    assert_eq!(job["status"], "completed", "{job}\n{}", worker.output());
    assert!(
        worker.is_running(),
        "the worker went on:\n{}",
        worker.output()
    );
    let job = admin.job(&first).await;
    assert_eq!(
        (&job["status"], &job["error"]),
        (&json!("cancelled"), &json!("cancelled"))
    );
}

#[tokio::test]
async fn the_example_worker_waits_out_a_server_that_is_away_and_then_completes_jobs() {
    if no_python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = crate::helpers::port_for_restarts();
    let base = format!("http://127.0.0.1:{port}");
    let mut env = db_env(dir.path());
    env.push(("JOBCAST_LISTEN", format!("127.0.0.1:{port}")));
    env.push(("JOBCAST_AUTH_TOKENS", TOKENS.to_owned()));

    // Nothing listens yet: connection refused.
    let mut worker = Worker::start(
        &base,
        Some("worker-token"),
        &["--lease", "2", "--wait", "1"],
    );
    worker
        .wait_for_line(&["server away"], Duration::from_secs(20))
        .await;
    assert!(worker.is_running(), "{}", worker.output());

    let server = Server::start(dir.path(), &env);
    assert_eq!(server.base, base);
    let admin = Admin::new(&base);
    let id = admin.create(json!({"steps": 2, "step_ms": 10})).await;
    let job = admin
        .until(&id, &mut worker, Duration::from_secs(60), finished)
        .await;
    assert_eq!(job["status"], "completed", "{job}\n{}", worker.output());

    // Killed while the worker waits in a claim, then back on the same port and database.
    worker.output(); // what it logged so far is seen: the next wait is for a new line
    drop(server);
    worker
        .wait_for_line(&["server away"], Duration::from_secs(20))
        .await;
    let _server = Server::start(dir.path(), &env);
    let id = admin.create(json!({"steps": 2, "step_ms": 10})).await;
    let job = admin
        .until(&id, &mut worker, Duration::from_secs(60), finished)
        .await;
    assert_eq!(job["status"], "completed", "{job}\n{}", worker.output());
}

#[tokio::test]
async fn the_example_worker_stops_with_a_clear_message_on_a_refused_token() {
    if no_python() {
        return;
    }
    let app = secured().await;
    let admin = Admin::new(&app.base);
    let id = admin.create(json!({})).await;
    for (token, expected) in [
        (None, ["401", "JOBCAST_TOKEN"]),
        (Some("wrong-token"), ["401", "refused the token"]),
        (Some("read-token"), ["403", "refused the token"]),
    ] {
        let worker = Worker::start(&app.base, token, &["--wait", "1"]);
        let (status, output) = worker.exit(Duration::from_secs(20)).await;
        assert!(!status.success(), "{token:?}: {status}\n{output}");
        for part in expected {
            assert!(output.contains(part), "{token:?}: no {part:?} in\n{output}");
        }
        assert!(
            !output.contains("Traceback"),
            "{token:?}: a clear message\n{output}"
        );
    }
    assert_eq!(admin.job(&id).await["status"], "queued");
}
