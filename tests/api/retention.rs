//! Retention: the background task prunes old finished jobs and their log lines (never queued or
//! running ones, honouring per-type ages), the file gives the space back, and `jobcast prune`
//! does the same by hand, beside a running server.
//!
//! Jobs are made old by moving their `finished_at` back with a direct UPDATE on the test's
//! database (file); the task runs every 50 ms, and tests wait for what it does, with a deadline.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use jobcast::config::{JobKind, JobTypeConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, Row, SqliteConnection};

use crate::helpers::{database_url, skip_on_postgres, spawn_app_with, TestApp};

const DAY_MS: i64 = 24 * 3600 * 1000;
const HOUR_MS: i64 = 3600 * 1000;

/// A second connection to the test's database file, as another process would have.
pub async fn side_connection(db: &Path) -> SqliteConnection {
    SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))
        .unwrap()
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap()
}

pub async fn scalar(conn: &mut SqliteConnection, sql: &str) -> i64 {
    sqlx::query(sql).fetch_one(&mut *conn).await.unwrap().get(0)
}

/// Pretends the job finished `age_ms` ago.
pub async fn backdate(conn: &mut SqliteConnection, id: &str, age_ms: i64) {
    let done = sqlx::query("UPDATE jobs SET finished_at = ?1 WHERE id = ?2")
        .bind(now_ms() - age_ms)
        .bind(id)
        .execute(&mut *conn)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A second connection to the test's database, whichever backend it is on, for the few
/// statements these tests need (written with `$1`-style parameters, which both take).
pub enum SideConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl SideConnection {
    pub async fn open(db: &Path) -> SideConnection {
        let url = database_url(db);
        if url.starts_with("sqlite:") {
            SideConnection::Sqlite(side_connection(db).await)
        } else {
            SideConnection::Postgres(PgConnection::connect(&url).await.unwrap())
        }
    }

    /// Runs `sql` with text parameters; the rows it changed.
    pub async fn execute(&mut self, sql: &str, args: &[&str]) -> u64 {
        macro_rules! run {
            ($conn:expr) => {{
                let mut query = sqlx::query(sql);
                for arg in args {
                    query = query.bind(*arg);
                }
                query.execute($conn).await.unwrap().rows_affected()
            }};
        }
        match self {
            SideConnection::Sqlite(conn) => run!(conn),
            SideConnection::Postgres(conn) => run!(conn),
        }
    }

    /// `SELECT COUNT(*) ... $1` with `arg`.
    pub async fn count(&mut self, sql: &str, arg: &str) -> i64 {
        match self {
            SideConnection::Sqlite(conn) => sqlx::query(sql)
                .bind(arg)
                .fetch_one(conn)
                .await
                .unwrap()
                .get(0),
            SideConnection::Postgres(conn) => sqlx::query(sql)
                .bind(arg)
                .fetch_one(conn)
                .await
                .unwrap()
                .get(0),
        }
    }

    /// Pretends the job finished `age_ms` ago.
    pub async fn backdate(&mut self, id: &str, age_ms: i64) {
        let at = (now_ms() - age_ms).to_string();
        let sql = match self {
            SideConnection::Sqlite(_) => {
                "UPDATE jobs SET finished_at = CAST($1 AS INTEGER) WHERE id = $2"
            }
            SideConnection::Postgres(_) => {
                "UPDATE jobs SET finished_at = CAST($1 AS BIGINT) WHERE id = $2"
            }
        };
        assert_eq!(self.execute(sql, &[&at, id]).await, 1);
    }
}

/// The real binary, on the database `url`, from a folder without a config file.
pub fn jobcast(cwd: &Path, url: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_jobcast"));
    command
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("JOBCAST_LOG_FORMAT")
        .env("JOBCAST_DATABASE_URL", url)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// An `external` job finished with `end` ("complete", "fail" or "cancel") after `lines` log
/// lines.
async fn finished_job(app: &TestApp, job_type: &str, lines: usize, end: &str) -> String {
    let job = app.create(json!({"type": job_type})).await;
    let id = job["id"].as_str().unwrap().to_owned();
    for n in 0..lines {
        let (status, _) = app
            .post_json(
                &format!("/api/jobs/{id}/logs"),
                &json!({"message": format!("line {n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let body = match end {
        "fail" => json!({"error": "broke"}),
        _ => json!({}),
    };
    let (status, job) = app.post_json(&format!("/api/jobs/{id}/{end}"), &body).await;
    assert_eq!(status, StatusCode::OK, "{end}: {job}");
    id
}

async fn status_of(app: &TestApp, id: &str) -> StatusCode {
    app.get(&format!("/api/jobs/{id}")).await.0
}

/// Waits until every job in `ids` is gone from the API.
#[track_caller]
fn wait_until_gone<'a>(
    app: &'a TestApp,
    ids: &'a [&'a str],
    within: Duration,
) -> impl std::future::Future<Output = ()> + 'a {
    let caller = std::panic::Location::caller();
    async move {
        let deadline = Instant::now() + within;
        for id in ids {
            while status_of(app, id).await != StatusCode::NOT_FOUND {
                if Instant::now() > deadline {
                    let job = app.job(id).await;
                    panic!("{caller}: job {id} was not pruned within {within:?}: {job}");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

fn fast_retention(config: &mut jobcast::Config) {
    config.retention.interval = Duration::from_millis(50);
    config.retention.batch = 3;
    config.job_types.insert(
        "short".to_owned(),
        JobTypeConfig {
            retention: Some(Duration::from_secs(3600)),
            ..JobTypeConfig::new(JobKind::External)
        },
    );
}

#[tokio::test]
async fn retention_prunes_old_finished_jobs_and_their_logs_and_keeps_queued_running_and_recent_ones(
) {
    let app = spawn_app_with(|config| {
        fast_retention(config);
        config.uploads.keep_unused = Duration::from_secs(1);
    })
    .await;
    let mut conn = SideConnection::open(&app.db_path).await;

    let old_completed = finished_job(&app, "external", 7, "complete").await;
    let old_failed = finished_job(&app, "external", 2, "fail").await;
    let old_cancelled = finished_job(&app, "external", 0, "cancel").await;
    let recent = finished_job(&app, "external", 2, "complete").await;
    let short_lived = finished_job(&app, "short", 2, "complete").await;
    // An old job that worked on an upload: once it is gone the upload is unused and swept.
    let (status, upload) = app.post_raw("/api/uploads", "{}\n").await;
    assert_eq!(status, StatusCode::CREATED);
    let upload_id = upload["upload_id"].as_str().unwrap().to_owned();
    let with_upload = app
        .create(json!({"type": "external", "payload": {"upload_id": upload_id}}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app
        .post_json(&format!("/api/jobs/{with_upload}/complete"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let queued = app.create_external().await;
    let running = app.create_external().await;
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{running}/logs"),
            &json!({"message": "still going"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Past the default week.
    for id in [&old_completed, &old_failed, &old_cancelled, &with_upload] {
        conn.backdate(id, 8 * DAY_MS).await;
    }
    // Past the type's own hour, within the default week.
    conn.backdate(&short_lived, 2 * HOUR_MS).await;
    conn.backdate(&recent, 2 * HOUR_MS).await;
    // Queued and running jobs are never pruned, however old.
    conn.execute(
        "UPDATE jobs SET created_at = 0, run_at = 0, updated_at = 0 WHERE id IN ($1, $2)",
        &[&queued, &running],
    )
    .await;

    let pruned = [
        old_completed.as_str(),
        &old_failed,
        &old_cancelled,
        &short_lived,
        &with_upload,
    ];
    wait_until_gone(&app, &pruned, Duration::from_secs(10)).await;

    for id in &pruned {
        let lines = conn
            .count("SELECT COUNT(*) FROM job_logs WHERE job_id = $1", id)
            .await;
        assert_eq!(lines, 0, "log lines of {id} remain");
    }
    assert_eq!(app.job(&recent).await["status"], "completed");
    assert_eq!(app.job(&queued).await["status"], "queued");
    assert_eq!(app.job(&running).await["status"], "running");
    let (_, logs) = app.get(&format!("/api/jobs/{recent}/logs")).await;
    assert_eq!(logs["logs"].as_array().unwrap().len(), 2);
    let (_, logs) = app.get(&format!("/api/jobs/{running}/logs")).await;
    assert_eq!(logs["logs"].as_array().unwrap().len(), 1);

    // The upload sweeper removes the upload its pruned job left behind.
    let upload_file = app.db_path.with_file_name("uploads").join(&upload_id);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = conn
            .count("SELECT COUNT(*) FROM uploads WHERE id = $1", &upload_id)
            .await;
        if rows == 0 && !upload_file.exists() {
            break;
        }
        assert!(Instant::now() < deadline, "the unused upload was not swept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn after_a_prune_the_freed_pages_go_back_and_the_file_shrinks() {
    if skip_on_postgres("SQLite pages and file size; PostgreSQL leaves freed space to autovacuum") {
        return;
    }
    let app = spawn_app_with(|config| {
        config.retention.interval = Duration::from_millis(50);
    })
    .await;
    let mut conn = side_connection(&app.db_path).await;
    assert_eq!(scalar(&mut conn, "PRAGMA auto_vacuum").await, 2);

    // 20 finished jobs with 1 000 log lines of 200 bytes each: about 5 MB.
    let mut ids = Vec::new();
    for _ in 0..20 {
        let id = finished_job(&app, "external", 0, "complete").await;
        sqlx::query(
            "WITH RECURSIVE n(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM n WHERE seq < 1000) \
             INSERT INTO job_logs (job_id, seq, version, ts, level, message) \
             SELECT ?1, seq, seq, 0, 'info', printf('%.200c', 'x') FROM n",
        )
        .bind(&id)
        .execute(&mut conn)
        .await
        .unwrap();
        ids.push(id);
    }
    let kept = finished_job(&app, "external", 3, "complete").await;
    let page_size = scalar(&mut conn, "PRAGMA page_size").await;
    let pages_before = scalar(&mut conn, "PRAGMA page_count").await;

    for id in &ids {
        backdate(&mut conn, id, 8 * DAY_MS).await;
    }
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    wait_until_gone(&app, &ids, Duration::from_secs(10)).await;
    // The lines are gone, so their pages were free; wait for the task to give them back.
    let deadline = Instant::now() + Duration::from_secs(10);
    while scalar(&mut conn, "PRAGMA freelist_count").await > 0 {
        assert!(Instant::now() < deadline, "free pages were not reclaimed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pages_after = scalar(&mut conn, "PRAGMA page_count").await;
    let freed_bytes = (pages_before - pages_after) * page_size;
    eprintln!("{pages_before} pages before, {pages_after} after: {freed_bytes} bytes returned");
    assert!(
        freed_bytes > 4_000_000,
        "only {freed_bytes} bytes returned ({pages_before} -> {pages_after} pages)"
    );
    assert_eq!(app.job(&kept).await["status"], "completed");

    // In WAL mode the file itself shrinks at the next checkpoint.
    let busy: i64 = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    if busy == 0 {
        let size = std::fs::metadata(&app.db_path).unwrap().len() as i64;
        assert_eq!(size, pages_after * page_size);
    }
}

/// Three old finished jobs with two log lines each, one recent, one queued.
async fn jobs_to_prune(app: &TestApp) -> (Vec<String>, String, String) {
    let mut conn = SideConnection::open(&app.db_path).await;
    let mut old = Vec::new();
    for end in ["complete", "fail", "cancel"] {
        let lines = if end == "cancel" { 0 } else { 3 };
        let id = finished_job(app, "external", lines, end).await;
        conn.backdate(&id, 2 * DAY_MS).await;
        old.push(id);
    }
    let recent = finished_job(app, "external", 1, "complete").await;
    let queued = app.create_external().await;
    (old, recent, queued)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_dry_run_changes_nothing_and_prune_removes_what_it_counted_beside_the_server() {
    // The server keeps running on the same file throughout; its own retention is off here.
    let app = spawn_app_with(|config| config.retention.enabled = false).await;
    let (old, recent, queued) = jobs_to_prune(&app).await;
    let cwd = app.dir.path();
    let url = database_url(&app.db_path);

    let output = jobcast(cwd, &url)
        .args(["prune", "--older-than", "1d", "--dry-run"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout.trim(), "would prune 3 jobs (6 log lines)");
    for id in old.iter().chain([&recent, &queued]) {
        assert_eq!(status_of(&app, id).await, StatusCode::OK);
    }

    // Only another type: nothing. The configured week (no --older-than): nothing either.
    for args in [
        &["prune", "--older-than", "1d", "--type", "demo", "--dry-run"][..],
        &["prune", "--dry-run"][..],
    ] {
        let output = jobcast(cwd, &url).args(args).output().await.unwrap();
        assert!(output.status.success(), "{output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "would prune 0 jobs (0 log lines)",
            "{args:?}"
        );
    }

    // --config is read like serve reads it (the environment still wins, so leave it out).
    let config = cwd.join("ops.toml");
    std::fs::write(
        &config,
        format!("database_url = \"{url}\"\n[retention]\nkeep_finished = \"1d\"\n"),
    )
    .unwrap();
    let output = jobcast(cwd, &url)
        .env_remove("JOBCAST_DATABASE_URL")
        .args(["prune", "--dry-run", "--config"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "would prune 3 jobs (6 log lines)"
    );

    let output = jobcast(cwd, &url)
        .args(["prune", "--older-than", "1d"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout.starts_with("pruned 3 jobs (6 log lines)"),
        "{stdout}"
    );
    for id in &old {
        assert_eq!(status_of(&app, id).await, StatusCode::NOT_FOUND);
    }
    assert_eq!(app.job(&recent).await["status"], "completed");
    assert_eq!(app.job(&queued).await["status"], "queued");
    // The server goes on writing to the file.
    let job: Value = app.create(json!({"type": "external"})).await;
    assert_eq!(job["status"], "queued");
}

#[tokio::test]
async fn prune_with_a_bad_age_is_a_usage_error_with_exit_2() {
    // About the CLI and a missing SQLite file: the same on either test backend.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("jobs.db");
    let url = format!("sqlite://{}", db.display());
    let output = jobcast(dir.path(), &url)
        .args(["prune", "--older-than", "soon"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--older-than") && stderr.contains("soon"),
        "{stderr}"
    );
    // Nothing was created on the way.
    assert!(!db.exists());

    let output = jobcast(dir.path(), &url)
        .args(["prune", "--older-than", "1d"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no database"), "{stderr}");
    assert!(!db.exists());
}
