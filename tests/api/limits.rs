//! The limits under abuse: streams per client, per job and in total; the creation rate; queue
//! depth; log lines kept per job; slow and half-open connections; thousands of abandoned
//! streams.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Asserts a limit's answer: the status, the JSON code and a `Retry-After` of whole seconds.
async fn assert_refused(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry_after.is_some_and(|s| s >= 1),
        "Retry-After is missing or not whole seconds: {:?}",
        response.headers().get("retry-after")
    );
    let body = body_json(response).await;
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    body
}

/// A stream response whose body is still open (the job is unfinished).
async fn open_stream(app: &TestApp, path: &str) -> reqwest::Response {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "opening {path}");
    response
}

#[tokio::test]
async fn streams_are_limited_per_client_per_job_and_in_total_and_freed_on_close() {
    let app = spawn_app_with(|config| {
        config.stream.max_duration = Duration::from_secs(30);
        config.limits.max_streams_per_job = 2;
        config.limits.max_streams_per_client = 3;
    })
    .await;
    let a = app.create_external().await;
    let b = app.create_external().await;
    let on_a = format!("/api/jobs/{a}/stream");
    let first = open_stream(&app, &on_a).await;
    let _second = open_stream(&app, &on_a).await;
    let third = app.client.get(app.url(&on_a)).send().await.unwrap();
    let body = assert_refused(third, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    assert!(body["message"].as_str().unwrap().contains("job"), "{body}");

    let _on_b = open_stream(&app, &format!("/api/jobs/{b}/stream")).await;
    // Three streams from this address: the fourth, even on another job or on /api/events, is
    // refused.
    let events = app.client.get(app.url("/api/events")).send().await.unwrap();
    let body = assert_refused(events, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    assert!(
        body["message"].as_str().unwrap().contains("client"),
        "{body}"
    );

    // Closing one frees its place at once (the permit goes with the body).
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = app.client.get(app.url(&on_a)).send().await.unwrap();
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed stream's place was never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Other requests are not limited by streams.
    assert_eq!(app.get("/api/jobs").await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_total_stream_limit_counts_every_client() {
    let app = spawn_app_with(|config| {
        config.stream.max_duration = Duration::from_secs(30);
        config.limits.max_streams = 2;
    })
    .await;
    let id = app.create_external().await;
    let path = format!("/api/jobs/{id}/stream");
    let _one = open_stream(&app, &path).await;
    let _two = open_stream(&app, "/api/events").await;
    let refused = app.client.get(app.url(&path)).send().await.unwrap();
    let body = assert_refused(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    assert!(
        body["message"].as_str().unwrap().contains("server"),
        "{body}"
    );
}

#[tokio::test]
async fn job_creation_is_rate_limited_per_token_with_retry_after() {
    let app = spawn_app_with(|config| {
        config.limits.create_rate = 1.0;
        config.limits.create_burst = 5;
        config.auth.plain_tokens = vec![
            (jobcast::auth::Role::Submit, "alice-token".to_owned()),
            (jobcast::auth::Role::Submit, "bob-token".to_owned()),
        ];
    })
    .await;
    let create = |token: &'static str| {
        app.client
            .post(app.url("/api/jobs"))
            .bearer_auth(token)
            .json(&json!({"type": "external", "run_at": "2099-01-01T00:00:00Z"}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(create("alice-token").await.unwrap().status(), 201);
    }
    let refused = create("alice-token").await.unwrap();
    assert_refused(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    // Bob has his own bucket.
    assert_eq!(create("bob-token").await.unwrap().status(), 201);
    // A refused creation stored nothing.
    assert_eq!(app.count_jobs_as("alice-token").await, 6);
    // The bucket refills at the configured rate (1 a second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(create("alice-token").await.unwrap().status(), 201);
}

#[tokio::test]
async fn a_full_queue_answers_503_queue_full_and_takes_jobs_again_once_drained() {
    let app = spawn_app_with(|config| config.limits.max_queued_per_type = 3).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.create_external().await);
    }
    let refused = app
        .client
        .post(app.url("/api/jobs"))
        .json(&json!({"type": "external"}))
        .send()
        .await
        .unwrap();
    let body = assert_refused(refused, StatusCode::SERVICE_UNAVAILABLE, "queue_full").await;
    assert!(
        body["message"].as_str().unwrap().contains("external"),
        "{body}"
    );
    assert_eq!(app.count_jobs().await, 3, "nothing was added");
    // Other types have their own queue.
    app.create_demo(1, 1).await;
    // Once a job leaves the queue, there is room again (after the short count cache).
    let (status, _) = app
        .post_json(&format!("/api/jobs/{}/cancel", ids[0]), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = app
            .post_json("/api/jobs", &json!({"type": "external"}))
            .await;
        if status == StatusCode::CREATED {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(Instant::now() < deadline, "the queue never had room again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_job_keeps_only_its_newest_log_lines() {
    let app = spawn_app_with(|config| config.limits.max_log_lines_per_job = 10).await;
    let id = app.create_external().await;
    for n in 1..=25 {
        let (status, _) = app
            .post_json(
                &format!("/api/jobs/{id}/logs"),
                &json!({"message": format!("line {n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, body) = app.get(&format!("/api/jobs/{id}/logs")).await;
    assert_eq!(status, StatusCode::OK);
    let seqs: Vec<i64> = body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (16..=25).collect::<Vec<_>>());
    assert_eq!(body["logs"][9]["message"], "line 25");
}

#[tokio::test]
async fn a_log_line_over_the_configured_length_is_refused() {
    let app = spawn_app_with(|config| config.limits.max_log_line_bytes = 100).await;
    let id = app.create_external().await;
    let path = format!("/api/jobs/{id}/logs");
    let (status, body) = app
        .post_json(&path, &json!({"message": "x".repeat(101)}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "message");
    let (status, _) = app
        .post_json(&path, &json!({"message": "x".repeat(100)}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

/// Sends a request and reads the whole answer (the server closes: `Connection: close`).
async fn plain_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// Waits until the server closes `stream`; panics if it is still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) {
    let mut buf = [0u8; 1024];
    let outcome = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(outcome.is_ok(), "the server kept the connection open");
}

#[tokio::test]
async fn slowloris_connections_do_not_delay_others_and_are_closed_after_the_header_timeout() {
    let app = spawn_app_with(|config| {
        config.limits.header_read_timeout = Duration::from_millis(500);
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // 200 connections each trickling a request head that never ends.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"GET /api/jobs HTTP/1.1\r\nHost: x\r\nX-Slow: a")
            .await
            .unwrap();
        slow.push(stream);
    }
    for stream in &mut slow {
        stream.write_all(b"a").await.unwrap();
    }
    // Meanwhile everyone else is served at once.
    let started = Instant::now();
    for _ in 0..20 {
        let answer = plain_get(&addr, "/healthz").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "20 requests beside 200 slow ones took {:?}",
        started.elapsed()
    );
    // The slow ones are cut off once the header timeout has passed.
    for stream in &mut slow {
        closed_within(stream, Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(|config| {
        config.limits.header_read_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Kept alive, then silent: closed by the server.
    let started = Instant::now();
    closed_within(&mut stream, Duration::from_secs(5)).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn an_open_stream_outlives_the_header_timeout() {
    let app = spawn_app_with(|config| {
        config.limits.header_read_timeout = Duration::from_millis(200);
        config.stream.max_duration = Duration::from_secs(30);
    })
    .await;
    let id = app.create_external().await;
    let response = open_stream(&app, &format!("/api/jobs/{id}/stream")).await;
    let log = SseLog::read(response, Duration::from_millis(1200)).await;
    // Heartbeats keep coming well after the header timeout: the stream was not cut.
    assert!(log.heartbeats() >= 3, "{} heartbeats", log.heartbeats());
}

#[tokio::test]
async fn two_thousand_abandoned_streams_leave_no_stream_behind() {
    let app = spawn_app_with(|config| {
        config.stream.max_duration = Duration::from_secs(60);
        config.limits.max_streams_per_client = 5_000;
        config.limits.max_streams_per_job = 5_000;
    })
    .await;
    let id = app.create_external().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let request = format!("GET /api/jobs/{id}/stream HTTP/1.1\r\nHost: x\r\n\r\n");
    // In waves of 200: open, read the head, then drop the socket without a word.
    for _ in 0..10 {
        let mut wave = Vec::new();
        for _ in 0..200 {
            let addr = addr.clone();
            let request = request.clone();
            wave.push(tokio::spawn(async move {
                let mut stream = TcpStream::connect(&addr).await.unwrap();
                stream.write_all(request.as_bytes()).await.unwrap();
                let mut buf = [0u8; 512];
                let n = stream.read(&mut buf).await.unwrap();
                assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
                // Dropped here: an abrupt disconnect.
            }));
        }
        for task in wave {
            task.await.unwrap();
        }
    }
    assert!(app.handle.streams_opened() >= 2000);
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.handle.open_streams() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} streams still open 10 s after their clients left",
            app.handle.open_streams()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And the per-client count was given back too: a new stream is admitted.
    let response = open_stream(&app, &format!("/api/jobs/{id}/stream")).await;
    drop(response);
    assert_eq!(app.get("/healthz").await.0, StatusCode::OK);
}
