//! `GET /api/jobs/{id}/stream`: every rule of the stream, with short durations (poll 50 ms,
//! heartbeat 200 ms, cap 1 s, close delay 100 ms).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Reads frames from an open stream until `pred` holds for one of them (or panics after 5 s).
async fn read_until(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buffer: &mut String,
    seen: &mut Vec<Frame>,
    pred: impl Fn(&Frame) -> bool,
) {
    use futures_util::StreamExt;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            for frame in parse_frames(&block) {
                let hit = pred(&frame);
                seen.push(frame);
                if hit {
                    return;
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, body.next()).await {
            Ok(Some(Ok(chunk))) => buffer.push_str(std::str::from_utf8(&chunk).unwrap()),
            other => panic!(
                "stream ended or timed out before the expected frame: {other:?}; seen {seen:?}"
            ),
        }
    }
}

#[tokio::test]
async fn a_stream_has_event_stream_headers_and_starts_with_retry_then_progress() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let response = app.stream(&id, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    let log = SseLog::read(response, Duration::from_millis(300)).await;
    assert!(
        matches!(log.frames[0].1, Frame::Retry(_)),
        "{:?}",
        log.frames
    );
    let first = log.events()[0];
    assert_eq!(first.name(), Some("progress"));
    assert_eq!(first.data(), json!({"status": "queued", "progress": 0.0}));
    assert_eq!(first.id(), app.job(&id).await["version"].as_i64());
    assert!(
        log.time_of("progress").unwrap() < Duration::from_millis(200),
        "the first event comes at once"
    );
}

#[tokio::test]
async fn changes_become_progress_log_and_completed_events_and_the_body_ends_after_the_close_delay()
{
    let app = spawn_app().await;
    let id = app.create_external().await;
    let reader = {
        let response = app.stream(&id, None).await;
        tokio::spawn(SseLog::read(response, Duration::from_secs(5)))
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = app
        .post_json(&format!("/api/jobs/{id}/progress"), &json!({"progress": 40, "message": "parsing", "current": 4, "total": 10, "stage": "parse"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(120)).await;
    app.post_json(
        &format!("/api/jobs/{id}/logs"),
        &json!({"level": "warning", "message": "row 7 skipped"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    app.post_json(
        &format!("/api/jobs/{id}/complete"),
        &json!({"result": {"imported": 10}}),
    )
    .await;
    let log = reader.await.unwrap();

    assert_eq!(log.names(), ["progress", "progress", "log", "completed"]);
    let events = log.events();
    assert_eq!(
        events[1].data(),
        json!({"status": "running", "progress": 40.0, "message": "parsing", "current": 4, "total": 10, "stage": "parse"})
    );
    let line = events[2].data();
    assert_eq!(
        (
            line["seq"].as_i64(),
            line["level"].as_str(),
            line["message"].as_str()
        ),
        (Some(1), Some("warning"), Some("row 7 skipped"))
    );
    assert!(line["ts"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        events[3].data(),
        json!({"status": "completed", "progress": 100.0, "result": {"imported": 10}})
    );
    let ids: Vec<i64> = events.iter().map(|e| e.id().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    assert_eq!(
        log.last_id(),
        app.job(&id).await["version"].as_i64().unwrap()
    );

    let ended = log
        .ended_at
        .expect("the body ends after the terminal event");
    let lingered = ended - log.time_of("completed").unwrap();
    assert!(
        lingered >= CLOSE_DELAY - Duration::from_millis(20),
        "ended {lingered:?} after completed"
    );
    assert!(
        lingered < Duration::from_millis(600),
        "ended {lingered:?} after completed"
    );
}

#[tokio::test]
async fn a_failed_job_ends_with_failed_and_its_error_and_details() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let reader = {
        let response = app.stream(&id, None).await;
        tokio::spawn(SseLog::read(response, Duration::from_secs(5)))
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.post_json(
        &format!("/api/jobs/{id}/fail"),
        &json!({"error": "bad file", "details": {"line": 3}}),
    )
    .await;
    let log = reader.await.unwrap();
    assert_eq!(log.last_event().name(), Some("failed"));
    assert_eq!(
        log.last_event().data(),
        json!({"status": "failed", "error": "bad file", "details": {"line": 3}})
    );
    assert!(log.ended_at.is_some());
}

#[tokio::test]
async fn a_cancelled_job_ends_with_a_failed_event_whose_status_is_cancelled() {
    let app = spawn_app().await;
    let id = app.create_demo(1000, 20).await;
    app.wait_for_status(&id, &["running"], Duration::from_secs(5))
        .await;
    let reader = {
        let response = app.stream(&id, None).await;
        tokio::spawn(SseLog::read(response, Duration::from_secs(5)))
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = app
        .post_json(&format!("/api/jobs/{id}/cancel"), &json!({}))
        .await;
    assert!(status.is_success());
    let log = reader.await.unwrap();
    assert_eq!(log.last_event().name(), Some("failed"));
    assert_eq!(log.last_event().data()["status"], "cancelled");
    assert!(log.ended_at.is_some());
}

#[tokio::test]
async fn an_idle_stream_gets_heartbeats_and_is_ended_at_the_cap() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let log = app.read_stream(&id, None, Duration::from_secs(5)).await;
    // 1 s cap, 200 ms heartbeat: about four heartbeats and only the initial event.
    assert!(log.heartbeats() >= 3, "heartbeats: {}", log.heartbeats());
    assert_eq!(log.names(), ["progress"]);
    let ended = log.ended_at.expect("the cap ends the body");
    assert!(
        ended >= MAX_DURATION - Duration::from_millis(50),
        "ended at {ended:?}"
    );
    assert!(
        ended < MAX_DURATION + Duration::from_millis(800),
        "ended at {ended:?}"
    );
}

#[tokio::test]
async fn a_finished_job_gets_its_terminal_event_at_once_then_the_body_ends() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    app.post_json(&format!("/api/jobs/{id}/complete"), &json!({"result": 7}))
        .await;
    let log = app.read_stream(&id, None, Duration::from_secs(5)).await;
    assert_eq!(log.names(), ["completed"]);
    assert_eq!(log.last_event().data()["result"], 7);
    let ended = log.ended_at.expect("ends");
    assert!(
        ended >= CLOSE_DELAY - Duration::from_millis(20),
        "ended at {ended:?}"
    );
    assert!(ended < Duration::from_millis(700), "ended at {ended:?}");
}

#[tokio::test]
async fn reconnecting_with_last_event_id_sends_only_what_is_newer_and_204_after_the_end() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let post = |path: &'static str, body: serde_json::Value| {
        let app = &app;
        let id = id.clone();
        async move {
            let (status, answer) = app
                .post_json(&format!("/api/jobs/{id}/{path}"), &body)
                .await;
            assert!(status.is_success(), "{path}: {answer}");
        }
    };

    // First connection: sees progress 20 and log "a", then goes away.
    let response = app.stream(&id, None).await;
    let mut body = Box::pin(response.bytes_stream());
    let (mut buffer, mut seen) = (String::new(), Vec::new());
    post("progress", json!({"progress": 20})).await;
    post("logs", json!({"message": "a"})).await;
    read_until(&mut body, &mut buffer, &mut seen, |f| {
        f.name() == Some("log")
    })
    .await;
    drop(body);
    let last = seen.iter().filter_map(|f| f.id()).max().unwrap();

    // While away: a log line and more progress.
    post("logs", json!({"message": "b"})).await;
    post("progress", json!({"progress": 60})).await;

    let response = app.stream(&id, Some(&last.to_string())).await;
    let mut body = Box::pin(response.bytes_stream());
    let (mut buffer, mut resumed) = (String::new(), Vec::new());
    read_until(&mut body, &mut buffer, &mut resumed, |f| {
        f.name() == Some("progress")
    })
    .await;
    let events: Vec<&Frame> = resumed.iter().filter(|f| f.name().is_some()).collect();
    assert_eq!(events.len(), 2, "only the missed events: {events:?}");
    assert_eq!(events[0].name(), Some("log"));
    assert_eq!(events[0].data()["message"], "b");
    assert_eq!(events[1].data()["progress"], 60.0);
    assert!(events.iter().all(|e| e.id().unwrap() > last));

    post("complete", json!({})).await;
    read_until(&mut body, &mut buffer, &mut resumed, |f| {
        f.name() == Some("completed")
    })
    .await;
    let final_id = resumed.iter().filter_map(|f| f.id()).max().unwrap();
    drop(body);

    let response = app.stream(&id, Some(&final_id.to_string())).await;
    assert_eq!(
        response.status(),
        StatusCode::NO_CONTENT,
        "a client that saw the end is told to stop"
    );

    // One that missed the end gets just the end.
    let log = app
        .read_stream(
            &id,
            Some(&(final_id - 1).to_string()),
            Duration::from_secs(3),
        )
        .await;
    assert_eq!(log.names(), ["completed"]);
}

#[tokio::test]
async fn a_last_event_id_that_is_not_a_version_starts_afresh() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let response = app.stream(&id, Some("banana")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let log = SseLog::read(response, Duration::from_millis(300)).await;
    assert_eq!(log.names(), ["progress"]);
}

#[tokio::test]
async fn an_unknown_job_gets_404_json_not_a_stream() {
    let app = spawn_app().await;
    let response = app
        .stream("0190b6c8-0000-7000-8000-000000000000", None)
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(body_json(response).await["error"], "not_found");
}

#[tokio::test]
async fn a_client_that_goes_away_stops_its_stream_at_once() {
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(60)).await;
    let id = app.create_external().await;
    let response = app.stream(&id, None).await;
    let mut body = Box::pin(response.bytes_stream());
    let (mut buffer, mut seen) = (String::new(), Vec::new());
    read_until(&mut body, &mut buffer, &mut seen, |f| {
        f.name() == Some("progress")
    })
    .await;
    assert_eq!(app.handle.open_streams(), 1);
    drop(body);
    let deadline = Instant::now() + Duration::from_secs(2);
    while app.handle.open_streams() > 0 {
        assert!(Instant::now() < deadline, "the stream outlived its client");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(60)).await;
    let id = app.create_external().await;
    let response = app.stream(&id, None).await;
    let reader = tokio::spawn(SseLog::read(response, Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    app.stop().await;
    let log = reader.await.unwrap();
    assert!(log.ended_at.is_some(), "the stream ended");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_demo_job_streams_rising_progress_logs_and_completes() {
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(10)).await;
    let id = app.create_demo(10, 100).await;
    let log = app.read_stream(&id, None, Duration::from_secs(10)).await;
    let names = log.names();
    assert_eq!(names.last(), Some(&"completed"), "{names:?}");
    assert!(names.contains(&"log"), "{names:?}");
    let progress: Vec<f64> = log
        .events()
        .iter()
        .filter(|e| e.name() == Some("progress"))
        .map(|e| e.data()["progress"].as_f64().unwrap())
        .collect();
    assert!(progress.len() >= 2, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    let completed = log.last_event().data();
    assert_eq!(completed["result"]["steps"], 10);
    let seqs: Vec<i64> = log
        .events()
        .iter()
        .filter(|e| e.name() == Some("log"))
        .map(|e| e.data()["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "no log line lost or repeated: {seqs:?}"
    );
}

#[tokio::test]
async fn a_stream_works_cross_origin() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let response = app
        .client
        .get(app.url(&format!("/api/jobs/{id}/stream")))
        .header("Origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
}
