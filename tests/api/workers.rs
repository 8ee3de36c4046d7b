//! External workers: claims with leases and long polls, updates under a lease, lease expiry.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

async fn claim(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.post_json("/api/workers/claim", &body).await
}

/// Posts `body` to the job's `action` with the lease header.
async fn leased(
    app: &TestApp,
    id: &str,
    lease: &str,
    action: &str,
    body: Value,
) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/jobs/{id}/{action}")))
        .header("Jobcast-Lease", lease)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, body_json(response).await)
}

#[tokio::test]
async fn a_claim_hands_out_a_queued_external_job_with_a_lease() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let (status, claimed) = claim(
        &app,
        json!({"types": ["external"], "worker": "w1", "lease": "30s"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    assert_eq!(claimed["id"], id.as_str());
    assert_eq!(claimed["status"], "running");
    assert_eq!(claimed["attempt"], 1);
    assert_eq!(claimed["worker"], "w1");
    assert!(claimed["lease_id"].as_str().is_some_and(|l| !l.is_empty()));
    assert!(claimed["lease_expires_at"].is_string());
    let job = app.job(&id).await;
    assert_eq!(
        (job["status"].as_str(), job["worker"].as_str()),
        (Some("running"), Some("w1"))
    );
}

#[tokio::test]
async fn a_claim_with_nothing_queued_answers_204_after_waiting() {
    let app = spawn_app().await;
    let started = Instant::now();
    let (status, _) = claim(&app, json!({"types": ["external"], "wait": "300ms"})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(280) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_waiting_claim_is_answered_as_soon_as_a_job_arrives() {
    let app = spawn_app().await;
    let waiting = {
        let (client, url) = (app.client.clone(), app.url("/api/workers/claim"));
        tokio::spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"types": ["external"], "wait": "20s"}))
                .send()
                .await
                .unwrap();
            (Instant::now(), response.status(), body_json(response).await)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let created = Instant::now();
    let id = app.create_external().await;
    let (answered, status, claimed) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(claimed["id"], id.as_str());
    assert!(
        answered.duration_since(created) < Duration::from_millis(200),
        "{:?}",
        answered.duration_since(created)
    );
}

#[tokio::test]
async fn updates_under_the_lease_are_accepted_and_keep_the_lease_alive() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let (_, claimed) = claim(&app, json!({"types": ["external"], "lease": "1s"})).await;
    let lease = claimed["lease_id"].as_str().unwrap();
    // Well past the 1 s lease, but renewed by every update.
    for i in 1..=8 {
        let (status, job) = leased(&app, &id, lease, "progress", json!({"progress": i * 10})).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (status, line) = leased(&app, &id, lease, "logs", json!({"message": "almost"})).await;
    assert_eq!(status, StatusCode::CREATED, "{line}");
    let (status, job) = leased(&app, &id, lease, "complete", json!({"result": {"n": 1}})).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(
        (job["status"].as_str(), job["attempt"].as_i64()),
        (Some("completed"), Some(1))
    );
}

#[tokio::test]
async fn a_lease_that_runs_out_puts_the_job_back_and_the_stale_worker_gets_409() {
    let app = spawn_app().await;
    let job = app
        .create(json!({"type": "external", "max_attempts": 2}))
        .await;
    let id = job["id"].as_str().unwrap();
    let (_, claimed) = claim(
        &app,
        json!({"types": ["external"], "lease": "1s", "worker": "slow"}),
    )
    .await;
    let stale = claimed["lease_id"].as_str().unwrap().to_owned();
    let job = app
        .wait_for_status(id, &["queued"], Duration::from_secs(5))
        .await;
    assert_eq!(job["attempt"], 1);
    let (status, body) = leased(&app, id, &stale, "progress", json!({"progress": 50})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["message"].as_str().unwrap().contains("lease was lost"),
        "{body}"
    );

    // Another worker takes it; the stale one still cannot touch it.
    let (_, again) = claim(&app, json!({"types": ["external"], "worker": "fast"})).await;
    assert_eq!(again["id"], id);
    assert_eq!(again["attempt"], 2);
    let (status, _) = leased(&app, id, &stale, "complete", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let fresh = again["lease_id"].as_str().unwrap();
    let (status, _) = leased(&app, id, fresh, "complete", json!({"result": "ok"})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_lease_that_runs_out_on_the_last_attempt_fails_the_job() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    claim(&app, json!({"types": ["external"], "lease": "1s"})).await;
    let job = app
        .wait_for_status(&id, &["failed"], Duration::from_secs(5))
        .await;
    assert!(
        job["error"].as_str().unwrap().contains("lease expired"),
        "{job}"
    );
}

#[tokio::test]
async fn a_worker_reporting_failure_gets_the_job_retried_while_attempts_remain() {
    let app = spawn_app().await;
    let job = app
        .create(json!({"type": "external", "max_attempts": 2}))
        .await;
    let id = job["id"].as_str().unwrap();
    let (_, claimed) = claim(&app, json!({"types": ["external"]})).await;
    let lease = claimed["lease_id"].as_str().unwrap();
    let (status, job) = leased(&app, id, lease, "fail", json!({"error": "db down"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (job["status"].as_str(), job["error"].as_str()),
        (Some("queued"), Some("db down"))
    );
    let (status, again) = claim(&app, json!({"types": ["external"], "wait": "5s"})).await;
    assert_eq!(status, StatusCode::OK);
    let lease = again["lease_id"].as_str().unwrap();
    let (_, job) = leased(&app, id, lease, "fail", json!({"error": "still down"})).await;
    assert_eq!(
        (job["status"].as_str(), job["attempt"].as_i64()),
        (Some("failed"), Some(2))
    );
}

#[tokio::test]
async fn a_claimed_job_refuses_updates_without_its_lease() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    claim(&app, json!({"types": ["external"]})).await;
    let (status, body) = app
        .post_json(&format!("/api/jobs/{id}/progress"), &json!({"progress": 5}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["message"].as_str().unwrap().contains("Jobcast-Lease"),
        "{body}"
    );
    let (status, _) = leased(
        &app,
        &id,
        "not-the-lease",
        "progress",
        json!({"progress": 5}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(app.job(&id).await["progress"], 0.0);
}

#[tokio::test]
async fn claims_name_declared_external_types_only() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"types": []}), "types"),
        (json!({"types": ["nope"]}), "types"),
        (json!({"types": ["demo"]}), "types"),
        (json!({"types": ["external"], "lease": "0s"}), "lease"),
        (json!({"types": ["external"], "wait": "2h"}), "wait"),
        (json!({"types": ["external"], "worker": ""}), "worker"),
        (json!({"types": "external"}), "types"),
    ] {
        let (status, answer) = claim(&app, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
}

#[tokio::test]
async fn eight_workers_claiming_two_hundred_jobs_get_each_exactly_once() {
    let app = spawn_app().await;
    let mut ids = HashSet::new();
    for _ in 0..200 {
        ids.insert(app.create_external().await);
    }
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let (client, base) = (app.client.clone(), app.base.clone());
        workers.spawn(async move {
            let mut got = Vec::new();
            loop {
                let response = client
                    .post(format!("{base}/api/workers/claim"))
                    .json(&json!({"types": ["external"], "worker": format!("w{w}")}))
                    .send()
                    .await
                    .unwrap();
                if response.status() == StatusCode::NO_CONTENT {
                    return got;
                }
                let job: Value = response.json().await.unwrap();
                let (id, lease) = (
                    job["id"].as_str().unwrap().to_owned(),
                    job["lease_id"].as_str().unwrap().to_owned(),
                );
                let done = client
                    .post(format!("{base}/api/jobs/{id}/complete"))
                    .header("Jobcast-Lease", lease)
                    .json(&json!({"result": w}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(done.status(), StatusCode::OK);
                got.push(id);
            }
        });
    }
    let mut claimed = Vec::new();
    while let Some(got) = workers.join_next().await {
        claimed.extend(got.unwrap());
    }
    assert_eq!(claimed.len(), 200, "every job claimed once, none twice");
    assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), ids);
}

/// The ids of the jobs a claim with `max` answered, in its order.
fn claimed_ids(answer: &Value) -> Vec<String> {
    answer["jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list of jobs: {answer}"))
        .iter()
        .map(|job| job["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_claim_with_max_takes_up_to_that_many_jobs_each_under_the_lease() {
    let app = spawn_app().await;
    let mut queued = Vec::new();
    for _ in 0..7 {
        queued.push(app.create_external().await);
    }
    let (status, first) = claim(
        &app,
        json!({"types": ["external"], "worker": "batcher", "lease": "30s", "max": 5}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        first.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["jobs"],
        "{first}"
    );
    // The oldest five (equal priority), oldest first; then the other two.
    assert_eq!(claimed_ids(&first), queued[..5]);
    let (status, second) = claim(&app, json!({"types": ["external"], "max": 5})).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(claimed_ids(&second), queued[5..]);
    let (status, none) = claim(&app, json!({"types": ["external"], "max": 5})).await;
    assert_eq!((status, none), (StatusCode::NO_CONTENT, Value::Null));

    // Every job is running under its claim's lease, which each one's calls carry.
    let lease = first["jobs"][0]["lease_id"].as_str().unwrap().to_owned();
    for job in first["jobs"].as_array().unwrap() {
        assert_eq!(job["status"], "running", "{job}");
        assert_eq!(job["attempt"], 1, "{job}");
        assert_eq!(job["worker"], "batcher", "{job}");
        assert_eq!(job["lease_id"], lease.as_str(), "one lease for the claim");
        assert!(job["lease_expires_at"].is_string(), "{job}");
    }
    for claimed in [&first, &second] {
        for job in claimed["jobs"].as_array().unwrap() {
            let (id, lease) = (
                job["id"].as_str().unwrap(),
                job["lease_id"].as_str().unwrap(),
            );
            let (status, done) = leased(&app, id, lease, "complete", json!({"result": id})).await;
            assert_eq!(status, StatusCode::OK, "{done}");
            assert_eq!(done["status"], "completed");
        }
    }
    // A lease is only good for its own claim's jobs.
    let id = app.create_external().await;
    let (_, third) = claim(&app, json!({"types": ["external"], "max": 2})).await;
    assert_eq!(claimed_ids(&third), [id.as_str()]);
    let (status, _) = leased(&app, &id, &lease, "complete", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_claim_with_max_hands_out_higher_priorities_first() {
    let app = spawn_app().await;
    let low = app
        .create(json!({"type": "external", "priority": -5}))
        .await;
    let high = app
        .create(json!({"type": "external", "priority": 50}))
        .await;
    let plain = app.create_external().await;
    let (status, claimed) = claim(&app, json!({"types": ["external"], "max": 2})).await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    assert_eq!(
        claimed_ids(&claimed),
        [high["id"].as_str().unwrap(), &plain]
    );
    let (_, rest) = claim(&app, json!({"types": ["external"], "max": 2})).await;
    assert_eq!(claimed_ids(&rest), [low["id"].as_str().unwrap()]);
}

#[tokio::test]
async fn max_is_a_whole_number_from_1_to_100_and_without_it_a_claim_answers_as_before() {
    let app = spawn_app().await;
    for max in [
        json!(0),
        json!(101),
        json!(-1),
        json!("x"),
        json!("3"),
        json!(2.5),
        json!([2]),
    ] {
        let body = json!({"types": ["external"], "max": max});
        let (status, answer) = claim(&app, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["field"], "max", "{body}: {answer}");
    }
    let first = app.create_external().await;
    let second = app.create_external().await;
    // A whole number written as a float is taken, as in every integer field.
    let (status, answer) = claim(&app, json!({"types": ["external"], "max": 1.0})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(claimed_ids(&answer), [first]);
    // Null, like leaving it out: the job itself.
    let (status, answer) = claim(&app, json!({"types": ["external"], "max": null})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["id"], second.as_str());
    assert!(answer.get("jobs").is_none(), "{answer}");
    // Nothing within `wait`: 204, with `max` as without.
    let started = Instant::now();
    let (status, _) = claim(
        &app,
        json!({"types": ["external"], "max": 10, "wait": "300ms"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(started.elapsed() >= Duration::from_millis(280));
}
