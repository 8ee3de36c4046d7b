//! CORS: preflight answers on every route, the allowed origins (the local-dev default, a
//! configured list, `*`), `Vary: Origin`, and the stream used cross-origin.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

const DEV: &str = "http://localhost:5173";

/// Sends `OPTIONS path` as a browser's preflight from `origin` asking for `method`.
async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header(
            "Access-Control-Request-Headers",
            "content-type, authorization, last-event-id",
        )
        .send()
        .await
        .unwrap()
}

/// Sends `GET path` with an `Origin`.
async fn get_from(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header("Origin", origin)
        .send()
        .await
        .unwrap()
}

/// A header's value, or "" when absent.
fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Whether a comma-separated header lists `item` (case-insensitive), across repeated headers.
fn lists(headers: &HeaderMap, name: &str, item: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case(item))
}

fn allow_origin(headers: &HeaderMap) -> Option<String> {
    headers
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_preflight_from_a_local_dev_server_is_answered_on_every_route() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let routes = [
        ("/api/jobs".to_owned(), "POST"),
        ("/api/jobs".to_owned(), "GET"),
        (format!("/api/jobs/{id}"), "GET"),
        (format!("/api/jobs/{id}/stream"), "GET"),
        (format!("/api/jobs/{id}/cancel"), "POST"),
        (format!("/api/jobs/{id}/progress"), "POST"),
        (format!("/api/jobs/{id}/logs"), "POST"),
        (format!("/api/jobs/{id}/complete"), "POST"),
        (format!("/api/jobs/{id}/fail"), "POST"),
        ("/healthz".to_owned(), "GET"),
    ];
    for (path, method) in routes {
        let response = preflight(&app, &path, DEV, method).await;
        let what = format!("OPTIONS {path} ({method})");
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{what}");
        let headers = response.headers();
        assert_eq!(allow_origin(headers).as_deref(), Some(DEV), "{what}");
        assert!(
            lists(headers, "access-control-allow-methods", method),
            "{what}: Allow-Methods {:?}",
            header(headers, "access-control-allow-methods")
        );
        for wanted in ["Content-Type", "Authorization", "Last-Event-ID"] {
            assert!(
                lists(headers, "access-control-allow-headers", wanted),
                "{what}: Allow-Headers {:?} lacks {wanted}",
                header(headers, "access-control-allow-headers")
            );
        }
        assert!(lists(headers, "vary", "Origin"), "{what}: no Vary: Origin");
    }
    // A preflight changes nothing.
    assert_eq!(app.job(&id).await["status"], "queued");
    assert_eq!(app.count_jobs().await, 1);
}

#[tokio::test]
async fn requests_from_an_allowed_origin_get_it_echoed_and_vary_origin() {
    let app = spawn_app().await;
    for origin in [DEV, "http://127.0.0.1:3000", "http://localhost:8080"] {
        let response = app
            .client
            .post(app.url("/api/jobs"))
            .header("Origin", origin)
            .json(&json!({"type": "external"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(
            allow_origin(response.headers()).as_deref(),
            Some(origin),
            "POST from {origin}"
        );
        assert!(lists(response.headers(), "vary", "Origin"));

        let response = get_from(&app, "/api/jobs", origin).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(allow_origin(response.headers()).as_deref(), Some(origin));
        assert!(lists(response.headers(), "vary", "Origin"));
    }
    // Errors carry the headers too, so the page can read them.
    let response = get_from(&app, "/api/jobs/not-a-uuid", DEV).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(allow_origin(response.headers()).as_deref(), Some(DEV));
    assert!(lists(response.headers(), "vary", "Origin"));
}

#[tokio::test]
async fn vary_origin_is_set_even_without_an_origin() {
    let app = spawn_app().await;
    for path in ["/api/jobs", "/healthz", "/api/nope"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert!(
            lists(response.headers(), "vary", "Origin"),
            "GET {path}: no Vary: Origin"
        );
        assert_eq!(allow_origin(response.headers()), None, "GET {path}");
    }
}

#[tokio::test]
async fn other_origins_get_no_allow_origin_by_default() {
    let app = spawn_app().await;
    for origin in [
        "http://evil.example",
        "https://localhost:5173",
        "http://localhost.evil.example",
        "http://localhost.evil.example:5173",
        "http://127.0.0.2:5173",
        "null",
    ] {
        let response = preflight(&app, "/api/jobs", origin, "POST").await;
        assert!(response.status().is_success() || response.status().is_client_error());
        assert_eq!(
            allow_origin(response.headers()),
            None,
            "preflight from {origin}"
        );
        assert_eq!(
            header(response.headers(), "access-control-allow-methods"),
            "",
            "preflight from {origin}"
        );
        assert!(lists(response.headers(), "vary", "Origin"));

        let response = get_from(&app, "/api/jobs", origin).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(allow_origin(response.headers()), None, "GET from {origin}");
        assert!(lists(response.headers(), "vary", "Origin"));
    }
}

#[tokio::test]
async fn a_configured_origin_list_allows_only_those_origins() {
    let app =
        spawn_app_with(|c| c.http.cors_allowed_origins = vec!["https://app.example".into()]).await;
    let response = preflight(&app, "/api/jobs", "https://app.example", "POST").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        allow_origin(response.headers()).as_deref(),
        Some("https://app.example")
    );
    let response = get_from(&app, "/api/jobs", "https://app.example").await;
    assert_eq!(
        allow_origin(response.headers()).as_deref(),
        Some("https://app.example")
    );

    for origin in [
        DEV,
        "http://127.0.0.1:3000",
        "http://app.example",
        "https://app.example:8443",
        "https://evil.example",
    ] {
        let response = preflight(&app, "/api/jobs", origin, "POST").await;
        assert_eq!(
            allow_origin(response.headers()),
            None,
            "preflight from {origin}"
        );
        let response = get_from(&app, "/api/jobs", origin).await;
        assert_eq!(allow_origin(response.headers()), None, "GET from {origin}");
        assert!(lists(response.headers(), "vary", "Origin"));
    }
}

#[tokio::test]
async fn a_star_config_answers_star_to_any_origin() {
    let app = spawn_app_with(|c| c.http.cors_allowed_origins = vec!["*".into()]).await;
    for origin in ["https://anything.example", DEV] {
        let response = preflight(&app, "/api/jobs", origin, "POST").await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(allow_origin(response.headers()).as_deref(), Some("*"));
        assert!(lists(
            response.headers(),
            "access-control-allow-headers",
            "Last-Event-ID"
        ));
        let response = get_from(&app, "/api/jobs", origin).await;
        assert_eq!(allow_origin(response.headers()).as_deref(), Some("*"));
    }
}

#[tokio::test]
async fn the_stream_works_cross_origin() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    let path = format!("/api/jobs/{id}/stream");

    let response = preflight(&app, &path, DEV, "GET").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(allow_origin(response.headers()).as_deref(), Some(DEV));

    let response = app
        .client
        .get(app.url(&path))
        .header("Origin", DEV)
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(response.headers(), "content-type").starts_with("text/event-stream"));
    assert_eq!(allow_origin(response.headers()).as_deref(), Some(DEV));
    assert!(lists(response.headers(), "vary", "Origin"));
    // The body is a stream of events like any other client's.
    let log = SseLog::read(response, MAX_DURATION * 3).await;
    assert_eq!(log.names().first().copied(), Some("progress"), "{log:?}");
}

#[tokio::test]
async fn a_preflight_on_an_unknown_path_is_404() {
    let app = spawn_app().await;
    for path in ["/api/nope", "/api/jobs/x/explode", "/wp-admin"] {
        let response = preflight(&app, path, DEV, "GET").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "OPTIONS {path}");
        let body = body_json(response).await;
        assert_eq!(body["error"], "not_found", "OPTIONS {path}: {body}");
    }
}
