//! The terminal client against a real server: exit codes and output.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::binary::{db_env, send_signal, Server};
use crate::helpers::*;

/// Runs `jobcast ARGS` against `url` off the async runtime; returns (exit code, stdout, stderr).
async fn jobcast(url: &str, args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jobcast"));
    command
        .arg("--url")
        .arg(url)
        .args(args)
        .env_remove("JOBCAST_URL");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn submit_and_watch_exits_0_when_the_job_completes() {
    let app = spawn_app().await;
    let (code, stdout, stderr) = jobcast(
        &app.base,
        &[
            "submit",
            "demo",
            "--payload",
            r#"{"steps": 3, "step_ms": 20}"#,
            "--watch",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("result: {"), "{stdout}");
    assert!(stdout.contains("\"steps\":3"), "{stdout}");
}

#[tokio::test]
async fn watch_exits_1_when_the_job_fails_and_says_why() {
    let app = spawn_app().await;
    let job = app
        .create(serde_json::json!({"type": "demo", "payload": {"steps": 3, "step_ms": 20, "fail_at_step": 2}}))
        .await;
    let (code, _, stderr) = jobcast(&app.base, &["watch", job["id"].as_str().unwrap()]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("failed at step 2 of 3"), "{stderr}");
}

#[tokio::test]
async fn watch_with_json_prints_the_raw_events_for_scripts() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let watcher = {
        let (base, id) = (app.base.clone(), id.clone());
        tokio::spawn(async move { jobcast(&base, &["watch", &id, "--json"]).await })
    };
    // Drive the job only once the watcher's stream is open, so it sees every step.
    while app.handle.open_streams() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    app.post_json(
        &format!("/api/jobs/{id}/progress"),
        &serde_json::json!({"progress": 50}),
    )
    .await;
    app.post_json(
        &format!("/api/jobs/{id}/complete"),
        &serde_json::json!({"result": 1}),
    )
    .await;
    let (code, stdout, _) = watcher.await.unwrap();
    assert_eq!(code, 0);
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.last().unwrap()["event"], "completed");
    assert!(events.iter().any(|e| e["event"] == "progress"));
}

#[tokio::test]
async fn jobs_lists_a_table_and_cancel_cancels() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let (code, stdout, _) = jobcast(&app.base, &["jobs", "--type", "external"]).await;
    assert_eq!(code, 0);
    assert!(stdout.starts_with("ID"), "{stdout}");
    assert!(stdout.contains(&id), "{stdout}");
    let (code, stdout, _) = jobcast(&app.base, &["cancel", &id]).await;
    assert_eq!(
        (code, stdout.trim()),
        (0, format!("{id} cancelled").as_str())
    );
    let (code, _, stderr) = jobcast(&app.base, &["cancel", &id]).await;
    assert_eq!(code, 2, "cancelling a finished job is refused: {stderr}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_with_exit_2() {
    let (code, _, stderr) = jobcast("http://127.0.0.1:9", &["jobs"]).await;
    assert_eq!(code, 2);
    assert!(
        stderr.contains("cannot reach jobcast at http://127.0.0.1:9"),
        "{stderr}"
    );
    let (code, _, stderr) = jobcast(
        "http://127.0.0.1:9",
        &["submit", "demo", "--payload", "{oops"],
    )
    .await;
    assert_eq!(code, 2);
    assert!(stderr.contains("not valid JSON"), "{stderr}");
}

/// `jobcast --url URL ARGS` as a child process whose stdout lines are read as they are printed.
struct Watcher {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every stdout line read so far.
    stdout: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Watcher {
    fn start(url: &str, args: &[&str]) -> Watcher {
        use std::io::{BufRead, BufReader, Read};
        use std::process::Stdio;
        let mut child = Command::new(env!("CARGO_BIN_EXE_jobcast"))
            .arg("--url")
            .arg(url)
            .args(args)
            .env_remove("JOBCAST_URL")
            .env_remove("JOBCAST_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Watcher {
            child,
            lines,
            stdout: Vec::new(),
            stderr: Some(stderr),
        }
    }

    /// Waits for a stdout line (a JSON event, with `--json`) that `pred` accepts.
    async fn wait_for_event(&mut self, within: Duration, pred: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            while let Ok(line) = self.lines.try_recv() {
                let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                self.stdout.push(line);
                if pred(&event) {
                    return;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("watch exited ({status}) early: {:?}", self.stdout);
            }
            assert!(
                Instant::now() < deadline,
                "no such event within {within:?}: {:?}",
                self.stdout
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the exit; returns (exit code, every stdout line, stderr).
    async fn finish(mut self, within: Duration) -> (i32, Vec<String>, String) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self.stderr.take().unwrap().join().unwrap();
                panic!(
                    "watch did not exit within {within:?}\nstdout: {:?}{:?}\nstderr: {stderr}",
                    self.stdout,
                    self.lines.try_iter().collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // The pipe closes with the process: the reader thread ends the channel.
        self.stdout.extend(self.lines.iter());
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (
            status.code().unwrap_or(-1),
            std::mem::take(&mut self.stdout),
            stderr,
        )
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_events(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Asserts that no event id was printed twice.
fn assert_ids_once(events: &[Value]) {
    let mut seen = std::collections::HashSet::new();
    for event in events {
        if let Some(id) = event["id"].as_str() {
            assert!(
                seen.insert(id.to_owned()),
                "id {id} printed twice: {events:?}"
            );
        }
    }
}

#[tokio::test]
async fn watch_survives_a_kill_9_and_a_restart_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = db_env(dir.path());
    env.push((
        "JOBCAST_LISTEN",
        format!("127.0.0.1:{}", crate::helpers::port_for_restarts()),
    ));
    env.push(("JOBCAST_STREAM_RETRY", "200ms".to_owned()));
    let server = Server::start(dir.path(), &env);
    let job = server
        .create(
            json!({"type": "demo", "payload": {"steps": 20, "step_ms": 100}, "max_attempts": 2}),
        )
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let mut watch = Watcher::start(&server.base, &["watch", &id, "--json"]);
    watch
        .wait_for_event(Duration::from_secs(10), |e| {
            e["event"] == "progress" && e["data"]["current"].as_i64() >= Some(3)
        })
        .await;
    send_signal("-KILL", &server.pid());
    drop(server);

    // Same port, same database: the job's lease runs out and attempt 2 runs it to the end.
    let server = Server::start(dir.path(), &env);
    let (code, stdout, stderr) = watch.finish(Duration::from_secs(60)).await;
    assert_eq!(code, 0, "stdout: {stdout:?}\nstderr: {stderr}");
    let events = parse_events(&stdout);
    let completed = events.iter().filter(|e| e["event"] == "completed").count();
    assert_eq!(completed, 1, "{events:?}");
    assert_eq!(events.last().unwrap()["event"], "completed");
    assert_ids_once(&events);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "log" && e["data"]["message"] == "starting 20 steps (attempt 2)"),
        "the events of the second attempt were followed: {events:?}"
    );
    assert!(stderr.contains("reconnecting"), "{stderr}");
    let job = server.job(&id).await;
    assert_eq!(
        (job["status"].as_str(), job["attempt"].as_i64()),
        (Some("completed"), Some(2))
    );
}

#[tokio::test]
async fn watch_resumes_after_the_stream_cap_and_prints_every_log_line_once() {
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(1)).await;
    let id = app.create_external().await;
    let watcher = {
        let (base, id) = (app.base.clone(), id.clone());
        tokio::spawn(async move { jobcast(&base, &["watch", &id]).await })
    };
    while app.handle.open_streams() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Twelve lines over about three seconds: the stream is cut at its cap twice or more.
    let started = Instant::now();
    for n in 1..=12 {
        let (status, _) = app
            .post_json(
                &format!("/api/jobs/{id}/logs"),
                &json!({"level": "info", "message": format!("line {n} of 12 ✓")}),
            )
            .await;
        assert!(status.is_success());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    app.post_json(
        &format!("/api/jobs/{id}/complete"),
        &json!({"result": {"lines": 12}}),
    )
    .await;
    let (code, stdout, stderr) = watcher.await.unwrap();
    assert!(started.elapsed() > Duration::from_secs(2));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        app.handle.streams_opened() >= 3,
        "reconnected after each cap: {} streams",
        app.handle.streams_opened()
    );
    for n in 1..=12 {
        let line = format!("line {n} of 12 ✓");
        assert_eq!(
            stderr.matches(&line).count(),
            1,
            "{line:?} once in:\n{stderr}"
        );
    }
    assert!(stdout.contains("result: {\"lines\":12}"), "{stdout}");
    assert!(
        !stderr.contains("connection lost"),
        "the cap is an ordinary end, not a drop: {stderr}"
    );
}

#[tokio::test]
async fn watch_exits_1_for_a_failed_or_cancelled_job_with_the_error_on_stderr() {
    let app = spawn_app().await;
    let job = app
        .create(json!({"type": "demo", "payload": {"steps": 3, "step_ms": 20, "fail_at_step": 2}}))
        .await;
    let (code, stdout, stderr) =
        jobcast(&app.base, &["watch", job["id"].as_str().unwrap(), "--json"]).await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("failed at step 2 of 3"), "{stderr}");
    let events = parse_events(&stdout.lines().map(str::to_owned).collect::<Vec<_>>());
    assert_eq!(events.last().unwrap()["event"], "failed");

    let id = app.create_external().await;
    let (status, _) = app
        .post_json(&format!("/api/jobs/{id}/cancel"), &json!({}))
        .await;
    assert!(status.is_success());
    let (code, _, stderr) = jobcast(&app.base, &["watch", &id]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
}

#[tokio::test]
async fn watch_exits_2_for_an_unknown_job_or_a_refused_token() {
    let app = spawn_app().await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let (code, _, stderr) = jobcast(&app.base, &["watch", &unknown]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not found"), "{stderr}");
    let (code, _, stderr) = jobcast(&app.base, &["watch", "not-a-job-id", "--json"]).await;
    assert_eq!(code, 2, "{stderr}");

    let app = spawn_app_with(|c| {
        c.auth.plain_tokens = jobcast::auth::parse_pairs("read:read-token").unwrap();
    })
    .await;
    let (code, _, stderr) = jobcast(&app.base, &["--token", "wrong", "watch", &unknown]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
}
