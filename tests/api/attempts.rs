//! `GET /api/jobs/{id}/attempts`: every ended attempt of a job, oldest first, with its times,
//! duration, outcome, error and who ran it; 404 for an unknown job; the read role may see it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

async fn claim(app: &TestApp, body: Value) -> Value {
    let (status, claimed) = app.post_json("/api/workers/claim", &body).await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    claimed
}

/// Posts `body` to the job's `action` under `lease`.
async fn leased(app: &TestApp, id: &str, lease: &str, action: &str, body: Value) -> Value {
    let response = app
        .client
        .post(app.url(&format!("/api/jobs/{id}/{action}")))
        .header("Jobcast-Lease", lease)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    body_json(response).await
}

async fn attempts(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/jobs/{id}/attempts")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["attempts"]
        .as_array()
        .expect("an attempts array")
        .clone()
}

fn time(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a time")).expect("RFC 3339")
}

#[tokio::test]
async fn a_workers_attempts_are_listed_oldest_first_with_their_outcomes() {
    let app = spawn_app().await;
    let job = app
        .create(json!({"type": "external", "max_attempts": 3}))
        .await;
    let id = job["id"].as_str().unwrap();
    assert_eq!(attempts(&app, id).await, Vec::<Value>::new());

    // 1: the worker fails it; attempts remain, so it is retried.
    let first = claim(&app, json!({"types": ["external"], "worker": "w1"})).await;
    let lease1 = first["lease_id"].as_str().unwrap().to_owned();
    leased(
        &app,
        id,
        &lease1,
        "fail",
        json!({"error": "db down", "details": {"code": 7}}),
    )
    .await;
    // 2: the worker vanishes; its lease runs out.
    let second = claim(
        &app,
        json!({"types": ["external"], "worker": "slow", "lease": "1s", "wait": "5s"}),
    )
    .await;
    assert_eq!(second["id"], id);
    let lease2 = second["lease_id"].as_str().unwrap().to_owned();
    app.wait_for_status(id, &["queued"], Duration::from_secs(5))
        .await;
    // 3: completed.
    let third = claim(&app, json!({"types": ["external"], "worker": "fast"})).await;
    let lease3 = third["lease_id"].as_str().unwrap().to_owned();
    let done = leased(&app, id, &lease3, "complete", json!({"result": 1})).await;

    let (status, body) = app.get(&format!("/api/jobs/{id}/attempts")).await;
    assert_eq!(status, StatusCode::OK);
    let list = body["attempts"].as_array().unwrap();
    let summary: Vec<(i64, &str, &str)> = list
        .iter()
        .map(|a| {
            (
                a["attempt"].as_i64().unwrap(),
                a["outcome"].as_str().unwrap(),
                a["worker"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "retried", "w1"),
            (2, "retried", "slow"),
            (3, "completed", "fast")
        ]
    );
    assert_eq!(list[0]["error"], "db down");
    assert_eq!(list[0]["details"], json!({"code": 7}));
    assert!(
        list[1]["error"].as_str().unwrap().contains("lease expired"),
        "{body}"
    );
    assert_eq!(list[2]["error"], Value::Null);
    for attempt in list {
        let (started, finished) = (time(&attempt["started_at"]), time(&attempt["finished_at"]));
        assert!(started <= finished, "{attempt}");
        assert_eq!(
            attempt["duration_ms"].as_i64().unwrap(),
            (finished - started).num_milliseconds(),
            "{attempt}"
        );
        // Nothing of the runner: these ran on external workers.
        assert_eq!(attempt["runner"], Value::Null, "{attempt}");
    }
    assert_eq!(list[2]["finished_at"], done["finished_at"]);
    // A worker's lease is its secret: no attempt shows it.
    let text = body.to_string();
    for lease in [&lease1, &lease2, &lease3] {
        assert!(!text.contains(lease.as_str()), "a lease leaked: {text}");
    }
}

#[tokio::test]
async fn an_in_process_job_that_fails_twice_shows_both_attempts() {
    let app = spawn_app().await;
    let job = app
        .create(json!({
            "type": "demo",
            "payload": {"steps": 2, "step_ms": 1, "fail_at_step": 2},
            "max_attempts": 2
        }))
        .await;
    let id = job["id"].as_str().unwrap();
    app.wait_for_status(id, &["failed"], Duration::from_secs(10))
        .await;
    let list = attempts(&app, id).await;
    let outcomes: Vec<(i64, &str)> = list
        .iter()
        .map(|a| {
            (
                a["attempt"].as_i64().unwrap(),
                a["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(outcomes, [(1, "retried"), (2, "failed")]);
    for attempt in &list {
        assert!(
            attempt["error"]
                .as_str()
                .unwrap()
                .contains("failed at step 2"),
            "{attempt}"
        );
        assert!(
            attempt["runner"].as_str().unwrap().starts_with("runner-"),
            "{attempt}"
        );
        assert_eq!(attempt["worker"], Value::Null);
    }
}

#[tokio::test]
async fn unknown_jobs_bad_ids_and_other_methods_get_json_errors() {
    let app = spawn_app().await;
    let unknown = uuid::Uuid::now_v7();
    for path in [
        format!("/api/jobs/{unknown}/attempts"),
        "/api/jobs/not-a-job/attempts".to_owned(),
        "/api/jobs/%27%20OR%201=1--/attempts".to_owned(),
    ] {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{path}: {body}"
        );
    }
    let id = app.create_external().await;
    let (status, body) = app
        .post_json(&format!("/api/jobs/{id}/attempts"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(app.job(&id).await["status"], "queued", "nothing changed");
}

#[tokio::test]
async fn the_read_role_may_list_attempts_and_no_token_may_not() {
    let app = spawn_app_with(|c| {
        c.auth.plain_tokens =
            jobcast::auth::parse_pairs("submit:submit-token,read:read-token").unwrap();
    })
    .await;
    let response = app
        .client
        .post(app.url("/api/jobs"))
        .bearer_auth("submit-token")
        .json(&json!({"type": "external"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = body_json(response).await["id"].as_str().unwrap().to_owned();
    let path = app.url(&format!("/api/jobs/{id}/attempts"));
    let response = app
        .client
        .get(&path)
        .bearer_auth("read-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await, json!({"attempts": []}));
    let response = app.client.get(&path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(body_json(response).await["error"].is_string());
}
