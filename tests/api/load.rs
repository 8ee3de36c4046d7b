//! The store under load: concurrent writers in one process and across two processes on the
//! same file, and a job that reports progress as fast as it can.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn concurrent_progress_reports_then_completion_end_completed_with_the_last_state() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..200 {
        let (client, url) = (
            app.client.clone(),
            app.url(&format!("/api/jobs/{id}/progress")),
        );
        posts.spawn(async move {
            let body = json!({"progress": (i % 100) as f64, "message": format!("report {i}")});
            client.post(url).json(&body).send().await.unwrap().status()
        });
    }
    while let Some(status) = posts.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    let (status, _) = app
        .post_json(&format!("/api/jobs/{id}/complete"), &json!({"result": 1}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let job = app.job(&id).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(job["progress"], 100.0);
    let (status, _) = app
        .post_json(&format!("/api/jobs/{id}/progress"), &json!({"progress": 5}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing lands after the end");
    assert_eq!(app.job(&id).await, job);
}

#[tokio::test]
async fn a_job_reporting_progress_as_fast_as_it_can_ends_with_its_final_state() {
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(60)).await;
    let id = app.create_demo(10_000, 0).await;
    let log = app.read_stream(&id, None, Duration::from_secs(30)).await;
    assert_eq!(log.last_event().name(), Some("completed"));
    let job = app.job(&id).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(job["current"], 10_000);
    assert_eq!(job["message"], "step 10000/10000");
    let (_, logs) = app.get(&format!("/api/jobs/{id}/logs")).await;
    let lines = logs["logs"].as_array().unwrap();
    assert_eq!(lines.last().unwrap()["message"], "all 10000 steps done");
    let seqs: Vec<i64> = lines.iter().map(|l| l["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "log lines in order, none lost"
    );
}

#[tokio::test]
async fn two_processes_writing_one_file_never_surface_a_locked_database() {
    let a = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(&a.db_path), dir, a.db_path.clone()).await;
    let mut creates = tokio::task::JoinSet::new();
    for i in 0..300 {
        let server = if i % 2 == 0 {
            a.url("/api/jobs")
        } else {
            b.url("/api/jobs")
        };
        let client = a.client.clone();
        creates.spawn(async move {
            let response = client
                .post(server)
                .json(&json!({"type": "external"}))
                .send()
                .await
                .unwrap();
            (response.status(), response.text().await.unwrap())
        });
    }
    while let Some(answer) = creates.join_next().await {
        let (status, body) = answer.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    assert_eq!(a.count_jobs().await, 300);
    assert_eq!(b.count_jobs().await, 300);
}
