//! The real binary as an operator runs it: start-up, bad config, SIGTERM, and `kill -9`
//! mid-job followed by a restart on the same file.

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::binary::{db_env, jobcast, send_signal, Server};

#[tokio::test]
async fn a_job_killed_with_sigkill_runs_again_after_a_restart_within_the_lease_time() {
    let dir = tempfile::tempdir().unwrap();
    let env = db_env(dir.path());
    let server = Server::start(dir.path(), &env);
    let job = server
        .create(json!({"type": "demo", "payload": {"steps": 30, "step_ms": 50}, "max_attempts": 2}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    server
        .wait_until(&id, Duration::from_secs(5), |j| j["status"] == "running")
        .await;
    send_signal("-KILL", &server.pid());
    drop(server);

    let restarted_at = Instant::now();
    let server = Server::start(dir.path(), &env);
    let job = server
        .wait_until(&id, Duration::from_secs(5), |j| {
            j["attempt"] == 2 && j["status"] == "running"
        })
        .await;
    assert!(
        restarted_at.elapsed() < Duration::from_secs(4),
        "taken over after {:?}",
        restarted_at.elapsed()
    );
    assert!(job["error"].is_null() || job["error"].as_str().unwrap().contains("interrupted"));
    let job = server
        .wait_until(&id, Duration::from_secs(10), |j| j["status"] == "completed")
        .await;
    assert_eq!(job["result"]["steps"], 30);
}

#[tokio::test]
async fn sigterm_stops_the_server_with_exit_0_and_queues_unfinished_jobs_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = db_env(dir.path());
    env.push(("JOBCAST_SHUTDOWN_GRACE", "300ms".to_owned()));
    let server = Server::start(dir.path(), &env);
    let job = server
        .create(json!({"type": "demo", "payload": {"steps": 1000, "step_ms": 50}}))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    server
        .wait_until(&id, Duration::from_secs(5), |j| j["status"] == "running")
        .await;

    let stopping = Instant::now();
    send_signal("-TERM", &server.pid());
    let (status, _) = server.wait(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "took {:?}",
        stopping.elapsed()
    );

    // Back on the same file the job is queued again, its interrupted attempt not counted, and
    // it runs from the start.
    let server = Server::start(dir.path(), &env);
    let job = server.job(&id).await;
    assert!(
        matches!(job["status"].as_str(), Some("queued" | "running")),
        "{job}"
    );
    assert!(job["attempt"].as_i64().unwrap() <= 1, "{job}");
}

#[test]
fn a_bad_config_value_stops_start_up_with_a_message_naming_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let output = jobcast(
        dir.path(),
        &[("JOBCAST_STREAM_POLL_INTERVAL", "often".to_owned())],
    )
    .output()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("JOBCAST_STREAM_POLL_INTERVAL") && stderr.contains("often"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let output = jobcast(dir.path(), &[("JOBCAST_WORKERS", "many".to_owned())])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("JOBCAST_WORKERS"));

    std::fs::write(
        dir.path().join("bad.toml"),
        "[stream]\nheartbeat = \"sometimes\"\n",
    )
    .unwrap();
    let output = jobcast(dir.path(), &[])
        .arg("--config")
        .arg("bad.toml")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("heartbeat") && stderr.contains("sometimes"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_postgres_database_without_an_uploads_folder_stops_start_up_with_a_message() {
    // Checked before connecting, so no server is needed at that address.
    let dir = tempfile::tempdir().unwrap();
    let output = jobcast(
        dir.path(),
        &[(
            "JOBCAST_DATABASE_URL",
            "postgres://jobcast@127.0.0.1:1/jobcast".to_owned(),
        )],
    )
    .output()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("uploads.dir") && stderr.contains("JOBCAST_UPLOAD_DIR"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn the_default_database_and_its_folder_are_created_on_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (status, _) = {
        let response = reqwest::get(format!("{}/healthz", server.base))
            .await
            .unwrap();
        (response.status(), ())
    };
    assert_eq!(status, 200);
    assert!(dir.path().join("data/jobcast.db").exists());
}

fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_100_mib_upload_streams_to_disk_with_flat_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &db_env(dir.path()));
    let before = rss_kib(&server.pid());
    const MIB: usize = 1024 * 1024;
    let chunks = futures_util::stream::iter(
        (0..100).map(|i| Ok::<_, std::io::Error>(vec![b'a' + (i % 26) as u8; MIB])),
    );
    let response = reqwest::Client::new()
        .post(format!("{}/api/uploads", server.base))
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let upload: Value = response.json().await.unwrap();
    assert_eq!(upload["size"].as_u64(), Some(100 * MIB as u64));
    let after = rss_kib(&server.pid());
    let grew = after.saturating_sub(before);
    assert!(
        grew < 32 * 1024,
        "RSS grew by {grew} KiB while receiving 100 MiB"
    );
}

#[tokio::test]
async fn a_client_that_never_reads_its_stream_does_not_grow_server_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &db_env(dir.path()));
    let job = server.create(json!({"type": "external"})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    // A stream whose client reads nothing, ever.
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut stuck = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stuck,
        format!("GET /api/jobs/{id}/stream HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(&server.pid());
    // 6 000 log lines of 16 KiB (94 MiB) that the stream would have to carry.
    let client = reqwest::Client::new();
    let url = format!("{}/api/jobs/{id}/logs", server.base);
    let line = "x".repeat(16 * 1024 - 16);
    let posts = futures_util::stream::iter(0..6000).map(|n| {
        let request = client
            .post(&url)
            .json(&json!({"message": format!("{n:06} {line}")}));
        async move { request.send().await.unwrap().status() }
    });
    let statuses: Vec<_> = posts.buffer_unordered(8).collect().await;
    assert!(statuses.iter().all(|s| s.as_u16() == 201));
    let after = rss_kib(&server.pid());
    let grew = after.saturating_sub(before);
    eprintln!("RSS grew by {grew} KiB beside a stuck stream with 94 MiB to carry");
    assert!(
        grew < 40 * 1024,
        "RSS grew by {grew} KiB while a stuck client's stream had 94 MiB to carry"
    );
    // The server is still answering everyone else.
    let health = client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    drop(stuck);
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_and_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = db_env(dir.path());
    env.push(("JOBCAST_LOG_FORMAT", "json".to_owned()));
    let mut child = jobcast(dir.path(), &env).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let base = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a start-up line");
        let entry: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        seen.push(entry.clone());
        let message = entry["fields"]["message"].as_str().unwrap_or_default();
        if let Some(url) = message.strip_prefix("listening on ") {
            break url.to_owned();
        }
    };
    let response = reqwest::Client::new()
        .get(format!("{base}/api/jobs"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("the request's log line");
        let entry: Value = serde_json::from_str(&line).unwrap();
        if entry["fields"]["message"] == "request" {
            break entry;
        }
    };
    assert_eq!(request["level"], "INFO");
    assert_eq!(request["fields"]["path"], "/api/jobs");
    assert_eq!(request["fields"]["status"], 200);
    assert_eq!(request["span"]["request_id"], "trace-42", "{request}");
    assert!(request["timestamp"].is_string());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn an_unknown_log_format_stops_start_up_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = db_env(dir.path());
    env.push(("JOBCAST_LOG_FORMAT", "jsno".to_owned()));
    let output = jobcast(dir.path(), &env).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("JOBCAST_LOG_FORMAT") && stderr.contains("jsno"),
        "{stderr}"
    );
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let Ok(which) = Command::new("which").arg("systemd-analyze").output() else {
        return;
    };
    if !which.status.success() {
        eprintln!("*** SKIPPED: no systemd-analyze to check contrib/jobcast.service ***");
        return;
    }
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/jobcast.service"
    ))
    .unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/jobcast serve"));
    // Verify against the binary just built (the unit names its installed path).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobcast.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/jobcast", env!("CARGO_BIN_EXE_jobcast")),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "{stderr}"
    );
}

/// Every job in the store: id, status and attempt, paged through the list.
async fn all_jobs(server: &Server) -> Vec<Value> {
    let client = reqwest::Client::new();
    let mut jobs = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut url = server.url("/api/jobs?limit=500");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        jobs.extend(page["jobs"].as_array().unwrap().iter().cloned());
        cursor = match page["next_cursor"].as_str() {
            Some(next) => Some(next.to_owned()),
            None => return jobs,
        };
    }
    panic!("more pages than jobs");
}

/// `kill -9` while batches of claims, log lines and ends are being committed: after a restart
/// every accepted job is there and ends completed, none lost, none failed, none run past its
/// attempts (at least once: a job whose end had not committed runs again, once).
#[tokio::test]
async fn kill_9_in_the_middle_of_batches_loses_no_job_and_ends_each_once() {
    const JOBS: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let mut env = db_env(dir.path());
    for (key, value) in [
        ("JOBCAST_WORKERS", "8"),
        ("JOBCAST_LEASE", "1s"),
        ("JOBCAST_CREATE_RATE", "1000000"),
        ("JOBCAST_CREATE_BURST", "1000000"),
        ("JOBCAST_MAX_QUEUED_PER_TYPE", "1000000"),
    ] {
        env.push((key, value.to_owned()));
    }
    let server = Server::start(dir.path(), &env);
    let client = reqwest::Client::new();
    let job = json!({"type": "demo", "payload": {"steps": 1, "step_ms": 0}, "max_attempts": 2});
    for _ in 0..JOBS / 500 {
        let response = client
            .post(server.url("/api/jobs/bulk"))
            .json(&json!({"jobs": vec![job.clone(); 500]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let completed = r#"jobcast_jobs{type="demo",status="completed"}"#;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done = server.metric(completed).await as usize;
        if done >= JOBS / 10 {
            assert!(done < JOBS, "the run ended before it could be killed");
            break;
        }
        assert!(Instant::now() < deadline, "{done} completed");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    send_signal("-KILL", &server.pid());
    drop(server);

    let server = Server::start(dir.path(), &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.metric(completed).await as usize != JOBS {
        assert!(
            Instant::now() < deadline,
            "{} of {JOBS} completed after the restart",
            server.metric(completed).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let jobs = all_jobs(&server).await;
    assert_eq!(jobs.len(), JOBS, "every accepted job is there");
    for job in &jobs {
        assert_eq!(job["status"], "completed", "{job}");
        let attempt = job["attempt"].as_i64().unwrap();
        assert!((1..=2).contains(&attempt), "{job}");
    }
    let ran_again = jobs.iter().filter(|j| j["attempt"] == 2).count();
    eprintln!("{ran_again} of {JOBS} jobs ran again after the kill");
}
