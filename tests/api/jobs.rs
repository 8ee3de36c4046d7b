//! The job API: create, read, list and page, idempotency, priority and `run_at`, the `external`
//! update calls, cancel, logs, versions and the health check.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// A `run_at` that keeps a job queued for the whole test.
const FAR_FUTURE: &str = "2099-01-01T00:00:00Z";
const FINISHED: &[&str] = &["completed", "failed", "cancelled"];

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

fn id_of(job: &Value) -> String {
    job["id"]
        .as_str()
        .unwrap_or_else(|| panic!("job has no string id: {job}"))
        .to_owned()
}

/// A null field may be omitted; either way it is absent.
fn absent(job: &Value, field: &str) -> bool {
    matches!(job.get(field), None | Some(Value::Null))
}

/// A hyphenated UUID of version 7.
fn is_uuid_v7(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
        && bytes[14] == b'7'
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Milliseconds since the epoch as RFC 3339 in UTC.
fn rfc3339(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
    let rest = ms.rem_euclid(86_400_000);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// Parses an RFC 3339 date-time into milliseconds since the epoch; `None` if it is not one.
fn rfc3339_millis(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let s = text.get(from..to)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut frac = 0;
    if let Some(f) = rest.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        frac = format!("{:0<3}", &f[..digits.min(3)]).parse().ok()?;
        rest = &f[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            sign * (oh * 60 + om)
        }
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_min * 60;
    Some(secs * 1000 + frac)
}

/// A timestamp field of a job in milliseconds; panics unless it is RFC 3339.
fn ms(job: &Value, field: &str) -> i64 {
    let text = job[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string: {job}"));
    rfc3339_millis(text).unwrap_or_else(|| panic!("{field} is not RFC 3339: {text:?}"))
}

async fn cancel(app: &TestApp, id: &str) -> (StatusCode, Value) {
    app.post_raw(&format!("/api/jobs/{id}/cancel"), "").await
}

/// `GET /api/jobs{query}`; panics unless 200.
async fn list(app: &TestApp, query: &str) -> Value {
    let (status, page) = app.get(&format!("/api/jobs{query}")).await;
    assert_eq!(status, StatusCode::OK, "list {query}: {page}");
    page
}

fn ids(page: &Value) -> Vec<String> {
    page["jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("no jobs array: {page}"))
        .iter()
        .map(id_of)
        .collect()
}

/// `GET /api/jobs/{id}/logs{query}`; panics unless 200.
async fn logs(app: &TestApp, id: &str, query: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/jobs/{id}/logs{query}")).await;
    assert_eq!(status, StatusCode::OK, "logs {query}: {body}");
    body["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("no logs array: {body}"))
        .clone()
}

/// A demo job that stays queued (its `run_at` is far away).
async fn create_parked_demo(app: &TestApp) -> String {
    let job = app
        .create(
            json!({"type": "demo", "payload": {"steps": 2, "step_ms": 0}, "run_at": FAR_FUTURE}),
        )
        .await;
    id_of(&job)
}

/// Posts a valid body to each external update call and checks all of them are refused with
/// 409 `conflict`.
async fn assert_updates_refused(app: &TestApp, id: &str) {
    let calls = [
        ("progress", json!({"progress": 50, "message": "late"})),
        ("logs", json!({"level": "info", "message": "late"})),
        ("complete", json!({"result": {"late": true}})),
        ("fail", json!({"error": "late"})),
    ];
    for (call, body) in calls {
        let (status, answer) = app
            .post_json(&format!("/api/jobs/{id}/{call}"), &body)
            .await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "POST /api/jobs/{id}/{call} {body}: {answer}"
        );
        assert_eq!(answer["error"], "conflict", "{call}: {answer}");
        assert!(answer["message"].is_string(), "{call}: {answer}");
    }
}

// ---------------------------------------------------------------------------------------------
// Create and read
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn creating_a_job_answers_201_with_a_location_and_every_documented_field() {
    let app = spawn_app().await;
    let before = now_ms();
    let body = json!({
        "type": "external",
        "payload": {"file": "a.csv", "rows": [1, 2, 3]},
        "priority": 7,
        "max_attempts": 4,
    });
    let response = app
        .client
        .post(app.url("/api/jobs"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned();
    let job = body_json(response).await;
    let id = id_of(&job);

    assert!(is_uuid_v7(&id), "id is not a UUID v7: {id}");
    assert_eq!(location, format!("/api/jobs/{id}"));
    assert_eq!(job["type"], "external");
    assert_eq!(job["status"], "queued");
    assert_eq!(job["progress"].as_f64(), Some(0.0), "{job}");
    assert_eq!(job["payload"], body["payload"]);
    assert_eq!(job["priority"], 7);
    assert_eq!(job["attempt"], 0);
    assert_eq!(job["max_attempts"], 4);
    let created = ms(&job, "created_at");
    let updated = ms(&job, "updated_at");
    assert!(
        created >= before - 1000 && created <= now_ms() + 1000,
        "created_at is not now: {job}"
    );
    assert!(updated >= created, "{job}");
    assert!(job["version"].is_i64(), "version is not an integer: {job}");
    assert_eq!(job["stream_url"], format!("/api/jobs/{id}/stream"));
    for field in ["result", "error", "details", "started_at", "finished_at"] {
        assert!(absent(&job, field), "a new job has {field}: {job}");
    }

    let (status, fetched) = app.get(&location).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, job, "GET answers the job as created");
    assert_eq!(app.count_jobs().await, 1);
}

#[tokio::test]
async fn creating_a_demo_job_answers_201_and_the_job_is_queued_or_running() {
    let app = spawn_app().await;
    let payload = json!({"steps": 3, "step_ms": 10});
    let (status, job) = app
        .post_json("/api/jobs", &json!({"type": "demo", "payload": payload}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let id = id_of(&job);
    assert!(is_uuid_v7(&id), "{id}");
    assert!(
        ["queued", "running"].contains(&job["status"].as_str().unwrap()),
        "{job}"
    );
    assert_eq!(job["type"], "demo");
    assert_eq!(job["payload"], payload);
    assert_eq!(job["priority"], 0, "the default priority is 0: {job}");

    let fetched = app.job(&id).await;
    assert_eq!(fetched["id"], job["id"]);
    assert_eq!(fetched["type"], "demo");
    assert_eq!(fetched["payload"], payload);
    assert_eq!(fetched["created_at"], job["created_at"]);
}

#[tokio::test]
async fn a_demo_job_runs_to_completed_with_a_result_and_its_logs() {
    let app = spawn_app().await;
    let id = app.create_demo(5, 10).await;
    let job = app
        .wait_for_status(&id, FINISHED, Duration::from_secs(10))
        .await;

    assert_eq!(job["status"], "completed", "{job}");
    assert!(
        !absent(&job, "result"),
        "a completed job has a result: {job}"
    );
    assert_eq!(job["progress"].as_f64(), Some(100.0), "{job}");
    assert_eq!(job["attempt"], 1, "{job}");
    assert_eq!(job["current"], 5, "{job}");
    assert_eq!(job["total"], 5, "{job}");
    assert!(job["message"].is_string(), "{job}");
    assert!(absent(&job, "error"), "{job}");
    let (created, started, finished) = (
        ms(&job, "created_at"),
        ms(&job, "started_at"),
        ms(&job, "finished_at"),
    );
    assert!(created <= started && started <= finished, "{job}");
    assert!(ms(&job, "updated_at") >= finished, "{job}");

    let lines = logs(&app, &id, "").await;
    assert!(lines.len() >= 2, "a demo job logs now and then: {lines:?}");
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["seq"], i as i64 + 1, "seq counts from 1: {lines:?}");
        assert!(
            ["info", "warning", "error", "success"].contains(&line["level"].as_str().unwrap_or("")),
            "{line}"
        );
        assert!(!line["message"].as_str().unwrap_or("").is_empty(), "{line}");
        let ts = ms(line, "ts");
        assert!(
            ts >= created && ts <= finished,
            "{line} outside the job's run: {job}"
        );
    }

    let later = logs(&app, &id, "?after=1").await;
    assert_eq!(later, lines[1..].to_vec(), "after=1 gives every later line");
    let last = lines.len();
    let none = logs(&app, &id, &format!("?after={last}")).await;
    assert!(none.is_empty(), "nothing after the last line: {none:?}");
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_existing_job_for_the_same_type_only() {
    let app = spawn_app().await;
    let body = json!({"type": "external", "idempotency_key": "import-42"});
    let (status, first) = app.post_json("/api/jobs", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");

    let (status, again) = app.post_json("/api/jobs", &body).await;
    assert_eq!(status, StatusCode::OK, "a repeat answers 200: {again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again, app.job(&id_of(&first)).await);

    let (status, other_type) = app
        .post_json(
            "/api/jobs",
            &json!({"type": "demo", "idempotency_key": "import-42", "run_at": FAR_FUTURE}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other_type}");
    assert_ne!(other_type["id"], first["id"]);
    assert_eq!(other_type["type"], "demo");

    let (status, other_key) = app
        .post_json(
            "/api/jobs",
            &json!({"type": "external", "idempotency_key": "import-43"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other_key}");
    assert_ne!(other_key["id"], first["id"]);

    assert_eq!(app.count_jobs().await, 3);
}

#[tokio::test]
async fn a_job_with_run_at_in_the_future_stays_queued_until_then_and_then_runs() {
    let app = spawn_app_with(|c| c.runner.workers = 1).await;
    let run_at = now_ms() + 1500;
    let job = app
        .create(json!({
            "type": "demo",
            "payload": {"steps": 1, "step_ms": 0},
            "run_at": rfc3339(run_at),
        }))
        .await;
    let id = id_of(&job);
    assert_eq!(job["status"], "queued", "{job}");

    tokio::time::sleep(Duration::from_millis(400)).await;
    let waiting = app.job(&id).await;
    assert_eq!(waiting["status"], "queued", "too early to run: {waiting}");
    assert_eq!(waiting["attempt"], 0, "{waiting}");

    let done = app
        .wait_for_status(&id, FINISHED, Duration::from_secs(10))
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        ms(&done, "started_at") >= run_at,
        "started before run_at {}: {done}",
        rfc3339(run_at)
    );
}

#[tokio::test]
async fn the_highest_priority_job_starts_first_then_the_oldest() {
    let app = spawn_app_with(|c| c.runner.workers = 1).await;
    let long = app.create_demo(1000, 50).await;
    app.wait_for_status(&long, &["running"], Duration::from_secs(5))
        .await;

    let quick = |priority: i64| json!({"type": "demo", "priority": priority, "payload": {"steps": 2, "step_ms": 20}});
    let low = id_of(&app.create(quick(-5)).await);
    let high = id_of(&app.create(quick(10)).await);
    let high_later = id_of(&app.create(quick(10)).await);
    // The only worker is busy, so all three wait.
    for id in [&low, &high, &high_later] {
        assert_eq!(app.job(id).await["status"], "queued");
    }

    let (status, answer) = cancel(&app, &long).await;
    assert!(
        status == StatusCode::OK || status == StatusCode::ACCEPTED,
        "{status}: {answer}"
    );
    let mut started = Vec::new();
    for id in [&high, &high_later, &low] {
        let job = app
            .wait_for_status(id, FINISHED, Duration::from_secs(10))
            .await;
        assert_eq!(job["status"], "completed", "{job}");
        started.push((ms(&job, "started_at"), ms(&job, "finished_at")));
    }
    let [(high_start, high_end), (later_start, later_end), (low_start, _)] = started[..] else {
        unreachable!()
    };
    assert!(
        high_start < later_start && high_end <= later_start,
        "the older of two equal priorities runs first: {started:?}"
    );
    assert!(
        later_start < low_start && later_end <= low_start,
        "the low priority job runs last: {started:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// List and page
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_list_is_newest_first_and_filters_by_status_and_type() {
    let app = spawn_app().await;
    let e1 = app.create_external().await;
    let d1 = create_parked_demo(&app).await;
    let e2 = app.create_external().await;
    let d2 = create_parked_demo(&app).await;
    let e3 = app.create_external().await;
    let (status, _) = cancel(&app, &e2).await;
    assert_eq!(status, StatusCode::OK);

    let all = list(&app, "").await;
    assert_eq!(
        ids(&all),
        [
            e3.as_str(),
            d2.as_str(),
            e2.as_str(),
            d1.as_str(),
            e1.as_str()
        ]
    );
    assert!(all["next_cursor"].is_null(), "{all}");
    for job in all["jobs"].as_array().unwrap() {
        assert_eq!(
            *job,
            app.job(&id_of(job)).await,
            "listed jobs are whole jobs"
        );
    }

    assert_eq!(ids(&list(&app, "?status=cancelled").await), [e2.as_str()]);
    assert_eq!(
        ids(&list(&app, "?type=demo").await),
        [d2.as_str(), d1.as_str()]
    );
    assert_eq!(
        ids(&list(&app, "?status=queued&type=external").await),
        [e3.as_str(), e1.as_str()]
    );
    assert_eq!(
        ids(&list(&app, "?status=queued").await),
        [e3.as_str(), d2.as_str(), d1.as_str(), e1.as_str()]
    );
    assert!(ids(&list(&app, "?status=completed").await).is_empty());
    assert!(ids(&list(&app, "?type=nonexistent").await).is_empty());
}

#[tokio::test]
async fn paging_with_limit_and_cursor_covers_every_job_exactly_once() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(app.create_external().await);
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut query = "?limit=3".to_owned();
    loop {
        let page = list(&app, &query).await;
        let page_ids = ids(&page);
        sizes.push(page_ids.len());
        seen.extend(page_ids.clone());
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(
                    Some(cursor),
                    page_ids.last().map(String::as_str),
                    "the cursor points at the page's last job: {page}"
                );
                query = format!("?limit=3&cursor={cursor}");
            }
            None => {
                assert!(page["next_cursor"].is_null(), "{page}");
                break;
            }
        }
        assert!(sizes.len() < 10, "paging never ends: {sizes:?}");
    }
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(seen, newest_first);

    // A limit that fits everything exactly leaves no next page.
    let exact = list(&app, "?limit=7").await;
    assert_eq!(ids(&exact), newest_first);
    assert!(exact["next_cursor"].is_null(), "{exact}");
    let short = list(&app, "?limit=6").await;
    assert_eq!(ids(&short), newest_first[..6]);
    let cursor = short["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let rest = list(&app, &format!("?limit=6&cursor={cursor}")).await;
    assert_eq!(ids(&rest), newest_first[6..]);
    assert!(rest["next_cursor"].is_null(), "{rest}");

    // Filters and paging together.
    let demo = create_parked_demo(&app).await;
    let page = list(&app, "?type=external&limit=4").await;
    assert_eq!(ids(&page), newest_first[..4]);
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let page = list(&app, &format!("?type=external&limit=4&cursor={cursor}")).await;
    assert_eq!(ids(&page), newest_first[4..]);
    assert!(!ids(&page).contains(&demo));
}

#[tokio::test]
async fn paging_is_stable_when_jobs_are_created_between_pages() {
    let app = spawn_app().await;
    let mut old = Vec::new();
    for _ in 0..6 {
        old.push(app.create_external().await);
    }
    old.reverse(); // newest first

    let first = list(&app, "?limit=4").await;
    assert_eq!(ids(&first), old[..4]);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();

    let mut new = Vec::new();
    for _ in 0..5 {
        new.push(app.create_external().await);
    }

    let second = list(&app, &format!("?limit=4&cursor={cursor}")).await;
    assert_eq!(
        ids(&second),
        old[4..],
        "page 2 continues where page 1 ended, new jobs do not shift it"
    );
    assert!(second["next_cursor"].is_null(), "{second}");
    for id in ids(&second) {
        assert!(!new.contains(&id) && !ids(&first).contains(&id));
    }

    // The new jobs are at the top of a fresh first page.
    new.reverse();
    assert_eq!(ids(&list(&app, "?limit=5").await), new);
}

#[tokio::test]
async fn paging_is_stable_under_concurrent_inserts() {
    let app = spawn_app().await;
    let mut old = Vec::new();
    for _ in 0..20 {
        old.push(app.create_external().await);
    }
    old.reverse();

    // Keep creating jobs while a client pages through the list two at a time.
    let client = app.client.clone();
    let url = app.url("/api/jobs");
    let inserter = tokio::spawn(async move {
        let mut created = Vec::new();
        for _ in 0..30 {
            let response = client
                .post(&url)
                .json(&json!({"type": "external"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            created.push(id_of(&body_json(response).await));
        }
        created
    });

    let mut seen: Vec<String> = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = list(&app, &query).await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
        tokio::task::yield_now().await;
    }
    let new = inserter.await.unwrap();

    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a job was listed twice: {seen:?}");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "pages run newest first throughout");
    for id in &old {
        assert!(seen.contains(id), "job {id} was skipped");
    }
    for id in &seen {
        assert!(old.contains(id) || new.contains(id), "unknown job {id}");
    }
    assert_eq!(app.count_jobs().await, old.len() + new.len());
}

#[tokio::test]
async fn a_hundred_concurrent_creates_all_answer_201_and_are_all_stored() {
    let app = spawn_app().await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..100 {
        let client = app.client.clone();
        let url = app.url("/api/jobs");
        tasks.spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"type": "external", "payload": {"n": n}}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, body_json(response).await)
        });
    }
    let mut created = HashSet::new();
    let mut numbers = HashSet::new();
    while let Some(joined) = tasks.join_next().await {
        let (status, job) = joined.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{job}");
        created.insert(id_of(&job));
        numbers.insert(job["payload"]["n"].as_i64().unwrap());
    }
    assert_eq!(created.len(), 100, "every create got its own id");
    assert_eq!(numbers.len(), 100);

    let page = list(&app, "?limit=500").await;
    let listed: HashSet<String> = ids(&page).into_iter().collect();
    assert_eq!(ids(&page).len(), 100);
    assert_eq!(listed, created);
    assert_eq!(app.count_jobs().await, 100);
}

// ---------------------------------------------------------------------------------------------
// External jobs
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_external_job_is_driven_by_progress_logs_and_complete() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let path = |call: &str| format!("/api/jobs/{id}/{call}");

    let (status, job) = app
        .post_json(
            &path("progress"),
            &json!({"progress": 10, "message": "reading", "current": 1, "total": 10, "stage": "read"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["status"], "running", "the first update starts the job");
    assert_eq!(job["attempt"], 1, "{job}");
    assert!(!absent(&job, "started_at"), "{job}");
    let stored = app.job(&id).await;
    assert_eq!(stored, job, "the answer is the stored job");
    assert_eq!(stored["progress"].as_f64(), Some(10.0));
    assert_eq!(stored["message"], "reading");
    assert_eq!(stored["current"], 1);
    assert_eq!(stored["total"], 10);
    assert_eq!(stored["stage"], "read");

    // Omitted fields keep their values.
    let (status, job) = app
        .post_json(&path("progress"), &json!({"progress": 42.5}))
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    let stored = app.job(&id).await;
    assert_eq!(stored["progress"].as_f64(), Some(42.5));
    assert_eq!(stored["message"], "reading");
    assert_eq!(stored["current"], 1);
    assert_eq!(stored["total"], 10);
    assert_eq!(stored["stage"], "read");
    assert_eq!(stored["attempt"], 1, "later updates are the same attempt");
    assert_eq!(stored["started_at"], job["started_at"]);

    let (status, _) = app
        .post_json(
            &path("progress"),
            &json!({"progress": 60, "stage": "write", "current": 6}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let stored = app.job(&id).await;
    assert_eq!(stored["stage"], "write");
    assert_eq!(stored["current"], 6);
    assert_eq!(stored["message"], "reading");
    assert_eq!(stored["total"], 10);

    for (level, message) in [("info", "read 10 rows"), ("warning", "row 7 is odd")] {
        let (status, line) = app
            .post_json(&path("logs"), &json!({"level": level, "message": message}))
            .await;
        assert!(status.is_success(), "{status}: {line}");
    }
    let lines = logs(&app, &id, "").await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[0]["level"], "info");
    assert_eq!(lines[0]["message"], "read 10 rows");
    assert_eq!(lines[1]["seq"], 2);
    assert_eq!(lines[1]["level"], "warning");
    assert_eq!(lines[1]["message"], "row 7 is odd");
    ms(&lines[1], "ts");

    let result = json!({"rows": 10, "file": "out.csv"});
    let (status, job) = app
        .post_json(&path("complete"), &json!({"result": result}))
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    let stored = app.job(&id).await;
    assert_eq!(stored, job);
    assert_eq!(stored["status"], "completed");
    assert_eq!(stored["result"], result);
    assert_eq!(stored["progress"].as_f64(), Some(100.0));
    assert!(ms(&stored, "finished_at") >= ms(&stored, "started_at"));
    assert!(absent(&stored, "error"), "{stored}");
}

#[tokio::test]
async fn an_external_job_that_fails_stores_its_error_and_details() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{id}/progress"),
            &json!({"progress": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let details = json!({"disk": "/dev/sda1", "free": 0});
    let (status, job) = app
        .post_json(
            &format!("/api/jobs/{id}/fail"),
            &json!({"error": "disk full", "details": details}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    let stored = app.job(&id).await;
    assert_eq!(stored, job);
    assert_eq!(stored["status"], "failed");
    assert_eq!(stored["error"], "disk full");
    assert_eq!(stored["details"], details);
    assert!(!absent(&stored, "finished_at"), "{stored}");
    assert!(absent(&stored, "result"), "{stored}");

    // A queued job may fail straight away too.
    let queued = app.create_external().await;
    let (status, job) = app
        .post_json(
            &format!("/api/jobs/{queued}/fail"),
            &json!({"error": "no input"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(app.job(&queued).await["status"], "failed");
}

#[tokio::test]
async fn updates_to_a_finished_external_job_get_409_and_change_nothing() {
    let app = spawn_app().await;
    let completed = app.create_external().await;
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{completed}/complete"),
            &json!({"result": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let failed = app.create_external().await;
    let (status, _) = app
        .post_json(&format!("/api/jobs/{failed}/fail"), &json!({"error": "no"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let cancelled = app.create_external().await;
    let (status, _) = cancel(&app, &cancelled).await;
    assert_eq!(status, StatusCode::OK);

    for (id, expected) in [
        (&completed, "completed"),
        (&failed, "failed"),
        (&cancelled, "cancelled"),
    ] {
        let before = app.job(id).await;
        assert_eq!(before["status"], expected);
        let logs_before = logs(&app, id, "").await;
        assert_updates_refused(&app, id).await;
        assert_eq!(app.job(id).await, before, "a finished job never changes");
        assert_eq!(logs(&app, id, "").await, logs_before);
    }
}

#[tokio::test]
async fn updates_to_an_in_process_job_get_409() {
    let app = spawn_app().await;
    // Queued: nothing may change it.
    let parked = create_parked_demo(&app).await;
    let before = app.job(&parked).await;
    assert_updates_refused(&app, &parked).await;
    assert_eq!(app.job(&parked).await, before);
    assert!(logs(&app, &parked, "").await.is_empty());

    // Running: outside code cannot finish it.
    let running = app.create_demo(1000, 50).await;
    app.wait_for_status(&running, &["running"], Duration::from_secs(5))
        .await;
    assert_updates_refused(&app, &running).await;
    let job = app.job(&running).await;
    assert_eq!(job["status"], "running", "{job}");
    assert!(absent(&job, "result") && absent(&job, "error"), "{job}");
    let lines = logs(&app, &running, "").await;
    assert!(
        lines.iter().all(|l| l["message"] != "late"),
        "the refused log line was stored: {lines:?}"
    );
    cancel(&app, &running).await;
}

// ---------------------------------------------------------------------------------------------
// Cancel
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cancelling_a_queued_job_cancels_it_at_once() {
    let app = spawn_app_with(|c| c.runner.workers = 1).await;
    let run_at = now_ms() + 500;
    let job = app
        .create(json!({"type": "demo", "payload": {"steps": 1, "step_ms": 0}, "run_at": rfc3339(run_at)}))
        .await;
    let id = id_of(&job);

    let (status, answer) = cancel(&app, &id).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "cancelled", "{answer}");
    let stored = app.job(&id).await;
    assert_eq!(stored, answer);
    assert!(!absent(&stored, "finished_at"), "{stored}");

    // Its run_at passes and it still never runs.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let later = app.job(&id).await;
    assert_eq!(later, stored, "a cancelled job never runs");
    assert_eq!(later["attempt"], 0);
}

#[tokio::test]
async fn cancelling_a_running_demo_job_stops_it_within_a_second() {
    let app = spawn_app().await;
    let id = app.create_demo(1000, 50).await;
    app.wait_for_status(&id, &["running"], Duration::from_secs(5))
        .await;

    let asked = Instant::now();
    let (status, answer) = cancel(&app, &id).await;
    assert!(
        status == StatusCode::OK || status == StatusCode::ACCEPTED,
        "{status}: {answer}"
    );
    let job = app
        .wait_for_status(&id, FINISHED, Duration::from_millis(1500))
        .await;
    assert!(
        asked.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(!absent(&job, "finished_at"), "{job}");
    assert!(
        job["progress"].as_f64().unwrap() < 100.0,
        "it was stopped, not finished: {job}"
    );

    // The worker really stopped: no more progress or log lines.
    let lines = logs(&app, &id, "").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.job(&id).await,
        job,
        "the job changed after it was cancelled"
    );
    assert_eq!(logs(&app, &id, "").await, lines);
}

#[tokio::test]
async fn cancelling_an_external_job_is_immediate_and_its_later_updates_get_409() {
    let app = spawn_app().await;
    let queued = app.create_external().await;
    let running = app.create_external().await;
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{running}/progress"),
            &json!({"progress": 25}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.job(&running).await["status"], "running");

    for id in [&queued, &running] {
        let (status, answer) = cancel(&app, id).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["status"], "cancelled", "{answer}");
        let stored = app.job(id).await;
        assert_eq!(stored["status"], "cancelled");
        assert_updates_refused(&app, id).await;
        assert_eq!(app.job(id).await, stored);
    }
}

#[tokio::test]
async fn cancelling_a_finished_job_is_a_409() {
    let app = spawn_app().await;
    let done = app.create_demo(1, 0).await;
    let job = app
        .wait_for_status(&done, FINISHED, Duration::from_secs(10))
        .await;
    assert_eq!(job["status"], "completed");
    let (status, answer) = cancel(&app, &done).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"], "conflict");
    assert_eq!(app.job(&done).await, job);

    let cancelled = app.create_external().await;
    assert_eq!(cancel(&app, &cancelled).await.0, StatusCode::OK);
    let before = app.job(&cancelled).await;
    let (status, answer) = cancel(&app, &cancelled).await;
    assert_eq!(status, StatusCode::CONFLICT, "a second cancel: {answer}");
    assert_eq!(app.job(&cancelled).await, before);
}

#[tokio::test]
async fn cancelling_an_unknown_job_is_a_404() {
    let app = spawn_app().await;
    let existing = app.create_external().await;
    let (status, answer) = cancel(&app, "0190c2a4-1e2b-7c3d-8e4f-5a6b7c8d9e0f").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["error"], "not_found");
    assert_eq!(app.job(&existing).await["status"], "queued");
    assert_eq!(app.count_jobs().await, 1);
}

// ---------------------------------------------------------------------------------------------
// Health and versions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn healthz_answers_200() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_version_grows_on_every_change_including_log_lines() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let mut last = app.job(&id).await["version"].as_i64().unwrap();
    let steps = [
        ("progress", json!({"progress": 10})),
        ("logs", json!({"level": "info", "message": "one"})),
        ("progress", json!({"progress": 20, "message": "two"})),
        ("logs", json!({"level": "success", "message": "three"})),
        ("logs", json!({"level": "error", "message": "four"})),
        ("complete", json!({"result": {"ok": true}})),
    ];
    for (call, body) in steps {
        let (status, answer) = app
            .post_json(&format!("/api/jobs/{id}/{call}"), &body)
            .await;
        assert!(status.is_success(), "{call}: {status} {answer}");
        let job = app.job(&id).await;
        let version = job["version"].as_i64().unwrap();
        assert!(
            version > last,
            "{call} {body} did not raise the version from {last}: {job}"
        );
        last = version;
    }
    // A refused update changes nothing, the version included.
    let (status, _) = app
        .post_json(&format!("/api/jobs/{id}/progress"), &json!({"progress": 1}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(app.job(&id).await["version"].as_i64(), Some(last));
}

#[tokio::test]
async fn retrying_a_failed_job_queues_the_same_job_again_with_its_history_kept() {
    let app = spawn_app().await;
    let job = app
        .create(json!({"type": "demo", "payload": {"steps": 2, "step_ms": 0, "fail_at_step": 2}}))
        .await;
    let id = job["id"].as_str().unwrap();
    let failed = app
        .wait_for_status(id, &["failed"], Duration::from_secs(10))
        .await;
    let (_, before) = app.get(&format!("/api/jobs/{id}/logs")).await;
    let lines_before = before["logs"].as_array().unwrap().len();

    let (status, retried) = app
        .post_json(&format!("/api/jobs/{id}/retry"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["id"], id);
    assert_eq!(retried["status"], "queued");
    assert_eq!(retried["attempt"], 0, "a fresh attempt budget");
    assert!(retried["error"].is_null() && retried["finished_at"].is_null());
    assert!(retried["version"].as_i64() > failed["version"].as_i64());

    let again = app
        .wait_for_status(id, &["failed"], Duration::from_secs(10))
        .await;
    assert_eq!(again["attempt"], 1);
    let (_, after) = app.get(&format!("/api/jobs/{id}/logs")).await;
    let messages: Vec<&str> = after["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(messages.len() > lines_before, "{messages:?}");
    assert_eq!(
        messages[lines_before],
        "retried on request with a fresh attempt budget"
    );
}

#[tokio::test]
async fn retrying_a_cancelled_job_queues_it_and_unfinished_or_completed_jobs_get_409() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    app.post_json(&format!("/api/jobs/{id}/cancel"), &json!({}))
        .await;
    let (status, job) = app
        .post_json(&format!("/api/jobs/{id}/retry"), &json!({}))
        .await;
    assert_eq!(
        (status, job["status"].as_str()),
        (StatusCode::OK, Some("queued"))
    );
    let (status, body) = app
        .post_json(&format!("/api/jobs/{id}/retry"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a queued job: {body}");
    app.post_json(&format!("/api/jobs/{id}/complete"), &json!({}))
        .await;
    let (status, _) = app
        .post_json(&format!("/api/jobs/{id}/retry"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a completed job");
    let (status, _) = app
        .post_json(
            "/api/jobs/0190b6c8-0000-7000-8000-000000000000/retry",
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
