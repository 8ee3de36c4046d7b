//! What an operator sees: `/metrics` after a known sequence of jobs and streams, `/readyz`
//! through a shutdown, and request ids.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// One scrape: `name{labels}` to value, after checking the text is well-formed exposition
/// format: `# HELP`/`# TYPE` lines, samples of a declared family, and `# EOF` at the end.
fn parse_exposition(text: &str) -> HashMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "no # EOF at the end");
    let mut families: Vec<String> = Vec::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if line == "# EOF" {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap().to_owned();
            let kind = parts.next().unwrap();
            assert!(
                [
                    "counter",
                    "gauge",
                    "histogram",
                    "info",
                    "summary",
                    "unknown"
                ]
                .contains(&kind),
                "{line}"
            );
            families.push(name);
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment line: {line}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            }
        }
        assert!(
            families
                .iter()
                .any(|family| name.starts_with(family.as_str())),
            "sample {name} of no declared family"
        );
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "twice: {line}"
        );
    }
    samples
}

async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    parse_exposition(&response.text().await.unwrap())
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in the scrape"))
}

#[tokio::test]
async fn metrics_count_a_known_sequence_of_jobs_streams_and_requests() {
    let app = spawn_app().await;
    // Two demo jobs run to completion, one of them watched to its end.
    let first = app.create_demo(2, 10).await;
    let second = app.create_demo(1, 10).await;
    let log = SseLog::read(app.stream(&first, None).await, Duration::from_secs(5)).await;
    assert_eq!(log.last_event().name(), Some("completed"));
    app.wait_for_status(&second, &["completed"], Duration::from_secs(5))
        .await;
    // An external job failed by outside code, and a queued one cancelled.
    let failing = app.create_external().await;
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{failing}/fail"),
            &json!({"error": "bad input"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let waiting = app
        .create(json!({"type": "external", "run_at": "2099-01-01T00:00:00Z"}))
        .await;
    let waiting = waiting["id"].as_str().unwrap();
    let (status, _) = app
        .post_json(&format!("/api/jobs/{waiting}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let still_queued = app.create_external().await;
    // A bad request, for the status label.
    assert_eq!(
        app.get("/api/jobs/not-a-job").await.0,
        StatusCode::NOT_FOUND
    );
    // The stream's close is counted when its body is dropped, just after the end.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while app.handle.open_streams() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the stream never closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let m = scrape(&app).await;
    // Jobs by type and status, read from the store.
    assert_eq!(
        value(&m, r#"jobcast_jobs{type="demo",status="completed"}"#),
        2.0
    );
    assert_eq!(
        value(&m, r#"jobcast_jobs{type="external",status="failed"}"#),
        1.0
    );
    assert_eq!(
        value(&m, r#"jobcast_jobs{type="external",status="cancelled"}"#),
        1.0
    );
    assert_eq!(
        value(&m, r#"jobcast_jobs{type="external",status="queued"}"#),
        1.0
    );
    // Ends by outcome, attempts, run time.
    let finished = |t: &str, outcome: &str| {
        value(
            &m,
            &format!(r#"jobcast_jobs_finished_total{{type="{t}",outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(finished("demo", "completed"), 2.0);
    assert_eq!(finished("external", "failed"), 1.0);
    assert_eq!(finished("external", "cancelled"), 1.0);
    assert_eq!(value(&m, r#"jobcast_job_attempts_total{type="demo"}"#), 2.0);
    assert_eq!(
        value(&m, r#"jobcast_job_run_seconds_count{type="demo"}"#),
        2.0
    );
    assert!(value(&m, r#"jobcast_job_run_seconds_sum{type="demo"}"#) > 0.0);
    assert_eq!(
        value(&m, r#"jobcast_job_queue_wait_seconds_count{type="demo"}"#),
        2.0
    );
    // Streams and events.
    assert_eq!(value(&m, "jobcast_streams_opened_total"), 1.0);
    assert_eq!(value(&m, "jobcast_streams_closed_total"), 1.0);
    assert_eq!(value(&m, "jobcast_streams_open"), 0.0);
    assert_eq!(
        value(&m, r#"jobcast_sse_events_sent_total{event="completed"}"#),
        1.0
    );
    let sent_progress = value(&m, r#"jobcast_sse_events_sent_total{event="progress"}"#);
    let seen_progress = log.names().iter().filter(|n| **n == "progress").count();
    assert_eq!(sent_progress, seen_progress as f64);
    assert!(value(&m, "jobcast_poll_duration_seconds_count") >= 1.0);
    // Requests by route template, never by raw path.
    assert_eq!(
        value(
            &m,
            r#"jobcast_http_requests_total{route="/api/jobs",method="POST",status="201"}"#
        ),
        5.0
    );
    assert_eq!(
        value(
            &m,
            r#"jobcast_http_requests_total{route="/api/jobs/{id}",method="GET",status="404"}"#
        ),
        1.0
    );
    assert!(
        !m.keys().any(|series| series.contains(&first)),
        "a job id leaked into a label"
    );
    assert_eq!(value(&m, "jobcast_store_errors_total"), 0.0);
    let _ = still_queued;
}

#[tokio::test]
async fn with_tokens_on_metrics_need_a_reading_token_unless_made_public() {
    let tokens = |config: &mut jobcast::Config| {
        config.auth.plain_tokens = vec![
            (jobcast::auth::Role::Read, "reader".to_owned()),
            (jobcast::auth::Role::Worker, "worker".to_owned()),
        ];
    };
    let app = spawn_app_with(tokens).await;
    let get = |token: Option<&'static str>| {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(get(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(Some("worker")).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(get(Some("reader")).await.unwrap().status(), StatusCode::OK);

    let public = spawn_app_with(|config| {
        tokens(config);
        config.auth.public_metrics = true;
    })
    .await;
    let response = public
        .client
        .get(public.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn readyz_is_ready_then_answers_503_from_the_moment_shutdown_begins() {
    let app = spawn_app_with(|config| config.http.shutdown_drain = Duration::from_secs(2)).await;
    // Ready once the runner has started (at once, but not necessarily before the first
    // request).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = app.get("/readyz").await;
        if status == StatusCode::OK {
            assert_eq!(body["status"], "ready");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.get("/healthz").await.0, StatusCode::OK);

    app.handle.shutdown();
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["reason"], "shutting down");
    // During the drain everything else still serves: liveness and the API.
    assert_eq!(app.get("/healthz").await.0, StatusCode::OK);
    assert_eq!(app.get("/api/jobs").await.0, StatusCode::OK);
    // And then the server stops.
    app.stop().await;
}

#[tokio::test]
async fn request_ids_are_kept_when_sane_and_made_when_not() {
    let app = spawn_app().await;
    let id_of = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let response = app
        .client
        .get(app.url("/api/jobs"))
        .header("x-request-id", "proxy-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&response), "proxy-abc-123");
    // Errors carry one too, and a junk id is replaced.
    let response = app
        .client
        .get(app.url("/api/jobs/nope"))
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let made = id_of(&response);
    assert!(made.parse::<uuid::Uuid>().is_ok(), "{made}");
    let again = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_ne!(id_of(&again), made, "each request gets its own id");
}
