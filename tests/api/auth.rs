//! API tokens and roles: 401 without a known token, 403 without the role, and open mode only
//! on loopback.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

const TOKENS: &str = "admin:admin-token,submit:submit-token,worker:worker-token,read:read-token";

async fn secured() -> TestApp {
    spawn_app_with(|c| {
        c.auth.plain_tokens = jobcast::auth::parse_pairs(TOKENS).unwrap();
    })
    .await
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, Option<String>) {
    let mut request = app.client.request(method.parse().unwrap(), app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, body_json(response).await, challenge)
}

#[tokio::test]
async fn requests_without_a_known_token_get_401_with_a_challenge() {
    let app = secured().await;
    for token in [None, Some("wrong-token"), Some("")] {
        let (status, body, challenge) = call(&app, "GET", "/api/jobs", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(body["error"], "unauthorized");
        assert!(challenge.unwrap().starts_with("Bearer"));
    }
    let (status, _, _) = call(
        &app,
        "POST",
        "/api/jobs",
        None,
        Some(json!({"type": "external"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.count_jobs_as("admin-token").await,
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn each_role_may_do_its_part_and_gets_403_for_the_rest() {
    let app = secured().await;
    // read: read only.
    assert_eq!(
        call(&app, "GET", "/api/jobs", Some("read-token"), None)
            .await
            .0,
        StatusCode::OK
    );
    let create = Some(json!({"type": "external"}));
    assert_eq!(
        call(
            &app,
            "POST",
            "/api/jobs",
            Some("read-token"),
            create.clone()
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    // submit: create, read, cancel; not worker calls.
    let (status, job, _) = call(
        &app,
        "POST",
        "/api/jobs",
        Some("submit-token"),
        create.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = job["id"].as_str().unwrap();
    let progress = Some(json!({"progress": 10}));
    let (status, body, _) = call(
        &app,
        "POST",
        &format!("/api/jobs/{id}/progress"),
        Some("submit-token"),
        progress.clone(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    // worker: claims and updates; cannot create or read the list.
    assert_eq!(
        call(
            &app,
            "POST",
            "/api/jobs",
            Some("worker-token"),
            create.clone()
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, "GET", "/api/jobs", Some("worker-token"), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, claimed, _) = call(
        &app,
        "POST",
        "/api/workers/claim",
        Some("worker-token"),
        Some(json!({"types": ["external"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    let lease = claimed["lease_id"].as_str().unwrap();
    let response = app
        .client
        .post(app.url(&format!("/api/jobs/{id}/progress")))
        .bearer_auth("worker-token")
        .header("Jobcast-Lease", lease)
        .json(&json!({"progress": 50}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // admin: everything.
    assert_eq!(
        call(
            &app,
            "POST",
            &format!("/api/jobs/{id}/cancel"),
            Some("admin-token"),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    // Public pages stay public.
    assert_eq!(
        call(&app, "GET", "/healthz", None, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.client.get(app.url("/")).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn open_mode_refuses_a_non_loopback_address_unless_insisted() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir.path().join("j.db"));
    config.listen = "0.0.0.0:0".parse().unwrap();
    let refused = jobcast::Application::build(config.clone())
        .await
        .err()
        .expect("refused");
    assert!(
        refused.to_string().contains("JOBCAST_AUTH_TOKENS"),
        "{refused}"
    );
    config.auth.insecure_open = true;
    assert!(jobcast::Application::build(config.clone()).await.is_ok());
    config.auth.insecure_open = false;
    config.auth.plain_tokens = jobcast::auth::parse_pairs("admin:admin-token").unwrap();
    assert!(
        jobcast::Application::build(config).await.is_ok(),
        "with tokens any address is fine"
    );
}

#[test]
fn tokens_from_the_environment_are_never_echoed_in_errors() {
    let err = jobcast::Config::default()
        .with_env(|key| (key == "JOBCAST_AUTH_TOKENS").then(|| "boss:supersecretvalue".to_owned()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("JOBCAST_AUTH_TOKENS"), "{err}");
    assert!(!err.contains("supersecretvalue"), "{err}");
    let config = jobcast::Config::default()
        .with_env(|key| (key == "JOBCAST_AUTH_TOKENS").then(|| "admin:supersecretvalue".to_owned()))
        .unwrap();
    assert!(!format!("{config:?}").contains("supersecretvalue"));
}

#[tokio::test]
async fn a_jobs_signed_stream_url_opens_that_stream_without_a_header_and_nothing_else() {
    let app = secured().await;
    let (_, a, _) = call(
        &app,
        "POST",
        "/api/jobs",
        Some("submit-token"),
        Some(json!({"type": "external"})),
    )
    .await;
    let (_, b, _) = call(
        &app,
        "POST",
        "/api/jobs",
        Some("submit-token"),
        Some(json!({"type": "external"})),
    )
    .await;
    let url_a = a["stream_url"].as_str().unwrap().to_owned();
    assert!(url_a.contains("?token="), "{url_a}");
    let response = app.client.get(app.url(&url_a)).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a signed URL needs no header"
    );
    let log = SseLog::read(response, std::time::Duration::from_millis(300)).await;
    assert_eq!(log.names(), ["progress"]);

    let token_a = url_a.split("token=").nth(1).unwrap();
    let b_with_a = format!(
        "/api/jobs/{}/stream?token={token_a}",
        b["id"].as_str().unwrap()
    );
    assert_eq!(
        call(&app, "GET", &b_with_a, None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let tampered = url_a.replace("token=", "token=9");
    let (status, body, _) = call(&app, "GET", &tampered, None, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let bare = format!("/api/jobs/{}/stream", a["id"].as_str().unwrap());
    assert_eq!(
        call(&app, "GET", &bare, None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let with_header = app
        .client
        .get(app.url(&bare))
        .bearer_auth("read-token")
        .send()
        .await
        .unwrap();
    assert_eq!(with_header.status(), StatusCode::OK);
}

/// A job's signed stream URL is for following the job: it keeps opening the stream however
/// long the job runs (an `EventSource` reconnects to the same URL after every cap), and stops
/// the TTL after the job ends, when a late reconnect has had its chance at the terminal event.
#[tokio::test]
async fn a_jobs_stream_url_outlives_the_ttl_while_the_job_runs_and_expires_the_ttl_after_its_end() {
    let ttl = std::time::Duration::from_secs(1);
    let app = spawn_app_with(|c| {
        c.auth.plain_tokens = jobcast::auth::parse_pairs(TOKENS).unwrap();
        c.auth.stream_token_ttl = ttl;
    })
    .await;
    let (_, job, _) = call(
        &app,
        "POST",
        "/api/jobs",
        Some("submit-token"),
        Some(json!({"type": "external"})),
    )
    .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let url = job["stream_url"].as_str().unwrap().to_owned();
    // Twice the TTL (and more than a whole second past it), the job still queued.
    tokio::time::sleep(ttl * 2 + std::time::Duration::from_millis(100)).await;
    let response = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the job is unfinished");
    drop(response);

    let (status, _, _) = call(
        &app,
        "POST",
        &format!("/api/jobs/{id}/complete"),
        Some("admin-token"),
        Some(json!({"result": {"ok": true}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let response = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "just ended: still opens");
    let log = SseLog::read(response, std::time::Duration::from_secs(5)).await;
    assert_eq!(log.names(), ["completed"]);

    tokio::time::sleep(ttl * 2 + std::time::Duration::from_millis(100)).await;
    let (status, body, _) = call(&app, "GET", &url, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "unauthorized");
    assert!(
        body["message"].as_str().unwrap().contains("ended"),
        "{body}"
    );
    // The job itself is still there for a caller with a token.
    let (status, job, _) = call(
        &app,
        "GET",
        &format!("/api/jobs/{id}"),
        Some("read-token"),
        None,
    )
    .await;
    assert_eq!(
        (status, job["status"].as_str()),
        (StatusCode::OK, Some("completed"))
    );
}

/// A token signed with another secret (another server's, or this one's before the secret was
/// rotated) opens nothing.
#[tokio::test]
async fn a_stream_token_signed_with_another_secret_is_refused() {
    let with_secret = |secret: &'static str| {
        move |c: &mut jobcast::Config| {
            c.auth.plain_tokens = jobcast::auth::parse_pairs(TOKENS).unwrap();
            c.auth.secret = Some(secret.to_owned());
        }
    };
    let before = spawn_app_with(with_secret("the-old-secret")).await;
    let after = spawn_app_with(with_secret("the-new-secret")).await;
    let (_, job, _) = call(
        &after,
        "POST",
        "/api/jobs",
        Some("submit-token"),
        Some(json!({"type": "external"})),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    let old = jobcast::auth::StreamSigner::new(
        b"the-old-secret".to_vec(),
        std::time::Duration::from_secs(60),
    );
    for token in [old.sign_job(id), old.sign(&jobcast::auth::job_scope(id))] {
        let (status, body, _) = call(
            &after,
            "GET",
            &format!("/api/jobs/{id}/stream?token={token}"),
            None,
            None,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized")),
            "{token}"
        );
    }
    let (_, signed, _) = call(
        &before,
        "GET",
        "/api/events/token",
        Some("read-token"),
        None,
    )
    .await;
    let (status, _, _) = call(&after, "GET", signed["url"].as_str().unwrap(), None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// An `/api/events` URL is signed for a time: the page asks for a fresh one when it runs out.
#[tokio::test]
async fn a_signed_events_url_expires_after_the_ttl() {
    let ttl = std::time::Duration::from_secs(1);
    let app = spawn_app_with(|c| {
        c.auth.plain_tokens = jobcast::auth::parse_pairs(TOKENS).unwrap();
        c.auth.stream_token_ttl = ttl;
    })
    .await;
    let (_, signed, _) = call(&app, "GET", "/api/events/token", Some("read-token"), None).await;
    let url = signed["url"].as_str().unwrap().to_owned();
    let response = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    tokio::time::sleep(ttl * 2 + std::time::Duration::from_millis(100)).await;
    let (status, body, _) = call(&app, "GET", &url, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn a_signed_events_url_opens_its_filter_only() {
    let app = secured().await;
    let (status, signed, _) = call(
        &app,
        "GET",
        "/api/events/token?type=external",
        Some("read-token"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let url = signed["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/api/events?type=external&token="), "{url}");
    let response = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    let widened = url.replace("type=external", "type=demo");
    assert_eq!(
        call(&app, "GET", &widened, None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "GET", "/api/events/token", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let secret = app.db_path.parent().unwrap().join("secret");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&secret).unwrap().permissions());
    assert_eq!(
        mode & 0o777,
        0o600,
        "the generated secret is readable by its owner only"
    );
}
