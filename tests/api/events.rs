//! `GET /api/events`: every job's changes on one stream, filtered, resumable.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

async fn open_events(app: &TestApp, query: &str, last_event_id: Option<i64>) -> reqwest::Response {
    let mut request = app.client.get(app.url(&format!("/api/events{query}")));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_events_stream_carries_every_jobs_changes_with_its_id() {
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(3)).await;
    let response = open_events(&app, "", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let reader = tokio::spawn(SseLog::read(response, Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let a = app.create_external().await;
    let b = app.create_external().await;
    app.post_json(
        &format!("/api/jobs/{a}/progress"),
        &json!({"progress": 30, "message": "a"}),
    )
    .await;
    app.post_json(&format!("/api/jobs/{b}/fail"), &json!({"error": "nope"}))
        .await;
    app.post_json(&format!("/api/jobs/{a}/complete"), &json!({"result": 1}))
        .await;
    let log = reader.await.unwrap();
    assert_eq!(log.events()[0].name(), Some("ready"));
    let for_a: Vec<_> = log
        .events()
        .into_iter()
        .filter(|e| e.data()["job_id"] == a.as_str())
        .collect();
    let for_b: Vec<_> = log
        .events()
        .into_iter()
        .filter(|e| e.data()["job_id"] == b.as_str())
        .collect();
    assert_eq!(for_a.last().unwrap().name(), Some("completed"));
    assert_eq!(for_a.last().unwrap().data()["result"], 1);
    // Changes that land together are sent as the job's newest state, so the progress report
    // may arrive folded into the completed event; its message is there either way.
    assert!(for_a.iter().any(|e| e.data()["message"] == "a"));
    assert_eq!(for_b.last().unwrap().name(), Some("failed"));
    assert_eq!(for_b.last().unwrap().data()["error"], "nope");
    let ids: Vec<i64> = log.events().iter().filter_map(|e| e.id()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    assert!(log.ended_at.is_some(), "ended at the cap");
}

#[tokio::test]
async fn the_events_stream_filters_by_type_and_status() {
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(2)).await;
    let response = open_events(&app, "?type=external&status=completed", None).await;
    let reader = tokio::spawn(SseLog::read(response, Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let demo = app.create_demo(1, 0).await;
    let done = app.create_external().await;
    let open = app.create_external().await;
    app.post_json(
        &format!("/api/jobs/{open}/progress"),
        &json!({"progress": 10}),
    )
    .await;
    app.post_json(&format!("/api/jobs/{done}/complete"), &json!({}))
        .await;
    app.wait_for_status(&demo, &["completed"], Duration::from_secs(5))
        .await;
    let log = reader.await.unwrap();
    let jobs: Vec<String> = log
        .events()
        .iter()
        .filter(|e| e.name() != Some("ready"))
        .map(|e| e.data()["job_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(jobs, [done]);
}

#[tokio::test]
async fn the_events_stream_resumes_after_the_last_event_id_with_only_newer_changes() {
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_millis(600)).await;
    let first = app.create_external().await;
    let log = SseLog::read(open_events(&app, "", None).await, Duration::from_secs(5)).await;
    let resume_from = log.last_id();
    // While disconnected: one job changes, one is new.
    app.post_json(
        &format!("/api/jobs/{first}/progress"),
        &json!({"progress": 55}),
    )
    .await;
    let second = app.create_external().await;
    let log = SseLog::read(
        open_events(&app, "", Some(resume_from)).await,
        Duration::from_secs(5),
    )
    .await;
    assert!(log.events().iter().all(|e| e.name() != Some("ready")));
    let seen: Vec<(String, f64)> = log
        .events()
        .iter()
        .map(|e| {
            (
                e.data()["job_id"].as_str().unwrap().to_owned(),
                e.data()["progress"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [(first, 55.0), (second, 0.0)]);
    assert!(log.events().iter().all(|e| e.id().unwrap() > resume_from));
}

#[tokio::test]
async fn the_events_stream_sends_heartbeats_and_refuses_a_bad_status() {
    let app = spawn_app().await;
    let log = SseLog::read(open_events(&app, "", None).await, Duration::from_secs(5)).await;
    assert!(log.heartbeats() >= 3, "{}", log.heartbeats());
    let response = open_events(&app, "?status=sideways", None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body_json(response).await["field"], "status");
}
