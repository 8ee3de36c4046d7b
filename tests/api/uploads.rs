//! `POST /api/uploads`: files for jobs, streamed to disk; jobs that name them; cleanup.

use std::time::{Duration, Instant};

use jobcast::config::JobTypeConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::helpers::*;

async fn upload_raw(app: &TestApp, bytes: Vec<u8>, content_type: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/api/uploads"))
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, body_json(response).await)
}

/// Files in the uploads folder of a test server (next to its database).
fn files_in_uploads(app: &TestApp) -> Vec<String> {
    let dir = app.db_path.parent().unwrap().join("uploads");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_raw_upload_is_stored_with_its_size_hash_and_content_type() {
    let app = spawn_app().await;
    let bytes = b"{\"a\": 1}\n{\"b\": 2}\n".to_vec();
    let (status, upload) = upload_raw(&app, bytes.clone(), "application/x-ndjson").await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");
    assert_eq!(upload["size"], bytes.len());
    assert_eq!(upload["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(upload["content_type"], "application/x-ndjson");
    let id = upload["upload_id"].as_str().unwrap();
    assert_eq!(files_in_uploads(&app), [id]);
}

#[tokio::test]
async fn a_file_from_a_multipart_form_is_stored_with_its_name_and_type() {
    let app = spawn_app().await;
    let part = reqwest::multipart::Part::bytes(b"line one\nline two\n".to_vec())
        .file_name("traces.jsonl")
        .mime_str("application/jsonl")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("note", "hello")
        .part("file", part);
    let response = app
        .client
        .post(app.url("/api/uploads"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let upload = body_json(response).await;
    assert_eq!(
        (upload["size"].as_u64(), upload["filename"].as_str()),
        (Some(18), Some("traces.jsonl"))
    );
    assert_eq!(upload["content_type"], "application/jsonl");
}

#[tokio::test]
async fn an_upload_over_the_limit_gets_413_and_leaves_no_file() {
    let app = spawn_app_with(|c| c.uploads.max_bytes = 1000).await;
    let (status, body) = upload_raw(&app, vec![b'x'; 1001], "text/plain").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // Without a Content-Length the limit is found while streaming.
    let chunks =
        futures_util::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 500])));
    let response = app
        .client
        .post(app.url("/api/uploads"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        files_in_uploads(&app).is_empty(),
        "{:?}",
        files_in_uploads(&app)
    );
}

#[tokio::test]
async fn an_interrupted_upload_leaves_no_partial_file() {
    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head =
        format!("POST /api/uploads HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000000\r\n\r\n");
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&[b'z'; 20_000]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        files_in_uploads(&app).len(),
        1,
        "the partial file exists while receiving"
    );
    drop(socket);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !files_in_uploads(&app).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left behind: {:?}",
            files_in_uploads(&app)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_job_naming_a_missing_or_malformed_upload_is_refused_with_422() {
    let app = spawn_app().await;
    for upload_id in [
        json!("0190b6c8-0000-7000-8000-000000000000"),
        json!("../etc/passwd"),
        json!(5),
    ] {
        let (status, body) = app
            .post_json(
                "/api/jobs",
                &json!({"type": "external", "payload": {"upload_id": upload_id}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], "payload.upload_id");
    }
    assert_eq!(app.count_jobs().await, 0);
}

#[tokio::test]
async fn the_import_command_imports_an_uploaded_sample() {
    let mut job_type = JobTypeConfig::command("python3", &["examples/import_traces.py"]);
    job_type.max_attempts = 1;
    let app = spawn_app_with(move |c| {
        c.stream.max_duration = Duration::from_secs(20);
        c.job_types.insert("import-traces".into(), job_type);
    })
    .await;
    let sample = std::fs::read("examples/data/traces-1000.jsonl").unwrap();
    let (_, upload) = upload_raw(&app, sample, "application/x-ndjson").await;
    let upload_id = upload["upload_id"].as_str().unwrap();
    let job = app
        .create(json!({"type": "import-traces", "payload": {"upload_id": upload_id}}))
        .await;
    let id = job["id"].as_str().unwrap();
    let job = app
        .wait_for_status(id, &["completed", "failed"], Duration::from_secs(20))
        .await;
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string("examples/data/traces-1000.expected.json").unwrap(),
    )
    .unwrap();
    assert_eq!(job["result"], expected, "{job}");
}

#[tokio::test]
async fn uploads_no_job_refers_to_are_removed_after_a_while_and_used_ones_stay() {
    let app = spawn_app_with(|c| c.uploads.keep_unused = Duration::from_millis(300)).await;
    let (_, unused) = upload_raw(&app, b"unused".to_vec(), "text/plain").await;
    let (_, used) = upload_raw(&app, b"used".to_vec(), "text/plain").await;
    let used = used["upload_id"].as_str().unwrap().to_owned();
    app.create(json!({"type": "external", "payload": {"upload_id": used}}))
        .await;
    let unused = unused["upload_id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    while files_in_uploads(&app).contains(&unused) {
        assert!(
            Instant::now() < deadline,
            "the unused upload was never removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(files_in_uploads(&app), [used]);
}

#[tokio::test]
async fn a_split_import_of_an_upload_counts_what_a_single_job_import_counts() {
    let work = tempfile::tempdir().unwrap();
    let work_dir = work.path().to_str().unwrap().to_owned();
    let command = |split_above: &str| {
        let mut job_type = JobTypeConfig::command("python3", &["examples/import_traces.py"]);
        job_type.max_attempts = 1;
        job_type
            .env
            .insert("IMPORT_SPLIT_ABOVE".into(), split_above.into());
        job_type
            .env
            .insert("IMPORT_CHUNK_LINES".into(), "100".into());
        job_type
            .env
            .insert("IMPORT_WORK_DIR".into(), work_dir.clone());
        job_type
    };
    let (parent, part) = (command("1000"), command("0"));
    let app = spawn_app_with(move |c| {
        c.runner.workers = 4;
        c.job_types.insert("import-traces".into(), parent);
        c.job_types.insert("import-traces-part".into(), part);
    })
    .await;
    let sample = std::fs::read("examples/data/traces-1000.jsonl").unwrap();
    let (_, upload) = upload_raw(&app, sample, "application/x-ndjson").await;
    let upload_id = upload["upload_id"].as_str().unwrap();
    let job = app
        .create(json!({"type": "import-traces", "payload": {"upload_id": upload_id}}))
        .await;
    let id = job["id"].as_str().unwrap();
    let job = app
        .wait_for_status(id, &["completed", "failed"], Duration::from_secs(60))
        .await;
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string("examples/data/traces-1000.expected.json").unwrap(),
    )
    .unwrap();
    assert_eq!(job["result"], expected, "{job}");
    // 1025 lines in chunks of 100: 11 parts, each its own completed job.
    assert_eq!(job["children"], 11, "{job}");
    let (_, page) = app.get(&format!("/api/jobs/{id}/children?limit=100")).await;
    let parts = page["children"].as_array().unwrap();
    assert_eq!(parts.len(), 11);
    assert!(parts.iter().all(|p| p["status"] == "completed"), "{page}");
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "the parts' work files are gone"
    );
}
