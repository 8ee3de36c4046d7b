//! The in-process runner: workers, retries with backoff, timeouts, shutdown with a grace
//! period, and recovery of expired leases across a restart on the same file.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_failing_job_is_retried_up_to_max_attempts_then_fails_with_its_error() {
    let app = spawn_app().await;
    let job = app
        .create(json!({"type": "demo", "payload": {"steps": 3, "step_ms": 0, "fail_at_step": 2}, "max_attempts": 3}))
        .await;
    let id = job["id"].as_str().unwrap();
    let job = app
        .wait_for_status(id, &["failed"], Duration::from_secs(10))
        .await;
    assert_eq!(job["attempt"], 3);
    assert_eq!(job["error"], "failed at step 2 of 3");
    assert_eq!(job["details"], json!({"step": 2, "steps": 3}));
    assert!(job["finished_at"].is_string());
    let (_, logs) = app.get(&format!("/api/jobs/{id}/logs")).await;
    let lines: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        lines.iter().filter(|l| l.contains("retrying in")).count(),
        2,
        "{lines:?}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("starting")).count(),
        3,
        "{lines:?}"
    );
}

#[tokio::test]
async fn with_one_attempt_a_failure_is_final() {
    let app = spawn_app().await;
    let job = app
        .create(json!({"type": "demo", "payload": {"steps": 1, "step_ms": 0, "fail_at_step": 1}, "max_attempts": 1}))
        .await;
    let id = job["id"].as_str().unwrap();
    let job = app
        .wait_for_status(id, &["failed"], Duration::from_secs(5))
        .await;
    assert_eq!(job["attempt"], 1);
}

#[tokio::test]
async fn an_attempt_that_runs_too_long_times_out() {
    let app = spawn_app().await;
    let job = app
        .create(json!({"type": "demo", "payload": {"steps": 100, "step_ms": 100}, "timeout": "300ms", "max_attempts": 2}))
        .await;
    let id = job["id"].as_str().unwrap();
    let job = app
        .wait_for_status(id, &["failed"], Duration::from_secs(10))
        .await;
    assert_eq!(job["error"], "timed out after 300ms");
    assert_eq!(job["attempt"], 2, "the timeout is retried like any failure");
    assert!(job["progress"].as_f64().unwrap() < 100.0);
}

#[tokio::test]
async fn no_more_jobs_run_at_once_than_there_are_workers() {
    let app = spawn_app_with(|c| c.runner.workers = 2).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(app.create_demo(4, 40).await);
    }
    let mut most = 0;
    loop {
        let (_, running) = app.get("/api/jobs?status=running").await;
        most = most.max(running["jobs"].as_array().unwrap().len());
        let (_, done) = app.get("/api/jobs?status=completed").await;
        if done["jobs"].as_array().unwrap().len() == ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    assert!(most <= 2, "{most} jobs ran at once with 2 workers");
    assert_eq!(most, 2, "both workers were used");
}

#[tokio::test]
async fn shutdown_gives_running_jobs_the_grace_period_then_queues_them_again() {
    let app = spawn_app_with(|c| c.runner.grace_period = Duration::from_millis(300)).await;
    let long = app.create_demo(1000, 50).await;
    let short = app.create_demo(4, 50).await;
    app.wait_for_status(&long, &["running"], Duration::from_secs(5))
        .await;
    app.wait_for_status(&short, &["running"], Duration::from_secs(5))
        .await;
    let config_db = app.db_path.clone();
    let (dir, db_path) = app.stop().await;
    assert_eq!(db_path, config_db);

    // Restart on the same file with no workers free to pick the job up again yet: look first.
    let mut config = test_config(&db_path);
    config.job_types.get_mut("demo").unwrap().max_attempts = 1;
    config.runner.poll_interval = Duration::from_secs(3600);
    config.runner.workers = 1;
    let app = start(config, dir, db_path).await;
    let short_job = app.job(&short).await;
    assert_eq!(
        short_job["status"], "completed",
        "a job that finished within the grace period completed"
    );
    let long_job = app.job(&long).await;
    // The restarted runner claims at start, so the job is queued again or already re-running,
    // with its interrupted attempt not counted.
    assert!(
        matches!(long_job["status"].as_str(), Some("queued" | "running")),
        "{long_job}"
    );
    assert!(long_job["attempt"].as_i64().unwrap() <= 1, "{long_job}");
    assert!(long_job["finished_at"].is_null());
}

/// Simulates a crash: runs a server on its own runtime, creates the job, waits until it runs,
/// then drops the runtime, so no shutdown code runs and the job is left `running` with a
/// lease. Returns the job's id.
fn crash_while_running(config: jobcast::Config, job: serde_json::Value) -> String {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let id = runtime.block_on(async move {
            let app = jobcast::Application::build(config).await.unwrap();
            let base = format!("http://{}", app.local_addr());
            tokio::spawn(app.run_until_stopped(std::future::pending()));
            let client = reqwest::Client::new();
            let created: serde_json::Value = client
                .post(format!("{base}/api/jobs"))
                .json(&job)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let id = created["id"].as_str().unwrap().to_owned();
            loop {
                let url = format!("{base}/api/jobs/{id}");
                let job: serde_json::Value =
                    client.get(url).send().await.unwrap().json().await.unwrap();
                if job["status"] == "running" {
                    return id;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        runtime.shutdown_background();
        id
    })
    .join()
    .unwrap()
}

#[tokio::test]
async fn a_job_whose_lease_expired_is_queued_again_by_the_next_server_on_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("jobcast.db");
    let mut config = test_config(&db_path);
    config.runner.lease = Duration::from_millis(500);
    let id = crash_while_running(
        config.clone(),
        json!({"type": "demo", "payload": {"steps": 40, "step_ms": 50}, "max_attempts": 2}),
    );

    let app = start(config, dir, db_path).await;
    let job = app.job(&id).await;
    assert_eq!(
        job["status"], "running",
        "still marked running until its lease expires"
    );
    // Within the lease time (plus a poll) the new server takes it over: attempt 2.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let job = loop {
        let job = app.job(&id).await;
        if job["attempt"] == 2 {
            break job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not taken over: {job}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        matches!(job["status"].as_str(), Some("queued" | "running")),
        "{job}"
    );
    let job = app
        .wait_for_status(&id, &["completed"], Duration::from_secs(10))
        .await;
    assert_eq!(job["attempt"], 2);
}

#[tokio::test]
async fn a_job_interrupted_on_its_last_attempt_fails_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("jobcast.db");
    let mut config = test_config(&db_path);
    config.runner.lease = Duration::from_millis(300);
    let id = crash_while_running(
        config.clone(),
        json!({"type": "demo", "payload": {"steps": 100, "step_ms": 50}, "max_attempts": 1}),
    );

    let app = start(config, dir, db_path).await;
    let job = app
        .wait_for_status(&id, &["failed"], Duration::from_secs(3))
        .await;
    assert!(
        job["error"].as_str().unwrap().contains("interrupted"),
        "{job}"
    );
}

/// Quick jobs first, so the runner sees short jobs and claims ahead.
async fn run_quick_jobs(app: &TestApp, n: usize) {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(app.create_demo(1, 0).await);
    }
    for id in ids {
        app.wait_for_status(&id, &["completed"], Duration::from_secs(10))
            .await;
    }
}

#[tokio::test]
async fn a_job_claimed_ahead_behind_a_long_one_goes_back_to_the_queue_and_runs_once_after_it() {
    let app = spawn_app_with(|c| {
        c.runner.workers = 1;
        c.runner.claim_ahead = Duration::from_secs(1);
        c.runner.poll_interval = Duration::from_millis(100);
    })
    .await;
    run_quick_jobs(&app, 5).await;
    let long = app.create_demo(2, 600).await;
    let quick = app.create_demo(1, 0).await;
    let stream = app.stream(&quick, None).await;
    let log = tokio::spawn(SseLog::read(stream, Duration::from_secs(10)));
    app.wait_for_status(&long, &["running"], Duration::from_secs(5))
        .await;
    // Claimed ahead with the long one, then back in the queue while the worker is busy.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, long_now) = app.get(&format!("/api/jobs/{long}")).await;
    assert_eq!(long_now["status"], "running", "the long job still runs");
    let quick_now = app.job(&quick).await;
    assert_eq!(quick_now["status"], "queued", "{quick_now}");
    assert_eq!(
        quick_now["attempt"], 0,
        "its unstarted attempt is not counted"
    );

    let quick_done = app
        .wait_for_status(&quick, &["completed"], Duration::from_secs(10))
        .await;
    let long_done = app.job(&long).await;
    assert_eq!(quick_done["attempt"], 1, "run once");
    let time = |job: &serde_json::Value, field: &str| {
        jobcast::job::Timestamp::parse_rfc3339(job[field].as_str().unwrap())
            .unwrap()
            .as_millis()
    };
    assert!(
        time(&quick_done, "started_at") >= time(&long_done, "finished_at"),
        "started after the long job ended: {quick_done} / {long_done}"
    );
    let statuses: Vec<String> = log
        .await
        .unwrap()
        .events()
        .iter()
        .filter_map(|frame| frame.data()["status"].as_str().map(str::to_owned))
        .collect();
    let claimed_ahead = statuses.iter().position(|s| s == "running");
    let put_back = claimed_ahead.and_then(|c| statuses[c..].iter().position(|s| s == "queued"));
    assert!(
        put_back.is_some(),
        "its stream saw it claimed ahead, then put back: {statuses:?}"
    );
}

#[tokio::test]
async fn a_job_claimed_ahead_and_cancelled_before_it_starts_never_runs() {
    let app = spawn_app_with(|c| {
        c.runner.workers = 1;
        c.runner.claim_ahead = Duration::from_secs(1);
        // Not put back before the cancel: the cancel finds it claimed ahead.
        c.runner.poll_interval = Duration::from_secs(30);
    })
    .await;
    run_quick_jobs(&app, 5).await;
    let long = app.create_demo(2, 500).await;
    let quick = app.create_demo(1, 0).await;
    app.wait_for_status(&long, &["running"], Duration::from_secs(5))
        .await;
    let claimed = app
        .wait_for_status(&quick, &["running"], Duration::from_secs(5))
        .await;
    assert_eq!(app.job(&long).await["status"], "running", "{claimed}");
    let (status, _) = app
        .post_json(&format!("/api/jobs/{quick}/cancel"), &json!({}))
        .await;
    assert!(status.is_success(), "{status}");
    let cancelled = app
        .wait_for_status(&quick, &["cancelled"], Duration::from_secs(10))
        .await;
    assert_eq!(cancelled["error"], "cancelled");
    let (_, logs) = app.get(&format!("/api/jobs/{quick}/logs")).await;
    assert_eq!(
        logs["logs"].as_array().map(Vec::len),
        Some(0),
        "its handler never ran: {logs}"
    );
    app.wait_for_status(&long, &["completed"], Duration::from_secs(10))
        .await;
}
