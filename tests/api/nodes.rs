//! Several jobcast nodes on one database: two real processes on different ports, as behind a
//! load balancer. Any node serves any job's stream, runs any job, and takes over the jobs of a
//! node that died once their lease expired.
//!
//! These run on the test backend: a PostgreSQL database shared by both processes with
//! `JOBCAST_TEST_BACKEND=postgres` (the deployment the README describes), else one SQLite
//! file shared by both (which works on one machine, without notifications between them).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::binary::{db_env, send_signal, Server};
use crate::helpers::{skip_on_sqlite, SseLog};

/// A node's environment: the shared database and uploads folder, short durations, and more.
fn node_env(dir: &Path, more: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = db_env(dir);
    // Creating a thousand jobs from one test client is not abuse.
    env.push(("JOBCAST_CREATE_RATE", "100000".to_owned()));
    for (key, value) in more {
        env.push((key, (*value).to_owned()));
    }
    env
}

async fn stream(node: &Server, id: &str) -> reqwest::Response {
    let response = reqwest::get(node.url(&format!("/api/jobs/{id}/stream")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
}

const COMPLETED_DEMO: &str = r#"jobcast_jobs_finished_total{type="demo",outcome="completed"}"#;

#[tokio::test]
async fn a_job_created_on_one_node_runs_on_another_and_streams_from_the_first() {
    let dir = tempfile::tempdir().unwrap();
    // A runs no jobs (an API node); B runs them.
    let a = Server::start(
        dir.path(),
        &node_env(dir.path(), &[("JOBCAST_WORKERS", "0")]),
    );
    let b = Server::start(dir.path(), &node_env(dir.path(), &[]));

    let job = a
        .create(json!({"type": "demo", "payload": {"steps": 5, "step_ms": 100}}))
        .await;
    let id = job["id"].as_str().unwrap();
    let log = SseLog::read(stream(&a, id).await, Duration::from_secs(20)).await;

    assert!(log.ended_at.is_some(), "the stream on A ended: {log:?}");
    let names = log.names();
    assert_eq!(names.last(), Some(&"completed"), "{names:?}");
    assert!(
        names.contains(&"progress") && names.contains(&"log"),
        "{names:?}"
    );
    assert_eq!(log.last_event().data()["result"]["steps"], 5);
    // Event ids go up, as a reconnecting EventSource needs, across the nodes' writes.
    let ids: Vec<i64> = log.events().iter().filter_map(|f| f.id()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // A browser that lost its connection after the first log line and reconnects through
    // the other node resumes where it was: the same lines after it, the same end.
    let first_log = log
        .events()
        .into_iter()
        .find(|f| f.name() == Some("log"))
        .and_then(|f| f.id())
        .unwrap();
    let lines_after = |log: &SseLog| -> Vec<(i64, Value)> {
        log.events()
            .into_iter()
            .filter(|f| f.name() == Some("log") && f.id() > Some(first_log))
            .map(|f| (f.id().unwrap(), f.data()))
            .collect()
    };
    let resumed = reqwest::Client::new()
        .get(b.url(&format!("/api/jobs/{id}/stream")))
        .header("Last-Event-ID", first_log.to_string())
        .send()
        .await
        .unwrap();
    let resumed = SseLog::read(resumed, Duration::from_secs(10)).await;
    assert!(!lines_after(&log).is_empty(), "{names:?}");
    assert_eq!(lines_after(&resumed), lines_after(&log));
    assert_eq!(resumed.names().last(), Some(&"completed"));
    assert_eq!(resumed.last_id(), log.last_id());

    assert_eq!(b.metric(COMPLETED_DEMO).await, 1.0, "B ran the job");
    assert_eq!(a.metric(COMPLETED_DEMO).await, 0.0, "A ran nothing");
    // Either node answers for it.
    assert_eq!(b.job(id).await["status"], "completed");
    assert_eq!(a.job(id).await["status"], "completed");
}

#[tokio::test]
async fn an_idle_node_claims_a_job_queued_through_another_at_once_not_at_its_next_poll() {
    if skip_on_sqlite("notifications between processes need PostgreSQL") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start(
        dir.path(),
        &node_env(dir.path(), &[("JOBCAST_WORKERS", "0")]),
    );
    // B looks for due jobs only every 20 s (its leases last longer than that).
    let b = Server::start(
        dir.path(),
        &node_env(
            dir.path(),
            &[
                ("JOBCAST_RUNNER_POLL_INTERVAL", "20s"),
                ("JOBCAST_LEASE", "60s"),
            ],
        ),
    );
    // B's first look happens at start; let it go by.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let created = Instant::now();
    let job = a
        .create(json!({"type": "demo", "payload": {"steps": 1, "step_ms": 0}}))
        .await;
    let id = job["id"].as_str().unwrap();
    a.wait_until(id, Duration::from_secs(10), |j| j["status"] == "completed")
        .await;
    assert!(
        created.elapsed() < Duration::from_secs(5),
        "B took {:?}: woken by its poll, not by the notification",
        created.elapsed()
    );
    assert_eq!(b.metric(COMPLETED_DEMO).await, 1.0);

    // A worker waiting on B for an external job gets one created through A at once too.
    let waiting = {
        let url = b.url("/api/workers/claim");
        tokio::spawn(async move {
            let started = Instant::now();
            let response = reqwest::Client::new()
                .post(url)
                .json(&json!({"types": ["external"], "wait": "20s"}))
                .send()
                .await
                .unwrap();
            (started.elapsed(), response.status())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.create(json!({"type": "external"})).await;
    let (waited, status) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        waited < Duration::from_secs(5),
        "claim answered after {waited:?}"
    );
}

#[tokio::test]
async fn a_node_killed_mid_job_has_its_job_finished_by_another_once_the_lease_expires() {
    let dir = tempfile::tempdir().unwrap();
    // Leases of 1 s, looked at every 100 ms (db_env).
    let b = Server::start(dir.path(), &node_env(dir.path(), &[]));
    let job = b
        .create(json!({
            "type": "demo", "payload": {"steps": 40, "step_ms": 50}, "max_attempts": 2
        }))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    b.wait_until(&id, Duration::from_secs(10), |j| {
        j["status"] == "running" && j["progress"].as_f64() > Some(5.0)
    })
    .await;

    // A joins while the job runs on B; a browser on A follows the job.
    let a = Server::start(dir.path(), &node_env(dir.path(), &[]));
    let follower = {
        let response = stream(&a, &id).await;
        tokio::spawn(SseLog::read(response, Duration::from_secs(30)))
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed_at = Instant::now();
    send_signal("-KILL", &b.pid());
    drop(b);

    let job = a
        .wait_until(&id, Duration::from_secs(20), |j| j["status"] == "completed")
        .await;
    let took = killed_at.elapsed();
    assert_eq!(job["attempt"], 2, "{job}");
    assert_eq!(job["result"]["steps"], 40);
    // The lease (1 s), A's next look (100 ms), then 40 x 50 ms of work, with room to spare.
    assert!(
        took < Duration::from_secs(10),
        "finished {took:?} after the kill"
    );
    assert_eq!(a.metric(COMPLETED_DEMO).await, 1.0, "A finished it");

    let log = follower.await.unwrap();
    assert!(log.ended_at.is_some(), "the stream on A ended: {log:?}");
    assert_eq!(log.names().last(), Some(&"completed"));
    // Progress went back to 0 for the second attempt, and reached 100.
    let progress: Vec<f64> = log
        .events()
        .iter()
        .filter(|f| f.name() == Some("progress"))
        .map(|f| f.data()["progress"].as_f64().unwrap())
        .collect();
    assert!(
        progress.windows(2).any(|w| w[1] < w[0]),
        "a restart: {progress:?}"
    );
}

/// The config both nodes of the exactly-once test read: `record` jobs append their id and
/// attempt to one file shared by the nodes.
fn record_config(dir: &Path) -> std::path::PathBuf {
    let runs = dir.join("runs.log");
    let config = format!(
        r#"
[job_types.external]
kind = "external"

[job_types.record]
kind = "command"
command = ["sh", "-c", "echo \"$JOBCAST_JOB_ID $JOBCAST_ATTEMPT\" >> '{}'; echo '{{\"result\": true}}'"]
"#,
        runs.display()
    );
    let path = dir.join("nodes.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// Creates `n` jobs of `body`, half through each node, 16 at a time.
async fn create_across(nodes: [&Server; 2], body: Value, n: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let urls: Vec<String> = nodes.iter().map(|node| node.url("/api/jobs")).collect();
    let mut ids = Vec::new();
    let mut batch = tokio::task::JoinSet::new();
    for i in 0..n {
        let (client, url, body) = (client.clone(), urls[i % 2].clone(), body.clone());
        batch.spawn(async move {
            let response = client.post(url).json(&body).send().await.unwrap();
            let status = response.status();
            let job: Value = response.json().await.unwrap();
            assert_eq!(status, StatusCode::CREATED, "{job}");
            job["id"].as_str().unwrap().to_owned()
        });
        if batch.len() == 16 {
            ids.push(batch.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(id) = batch.join_next().await {
        ids.push(id.unwrap());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_runner_workers_on_two_nodes_run_a_thousand_jobs_each_exactly_once() {
    const JOBS: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let config = record_config(dir.path());
    let env = node_env(dir.path(), &[("JOBCAST_WORKERS", "4")]);
    let a = Server::start_with_config(dir.path(), &config, &env);
    let b = Server::start_with_config(dir.path(), &config, &env);

    let ids = create_across([&a, &b], json!({"type": "record"}), JOBS).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = a
            .metric(r#"jobcast_jobs{type="record",status="completed"}"#)
            .await;
        if done as usize == JOBS {
            break;
        }
        assert!(Instant::now() < deadline, "{done} of {JOBS} completed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let runs = std::fs::read_to_string(dir.path().join("runs.log")).unwrap();
    let mut times_run: HashMap<&str, usize> = HashMap::new();
    for line in runs.lines() {
        let (id, attempt) = line.split_once(' ').unwrap();
        assert_eq!(attempt, "1", "{line}");
        *times_run.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = times_run.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "run more than once: {twice:?}");
    let expected: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let ran: HashSet<&str> = times_run.keys().copied().collect();
    assert_eq!(ran, expected, "every job ran");

    let attempts = r#"jobcast_job_attempts_total{type="record"}"#;
    let (on_a, on_b) = (
        a.metric(attempts).await as usize,
        b.metric(attempts).await as usize,
    );
    assert_eq!(on_a + on_b, JOBS, "one attempt per job in all");
    assert!(
        on_a > 0 && on_b > 0,
        "both nodes ran jobs: {on_a} and {on_b}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_http_workers_on_two_nodes_claim_a_thousand_jobs_each_exactly_once() {
    const JOBS: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start(dir.path(), &node_env(dir.path(), &[]));
    let b = Server::start(dir.path(), &node_env(dir.path(), &[]));
    let ids = create_across([&a, &b], json!({"type": "external"}), JOBS).await;

    // Four workers claim through each node until the queue is empty; each completes what it
    // claimed, under its lease, through the node it claimed from.
    let claims: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let base = [&a, &b][w % 2].base.clone();
        let claims = claims.clone();
        workers.spawn(async move {
            let client = reqwest::Client::new();
            let name = format!("w{w}");
            loop {
                let response = client
                    .post(format!("{base}/api/workers/claim"))
                    .json(&json!({"types": ["external"], "worker": name, "lease": "60s"}))
                    .send()
                    .await
                    .unwrap();
                if response.status() == StatusCode::NO_CONTENT {
                    return;
                }
                assert_eq!(response.status(), StatusCode::OK);
                let job: Value = response.json().await.unwrap();
                let id = job["id"].as_str().unwrap().to_owned();
                let response = client
                    .post(format!("{base}/api/jobs/{id}/complete"))
                    .header("Jobcast-Lease", job["lease_id"].as_str().unwrap())
                    .json(&json!({"result": {"by": name}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{id}");
                claims.lock().unwrap().push((id, name.clone()));
            }
        });
    }
    while let Some(worker) = workers.join_next().await {
        worker.unwrap();
    }

    let claims = std::mem::take(&mut *claims.lock().unwrap());
    let mut claimed: HashMap<&str, Vec<&str>> = HashMap::new();
    for (id, worker) in claims.iter() {
        claimed.entry(id).or_default().push(worker);
    }
    let twice: Vec<_> = claimed.iter().filter(|(_, by)| by.len() > 1).collect();
    assert!(twice.is_empty(), "claimed more than once: {twice:?}");
    assert_eq!(claims.len(), JOBS);
    let expected: HashSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(claimed.keys().copied().collect::<HashSet<_>>(), expected);
    let by_node = |node: usize| {
        claims
            .iter()
            .filter(|(_, w)| w[1..].parse::<usize>().unwrap() % 2 == node)
            .count()
    };
    assert!(
        by_node(0) > 0 && by_node(1) > 0,
        "both nodes handed out jobs"
    );
    // Every job completed by the worker that claimed it, once.
    for id in ids.iter().step_by(97) {
        let job = a.job(id).await;
        assert_eq!(job["status"], "completed");
        assert_eq!(job["attempt"], 1);
        assert_eq!(job["result"]["by"], claimed[id.as_str()][0]);
    }
}
