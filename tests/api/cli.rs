//! The terminal client against a real server: exit codes and output.

use std::process::Command;

use serde_json::Value;

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
