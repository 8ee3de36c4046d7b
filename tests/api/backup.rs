//! `jobcast backup FILE`: the real binary copies the database of a running server under write
//! load; the copy is complete, consistent and something jobcast starts on. It never
//! overwrites a file.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Row;

use crate::helpers::{skip_on_postgres, spawn_app_with, start, test_config};
use crate::retention::{jobcast, scalar, side_connection};

/// A job whose create was answered, and when the request was sent and answered.
struct Answered {
    id: String,
    sent: Instant,
    at: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_is_consistent_and_holds_every_job_answered_before_it_began() {
    if skip_on_postgres("jobcast backup copies SQLite files; PostgreSQL is backed up with pg_dump")
    {
        return;
    }
    let app = spawn_app_with(|config| {
        config.limits.create_rate = 1e9;
        config.limits.create_burst = 1_000_000;
        config.limits.max_queued_per_type = 10_000_000;
    })
    .await;
    // Some bulk, so the copy takes long enough for writes to happen during it: a finished
    // job with 200 000 log lines of 200 bytes (about 50 MB).
    let mut conn = side_connection(&app.db_path).await;
    let bulky = app.create_external().await;
    sqlx::query(
        "WITH RECURSIVE n(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM n WHERE seq < 200000) \
         INSERT INTO job_logs (job_id, seq, version, ts, level, message) \
         SELECT ?1, seq, seq, 0, 'info', printf('%.200c', 'x') FROM n",
    )
    .bind(&bulky)
    .execute(&mut conn)
    .await
    .unwrap();

    // Writers creating jobs through the API until told to stop.
    let answered: Arc<Mutex<Vec<Answered>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url("/api/jobs"));
            let (answered, stop) = (answered.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let response = client
                        .post(&url)
                        .json(&json!({"type": "external"}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::CREATED);
                    let job: Value = response.json().await.unwrap();
                    let id = job["id"].as_str().unwrap().to_owned();
                    let at = Instant::now();
                    answered.lock().unwrap().push(Answered { id, sent, at });
                }
            })
        })
        .collect();
    while answered.lock().unwrap().len() < 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("copy.db");
    let before: Vec<String> = answered
        .lock()
        .unwrap()
        .iter()
        .map(|a| a.id.clone())
        .collect();
    let began = Instant::now();
    let output = jobcast(app.dir.path(), &sqlite_url(&app.db_path))
        .arg("backup")
        .arg(&copy)
        .output()
        .await
        .unwrap();
    let ended = Instant::now();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(output.status.success(), "{output:?}");

    // Writes went on while the copy was made: the copy is a read, the writer never waits
    // for it.
    let (during, slowest) = {
        let answered = answered.lock().unwrap();
        let during: Vec<&Answered> = answered
            .iter()
            .filter(|a| a.sent >= began && a.at <= ended)
            .collect();
        let slowest = answered
            .iter()
            .filter(|a| a.at >= began && a.sent <= ended)
            .map(|a| a.at - a.sent)
            .max()
            .unwrap_or_default();
        (during.len(), slowest)
    };
    eprintln!(
        "backup took {:?}; {during} creates were sent and answered meanwhile, the slowest \
         overlapping one took {slowest:?}",
        ended - began
    );
    assert!(during > 0, "no create was answered while the backup ran");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let size = std::fs::metadata(&copy).unwrap().len();
    assert!(
        stdout.contains("copy.db") && stdout.contains(&format!("{size} bytes")),
        "{stdout}"
    );

    let mut copied = side_connection(&copy).await;
    let check: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut copied)
        .await
        .unwrap()
        .get(0);
    assert_eq!(check, "ok");
    for id in before.iter().chain([&bulky]) {
        let rows: i64 = sqlx::query("SELECT COUNT(*) FROM jobs WHERE id = ?1")
            .bind(id)
            .fetch_one(&mut copied)
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            rows, 1,
            "job {id}, answered before the backup began, is missing"
        );
    }
    assert_eq!(
        scalar(&mut copied, "SELECT COUNT(*) FROM job_logs").await,
        200_000
    );
    drop(copied);

    // jobcast starts on the copy and serves what it holds.
    let restored = start(test_config(&copy), copy_dir, copy.clone()).await;
    assert_eq!(restored.job(&before[0]).await["status"], "queued");
    assert!(restored.count_jobs().await > before.len());
    restored.stop().await;
}

#[tokio::test]
async fn backup_refuses_to_overwrite_a_file_or_to_invent_a_database() {
    if skip_on_postgres("jobcast backup copies SQLite files; PostgreSQL is backed up with pg_dump")
    {
        return;
    }
    let app = spawn_app_with(|_| {}).await;
    let taken = app.dir.path().join("taken.db");
    std::fs::write(&taken, "precious").unwrap();
    let output = jobcast(app.dir.path(), &sqlite_url(&app.db_path))
        .arg("backup")
        .arg(&taken)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("already exists") && stderr.contains("taken.db"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "precious");

    // No database there: an error, and none is created.
    let missing = app.dir.path().join("missing.db");
    let output = jobcast(app.dir.path(), &sqlite_url(&missing))
        .arg("backup")
        .arg(app.dir.path().join("copy.db"))
        .output()
        .await
        .unwrap();
    assert!(!output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no database"),
        "{output:?}"
    );
    assert!(!missing.exists());
    assert!(!app.dir.path().join("copy.db").exists());
}

fn sqlite_url(db: &std::path::Path) -> String {
    format!("sqlite://{}", db.display())
}

#[tokio::test]
async fn backup_of_a_postgres_database_says_to_use_pg_dump_and_writes_nothing() {
    // Refused before any connection is made, so no server is needed at that address.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let output = jobcast(dir.path(), "postgres://jobcast:s3cret@127.0.0.1:1/jobcast")
        .arg("backup")
        .arg(&copy)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(!copy.exists());
}
