//! Pruning, reclaiming and backups against real SQLite files.

use std::str::FromStr;

use serde_json::Value;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};

use super::*;
use crate::job::{JobId, LogLevel, NewJob};
use crate::store::Writer;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

async fn side_connection(url: &str) -> SqliteConnection {
    SqliteConnectOptions::from_str(url)
        .unwrap()
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap()
}

async fn pragma(conn: &mut SqliteConnection, name: &str) -> i64 {
    sqlx::query(&format!("PRAGMA {name}"))
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0)
}

async fn create(store: &Store, job_type: &str) -> JobId {
    let new = NewJob {
        job_type: job_type.to_owned(),
        payload: Value::Null,
        priority: 0,
        max_attempts: 1,
        timeout: None,
        run_at: None,
        idempotency_key: None,
        upload_id: None,
    };
    store.create_job(new).await.unwrap().0.id
}

async fn log(store: &Store, id: JobId, lines: usize) {
    for n in 0..lines {
        let message = format!("line {n}");
        store
            .append_log(id, Writer::External, LogLevel::Info, &message)
            .await
            .unwrap();
    }
}

/// Pretends the job finished `age` ago.
async fn backdate(conn: &mut SqliteConnection, id: JobId, age: Duration) {
    sqlx::query("UPDATE jobs SET finished_at = ?1 WHERE id = ?2")
        .bind(ago(Timestamp::now(), age).as_millis())
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .unwrap();
}

async fn exists(conn: &mut SqliteConnection, id: JobId) -> bool {
    let row = sqlx::query("SELECT COUNT(*) FROM jobs WHERE id = ?1")
        .bind(id.to_string())
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    row.get::<i64, _>(0) == 1
}

fn retention(keep: Duration, per_type: &[(&str, Duration)]) -> Retention {
    Retention {
        keep_finished: keep,
        per_type: per_type
            .iter()
            .map(|(name, keep)| (name.to_string(), *keep))
            .collect(),
        interval: Duration::from_secs(60),
        batch: 100,
    }
}

#[tokio::test]
async fn a_new_database_uses_incremental_auto_vacuum_and_an_old_one_is_converted_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/new.db", dir.path().display());
    Store::connect(&url).await.unwrap().close().await;
    assert_eq!(
        pragma(&mut side_connection(&url).await, "auto_vacuum").await,
        2
    );

    // A database made before: auto_vacuum NONE, with data in it.
    let url = format!("sqlite://{}/old.db", dir.path().display());
    let mut conn = SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE kept (x INTEGER); INSERT INTO kept VALUES (42);")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(pragma(&mut conn, "auto_vacuum").await, 0);
    conn.close().await.unwrap();

    Store::connect(&url).await.unwrap().close().await;
    let mut conn = side_connection(&url).await;
    assert_eq!(pragma(&mut conn, "auto_vacuum").await, 2);
    let kept: i64 = sqlx::query("SELECT x FROM kept")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 42);
}

#[tokio::test]
async fn prune_removes_old_finished_jobs_in_bounded_statements_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    let mut conn = side_connection(&url).await;

    let old_completed = create(&store, "external").await;
    log(&store, old_completed, 1000).await;
    store
        .complete(old_completed, Writer::External, None)
        .await
        .unwrap();
    let old_failed = create(&store, "external").await;
    log(&store, old_failed, 3).await;
    store
        .fail(old_failed, Writer::External, "broke", None, None)
        .await
        .unwrap();
    let old_cancelled = create(&store, "external").await;
    store.cancel(old_cancelled, true).await.unwrap();
    let recent = create(&store, "external").await;
    store
        .complete(recent, Writer::External, None)
        .await
        .unwrap();
    let short_lived = create(&store, "short").await;
    store
        .complete(short_lived, Writer::External, None)
        .await
        .unwrap();
    let queued = create(&store, "external").await;
    let running = create(&store, "external").await;
    log(&store, running, 2).await;
    for id in [old_completed, old_failed, old_cancelled] {
        backdate(&mut conn, id, 2 * DAY).await;
    }
    backdate(&mut conn, recent, 2 * HOUR).await;
    backdate(&mut conn, short_lived, 2 * HOUR).await;
    // Queued and running jobs have no finished_at; make sure age alone cannot matter.
    sqlx::query("UPDATE jobs SET created_at = 0, updated_at = 0 WHERE id IN (?1, ?2)")
        .bind(queued.to_string())
        .bind(running.to_string())
        .execute(&mut conn)
        .await
        .unwrap();

    let retention = retention(DAY, &[("short", HOUR)]);
    let rule = retention.rule(Timestamp::now());
    assert_eq!(store.count_prunable(&rule).await.unwrap(), (4, 1003));
    let pages_before = pragma(&mut conn, "page_count").await;

    let pruned = prune(&store, &rule, 100, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((pruned.jobs, pruned.log_lines), (4, 1003));
    // 1003 lines at 100 per statement, then one for the rows.
    assert_eq!(pruned.statements, 12, "{pruned:?}");
    for id in [old_completed, old_failed, old_cancelled, short_lived] {
        assert!(!exists(&mut conn, id).await, "{id} should be pruned");
    }
    for id in [recent, queued, running] {
        assert!(exists(&mut conn, id).await, "{id} should be kept");
    }
    let lines: i64 = sqlx::query("SELECT COUNT(*) FROM job_logs")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(lines, 2, "only the running job's lines remain");
    assert_eq!(store.count_prunable(&rule).await.unwrap(), (0, 0));

    // The freed pages go back to the file system.
    assert!(store.sqlite().unwrap().free_pages().await.unwrap() > 0);
    let reclaimed = reclaim(store.sqlite().unwrap(), &CancellationToken::new())
        .await
        .unwrap();
    assert!(reclaimed > 0);
    assert_eq!(store.sqlite().unwrap().free_pages().await.unwrap(), 0);
    let pages_after = pragma(&mut conn, "page_count").await;
    assert_eq!(
        pages_after,
        pages_before - reclaimed,
        "{pages_before} pages before"
    );
    store.close().await;
}

#[tokio::test]
async fn the_job_changed_last_is_kept_so_change_numbers_never_go_back() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    let mut conn = side_connection(&url).await;
    let first = create(&store, "external").await;
    store.complete(first, Writer::External, None).await.unwrap();
    let last = create(&store, "external").await;
    store.complete(last, Writer::External, None).await.unwrap();
    let newest_change = store.max_change_seq().await.unwrap();

    let rule = retention(Duration::ZERO, &[]).rule(Timestamp::now().saturating_add(HOUR));
    let pruned = prune(&store, &rule, 100, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(pruned.jobs, 1);
    assert!(!exists(&mut conn, first).await);
    assert!(exists(&mut conn, last).await);
    assert_eq!(store.max_change_seq().await.unwrap(), newest_change);

    // Once something else changed, it may go too.
    create(&store, "external").await;
    let pruned = prune(&store, &rule, 100, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(pruned.jobs, 1);
    assert!(store.max_change_seq().await.unwrap() > newest_change);
    store.close().await;
}

#[tokio::test]
async fn prune_only_touches_the_type_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    let mut conn = side_connection(&url).await;
    let a = create(&store, "a").await;
    store.complete(a, Writer::External, None).await.unwrap();
    let b = create(&store, "b").await;
    store.complete(b, Writer::External, None).await.unwrap();
    create(&store, "c").await;
    backdate(&mut conn, a, DAY).await;
    backdate(&mut conn, b, DAY).await;

    let mut rule = retention(HOUR, &[]).rule(Timestamp::now());
    rule.only_type = Some("b".to_owned());
    assert_eq!(store.count_prunable(&rule).await.unwrap(), (1, 0));
    prune(&store, &rule, 500, &CancellationToken::new())
        .await
        .unwrap();
    assert!(exists(&mut conn, a).await);
    assert!(!exists(&mut conn, b).await);
    store.close().await;
}

#[test]
fn the_rule_gives_each_overridden_type_its_own_cutoff() {
    let now = Timestamp::from_millis(10 * DAY.as_millis() as i64);
    let rule = retention(7 * DAY, &[("short", DAY), ("long", 30 * DAY)]).rule(now);
    assert_eq!(rule.finished_before.as_millis(), 3 * DAY.as_millis() as i64);
    assert_eq!(
        rule.per_type["short"].as_millis(),
        9 * DAY.as_millis() as i64
    );
    assert_eq!(
        rule.per_type["long"].as_millis(),
        -20 * DAY.as_millis() as i64
    );
    let mut config = Config::default();
    config.job_types.get_mut("demo").unwrap().retention = Some(DAY);
    let from_config = Retention::from_config(&config);
    assert_eq!(from_config.per_type.len(), 1);
    assert_eq!(from_config.per_type["demo"], DAY);
    assert_eq!(from_config.keep_finished, 7 * DAY);
}

#[tokio::test]
async fn a_backup_of_a_closed_database_is_complete_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    let id = create(&store, "external").await;
    store.close().await;

    let copy = dir.path().join("copy.db");
    let bytes = SqliteStore::backup(&url, &copy).await.unwrap();
    assert_eq!(bytes, std::fs::metadata(&copy).unwrap().len());
    let copy_url = format!("sqlite://{}", copy.display());
    let mut conn = side_connection(&copy_url).await;
    let check: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(check, "ok");
    assert!(exists(&mut conn, id).await);
    assert_eq!(pragma(&mut conn, "auto_vacuum").await, 2);

    assert!(SqliteStore::backup(&url, &copy).await.is_err());
    assert_eq!(bytes, std::fs::metadata(&copy).unwrap().len());
}

/// A finished job with `lines` log lines of 100 bytes, made old, and a newer job after it.
async fn bulky_job(store: &Store, conn: &mut SqliteConnection, lines: i64) -> JobId {
    let id = create(store, "external").await;
    store.complete(id, Writer::External, None).await.unwrap();
    sqlx::query(
        "WITH RECURSIVE n(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM n WHERE seq < ?2) \
         INSERT INTO job_logs (job_id, seq, version, ts, level, message) \
         SELECT ?1, seq, seq, 0, 'info', printf('%.100c', 'x') FROM n",
    )
    .bind(id.to_string())
    .bind(lines)
    .execute(&mut *conn)
    .await
    .unwrap();
    backdate(conn, id, 2 * DAY).await;
    create(store, "external").await;
    id
}

/// Runs `work` while creating jobs one after another (from 100 ms before it to 100 ms
/// after, or 200 ms for no work); returns its output, the creates and the slowest.
async fn measure_load<T>(
    store: &Store,
    work: impl std::future::Future<Output = T>,
) -> (T, u64, Duration) {
    let stop = CancellationToken::new();
    let load = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut count, mut slowest) = (0, Duration::ZERO);
            while !stop.is_cancelled() {
                let started = Instant::now();
                create(&store, "load").await;
                slowest = slowest.max(started.elapsed());
                count += 1;
            }
            (count, slowest)
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let output = work.await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.cancel();
    let (count, slowest) = load.await.unwrap();
    (output, count, slowest)
}

/// How long pruning a job with 100 000 log lines holds the writer, against one cascading
/// DELETE. A measurement, not a check:
/// `cargo test --lib retention::tests::measure -- --ignored --nocapture`
/// (add `--release` for figures closer to production).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement"]
async fn measure_how_long_pruning_holds_the_writer() {
    const LINES: i64 = 100_000;
    for batch in [500, 5_000] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/jobs.db", dir.path().display());
        let store = Store::connect(&url).await.unwrap();
        let mut conn = side_connection(&url).await;
        bulky_job(&store, &mut conn, LINES).await;
        let rule = retention(DAY, &[]).rule(Timestamp::now());
        let ((), idle_writes, idle_slowest) = measure_load(&store, async {}).await;
        let ((pruned, pruning), writes, slowest) = measure_load(&store, async {
            let started = Instant::now();
            let pruned = prune(&store, &rule, batch, &CancellationToken::new())
                .await
                .unwrap();
            (pruned, started.elapsed())
        })
        .await;
        assert_eq!(pruned.log_lines, LINES as u64);
        let ((pages, reclaiming), r_writes, r_slowest) = measure_load(&store, async {
            let started = Instant::now();
            let pages = reclaim(store.sqlite().unwrap(), &CancellationToken::new())
                .await
                .unwrap();
            (pages, started.elapsed())
        })
        .await;
        println!(
            "batch {batch}: {LINES} lines in {} statements, {pruning:?} in all, longest \
             statement {:?}, {writes} creates meanwhile, the slowest {slowest:?}; \
             {pages} pages reclaimed in {reclaiming:?}, {r_writes} creates meanwhile, the \
             slowest {r_slowest:?}; idle: {idle_writes} creates in 200 ms, the slowest \
             {idle_slowest:?}",
            pruned.statements, pruned.longest_statement
        );
        store.close().await;
    }

    // The same job deleted at once, the cascade taking its lines with it.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/jobs.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    let mut conn = side_connection(&url).await;
    let id = bulky_job(&store, &mut conn, LINES).await;
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut conn)
        .await
        .unwrap();
    let (deleting, writes, slowest) = measure_load(&store, async {
        let started = Instant::now();
        sqlx::query("DELETE FROM jobs WHERE id = ?1")
            .bind(id.to_string())
            .execute(&mut conn)
            .await
            .unwrap();
        started.elapsed()
    })
    .await;
    let left: i64 = sqlx::query("SELECT COUNT(*) FROM job_logs")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    println!(
        "one cascading DELETE: {deleting:?}; meanwhile {writes} creates, the slowest {slowest:?}"
    );
    store.close().await;
}
