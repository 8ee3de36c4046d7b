//! The store itself, on the test backend: what the shared stream poller relies on when many
//! writers commit at once.

use std::collections::HashMap;
use std::time::Duration;

use jobcast::job::{JobId, LogLevel, NewJob, Progress};
use jobcast::store::{Store, Writer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::helpers::{database_url, on_postgres, spawn_app};

async fn create(store: &Store) -> JobId {
    let new = NewJob {
        job_type: "external".to_owned(),
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

/// A store on a fresh database of the test backend (a SQLite file in `dir`, or a database of
/// its own on PostgreSQL) with `connections` connections, and the database's URL.
async fn fresh_store(dir: &tempfile::TempDir, connections: u32) -> (Store, String) {
    let url = database_url(&dir.path().join("jobcast.db"));
    let store = Store::connect_with(&url, connections).await.unwrap();
    (store, url)
}

/// The poller moves its mark to the newest change number it read and never looks below it
/// again, so a number that became visible after a higher one would be a change it never sees
/// (on PostgreSQL a bare sequence does exactly that under concurrent commits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_following_change_numbers_sees_every_jobs_last_change_under_concurrent_writers() {
    const WRITERS: usize = 12;
    const WRITES: usize = 150;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh_store(&dir, 16).await;
    let mut jobs = Vec::new();
    for _ in 0..WRITERS * 2 {
        jobs.push(create(&store).await);
    }

    // A reader doing what the poller does, as fast as it can.
    let stop = CancellationToken::new();
    let reader = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut mark = 0;
            let mut seen: HashMap<JobId, i64> = HashMap::new();
            let mut last_round = false;
            loop {
                // After the writers stop, one more read picks up whatever is above the mark.
                if stop.is_cancelled() {
                    last_round = true;
                }
                for (id, version, seq) in store.changes_since(mark, 1000).await.unwrap() {
                    // Every change has a number of its own, even among the rows of one
                    // batched statement: a shared number could straddle the read limit.
                    assert!(seq > mark, "change {seq} not above the mark {mark}");
                    mark = seq;
                    seen.insert(id, version);
                }
                if last_round {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, mine) = (store.clone(), [jobs[2 * w], jobs[2 * w + 1]]);
            tokio::spawn(async move {
                for n in 0..WRITES {
                    let progress = Progress {
                        progress: (n % 100) as f64,
                        ..Progress::default()
                    };
                    store
                        .report_progress(mine[n % 2], Writer::External, &progress)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        tokio::time::timeout(Duration::from_secs(60), writer)
            .await
            .expect("writers finish")
            .unwrap();
    }
    stop.cancel();
    let seen = reader.await.unwrap();

    for job in store.get_jobs(&jobs).await.unwrap() {
        assert_eq!(
            seen.get(&job.id),
            Some(&job.version),
            "the reader missed the last change of {}",
            job.id
        );
    }
    store.close().await;
}

/// A transaction that another client holds open on the database, blocking the store's writes
/// to one job (PostgreSQL: a row lock on it; SQLite: the write lock).
enum Blocker {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Blocker {
    async fn hold(url: &str, job: JobId) -> Blocker {
        use sqlx::{ConnectOptions, Connection, Executor};
        if url.starts_with("sqlite:") {
            let mut conn = url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .connect()
                .await
                .unwrap();
            conn.execute("BEGIN IMMEDIATE").await.unwrap();
            Blocker::Sqlite(conn)
        } else {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            conn.execute("BEGIN").await.unwrap();
            sqlx::query("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE")
                .bind(job.to_string())
                .execute(&mut conn)
                .await
                .unwrap();
            Blocker::Postgres(conn)
        }
    }

    async fn release(self) {
        use sqlx::Executor;
        match self {
            Blocker::Sqlite(mut conn) => drop(conn.execute("COMMIT").await.unwrap()),
            Blocker::Postgres(mut conn) => drop(conn.execute("COMMIT").await.unwrap()),
        }
    }
}

/// The same, made to happen: a write that has taken its change number waits on a row lock
/// while a write to another job commits. Unless numbering and committing are one at a time,
/// the second commits a higher number first and a reader moves its mark past the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_held_up_after_taking_its_change_number_is_not_skipped_by_a_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = fresh_store(&dir, 4).await;
    let (held, other) = (create(&store).await, create(&store).await);
    let mut mark = store.max_change_seq().await.unwrap();

    let blocker = Blocker::hold(&url, held).await;
    let report = |id| {
        let store = store.clone();
        tokio::spawn(async move {
            let progress = Progress {
                progress: 50.0,
                ..Progress::default()
            };
            store.report_progress(id, Writer::External, &progress).await
        })
    };
    let held_write = report(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let other_write = report(other);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The reader looks while the first write is held up.
    let mut seen: HashMap<JobId, i64> = HashMap::new();
    for (id, version, seq) in store.changes_since(mark, 100).await.unwrap() {
        (mark, _) = (seq, seen.insert(id, version));
    }
    blocker.release().await;
    let held_job = held_write.await.unwrap().unwrap();
    other_write.await.unwrap().unwrap();
    for (id, version, seq) in store.changes_since(mark, 100).await.unwrap() {
        (mark, _) = (seq, seen.insert(id, version));
    }
    assert_eq!(
        seen.get(&held),
        Some(&held_job.version),
        "the reader skipped the held-up write (its mark is {mark})"
    );
    store.close().await;
}

/// PostgreSQL's text type cannot hold U+0000; SQLite keeps it. Either way a NUL in a client's
/// text is stored (on PostgreSQL as U+FFFD), not a 503.
#[tokio::test]
async fn text_with_nul_characters_is_stored_on_every_backend() {
    let app = spawn_app().await;
    let stored = |text: &str| {
        if on_postgres() {
            text.replace('\0', "\u{fffd}")
        } else {
            text.to_owned()
        }
    };
    let job = app
        .create(
            json!({"type": "external", "payload": {"a": "x\u{0}y"}, "idempotency_key": "k\u{0}"}),
        )
        .await;
    assert_eq!(job["payload"]["a"], "x\u{0}y", "JSON keeps it on both");
    assert_eq!(job["idempotency_key"], stored("k\0"));
    let id = job["id"].as_str().unwrap();
    let (status, again) = app
        .post_json(
            "/api/jobs",
            &json!({"type": "external", "idempotency_key": "k\u{0}"}),
        )
        .await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &job["id"]));

    let (status, line) = app
        .post_json(
            &format!("/api/jobs/{id}/logs"),
            &json!({"message": "a\u{0}b"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{line}");
    assert_eq!(line["message"], stored("a\0b"));
    let (status, job) = app
        .post_json(
            &format!("/api/jobs/{id}/progress"),
            &json!({"progress": 5, "message": "m\u{0}", "stage": "s\u{0}"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["stage"], stored("s\0"));
    let (status, job) = app
        .post_json(&format!("/api/jobs/{id}/fail"), &json!({"error": "e\u{0}"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["error"], stored("e\0"));
    let (_, logs) = app.get(&format!("/api/jobs/{id}/logs")).await;
    assert_eq!(logs["logs"][0]["message"], stored("a\0b"));
}

/// What the runner relies on: a handler's queued progress and lines are all written, in
/// order, before the job's end, however fast they come; past the per-job limit only the
/// newest lines stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_progress_and_lines_all_land_in_order_before_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh_store(&dir, 4).await;
    store.keep_log_lines(100);
    let id = create(&store).await;
    let claimant = jobcast::store::Claimant {
        owner: "runner-1",
        worker: None,
    };
    let claimed = store
        .claim(
            &["external".to_owned()],
            &claimant,
            Duration::from_secs(30),
            1,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    for n in 1..=250 {
        let progress = Progress {
            progress: f64::from(n) * 0.4,
            message: Some(format!("step {n}")),
            stage: (n == 1).then(|| "first".to_owned()),
            ..Progress::default()
        };
        store
            .queue_progress(id, "runner-1", progress, None)
            .await
            .unwrap();
        store
            .queue_log(
                id,
                "runner-1",
                jobcast::LogLevel::Info,
                format!("line {n}"),
                None,
            )
            .await
            .unwrap();
    }
    let job = store
        .complete(id, Writer::Lease("runner-1"), None)
        .await
        .unwrap();
    assert_eq!(job.status, jobcast::job::JobStatus::Completed);
    assert_eq!(job.log_seq, 250);
    let lines = store.logs_after_seq(id, 0, 1000).await.unwrap();
    let seqs: Vec<i64> = lines.iter().map(|l| l.seq).collect();
    assert_eq!(
        seqs,
        (151..=250).collect::<Vec<_>>(),
        "the newest 100 lines"
    );
    assert_eq!(lines.last().unwrap().message, "line 250");
    assert!(
        lines.windows(2).all(|w| w[0].version < w[1].version),
        "versions grow line by line"
    );
    assert!(lines.last().unwrap().version < job.version);
    let before_end = store
        .get_job(id)
        .await
        .unwrap()
        .map(|j| (j.message, j.stage));
    assert_eq!(
        before_end,
        Some((Some("step 250".to_owned()), Some("first".to_owned()))),
        "the last report, with the stage an earlier one set"
    );
    store.close().await;
}

/// Statements that change many jobs at once (a batch of creates, a claim of several, the
/// recovery of expired leases) still give each job a change number of its own, above every
/// earlier one: the poller reads changes `LIMIT` rows at a time and moves its mark to the last
/// number read, so a group sharing one number could be cut in two and its rest never read.
#[tokio::test]
async fn jobs_changed_by_one_statement_get_change_numbers_of_their_own() {
    const JOBS: usize = 40;
    /// Reads every change above `mark` 7 rows at a time, as the poller does past its limit.
    async fn read_in_pages(store: &Store, mut mark: i64) -> (usize, i64) {
        let mut read = 0;
        loop {
            let page = store.changes_since(mark, 7).await.unwrap();
            let Some(&(_, _, last)) = page.last() else {
                return (read, mark);
            };
            read += page.len();
            mark = last;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = fresh_store(&dir, 4).await;
    let mark = store.max_change_seq().await.unwrap();
    // Concurrent creates land in batched statements.
    let creates: Vec<_> = (0..JOBS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { create(&store).await })
        })
        .collect();
    for create in creates {
        create.await.unwrap();
    }
    let (read, mark) = read_in_pages(&store, mark).await;
    assert_eq!(read, JOBS, "created jobs read back");

    let claimant = jobcast::store::Claimant {
        owner: "node-a",
        worker: None,
    };
    let claimed = store
        .claim(
            &["external".to_owned()],
            &claimant,
            Duration::from_millis(1),
            JOBS,
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), JOBS);
    let (read, mark) = read_in_pages(&store, mark).await;
    assert_eq!(read, JOBS, "claimed jobs read back");

    tokio::time::sleep(Duration::from_millis(20)).await;
    let recovered = store.recover_expired().await.unwrap();
    assert_eq!(recovered.len(), JOBS, "every lease of 1 ms expired");
    let (read, _) = read_in_pages(&store, mark).await;
    assert_eq!(read, JOBS, "recovered jobs read back");
    store.close().await;
}

/// A runner renews its leases while its batches end its jobs; on PostgreSQL a batch locks its
/// rows in no particular order, so a renewal that waited for a row a transaction holds could
/// deadlock with it, and PostgreSQL breaks that only after a second, failing the renewal:
/// short leases then expired under running jobs, which ran twice. A renewal skips the rows
/// held and renews the rest. (SQLite has one writer: nothing is held while a renewal runs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_renewal_does_not_wait_for_a_row_another_transaction_holds() {
    if !on_postgres() {
        return;
    }
    const OWNER: &str = "runner-renewing";
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = fresh_store(&dir, 4).await;
    let (held, free) = (create(&store).await, create(&store).await);
    let claimant = jobcast::store::Claimant {
        owner: OWNER,
        worker: None,
    };
    let types = ["external".to_owned()];
    let claimed = store
        .claim(&types, &claimant, Duration::from_secs(30), 2)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let lease_of = |job: jobcast::job::Job| job.lease_expires_at.unwrap().as_millis();
    let before = |id| {
        let store = store.clone();
        async move { lease_of(store.get_job(id).await.unwrap().unwrap()) }
    };
    let (held_before, free_before) = (before(held).await, before(free).await);

    let blocker = Blocker::hold(&url, held).await;
    let renewed = tokio::time::timeout(
        Duration::from_secs(5),
        store.renew_leases(OWNER, Duration::from_secs(3600)),
    )
    .await
    .expect("the renewal waited for the row held by another transaction");
    assert_eq!(renewed.unwrap(), [], "no cancel was asked for");
    blocker.release().await;
    assert_eq!(before(held).await, held_before, "the held row was skipped");
    assert!(
        before(free).await > free_before + 3_000_000,
        "the other lease was renewed"
    );

    // Once the row is free, the next renewal takes it too.
    store
        .renew_leases(OWNER, Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(before(held).await > held_before + 3_000_000);
    store.close().await;
}

/// On SQLite a family settles in a transaction right after the change that called for it, so a
/// process killed in between leaves, for example, a failed parent with a child still queued;
/// the sweep the application runs at start-up (`Store::settle_all`) settles it. The state is
/// made here by hand, as the kill would leave it, on either backend.
#[tokio::test]
async fn the_start_up_sweep_settles_a_family_a_kill_left_unsettled() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = fresh_store(&dir, 4).await;
    let parent = create(&store).await;
    let children = spawn_two(&store, parent).await;
    let child = children[0];
    // What a kill between the parent's end and its family's settling leaves: the parent
    // failed, its children still queued.
    raw(
        &url,
        "UPDATE jobs SET status = 'failed', error = 'killed', finished_at = 1 WHERE id = $1",
        parent,
    )
    .await;
    assert_eq!(
        store.get_job(child).await.unwrap().unwrap().status,
        jobcast::job::JobStatus::Queued
    );

    store.settle_all().await.unwrap();
    for child in &children {
        let child = store.get_job(*child).await.unwrap().unwrap();
        assert_eq!(
            child.status,
            jobcast::job::JobStatus::Cancelled,
            "a failed parent's unfinished child is cancelled by the sweep"
        );
    }
    store.close().await;
}

/// Two external children of `parent`, made by outside code.
async fn spawn_two(store: &Store, parent: JobId) -> Vec<JobId> {
    let new = |n: i64| NewJob {
        job_type: "external".to_owned(),
        payload: json!({"part": n}),
        priority: 0,
        max_attempts: 1,
        timeout: None,
        run_at: None,
        idempotency_key: None,
        upload_id: None,
    };
    store
        .spawn_children(
            parent,
            Writer::External,
            vec![new(0), new(1)],
            jobcast::job::ChildPolicy::FailFast,
            jobcast::store::FamilyLimits::default(),
        )
        .await
        .unwrap()
        .into_iter()
        .map(|(job, _)| job.id)
        .collect()
}

/// Runs `sql` (binding `id` as `$1`) on the database behind the store's back: the state a
/// kill leaves.
async fn raw(url: &str, sql: &str, id: JobId) {
    use sqlx::{ConnectOptions, Connection};
    if url.starts_with("sqlite:") {
        let mut conn = url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap()
            .connect()
            .await
            .unwrap();
        sqlx::query(sql)
            .bind(id.to_string())
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql)
            .bind(id.to_string())
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
}

/// A kill between a SQLite batch and its family step leaves a child's news untold to its
/// parent: the start-up sweep tells it, once.
#[tokio::test]
async fn the_start_up_sweep_tells_a_parent_what_a_kill_left_untold() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = fresh_store(&dir, 4).await;
    let parent = create(&store).await;
    let child = spawn_two(&store, parent).await[0];
    store
        .append_log(child, Writer::External, LogLevel::Info, "part 0 read")
        .await
        .unwrap();
    let copied = |lines: Vec<jobcast::job::LogLine>| {
        lines
            .into_iter()
            .filter(|l| l.child_id == Some(child))
            .map(|l| l.message)
            .collect::<Vec<_>>()
    };
    let told = store.logs_after_seq(parent, 0, 100).await.unwrap();
    assert_eq!(copied(told), ["part 0 read"], "told at once");
    // As if the family step had never run.
    raw(
        &url,
        "DELETE FROM job_logs WHERE job_id = $1 AND child_id IS NOT NULL",
        parent,
    )
    .await;
    raw(
        &url,
        "UPDATE jobs SET echoed_version = 0 WHERE parent_id = $1",
        parent,
    )
    .await;

    store.settle_all().await.unwrap();
    let after = store.logs_after_seq(parent, 0, 100).await.unwrap();
    assert_eq!(
        copied(after),
        ["part 0 read"],
        "told again by the sweep, once"
    );
    store.settle_all().await.unwrap();
    let again = store.logs_after_seq(parent, 0, 100).await.unwrap();
    assert_eq!(copied(again), ["part 0 read"], "and never twice");
    store.close().await;
}

/// A completion keeps its attempt on the job row (migrations sqlite/0010, postgres/0008);
/// a database from before kept it as a row of `job_attempts`. Both read as one attempt.
#[tokio::test]
async fn a_completed_attempt_kept_the_old_way_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = fresh_store(&dir, 4).await;
    let job = create(&store).await;
    store
        .report_progress(
            job,
            Writer::External,
            &Progress {
                progress: 10.0,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store
        .complete(job, Writer::External, Some(&json!("done")))
        .await
        .unwrap();
    let new_way = store.attempts(job).await.unwrap();
    assert_eq!(new_way.len(), 1, "{new_way:?}");
    assert_eq!(new_way[0].outcome, "completed");
    // What the trigger before the migration wrote for the same end.
    raw(
        &url,
        "INSERT INTO job_attempts (job_id, version, attempt, started_at, finished_at, outcome, \
         worker, runner) SELECT id, version, attempt, started_at, finished_at, 'completed', \
         worker, runner FROM jobs WHERE id = $1",
        job,
    )
    .await;
    let old_way = store.attempts(job).await.unwrap();
    assert_eq!(old_way, new_way, "one completed attempt, not two");
    store.close().await;
}
