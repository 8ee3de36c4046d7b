//! `GET /api/jobs?q=TEXT`: the job list's text search (an id by prefix, the idempotency key and
//! the error by part, ignoring case), with the status and type filters and cursor paging; a
//! `q` too long or with control characters is refused.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// The ids of a page, and its `next_cursor`.
async fn page(app: &TestApp, query: &str) -> (Vec<String>, Option<String>) {
    let (status, body) = app.get(&format!("/api/jobs?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    let ids = body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, body["next_cursor"].as_str().map(str::to_owned))
}

async fn ids(app: &TestApp, query: &str) -> Vec<String> {
    page(app, query).await.0
}

async fn keyed(app: &TestApp, key: &str) -> String {
    let job = app
        .create(json!({"type": "external", "idempotency_key": key}))
        .await;
    job["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn q_finds_jobs_by_id_prefix_key_and_error_with_the_other_filters_and_paging() {
    let app = spawn_app().await;
    let invoice = keyed(&app, "Invoice-2024-0042").await;
    let percent = keyed(&app, "discount_100%_off").await;
    let broken = app.create_external().await;
    let (status, body) = app
        .post_json(
            &format!("/api/jobs/{broken}/fail"),
            &json!({"error": "Connection REFUSED by db-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    assert_eq!(ids(&app, "q=invoice-2024").await, [invoice.as_str()]);
    assert_eq!(
        ids(&app, &format!("q={}", &invoice[..30])).await,
        [invoice.as_str()]
    );
    assert_eq!(ids(&app, &format!("q={invoice}")).await, [invoice.as_str()]);
    assert_eq!(ids(&app, "q=refused%20by").await, [broken.as_str()]);
    // Wildcards are text (`%25` is `%`, `_` stays `_`).
    assert_eq!(ids(&app, "q=100%25").await, [percent.as_str()]);
    assert_eq!(ids(&app, "q=_").await, [percent.as_str()]);
    assert_eq!(ids(&app, "q=Invoice%252024").await, Vec::<String>::new());
    // Empty or blank: no filter.
    assert_eq!(ids(&app, "q=").await.len(), 3);
    assert_eq!(ids(&app, "q=%20%20").await.len(), 3);
    // With status and type.
    assert_eq!(ids(&app, "q=db-1&status=failed").await, [broken.as_str()]);
    assert_eq!(
        ids(&app, "q=db-1&status=queued").await,
        Vec::<String>::new()
    );
    assert_eq!(ids(&app, "q=db-1&type=demo").await, Vec::<String>::new());

    // Paging through the matches, newest first, none skipped or repeated.
    let mut batch = Vec::new();
    for n in 0..5 {
        batch.push(keyed(&app, &format!("batch-{n}")).await);
    }
    batch.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("q=BATCH&limit=2&cursor={c}"),
            None => "q=BATCH&limit=2".to_owned(),
        };
        let (ids, next) = page(&app, &query).await;
        assert!(ids.len() <= 2);
        seen.extend(ids);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, batch);
}

#[tokio::test]
async fn a_q_too_long_or_with_control_characters_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    app.create_external().await;
    let just_right = "é".repeat(200);
    let (status, body) = app.get(&format!("/api/jobs?q={just_right}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for q in [
        "a".repeat(201),
        "é".repeat(201),
        "x".repeat(20_000),
        "a%00b".to_owned(),
        "line%0Abreak".to_owned(),
    ] {
        let response = app
            .client
            .get(app.url(&format!("/api/jobs?q={q}")))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(
            status.is_client_error(),
            "{}: {status} {text}",
            &q[..10.min(q.len())]
        );
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body["error"], "invalid_field", "{body}");
            assert_eq!(body["field"], "q", "{body}");
            assert!(body["message"].is_string(), "{body}");
        }
    }
    assert_eq!(app.count_jobs().await, 1, "nothing changed");
    // Each refused below the request size limits answers 422 naming the field.
    for q in ["a".repeat(201), "a%00b".to_owned()] {
        let (status, body) = app.get(&format!("/api/jobs?q={q}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], "q");
    }
}
