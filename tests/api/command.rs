//! `command` job types: a program per attempt, payload on stdin, JSON lines on stdout.

use std::time::{Duration, Instant};

use jobcast::config::JobTypeConfig;
use serde_json::{json, Value};

use crate::helpers::*;

/// A server with one `command` type, `name`, running `sh -c script`.
async fn app_with_script(
    name: &str,
    script: &str,
    tweak: impl FnOnce(&mut JobTypeConfig),
) -> TestApp {
    let mut job_type = JobTypeConfig::command("sh", &["-c", script]);
    job_type.max_attempts = 1;
    tweak(&mut job_type);
    let name = name.to_owned();
    spawn_app_with(move |c| {
        c.job_types.insert(name, job_type);
    })
    .await
}

async fn logs(app: &TestApp, id: &str) -> Vec<Value> {
    let (_, logs) = app.get(&format!("/api/jobs/{id}/logs")).await;
    logs["logs"].as_array().unwrap().clone()
}

fn messages(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect()
}

/// Creates a job of `job_type` and waits until its status is one of `statuses`.
async fn run(app: &TestApp, job_type: &str, statuses: &[&str], secs: u64) -> (String, Value) {
    let id = app.create(json!({"type": job_type})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = app
        .wait_for_status(&id, statuses, Duration::from_secs(secs))
        .await;
    (id, job)
}

/// Finds the `pid N` log line a script wrote.
fn pid_from(lines: &[Value]) -> u32 {
    messages(lines)
        .iter()
        .find_map(|m| m.strip_prefix("pid ").and_then(|p| p.trim().parse().ok()))
        .expect("the script logged its pid")
}

/// Waits until process `pid` is gone (not even a zombie).
async fn assert_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let path = format!("/proc/{pid}");
    while std::path::Path::new(&path).exists() {
        assert!(Instant::now() < deadline, "process {pid} is still there");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the job to log its pid, then returns it.
async fn wait_for_pid(app: &TestApp, id: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = logs(app, id).await;
        if messages(&lines).iter().any(|m| m.starts_with("pid ")) {
            return pid_from(&lines);
        }
        assert!(Instant::now() < deadline, "no pid logged: {lines:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_command_gets_its_payload_reports_progress_and_logs_and_completes_with_its_result() {
    let script = r#"read payload
echo '{"log": "starting", "level": "success"}'
echo '{"progress": 50, "message": "half", "current": 1, "total": 2, "stage": "work"}'
echo "plain text for $JOBCAST_JOB_ID"
echo 'a complaint' >&2
printf '{"result": %s}\n' "$payload""#;
    let app = app_with_script("script", script, |_| {}).await;
    let job = app
        .create(json!({"type": "script", "payload": {"file": "traces.jsonl", "n": 3}}))
        .await;
    let id = job["id"].as_str().unwrap();
    let job = app
        .wait_for_status(id, &["completed", "failed"], Duration::from_secs(10))
        .await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(
        job["result"],
        json!({"file": "traces.jsonl", "n": 3}),
        "the payload came in on stdin"
    );
    assert_eq!(
        (job["message"].as_str(), job["stage"].as_str()),
        (Some("half"), Some("work"))
    );
    assert_eq!(
        (job["current"].as_i64(), job["total"].as_i64()),
        (Some(1), Some(2))
    );
    let lines = logs(&app, id).await;
    let levels: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["level"].as_str().unwrap().to_owned(),
                l["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        levels.contains(&("success".into(), "starting".into())),
        "{levels:?}"
    );
    assert!(
        levels.contains(&("info".into(), format!("plain text for {id}"))),
        "{levels:?}"
    );
    assert!(
        levels.contains(&("warning".into(), "a complaint".into())),
        "{levels:?}"
    );
}

#[tokio::test]
async fn stdout_that_is_not_a_message_becomes_info_log_lines() {
    let script = r#"printf '{not json\n[1, 2]\n{"unknown": 1}\n\n'"#;
    let app = app_with_script("noisy", script, |_| {}).await;
    let (id, job) = run(&app, "noisy", &["completed", "failed"], 10).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(job["result"], Value::Null);
    let lines = messages(&logs(&app, &id).await);
    for expected in ["{not json", "[1, 2]", "{\"unknown\": 1}"] {
        assert!(lines.contains(&expected.to_owned()), "{lines:?}");
    }
}

#[tokio::test]
async fn a_non_zero_exit_fails_the_attempt_with_the_status_and_the_last_stderr_lines() {
    let app = app_with_script("broken", "echo first >&2; echo last >&2; exit 3", |_| {}).await;
    let (_, job) = run(&app, "broken", &["failed"], 10).await;
    assert_eq!(job["error"], "exited with status 3");
    assert_eq!(job["details"], json!({"stderr": ["first", "last"]}));
}

#[tokio::test]
async fn a_program_killed_by_a_signal_fails_naming_the_signal() {
    let app = app_with_script("doomed", "kill -9 $$", |_| {}).await;
    let (_, job) = run(&app, "doomed", &["failed"], 10).await;
    assert_eq!(job["error"], "killed by signal SIGKILL");
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let script = r#"sleep 30 & echo "pid $!"; wait"#;
    let app = app_with_script("slow", script, |t| {
        t.timeout = Some(Duration::from_millis(500))
    })
    .await;
    let (id, job) = run(&app, "slow", &["failed"], 10).await;
    assert_eq!(job["error"], "timed out after 500ms");
    assert_gone(pid_from(&logs(&app, &id).await)).await;
}

#[tokio::test]
async fn cancel_sends_sigterm_and_the_job_is_cancelled_with_its_processes_gone() {
    let script = r#"trap 'exit 0' TERM; sleep 30 & echo "pid $!"; while true; do sleep 0.05; done"#;
    let app = app_with_script("stoppable", script, |_| {}).await;
    let id = app.create(json!({"type": "stoppable"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pid = wait_for_pid(&app, &id).await;
    let started = Instant::now();
    let (status, _) = app
        .post_json(&format!("/api/jobs/{id}/cancel"), &json!({}))
        .await;
    assert!(status.is_success());
    let job = app
        .wait_for_status(&id, &["cancelled"], Duration::from_secs(5))
        .await;
    assert_eq!(job["status"], "cancelled");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a program that obeys SIGTERM stops at once"
    );
    assert_gone(pid).await;
}

#[tokio::test]
async fn a_program_that_ignores_sigterm_is_killed_after_the_cancel_grace() {
    let script = r#"trap '' TERM; echo "pid $$"; while true; do sleep 0.05; done"#;
    let app = app_with_script("stubborn", script, |t| {
        t.cancel_grace = Duration::from_millis(300)
    })
    .await;
    let id = app.create(json!({"type": "stubborn"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pid = wait_for_pid(&app, &id).await;
    app.post_json(&format!("/api/jobs/{id}/cancel"), &json!({}))
        .await;
    app.wait_for_status(&id, &["cancelled"], Duration::from_secs(5))
        .await;
    assert_gone(pid).await;
}

#[tokio::test]
async fn a_flood_of_output_is_capped_and_overlong_lines_are_dropped() {
    let script = r#"head -c 200000 /dev/zero | tr '\0' x; echo; yes | head -n 30000"#;
    let app = app_with_script("flood", script, |_| {}).await;
    let (id, job) = run(&app, "flood", &["completed", "failed"], 60).await;
    assert_eq!(job["status"], "completed", "{job}");
    let (_, page) = app.get(&format!("/api/jobs/{id}/logs?limit=10000")).await;
    let first = page["logs"][0]["message"].as_str().unwrap();
    assert!(first.contains("over 65536 bytes was dropped"), "{first}");
    let (_, tail) = app.get(&format!("/api/jobs/{id}/logs?after=9999")).await;
    let tail = messages(tail["logs"].as_array().unwrap());
    assert_eq!(tail, ["y", "20001 more output lines were not kept"]);
}

#[tokio::test]
async fn a_failed_attempt_is_retried_and_can_then_succeed() {
    let script = r#"if [ "$JOBCAST_ATTEMPT" = 1 ]; then echo 'first try fails' >&2; exit 1; fi
echo '{"result": "second"}'"#;
    let app = app_with_script("flaky", script, |t| t.max_attempts = 2).await;
    let (_, job) = run(&app, "flaky", &["completed", "failed"], 10).await;
    assert_eq!(
        (job["status"].as_str(), job["attempt"].as_i64()),
        (Some("completed"), Some(2)),
        "{job}"
    );
    assert_eq!(job["result"], "second");
}

#[tokio::test]
async fn concurrency_limits_how_many_jobs_of_a_type_run_at_once() {
    let app = app_with_script("single", "sleep 0.2", |t| t.concurrency = Some(1)).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            app.create(json!({"type": "single"})).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut most = 0;
    loop {
        let (_, running) = app.get("/api/jobs?status=running&type=single").await;
        most = most.max(running["jobs"].as_array().unwrap().len());
        let (_, done) = app.get("/api/jobs?status=completed&type=single").await;
        if done["jobs"].as_array().unwrap().len() == ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(most, 1);
}

#[tokio::test]
async fn shutdown_past_the_grace_period_kills_the_program_and_queues_its_job_again() {
    let script = r#"trap '' TERM; sleep 30 & echo "pid $!"; wait"#;
    let mut job_type = JobTypeConfig::command("sh", &["-c", script]);
    job_type.max_attempts = 1;
    let app = spawn_app_with(move |c| {
        c.runner.grace_period = Duration::from_millis(200);
        c.job_types.insert("long".into(), job_type);
    })
    .await;
    let id = app.create(json!({"type": "long"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pid = wait_for_pid(&app, &id).await;
    let (dir, db_path) = app.stop().await;
    assert_gone(pid).await;
    let mut config = test_config(&db_path);
    config.runner.poll_interval = Duration::from_secs(3600);
    config.runner.workers = 1;
    // No `long` type here, so nothing claims it: we see what shutdown left.
    let app = start(config, dir, db_path).await;
    let job = app.job(&id).await;
    assert_eq!(job["status"], "queued", "{job}");
    assert_eq!(job["attempt"], 0);
}

#[test]
fn a_command_type_without_a_program_is_refused_at_start() {
    let mut config = jobcast::Config::default();
    let mut job_type = JobTypeConfig::command("x", &[]);
    job_type.command.clear();
    config.job_types.insert("empty".into(), job_type);
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("job_types.empty.command"), "{err}");
}

#[tokio::test]
async fn a_program_that_exits_leaving_a_process_behind_completes_and_the_leftover_is_killed() {
    let app = app_with_script(
        "leaky",
        r#"sleep 30 & echo "pid $!"; echo '{"result": 1}'"#,
        |_| {},
    )
    .await;
    let (id, job) = run(&app, "leaky", &["completed", "failed"], 10).await;
    assert_eq!(
        (job["status"].as_str(), &job["result"]),
        (Some("completed"), &json!(1)),
        "{job}"
    );
    assert_gone(pid_from(&logs(&app, &id).await)).await;
}
