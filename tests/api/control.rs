//! Control over types and many jobs: pausing a type (nobody claims its jobs, on any node, until
//! it is resumed, also across a restart), the types overview, and bulk cancel and retry (every
//! matching job changed as the single-job route would, its stream told, in bounded steps; the
//! admin role's; an empty filter refused).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::bad_requests::{case, fixture, invalid, run_table, wrong_method, Fixture};
use crate::helpers::*;

/// The type `name` as `GET /api/types` shows it.
async fn type_view(app: &TestApp, name: &str) -> Value {
    let (status, types) = app.get("/api/types").await;
    assert_eq!(status, StatusCode::OK);
    types
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no type {name} in {types}"))
}

/// Claims an external job, waiting up to `wait`; the status and how long it took.
async fn claim(app: &TestApp, wait: &str) -> (StatusCode, Duration) {
    let started = Instant::now();
    let response = app
        .client
        .post(app.url("/api/workers/claim"))
        .json(&json!({"types": ["external"], "wait": wait}))
        .send()
        .await
        .unwrap();
    (response.status(), started.elapsed())
}

/// A server whose runner looks for work only every 5 s: a job claimed sooner was claimed
/// because something woke the runner.
async fn slow_polling_app() -> TestApp {
    spawn_app_with(|c| {
        c.runner.poll_interval = Duration::from_secs(5);
        c.runner.lease = Duration::from_secs(30);
        c.stream.max_duration = Duration::from_secs(30);
    })
    .await
}

/// Several poll intervals of the runner in `test_config` (50 ms), and of a waiting claim's own
/// look (250 ms).
const SEVERAL_POLLS: Duration = Duration::from_millis(1200);

#[tokio::test]
async fn a_paused_types_jobs_are_claimed_by_no_runner_nor_waiting_worker_and_at_once_after_resume()
{
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(30)).await;
    let (status, demo) = app.post_json("/api/types/demo/pause", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{demo}");
    assert_eq!(demo["paused"], true);
    assert!(demo["paused_at"].is_string(), "{demo}");
    let (status, _) = app.post_json("/api/types/external/pause", &json!({})).await;
    assert_eq!(status, StatusCode::OK);

    // Creating still works; the job waits and says so.
    let job = app
        .create(json!({"type": "demo", "payload": {"steps": 1, "step_ms": 0}}))
        .await;
    assert_eq!(job["paused"], true, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let stream = {
        let response = app.stream(&id, None).await;
        tokio::spawn(SseLog::read(response, Duration::from_secs(20)))
    };
    app.create_external().await;
    let waiting = {
        let (client, url) = (app.client.clone(), app.url("/api/workers/claim"));
        tokio::spawn(async move {
            let started = Instant::now();
            let response = client
                .post(url)
                .json(&json!({"types": ["external"], "wait": "20s"}))
                .send()
                .await
                .unwrap();
            (response.status(), started.elapsed())
        })
    };
    // A claim that does not wait finds nothing to take either.
    let (status, _) = claim(&app, "0s").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    tokio::time::sleep(SEVERAL_POLLS).await;
    assert_eq!(app.job(&id).await["status"], "queued");
    assert!(
        !waiting.is_finished(),
        "the waiting claim took a paused type's job"
    );
    let overview = type_view(&app, "demo").await;
    assert_eq!(overview["counts"]["queued"], 1, "{overview}");
    assert!(
        overview["oldest_queued_age_ms"].as_i64() >= Some(1000),
        "{overview}"
    );

    let resumed = Instant::now();
    let (status, demo) = app.post_json("/api/types/demo/resume", &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (demo["paused"].clone(), demo["paused_at"].clone()),
        (json!(false), Value::Null)
    );
    app.wait_for_status(&id, &["completed"], Duration::from_secs(5))
        .await;
    assert!(
        resumed.elapsed() < Duration::from_secs(2),
        "{:?}",
        resumed.elapsed()
    );
    app.post_json("/api/types/external/resume", &json!({}))
        .await;
    let (status, waited) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        waited >= SEVERAL_POLLS && waited < SEVERAL_POLLS + Duration::from_secs(2),
        "answered after {waited:?}"
    );

    // The stream said the job was paused, then (without an id) that it no longer was, then
    // followed it to its end.
    let log = stream.await.unwrap();
    let events = log.events();
    assert_eq!(events[0].name(), Some("progress"));
    assert_eq!(events[0].data()["paused"], true, "{log:?}");
    let notice = events
        .iter()
        .find(|e| e.id().is_none())
        .unwrap_or_else(|| panic!("no notice of the resume: {log:?}"));
    assert_eq!(notice.data()["status"], "queued");
    assert_eq!(notice.data().get("paused"), None, "{log:?}");
    assert_eq!(log.names().last(), Some(&"completed"));
}

#[tokio::test]
async fn an_open_stream_hears_of_a_pause_without_its_resume_point_moving() {
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(30)).await;
    app.post_json("/api/types/external/pause", &json!({})).await;
    let id = app.create_external().await;
    app.post_json("/api/types/external/resume", &json!({}))
        .await;
    let response = app.stream(&id, None).await;
    let reader = tokio::spawn(SseLog::read(response, Duration::from_secs(3)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.post_json("/api/types/external/pause", &json!({})).await;
    let log = reader.await.unwrap();
    let events = log.events();
    assert_eq!(events.len(), 2, "{log:?}");
    assert!(events[0].data().get("paused").is_none());
    let first_id = events[0].id().expect("the first event has an id");
    assert_eq!(events[1].id(), None, "a pause is not a change of the job");
    assert_eq!(events[1].data()["paused"], true);
    // A client that comes back with its last id hears of the pause again, and nothing else.
    let again = app
        .read_stream(&id, Some(&first_id.to_string()), Duration::from_millis(500))
        .await;
    let events = again.events();
    assert_eq!(events.len(), 1, "{again:?}");
    assert_eq!(
        (events[0].id(), events[0].data()["paused"].clone()),
        (None, json!(true))
    );
}

#[tokio::test]
async fn a_pause_is_kept_across_a_restart_and_its_job_is_claimed_at_once_on_resume() {
    let app = slow_polling_app().await;
    app.post_json("/api/types/demo/pause", &json!({})).await;
    let id = app.create_demo(1, 0).await;
    let (dir, db) = app.stop().await;

    let mut config = test_config(&db);
    config.runner.poll_interval = Duration::from_secs(5);
    config.runner.lease = Duration::from_secs(30);
    let app = start(config, dir, db).await;
    // The runner's first look at start, and several of a waiting claim's: nothing taken.
    tokio::time::sleep(SEVERAL_POLLS).await;
    assert_eq!(app.job(&id).await["status"], "queued");
    assert_eq!(type_view(&app, "demo").await["paused"], true);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("jobcast_type_paused{type=\"demo\"} 1"),
        "{metrics}"
    );

    let resumed = Instant::now();
    app.post_json("/api/types/demo/resume", &json!({})).await;
    app.wait_for_status(&id, &["completed"], Duration::from_secs(4))
        .await;
    // Woken by the resume, not found by the runner's next look 5 s on.
    assert!(
        resumed.elapsed() < Duration::from_secs(2),
        "{:?}",
        resumed.elapsed()
    );
}

#[tokio::test]
async fn the_overview_counts_each_types_jobs_and_throughput() {
    let app = spawn_app().await;
    let done = app.create_demo(1, 0).await;
    app.wait_for_status(&done, &["completed"], Duration::from_secs(5))
        .await;
    let failing = app
        .create(json!({"type": "demo", "payload": {"steps": 2, "step_ms": 0, "fail_at_step": 1}}))
        .await;
    app.wait_for_status(
        failing["id"].as_str().unwrap(),
        &["failed"],
        Duration::from_secs(5),
    )
    .await;
    app.create_external().await;
    app.create(json!({"type": "external", "run_at": "2099-01-01T00:00:00Z"}))
        .await;

    let demo = type_view(&app, "demo").await;
    assert_eq!(
        demo["counts"],
        json!({"queued": 0, "running": 0, "waiting": 0, "completed": 1, "failed": 1, "cancelled": 0})
    );
    assert_eq!(
        (
            demo["finished_last_minute"].clone(),
            demo["finished_last_hour"].clone()
        ),
        (json!(2), json!(2))
    );
    assert_eq!(demo["oldest_queued_age_ms"], Value::Null);
    assert_eq!(
        (demo["kind"].clone(), demo["paused"].clone()),
        (json!("demo"), json!(false))
    );
    let external = type_view(&app, "external").await;
    assert_eq!(external["counts"]["queued"], 2);
    // The job due in 2099 is queued but not waiting.
    assert!(
        external["oldest_queued_age_ms"]
            .as_i64()
            .is_some_and(|ms| ms < 60_000),
        "{external}"
    );
}

/// Creates `n` external jobs, 500 per bulk create; their ids.
async fn external_jobs(app: &TestApp, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    while ids.len() < n {
        let count = (n - ids.len()).min(500);
        let (status, made) = app
            .post_json(
                "/api/jobs/bulk",
                &json!({"jobs": vec![json!({"type": "external"}); count]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        ids.extend(
            made["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["job"]["id"].as_str().unwrap().to_owned()),
        );
    }
    ids
}

/// Sends `POST /api/jobs/{id}/{action}` with `body` to every job, 16 at a time.
async fn each(app: &TestApp, ids: &[String], action: &str, body: Value) {
    futures_util::stream::iter(ids)
        .map(|id| {
            let body = body.clone();
            async move {
                let (status, answer) = app
                    .post_json(&format!("/api/jobs/{id}/{action}"), &body)
                    .await;
                assert!(status.is_success(), "{action} {id}: {answer}");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

/// Every job's (status, version), by id.
async fn states(app: &TestApp) -> BTreeMap<String, (String, i64)> {
    let mut all = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/jobs?limit=500&cursor={c}"),
            None => "/api/jobs?limit=500".to_owned(),
        };
        let (_, page) = app.get(&path).await;
        for job in page["jobs"].as_array().unwrap() {
            all.insert(
                job["id"].as_str().unwrap().to_owned(),
                (
                    job["status"].as_str().unwrap().to_owned(),
                    job["version"].as_i64().unwrap(),
                ),
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return all,
        }
    }
}

#[tokio::test]
async fn a_bulk_retry_of_3000_failed_jobs_changes_exactly_those_and_their_streams_see_it() {
    let app = spawn_app_with(|c| {
        c.stream.max_duration = Duration::from_secs(120);
        c.limits.create_rate = 100_000.0;
        c.limits.max_queued_per_type = 10_000;
        // Nothing claims the external jobs; the demo jobs below fail at once.
        c.runner.workers = 2;
    })
    .await;
    let failed = external_jobs(&app, 3000).await;
    each(&app, &failed, "fail", json!({"error": "the outage"})).await;
    // Jobs that must not change: failed jobs of another type, cancelled and completed ones of
    // the same type, and a queued one.
    let bystanders = external_jobs(&app, 3).await;
    each(&app, &bystanders[..1], "cancel", json!({})).await;
    each(&app, &bystanders[1..2], "complete", json!({})).await;
    let demo = app
        .create(json!({"type": "demo", "payload": {"steps": 1, "step_ms": 0, "fail_at_step": 1}}))
        .await;
    app.wait_for_status(
        demo["id"].as_str().unwrap(),
        &["failed"],
        Duration::from_secs(5),
    )
    .await;
    let before = states(&app).await;

    let filter = json!({"type": "external", "status": "failed"});
    let mut dry = filter.clone();
    dry["dry_run"] = json!(true);
    let (status, answer) = app.post_json("/api/jobs/retry", &dry).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({"affected": 3000, "dry_run": true}));
    assert_eq!(states(&app).await, before, "a dry run changes nothing");

    // Streams open on some of the jobs (every job's changes on one, and a job stream that
    // reconnects after its terminal event once the retry is done).
    let events = {
        let response = app
            .client
            .get(app.url("/api/events?type=external"))
            .send()
            .await
            .unwrap();
        tokio::spawn(SseLog::read(response, Duration::from_secs(60)))
    };
    let sample = [&failed[0], &failed[1234], &failed[2999]];
    let mut last_seen = Vec::new();
    for id in sample {
        let log = app.read_stream(id, None, Duration::from_secs(5)).await;
        assert_eq!(log.last_event().data()["status"], "failed");
        last_seen.push(log.last_id());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (status, answer) = app.post_json("/api/jobs/retry", &filter).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer, json!({"affected": 3000, "dry_run": false}));
    let after = states(&app).await;
    let failed: BTreeSet<&String> = failed.iter().collect();
    for (id, (status, version)) in &after {
        let (old_status, old_version) = &before[id];
        if failed.contains(id) {
            assert_eq!(status, "queued", "{id}");
            assert_eq!(*version, old_version + 2, "the retry and its log line");
        } else {
            assert_eq!((status, version), (old_status, old_version), "{id} changed");
        }
    }
    let overview = type_view(&app, "external").await;
    assert_eq!(overview["counts"]["failed"], 0, "{overview}");
    assert_eq!(overview["counts"]["queued"], 3001, "{overview}");

    for (id, last) in sample.iter().zip(last_seen) {
        let log = app
            .read_stream(id, Some(&last.to_string()), Duration::from_millis(500))
            .await;
        assert_eq!(log.names(), ["progress", "log"], "{id}: {log:?}");
        assert_eq!(log.events()[0].data()["status"], "queued");
        assert!(log.events()[1].data()["message"]
            .as_str()
            .unwrap()
            .contains("retried"));
    }
    // Every retried job's change came through the all-jobs stream.
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.handle.shutdown();
    let log = events.await.unwrap();
    let requeued: BTreeSet<String> = log
        .events()
        .iter()
        .filter(|e| e.name() == Some("progress"))
        .map(|e| e.data())
        .filter(|d| d["status"] == "queued")
        .map(|d| d["job_id"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = failed.iter().map(|id| (*id).clone()).collect();
    assert_eq!(requeued, expected);
}

#[tokio::test]
async fn a_bulk_cancel_cancels_queued_jobs_and_stops_running_ones() {
    let app = spawn_app().await;
    // Four workers: four demo jobs run, two wait.
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(app.create_demo(200, 50).await);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while states(&app)
        .await
        .values()
        .filter(|s| s.0 == "running")
        .count()
        < 4
    {
        assert!(Instant::now() < deadline, "four jobs never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = app.create_external().await;
    app.post_json(&format!("/api/jobs/{done}/complete"), &json!({}))
        .await;

    let (status, answer) = app
        .post_json(
            "/api/jobs/cancel",
            &json!({"type": "demo", "dry_run": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"affected": 6, "stopping": 4, "dry_run": true})
    );
    let (status, answer) = app
        .post_json("/api/jobs/cancel", &json!({"type": "demo"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["affected"], 6, "{answer}");
    assert_eq!(answer["stopping"], 4, "{answer}");
    for id in &ids {
        app.wait_for_status(id, &["cancelled"], Duration::from_secs(5))
            .await;
    }
    assert_eq!(app.job(&done).await["status"], "completed");
    // Nothing left to cancel: 200 with 0.
    let (status, answer) = app
        .post_json("/api/jobs/cancel", &json!({"type": "demo"}))
        .await;
    assert_eq!(
        (status, answer),
        (
            StatusCode::OK,
            json!({"affected": 0, "stopping": 0, "dry_run": false})
        )
    );
}

#[tokio::test]
async fn bulk_filters_by_ids_and_creation_time_take_only_those() {
    let app = spawn_app().await;
    let early = app.create_external().await;
    let created = app.job(&early).await["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cut = app.create_external().await;
    let cut_at = app.job(&cut).await["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let late = app.create_external().await;
    // As times, not text: the fraction drops its trailing zeros (".94Z" is before ".942Z").
    let at = |text: &str| {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    };
    assert!(at(&created) < at(&cut_at), "{created} {cut_at}");
    let (_, answer) = app
        .post_json(
            "/api/jobs/cancel",
            &json!({"created_before": cut_at, "dry_run": true}),
        )
        .await;
    assert_eq!(answer["affected"], 1, "only the early job: {answer}");
    let (_, answer) = app
        .post_json(
            "/api/jobs/cancel",
            &json!({"ids": [late, uuid::Uuid::now_v7().to_string()]}),
        )
        .await;
    assert_eq!(answer["affected"], 1, "{answer}");
    assert_eq!(app.job(&late).await["status"], "cancelled");
    assert_eq!(app.job(&early).await["status"], "queued");
    let (_, answer) = app
        .post_json("/api/jobs/retry", &json!({"ids": [late, early]}))
        .await;
    assert_eq!(answer["affected"], 1, "only the cancelled one: {answer}");
    assert_eq!(app.job(&late).await["status"], "queued");
}

/// What a control request must not change: every job, the paused types, the schedules.
async fn control_state(
    app: &TestApp,
    token: &str,
) -> (Value, Value, BTreeMap<String, (String, i64)>) {
    let get = |path: &'static str| {
        let request = app.client.get(app.url(path)).bearer_auth(token);
        async move { body_json(request.send().await.unwrap()).await }
    };
    let mut types = get("/api/types").await;
    // Time moves the ages and throughput windows; the rest must not move.
    for t in types.as_array_mut().unwrap() {
        t["oldest_queued_age_ms"] = Value::Null;
    }
    let schedules = get("/api/schedules").await;
    let mut jobs = BTreeMap::new();
    for job in get("/api/jobs?limit=500").await["jobs"].as_array().unwrap() {
        jobs.insert(
            job["id"].as_str().unwrap().to_owned(),
            (
                job["status"].as_str().unwrap().to_owned(),
                job["version"].as_i64().unwrap(),
            ),
        );
    }
    (types, schedules, jobs)
}

#[tokio::test]
async fn hostile_control_requests_get_a_json_4xx_and_change_nothing() {
    const TOKENS: &str =
        "admin:admin-token,submit:submit-token,worker:worker-token,read:read-token";
    let app = spawn_app_with(|c| {
        c.auth.plain_tokens = jobcast::auth::parse_pairs(TOKENS).unwrap();
        c.schedules = vec![jobcast::config::ScheduleConfig::new(
            "nightly",
            "external",
            "0 2 * * *",
        )];
    })
    .await;
    let bearer = |token: &str| ("authorization", format!("Bearer {token}"));
    // Jobs in every state, through the admin token.
    let admin = |request: reqwest::RequestBuilder| request.bearer_auth("admin-token");
    let made = admin(app.client.post(app.url("/api/jobs")))
        .json(&json!({"type": "external"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    let failed = body_json(
        admin(app.client.post(app.url("/api/jobs")))
            .json(&json!({"type": "external"}))
            .send()
            .await
            .unwrap(),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fail = admin(
        app.client
            .post(app.url(&format!("/api/jobs/{failed}/fail"))),
    )
    .json(&json!({"error": "broke"}))
    .send()
    .await
    .unwrap();
    assert_eq!(fail.status(), StatusCode::OK);
    let before = control_state(&app, "admin-token").await;

    let with = |c: crate::bad_requests::Case, token: &str| {
        let (name, value) = bearer(token);
        c.header(name, value)
    };
    let admin_case = |c: crate::bad_requests::Case| with(c, "admin-token");
    let mut cases = vec![
        // An empty filter, or one that names nothing, is refused.
        admin_case(case(Method::POST, "/api/jobs/cancel", 400, "bad_request").json(&json!({}))),
        admin_case(
            case(Method::POST, "/api/jobs/retry", 400, "bad_request")
                .json(&json!({"dry_run": true})),
        ),
        admin_case(case(Method::POST, "/api/jobs/retry", 400, "bad_request").raw("")),
        admin_case(case(Method::POST, "/api/jobs/cancel", 400, "malformed_json").raw("{\"type\":")),
        admin_case(invalid("/api/jobs/cancel", json!({"type": "nope"}), "type")),
        admin_case(invalid("/api/jobs/cancel", json!({"type": null}), "type")),
        admin_case(invalid(
            "/api/jobs/cancel",
            json!({"status": "completed"}),
            "status",
        )),
        admin_case(invalid(
            "/api/jobs/retry",
            json!({"status": "queued"}),
            "status",
        )),
        admin_case(invalid(
            "/api/jobs/retry",
            json!({"status": "lost"}),
            "status",
        )),
        admin_case(invalid("/api/jobs/retry", json!({"ids": []}), "ids")),
        admin_case(invalid(
            "/api/jobs/retry",
            json!({"ids": ["not-an-id"]}),
            "ids[0]",
        )),
        admin_case(invalid("/api/jobs/retry", json!({"ids": "all"}), "ids")),
        admin_case(invalid(
            "/api/jobs/retry",
            json!({"ids": vec![failed.clone(); 10_001]}),
            "ids",
        )),
        admin_case(invalid(
            "/api/jobs/retry",
            json!({"created_before": "yesterday"}),
            "created_before",
        )),
        admin_case(invalid(
            "/api/jobs/retry",
            json!({"status": "failed", "dry_run": "yes"}),
            "dry_run",
        )),
        admin_case(invalid(
            "/api/jobs/retry",
            json!({"status": "failed", "everything": true}),
            "everything",
        )),
        admin_case(invalid(
            "/api/jobs/cancel",
            json!([{"type": "external"}]),
            "body",
        )),
        // Unknown types and schedules are 404, whatever their spelling.
        admin_case(case(
            Method::POST,
            "/api/types/nope/pause",
            404,
            "not_found",
        )),
        admin_case(case(
            Method::POST,
            "/api/types/demo%00/pause",
            404,
            "not_found",
        )),
        admin_case(case(
            Method::POST,
            "/api/types/..%2Fdemo/resume",
            404,
            "not_found",
        )),
        admin_case(case(
            Method::POST,
            format!("/api/types/{}/pause", "x".repeat(5000)),
            404,
            "not_found",
        )),
        admin_case(case(
            Method::POST,
            "/api/schedules/weekly/trigger",
            404,
            "not_found",
        )),
        admin_case(case(
            Method::POST,
            "/api/schedules/nightly%27%3B--/pause",
            404,
            "not_found",
        )),
        admin_case(case(
            Method::POST,
            "/api/types/demo/explode",
            404,
            "not_found",
        )),
        admin_case(wrong_method(Method::GET, "/api/types/demo/pause", "POST")),
        admin_case(wrong_method(
            Method::DELETE,
            "/api/schedules/nightly/resume",
            "POST",
        )),
        admin_case(wrong_method(Method::POST, "/api/schedules", "GET")),
        admin_case(wrong_method(Method::GET, "/api/jobs/retry", "POST")),
        // Without a token, or with one of another role.
        case(
            Method::POST,
            "/api/types/external/pause",
            401,
            "unauthorized",
        ),
        case(Method::POST, "/api/jobs/cancel", 401, "unauthorized")
            .json(&json!({"type": "external"})),
        case(Method::GET, "/api/schedules", 401, "unauthorized"),
    ];
    for token in ["submit-token", "worker-token", "read-token"] {
        cases.push(with(
            case(Method::POST, "/api/types/external/pause", 403, "forbidden"),
            token,
        ));
        cases.push(with(
            case(Method::POST, "/api/types/external/resume", 403, "forbidden"),
            token,
        ));
        cases.push(with(
            case(
                Method::POST,
                "/api/schedules/nightly/pause",
                403,
                "forbidden",
            ),
            token,
        ));
        cases.push(with(
            case(
                Method::POST,
                "/api/schedules/nightly/trigger",
                403,
                "forbidden",
            ),
            token,
        ));
        cases.push(with(
            case(Method::POST, "/api/jobs/cancel", 403, "forbidden")
                .json(&json!({"type": "external"})),
            token,
        ));
        cases.push(with(
            case(Method::POST, "/api/jobs/retry", 403, "forbidden")
                .json(&json!({"status": "failed"})),
            token,
        ));
    }
    cases.push(with(
        case(Method::GET, "/api/schedules", 403, "forbidden"),
        "worker-token",
    ));
    // The table checks each answer; the state is read with the admin token.
    crate::bad_requests::check_all(&app, &cases).await;
    assert_eq!(control_state(&app, "admin-token").await, before);
}

#[tokio::test]
async fn a_schedules_key_prefix_is_not_for_jobs_made_over_the_api() {
    let app = spawn_app().await;
    let Fixture { .. } = fixture(&app).await;
    run_table(
        &app,
        &[invalid(
            "/api/jobs",
            json!({"type": "external", "idempotency_key": "schedule:nightly:2026-01-01T02:00:00Z"}),
            "idempotency_key",
        )],
    )
    .await;
}

#[tokio::test]
async fn a_pause_through_one_node_holds_on_another_and_its_resume_wakes_it() {
    use crate::binary::{db_env, Server};
    let dir = tempfile::tempdir().unwrap();
    let env = |more: &[(&'static str, &str)]| {
        let mut env = db_env(dir.path());
        env.extend(more.iter().map(|(k, v)| (*k, (*v).to_owned())));
        env
    };
    // A runs nothing. B runs the jobs; on PostgreSQL it looks for work only every 20 s, so a
    // job it claims sooner after the resume was woken by the other node's notification.
    let a = Server::start(dir.path(), &env(&[("JOBCAST_WORKERS", "0")]));
    let poll = if on_postgres() { "20s" } else { "100ms" };
    let b = Server::start(
        dir.path(),
        &env(&[
            ("JOBCAST_RUNNER_POLL_INTERVAL", poll),
            ("JOBCAST_LEASE", "60s"),
        ]),
    );
    let client = reqwest::Client::new();
    let paused = client
        .post(a.url("/api/types/demo/pause"))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), StatusCode::OK);
    // Created through B, whose runner is woken by the create and claims nothing.
    let job = b
        .create(json!({"type": "demo", "payload": {"steps": 1, "step_ms": 0}}))
        .await;
    let id = job["id"].as_str().unwrap();
    tokio::time::sleep(SEVERAL_POLLS).await;
    assert_eq!(a.job(id).await["status"], "queued");
    assert_eq!(
        b.job(id).await["paused"],
        true,
        "B knows of the pause made through A"
    );

    let resumed = Instant::now();
    let answer = client
        .post(a.url("/api/types/demo/resume"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    b.wait_until(id, Duration::from_secs(10), |j| j["status"] == "completed")
        .await;
    assert!(
        resumed.elapsed() < Duration::from_secs(5),
        "{:?}",
        resumed.elapsed()
    );
}

/// The overview's last hour, by minute (the dashboard's sparkline) and its failures, from the
/// per-second counts the database keeps.
#[tokio::test]
async fn the_types_overview_counts_the_last_hour_by_minute_and_its_failures() {
    let app = spawn_app().await;
    let (done, failed) = (app.create_external().await, app.create_external().await);
    let (status, _) = app
        .post_json(&format!("/api/jobs/{done}/complete"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{failed}/fail"),
            &json!({"error": "bad"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let external = type_view(&app, "external").await;
    let minutes: Vec<i64> = external["finished_per_minute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_i64().unwrap())
        .collect();
    assert_eq!(minutes.len(), 60, "{external}");
    assert_eq!(minutes[59], 2, "both in the last minute: {minutes:?}");
    assert_eq!(minutes.iter().sum::<i64>(), 2);
    assert_eq!(external["finished_last_minute"], 2);
    assert_eq!(external["finished_last_hour"], 2);
    assert_eq!(external["failed_last_hour"], 1, "{external}");
    // A retry and a second failure count again; a type with nothing finished has 60 zeros.
    let (status, _) = app
        .post_json(&format!("/api/jobs/{failed}/retry"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{failed}/fail"),
            &json!({"error": "bad again"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let external = type_view(&app, "external").await;
    assert_eq!(external["failed_last_hour"], 2, "{external}");
    let demo = type_view(&app, "demo").await;
    assert_eq!(demo["finished_per_minute"], json!(vec![0; 60]), "{demo}");
    assert_eq!(demo["failed_last_hour"], 0);
}
