//! `POST /api/jobs/bulk`: many jobs in one request, checked like single creates and stored
//! together or not at all; its limits, idempotency keys, roles and hostile bodies.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::bad_requests::{case, invalid, run_table, wrong_method, MIB};
use crate::helpers::*;

const BULK: &str = "/api/jobs/bulk";
/// A `run_at` that keeps a job queued for the whole test.
const LATER: &str = "2999-01-01T00:00:00Z";

/// Sends `{"jobs": jobs}`.
async fn bulk(app: &TestApp, jobs: &[Value]) -> (StatusCode, Value) {
    app.post_json(BULK, &json!({ "jobs": jobs })).await
}

/// An external job that waits for its `run_at`, with `i` in its payload.
fn parked(i: usize) -> Value {
    json!({"type": "external", "payload": {"i": i}, "run_at": LATER})
}

/// The ids of a bulk answer's jobs, in its order.
fn ids(answer: &Value) -> Vec<String> {
    answer["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["job"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The `created` flags of a bulk answer, in its order.
fn created(answer: &Value) -> Vec<bool> {
    answer["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["created"].as_bool().unwrap())
        .collect()
}

#[tokio::test]
async fn a_bulk_of_1000_makes_1000_jobs_in_the_order_sent() {
    // Each job takes a creation from the rate limiter's bucket: let it hold 1000.
    let app = spawn_app_with(|c| c.limits.create_burst = 1000).await;
    let jobs: Vec<Value> = (0..1000).map(parked).collect();
    let (status, answer) = bulk(&app, &jobs).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let entries = answer["jobs"].as_array().unwrap();
    assert_eq!(entries.len(), 1000);
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry["created"], true, "{entry}");
        let job = &entry["job"];
        assert_eq!(job["payload"]["i"], i, "{job}");
        assert_eq!(job["type"], "external");
        assert_eq!(job["status"], "queued");
        let id = job["id"].as_str().unwrap();
        assert_eq!(job["stream_url"], format!("/api/jobs/{id}/stream"));
    }
    // Stored in the order sent: ids (UUID v7) grow with it.
    let ids = ids(&answer);
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "ids in the order sent, and no two the same");
    assert_eq!(app.count_jobs().await, 1000);
    let stored = app.job(&ids[999]).await;
    assert_eq!(stored, entries[999]["job"]);
    // Newest first: the list is the request backwards.
    let (_, page) = app.get("/api/jobs?limit=3").await;
    let newest: Vec<&Value> = page["jobs"].as_array().unwrap().iter().collect();
    assert_eq!(
        newest
            .iter()
            .map(|j| &j["payload"]["i"])
            .collect::<Vec<_>>(),
        [&json!(999), &json!(998), &json!(997)]
    );
}

#[tokio::test]
async fn idempotency_keys_name_one_job_each_within_and_across_requests() {
    let app = spawn_app().await;
    let keyed = |key: &str| json!({"type": "external", "idempotency_key": key, "run_at": LATER});
    let earlier = app.create(keyed("a")).await;
    let (status, answer) = bulk(
        &app,
        &[
            keyed("a"),
            keyed("b"),
            parked(2),
            keyed("b"),
            keyed("c"),
            // The same key for another type names another job.
            json!({"type": "demo", "idempotency_key": "a", "run_at": LATER}),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(created(&answer), [false, true, true, false, true, true]);
    let ids = ids(&answer);
    assert_eq!(ids[0], earlier["id"].as_str().unwrap(), "the existing job");
    assert_eq!(ids[1], ids[3], "a key twice in one request makes one job");
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 5, "{ids:?}");
    assert_eq!(
        app.count_jobs().await,
        5,
        "the earlier job and four new ones"
    );

    // Sent again, every job is there already: 200, nothing new.
    let (status, again) = bulk(&app, &[keyed("c"), keyed("a"), keyed("b")]).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(created(&again), [false, false, false]);
    let again_ids = crate::bulk::ids(&again);
    assert_eq!(again_ids, [ids[4].clone(), ids[0].clone(), ids[1].clone()]);
    assert_eq!(app.count_jobs().await, 5);
}

/// A bulk create and the single create of the job at fault refuse it alike: the same status
/// and code, the same message, the bulk's field named from the top and with the index.
#[tokio::test]
async fn an_invalid_job_refuses_the_whole_bulk_naming_its_index_and_nothing_is_stored() {
    let app = spawn_app_with(|c| c.limits.max_payload_bytes = 1024).await;
    let (status, upload) = app.post_json("/api/uploads", &json!({"rows": 1})).await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");
    let upload_id = upload["upload_id"].as_str().unwrap();
    let no_such_upload = uuid::Uuid::now_v7().to_string();
    let good = |i: usize| {
        let payload = json!({"i": i, "upload_id": upload_id});
        json!({"type": "external", "payload": payload, "run_at": LATER})
    };
    // (the bad job, where it goes, what the bulk's `field` must be)
    let cases: Vec<(Value, usize, &str)> = vec![
        (json!({"type": "x"}), 3, "jobs[3].type"),
        (
            json!({"type": "external", "colour": "red"}),
            1,
            "jobs[1].colour",
        ),
        (json!({"payload": {}}), 0, "jobs[0].type"),
        (json!(42), 0, "jobs[0]"),
        (json!(null), 4, "jobs[4]"),
        (
            json!({"type": "external", "priority": 1001}),
            2,
            "jobs[2].priority",
        ),
        (
            json!({"type": "external", "priority": 2.5}),
            2,
            "jobs[2].priority",
        ),
        (
            json!({"type": "external", "timeout": "8d"}),
            4,
            "jobs[4].timeout",
        ),
        (
            json!({"type": "demo", "payload": {"steps": 0}}),
            2,
            "jobs[2].payload.steps",
        ),
        (
            json!({"type": "external", "payload": {"pad": "x".repeat(2000)}}),
            1,
            "jobs[1].payload",
        ),
        (
            json!({"type": "external", "payload": {"upload_id": "nope"}}),
            3,
            "jobs[3].payload.upload_id",
        ),
        (
            json!({"type": "external", "payload": {"upload_id": no_such_upload}}),
            4,
            "jobs[4].payload.upload_id",
        ),
    ];
    for (bad, index, field) in cases {
        let mut jobs: Vec<Value> = (0..5).map(good).collect();
        jobs[index] = bad.clone();
        let before = app.count_jobs().await;
        let (status, answer) = bulk(&app, &jobs).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad} at {index}: {answer}"
        );
        assert_eq!(answer["error"], "invalid_field", "{answer}");
        assert_eq!(answer["field"], field, "{answer}");
        assert_eq!(answer["index"], index, "{answer}");
        assert_eq!(app.count_jobs().await, before, "{bad}: a job was stored");

        let (single_status, single) = app.post_json("/api/jobs", &bad).await;
        assert_eq!(single_status, status, "{bad}: {single}");
        assert_eq!(single["error"], answer["error"], "{bad}");
        let single_field = single["field"].as_str().unwrap();
        let single_message = single["message"].as_str().unwrap();
        let reason = single_message
            .strip_prefix(&format!("{single_field}: "))
            .unwrap_or_else(|| panic!("{single_message}"));
        assert_eq!(
            answer["message"],
            format!("{field}: {reason}"),
            "{bad}: {answer}"
        );
        assert_eq!(app.count_jobs().await, before, "{bad}: a job was stored");
    }

    // The message of the brief's example, and the first bad job is the one named.
    let mut jobs: Vec<Value> = (0..5).map(good).collect();
    jobs[3] = json!({"type": "x"});
    let (_, answer) = bulk(&app, &jobs).await;
    assert_eq!(
        answer["message"],
        "jobs[3].type: unknown job type \"x\"; declared types: demo, external"
    );
    jobs[1] = json!({"type": "external", "max_attempts": 0});
    let (_, answer) = bulk(&app, &jobs).await;
    assert_eq!(
        (&answer["index"], &answer["field"]),
        (&json!(1), &json!("jobs[1].max_attempts"))
    );

    // And the good ones alone go in, with their upload.
    let jobs: Vec<Value> = (0..5).map(good).collect();
    let (status, answer) = bulk(&app, &jobs).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(app.count_jobs().await, 5);
}

#[tokio::test]
async fn jobs_must_be_a_list_of_one_to_the_limit_and_more_is_refused_whole() {
    let app = spawn_app_with(|c| c.http.max_bulk_jobs = 5).await;
    let (status, answer) = bulk(&app, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["field"], "jobs");
    assert!(answer.get("index").is_none(), "{answer}");

    let jobs: Vec<Value> = (0..6).map(parked).collect();
    let (status, answer) = bulk(&app, &jobs).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["field"], "jobs");
    assert_eq!(
        answer["message"],
        "jobs: 6 jobs; at most 5 per request (http.max_bulk_jobs)"
    );
    assert_eq!(app.count_jobs().await, 0);
    let (status, answer) = bulk(&app, &jobs[..5]).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(app.count_jobs().await, 5);

    // A bulk takes a creation per job from the rate limiter's bucket, all at once: one larger
    // than the bucket could never go in, so the burst is a limit too, and the served document
    // says which applies.
    let app = spawn_app_with(|c| c.limits.create_burst = 3).await;
    let (_, document) = app.get("/openapi.json").await;
    assert_eq!(
        document["components"]["schemas"]["BulkCreate"]["properties"]["jobs"]["maxItems"],
        3
    );
    let (status, answer) = bulk(&app, &jobs[..4]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(
        answer["message"],
        "jobs: 4 jobs; at most 3 per request (limits.create_burst)"
    );
    assert_eq!(app.count_jobs().await, 0);
}

#[tokio::test]
async fn the_creation_rate_limit_counts_each_job_and_refuses_a_bulk_whole() {
    // A bucket of 10 that does not refill during the test.
    let app = spawn_app_with(|c| {
        c.limits.create_rate = 0.001;
        c.limits.create_burst = 10;
    })
    .await;
    let jobs: Vec<Value> = (0..6).map(parked).collect();
    let (status, answer) = bulk(&app, &jobs).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // Four creations left: five jobs are refused, all of them, with the single create's 429.
    let response = app
        .client
        .post(app.url(BULK))
        .json(&json!({"jobs": &jobs[..5]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1, "{wait}");
    let answer = body_json(response).await;
    assert_eq!(answer["error"], "too_many_requests", "{answer}");
    assert_eq!(
        app.count_jobs().await,
        6,
        "nothing of a refused bulk is stored"
    );
    // Four fit, and then the bucket is empty for single creates too.
    let (status, answer) = bulk(&app, &jobs[..4]).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, answer) = app.post_json("/api/jobs", &parked(0)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(app.count_jobs().await, 10);
}

#[tokio::test]
async fn the_queue_limit_counts_all_of_a_bulks_jobs_of_each_type() {
    let app = spawn_app_with(|c| c.limits.max_queued_per_type = 5).await;
    let demo = |i: usize| json!({"type": "demo", "payload": {"steps": i + 1}, "run_at": LATER});
    let (status, answer) = bulk(&app, &[parked(0), parked(1), parked(2), demo(0), demo(1)]).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // Three external jobs more would make six.
    let response = app
        .client
        .post(app.url(BULK))
        .json(&json!({"jobs": [parked(3), parked(4), parked(5)]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let answer = body_json(response).await;
    assert_eq!(answer["error"], "queue_full", "{answer}");
    assert_eq!(app.count_jobs().await, 5);
    // Two of each type fill both queues exactly.
    let (status, answer) = bulk(&app, &[parked(3), demo(2), parked(4), demo(3)]).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(app.count_jobs().await, 9);
    // More of one type than its queue may ever hold: 422, since waiting would not help.
    let app = spawn_app_with(|c| c.limits.max_queued_per_type = 5).await;
    let jobs: Vec<Value> = (0..6).map(parked).collect();
    let (status, answer) = bulk(&app, &jobs).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["field"], "jobs");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("limits.max_queued_per_type"),
        "{answer}"
    );
    assert_eq!(app.count_jobs().await, 0);
}

#[tokio::test]
async fn a_bulk_body_has_its_own_size_limit_and_each_payload_still_its_own() {
    let app = spawn_app_with(|c| {
        c.http.max_body_bytes = 4096;
        c.http.max_bulk_body_bytes = 64 * 1024;
        c.limits.max_payload_bytes = 2048;
    })
    .await;
    // 40 KiB of jobs, each payload under its limit: far over `max_body_bytes`, still taken.
    let jobs: Vec<Value> = (0..20)
        .map(|i| json!({"type": "external", "payload": {"i": i, "pad": "x".repeat(2000)}}))
        .collect();
    let body = json!({ "jobs": jobs }).to_string();
    assert!(body.len() > 40_000 && body.len() < 64 * 1024);
    let (status, answer) = app.post_raw(BULK, body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // The same size to the single create is too large.
    let (status, answer) = app
        .post_raw(
            "/api/jobs",
            format!(
                r#"{{"type": "external", "payload": "{}"}}"#,
                "x".repeat(5000)
            ),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    // Past `max_bulk_body_bytes`: the same 413 as any other body.
    let jobs: Vec<Value> = (0..40)
        .map(|i| json!({"type": "external", "payload": {"i": i, "pad": "x".repeat(2000)}}))
        .collect();
    let (status, answer) = bulk(&app, &jobs).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"], "payload_too_large");
    assert_eq!(answer["message"], "request body is larger than 65536 bytes");
    assert_eq!(app.count_jobs().await, 20);
}

#[tokio::test]
async fn hostile_bulk_bodies_get_a_json_4xx_and_store_nothing() {
    let app = spawn_app_with(|c| c.http.max_bulk_body_bytes = MIB).await;
    let fixture = crate::bad_requests::fixture(&app).await;
    let nested = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let one = json!({"type": "external"});
    let cases = vec![
        // Not an object, or `jobs` not a list of objects.
        case(Method::POST, BULK, 400, "malformed_json").raw(r#"{"jobs": ["#),
        case(Method::POST, BULK, 400, "malformed_json").raw(b"{\"jobs\": [\xff]}".to_vec()),
        invalid(BULK, json!([one]), "body"),
        invalid(BULK, json!("jobs"), "body"),
        invalid(BULK, json!(7), "body"),
        invalid(BULK, json!(null), "body"),
        invalid(BULK, json!({}), "jobs"),
        case(Method::POST, BULK, 422, "invalid_field")
            .field("jobs")
            .raw(""),
        invalid(BULK, json!({"jobs": one}), "jobs"),
        invalid(BULK, json!({"jobs": "all of them"}), "jobs"),
        invalid(BULK, json!({"jobs": null}), "jobs"),
        invalid(BULK, json!({"jobs": 3}), "jobs"),
        invalid(BULK, json!({"jobs": [one], "extra": true}), "extra"),
        invalid(BULK, json!({"jobs": [one, [one]]}), "jobs[1]"),
        invalid(BULK, json!({"jobs": [one, "external"]}), "jobs[1]"),
        invalid(
            BULK,
            json!({"jobs": [{"type": ["external"]}]}),
            "jobs[0].type",
        ),
        invalid(
            BULK,
            json!({"jobs": [{"type": "external", "run_at": 0}]}),
            "jobs[0].run_at",
        ),
        invalid(
            BULK,
            json!({"jobs": [{"type": "external", "payload": {"upload_id": fixture.missing}}]}),
            "jobs[0].payload.upload_id",
        ),
        // Many elements: refused on their count before any is looked at.
        case(Method::POST, BULK, 422, "invalid_field")
            .field("jobs")
            .raw(format!(r#"{{"jobs": [{}0]}}"#, "0,".repeat(100_000))),
        // Deep: the whole body, and inside one job's payload.
        case(Method::POST, BULK, 400, "json_too_deep")
            .raw(format!(r#"{{"jobs": {}}}"#, nested(100_000))),
        case(Method::POST, BULK, 400, "json_too_deep").raw(format!(
            r#"{{"jobs": [{{"type": "external", "payload": {}}}]}}"#,
            nested(40)
        )),
        // Huge: past the bulk limit.
        case(Method::POST, BULK, 413, "payload_too_large").raw(format!(
            r#"{{"jobs": [{{"type": "external", "payload": "{}"}}]}}"#,
            "x".repeat(MIB)
        )),
        wrong_method(Method::GET, BULK, "POST"),
        wrong_method(Method::PUT, BULK, "POST"),
        wrong_method(Method::DELETE, BULK, "POST"),
    ];
    run_table(&app, &cases).await;
}

#[tokio::test]
async fn with_tokens_on_only_submit_and_admin_may_create_in_bulk() {
    const TOKENS: &str =
        "admin:admin-token,submit:submit-token,worker:worker-token,read:read-token";
    let app = spawn_app_with(|c| {
        c.auth.plain_tokens = jobcast::auth::parse_pairs(TOKENS).unwrap();
    })
    .await;
    let send = |token: Option<&'static str>| {
        let mut request = app
            .client
            .post(app.url(BULK))
            .json(&json!({"jobs": [parked(0), parked(1)]}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for (token, expected) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("wrong-token"), StatusCode::UNAUTHORIZED),
        (Some("read-token"), StatusCode::FORBIDDEN),
        (Some("worker-token"), StatusCode::FORBIDDEN),
    ] {
        let response = send(token).await.unwrap();
        assert_eq!(response.status(), expected, "{token:?}");
        assert!(body_json(response).await["error"].is_string());
    }
    assert_eq!(app.count_jobs_as("admin-token").await, 0);
    for token in ["submit-token", "admin-token"] {
        let response = send(Some(token)).await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{token}");
        let answer = body_json(response).await;
        // Each job's stream URL is signed, as in the single create's answer.
        for entry in answer["jobs"].as_array().unwrap() {
            let url = entry["job"]["stream_url"].as_str().unwrap();
            assert!(url.contains("?token="), "{url}");
        }
    }
    assert_eq!(app.count_jobs_as("admin-token").await, 4);
}

#[tokio::test]
async fn bulk_created_jobs_run_and_wake_waiting_workers() {
    let app = spawn_app().await;
    let demos: Vec<Value> = (1..=4)
        .map(|steps| json!({"type": "demo", "payload": {"steps": steps, "step_ms": 10}}))
        .collect();
    let (status, answer) = bulk(&app, &demos).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    for (steps, id) in (1..=4).zip(ids(&answer)) {
        let job = app
            .wait_for_status(&id, &["completed"], Duration::from_secs(10))
            .await;
        assert_eq!(job["result"]["steps"], steps, "{job}");
    }

    // A worker waiting for up to three external jobs gets all three of a bulk at once.
    let waiting = {
        let (client, url) = (app.client.clone(), app.url("/api/workers/claim"));
        tokio::spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"types": ["external"], "wait": "20s", "max": 3}))
                .send()
                .await
                .unwrap();
            (response.status(), body_json(response).await)
        })
    };
    // Until the claim is waiting (its first look found nothing), a bulk would be found by
    // that look instead; either way all three must be handed out together.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let externals = vec![json!({"type": "external"}); 3];
    let (status, answer) = bulk(&app, &externals).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, claimed) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting claim is answered")
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{claimed}");
    let mut claimed_ids: Vec<String> = claimed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_str().unwrap().to_owned())
        .collect();
    claimed_ids.sort();
    assert_eq!(claimed_ids, ids(&answer));
}
