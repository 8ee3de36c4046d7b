//! The real binary as a child process: started on port 0 with the test backend's database,
//! its address read from its log, stopped (or killed) when dropped. Used by the process and
//! multi-node tests.

// Not every test file uses every helper.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A jobcast process and the address it announced.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// Every stderr line, as it is read.
    pub lines: mpsc::Receiver<String>,
}

pub fn jobcast(cwd: &Path, env: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jobcast"));
    command
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env("JOBCAST_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

impl Server {
    /// Starts the binary and waits for its `listening on http://ADDR:PORT` line.
    pub fn start(cwd: &Path, env: &[(&str, String)]) -> Server {
        Server::spawn(jobcast(cwd, env))
    }

    /// Starts the binary with `--config file` (relative to `cwd`, or absolute).
    pub fn start_with_config(cwd: &Path, config: &Path, env: &[(&str, String)]) -> Server {
        let mut command = jobcast(cwd, env);
        command.arg("--config").arg(config);
        Server::spawn(command)
    }

    /// Runs `command` and waits for its `listening on http://ADDR:PORT` line.
    #[allow(clippy::zombie_processes)] // Server's Drop kills and waits.
    pub fn spawn(mut command: Command) -> Server {
        let mut child = command.spawn().expect("binary starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let line = lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("a 'listening on' line within 20 s");
            if let Some(at) = line.find("listening on http://") {
                let addr = line[at + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap();
                assert!(!addr.ends_with(":0"), "the real port is logged: {line}");
                return Server {
                    child,
                    base: addr.to_owned(),
                    lines,
                };
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The value of one series of `/metrics`, e.g. `jobcast_jobs_finished_total{type="demo",
    /// outcome="completed"}`; 0 when the process has not recorded it.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0.0, |value| value.trim().parse().unwrap())
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    pub async fn create(&self, body: Value) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}/api/jobs", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    pub async fn job(&self, id: &str) -> Value {
        reqwest::get(format!("{}/api/jobs/{id}", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn wait_until(
        &self,
        id: &str,
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
                "condition not met within {within:?}: {job}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits for exit; returns the exit status and the remaining stderr lines.
    pub fn wait(mut self, within: Duration) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.lines.try_iter().collect());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the process did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test backend's database for servers started in `dir` (the same one on every call),
/// and short durations.
pub fn db_env(dir: &Path) -> Vec<(&'static str, String)> {
    let db = dir.join("jobs.db");
    vec![
        ("JOBCAST_DATABASE_URL", crate::helpers::database_url(&db)),
        (
            "JOBCAST_UPLOAD_DIR",
            dir.join("uploads").display().to_string(),
        ),
        ("JOBCAST_LEASE", "1s".to_owned()),
        ("JOBCAST_RUNNER_POLL_INTERVAL", "100ms".to_owned()),
        ("JOBCAST_STREAM_POLL_INTERVAL", "100ms".to_owned()),
    ]
}

pub fn send_signal(signal: &str, pid: &str) {
    let status = Command::new("kill").args([signal, pid]).status().unwrap();
    assert!(status.success());
}
