//! The dashboard and the browser client are served by jobcast itself; the API bits they use.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

async fn fetch(app: &TestApp, path: &str) -> (StatusCode, String, String) {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn the_dashboard_and_the_client_module_are_served_from_the_binary() {
    let app = spawn_app().await;
    let (status, content_type, page) = fetch(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"));
    assert!(
        page.contains("<script type=\"module\" src=\"/dashboard.js\">"),
        "{page}"
    );
    for (path, kind, needle) in [
        (
            "/dashboard.js",
            "text/javascript",
            "import { createJob, streamJob } from \"/jobcast.js\"",
        ),
        ("/dashboard.css", "text/css", "progress"),
        (
            "/jobcast.js",
            "text/javascript",
            "export function streamJob",
        ),
        (
            "/jobcast.d.ts",
            "application/typescript",
            "export declare function createJob",
        ),
    ] {
        let (status, content_type, body) = fetch(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        assert!(body.contains(needle), "{path}");
    }
    let (status, _, _) = fetch(&app, "/nothing.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_declared_types_are_listed_for_forms() {
    let app = spawn_app().await;
    let (status, types) = app.get("/api/types").await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<(String, String)> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(kinds.contains(&("demo".into(), "demo".into())), "{kinds:?}");
    assert!(
        kinds.contains(&("external".into(), "external".into())),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_stream_resumes_from_a_last_event_id_given_in_the_query() {
    let app = spawn_app().await;
    let id = app.create_external().await;
    app.post_json(
        &format!("/api/jobs/{id}/logs"),
        &json!({"message": "before"}),
    )
    .await;
    let version = app.job(&id).await["version"].as_i64().unwrap();
    app.post_json(
        &format!("/api/jobs/{id}/logs"),
        &json!({"message": "after"}),
    )
    .await;
    app.post_json(&format!("/api/jobs/{id}/complete"), &json!({}))
        .await;
    let response = app
        .client
        .get(app.url(&format!("/api/jobs/{id}/stream?last_event_id={version}")))
        .send()
        .await
        .unwrap();
    let log = SseLog::read(response, Duration::from_secs(5)).await;
    let lines: Vec<Value> = log
        .events()
        .iter()
        .filter(|e| e.name() == Some("log"))
        .map(|e| e.data())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "after");
    assert_eq!(log.last_event().name(), Some("completed"));
}

#[tokio::test]
async fn the_dashboards_files_carry_strong_etags_and_answer_304_to_a_matching_if_none_match() {
    let app = spawn_app().await;
    let mut tags = std::collections::HashSet::new();
    for path in [
        "/",
        "/dashboard.js",
        "/dashboard.css",
        "/jobcast.js",
        "/jobcast.d.ts",
    ] {
        let first = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(first.status(), StatusCode::OK, "{path}");
        assert_eq!(first.headers()["cache-control"], "no-cache", "{path}");
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"),
            "{path}: a strong tag, not {etag}"
        );
        let bytes = first.bytes().await.unwrap();
        assert!(!bytes.is_empty(), "{path}");
        tags.insert(etag.clone());

        // The same tag on the next request, and 304 without a body when it is sent back.
        let again = app
            .client
            .get(app.url(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag, "{path}");
        assert_eq!(again.headers()["cache-control"], "no-cache", "{path}");
        assert!(again.bytes().await.unwrap().is_empty(), "{path}");

        // In a list, or weak, it still matches; another tag does not.
        for (sent, expected) in [
            (format!("\"other\", {etag}"), StatusCode::NOT_MODIFIED),
            (format!("W/{etag}"), StatusCode::NOT_MODIFIED),
            ("\"other\"".to_owned(), StatusCode::OK),
            (etag.trim_matches('"').to_owned(), StatusCode::OK),
        ] {
            let response = app
                .client
                .get(app.url(path))
                .header("if-none-match", &sent)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), expected, "{path} with {sent}");
            if expected == StatusCode::OK {
                assert_eq!(response.bytes().await.unwrap(), bytes, "{path} with {sent}");
            }
        }
    }
    assert_eq!(tags.len(), 5, "each file has its own tag: {tags:?}");
}
