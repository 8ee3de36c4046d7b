//! Versions and change numbers, what the event streams are built on. `Job::version` "grows by
//! one on every change, log lines included"; a log line carries "the job's version once this
//! line was added". `changes_since(after, limit)`: "Jobs changed after change `after`, oldest
//! change first, at most `limit`: their id, version and change sequence number";
//! `max_change_seq`: "The newest change sequence number (0 for an empty store)".
//!
//! The stream poller moves its mark to the newest number it read and never looks below it
//! again, so a reader paging through the changes must see every job's last change, and every
//! job a statement changes needs a number of its own.

use std::collections::HashMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::fixtures::*;

/// After a change to `id` that left it at `version`: it is the one change above `mark`, with a
/// number above the mark that is now the newest. Returns that number.
async fn the_one_change(store: &Store, mark: i64, id: JobId, version: i64, what: &str) -> i64 {
    let changes = store.changes_since(mark, 10).await.unwrap();
    let [(changed, at_version, seq)] = changes.as_slice() else {
        panic!("{what}: expected one change above {mark}, got {changes:?}");
    };
    assert_eq!((*changed, *at_version), (id, version), "{what}");
    assert!(*seq > mark, "{what}: change number {seq} not above {mark}");
    assert_eq!(store.max_change_seq().await.unwrap(), *seq, "{what}");
    *seq
}

conformance!(every_change_bumps_the_version_by_one_and_takes_a_new_change_number);
async fn every_change_bumps_the_version_by_one_and_takes_a_new_change_number(store: Store) {
    assert_eq!(store.max_change_seq().await.unwrap(), 0, "an empty store");
    let job = create_of(&store, "work").await;
    assert_eq!((job.version, job.log_seq), (1, 0), "a new job is version 1");
    let mut mark = the_one_change(&store, 0, job.id, 1, "create").await;
    let mut version = job.version;

    let owner = Writer::Lease(OWNER);
    let claimed = claim_job(&store, &job, OWNER, LEASE).await;
    assert_eq!(claimed.version, version + 1, "claim");
    version = claimed.version;
    mark = the_one_change(&store, mark, job.id, version, "claim").await;

    for n in 1..=3 {
        let progressed = store
            .report_progress(job.id, owner, &report(f64::from(n) * 10.0, "on"))
            .await
            .unwrap();
        assert_eq!(progressed.version, version + 1, "progress {n}");
        assert_eq!(progressed.state_version, progressed.version);
        version = progressed.version;
        mark = the_one_change(&store, mark, job.id, version, "progress").await;

        let line = store
            .append_log(job.id, owner, LogLevel::Info, &format!("line {n}"))
            .await
            .unwrap();
        assert_eq!(line.version, version + 1, "line {n} takes a version");
        version = line.version;
        let now = get(&store, job.id).await;
        assert_eq!(now.version, version, "the line's version is the job's");
        assert_eq!(
            now.state_version, progressed.version,
            "a line is no state change"
        );
        mark = the_one_change(&store, mark, job.id, version, "log line").await;
    }

    let failed = store
        .fail(
            job.id,
            owner,
            "broke",
            None,
            Some(RetryPolicy {
                retry_at: Timestamp::now(),
            }),
        )
        .await
        .unwrap();
    assert_eq!(failed.version, version + 1, "fail with retry");
    version = failed.version;
    mark = the_one_change(&store, mark, job.id, version, "fail").await;

    let claimed = claim_job(&store, &failed, OWNER, LEASE).await;
    version = claimed.version;
    mark = the_one_change(&store, mark, job.id, version, "second claim").await;
    let requeued = store.requeue(job.id, OWNER).await.unwrap();
    assert_eq!(requeued.version, version + 1, "requeue");
    version = requeued.version;
    mark = the_one_change(&store, mark, job.id, version, "requeue").await;

    let claimed = claim_job(&store, &requeued, OWNER, LEASE).await;
    version = claimed.version;
    mark = the_one_change(&store, mark, job.id, version, "third claim").await;
    let failed = store
        .fail(job.id, owner, "broke", None, None)
        .await
        .unwrap();
    assert_eq!(failed.version, version + 1, "fail for good");
    version = failed.version;
    mark = the_one_change(&store, mark, job.id, version, "fail").await;

    let retried = store.retry(job.id).await.unwrap();
    assert_eq!(
        retried.version,
        version + 2,
        "a retry and the line noting it"
    );
    version = retried.version;
    mark = the_one_change(&store, mark, job.id, version, "retry").await;

    let cancelled = cancel_outcome_job(store.cancel(job.id, false).await.unwrap());
    assert_eq!(cancelled.version, version + 1, "cancel of a queued job");
    version = cancelled.version;
    mark = the_one_change(&store, mark, job.id, version, "cancel").await;

    let retried = store.retry(job.id).await.unwrap();
    version = retried.version;
    mark = the_one_change(&store, mark, job.id, version, "retry of a cancelled job").await;
    let claimed = claim_job(&store, &retried, OWNER, LEASE).await;
    version = claimed.version;
    mark = the_one_change(&store, mark, job.id, version, "claim after the retry").await;
    let done = store.complete(job.id, owner, None).await.unwrap();
    assert_eq!(done.version, version + 1, "complete");
    the_one_change(&store, mark, job.id, done.version, "complete").await;

    // Outside code's first line starts a queued job: the start takes its own version, one
    // below the line's.
    let external = create_of(&store, "external").await;
    let line = store
        .append_log(external.id, Writer::External, LogLevel::Info, "hello")
        .await
        .unwrap();
    let started = get(&store, external.id).await;
    assert_eq!(started.status, JobStatus::Running);
    assert_eq!(line.version, external.version + 2);
    assert_eq!(started.version, line.version);
    assert_eq!(started.state_version, line.version - 1);
}

conformance!(jobs_changed_by_one_statement_get_change_numbers_of_their_own);
async fn jobs_changed_by_one_statement_get_change_numbers_of_their_own(store: Store) {
    const JOBS: usize = 30;
    const PAGE: i64 = 3;
    let mark = store.max_change_seq().await.unwrap();
    // Concurrent creates, which SQLite's writer applies as one statement.
    let creates: Vec<_> = (0..JOBS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { create_of(&store, "work").await.id })
        })
        .collect();
    let mut made = Vec::new();
    for create in creates {
        made.push(create.await.unwrap());
    }
    let (changes, mark) = changes_above(&store, mark, PAGE).await;
    assert_eq!(
        changes.len(),
        JOBS,
        "every created job read back, {PAGE} at a time"
    );

    // One claim of all of them.
    let claimed = claim(&store, &["work"], &runner(OWNER), SHORT_LEASE, JOBS).await;
    assert_eq!(claimed.len(), JOBS);
    let (changes, mark) = changes_above(&store, mark, PAGE).await;
    assert_eq!(changes.len(), JOBS, "every claimed job read back");
    for job in &claimed {
        assert!(
            changes
                .iter()
                .any(|&(id, version, _)| id == job.id && version == job.version),
            "the claim of {} read back",
            job.id
        );
    }

    // One recovery of all of them.
    let recovered = recover(&store, &made).await;
    let (changes, _) = changes_above(&store, mark, PAGE).await;
    assert_eq!(changes.len(), JOBS, "every recovered job read back");
    for job in recovered {
        assert!(
            changes
                .iter()
                .any(|&(id, version, _)| id == job.id && version == job.version),
            "the recovery of {} read back",
            job.id
        );
    }
}

conformance!(multi_thread a_reader_paging_through_changes_sees_every_jobs_last_change_while_writers_commit);
async fn a_reader_paging_through_changes_sees_every_jobs_last_change_while_writers_commit(
    store: Store,
) {
    reader_sees_every_last_change(store.clone(), vec![store]).await;
}

// Each store batches its writes in transactions of its own (PostgreSQL: each takes the change
// lock once per batch); a reader on either never misses a change of the other's.
conformance!(two_stores a_reader_sees_every_change_of_two_stores_batching_writes_at_once);
async fn a_reader_sees_every_change_of_two_stores_batching_writes_at_once(
    store: Store,
    other: Store,
) {
    reader_sees_every_last_change(store.clone(), vec![store, other]).await;
}

/// Eight writers, spread over `writers` (stores on one database), write while a reader on
/// `store` pages through the changes, a few at a time: it sees every job's last change and
/// never a number at or below its mark.
async fn reader_sees_every_last_change(store: Store, writers: Vec<Store>) {
    const WRITERS: usize = 8;
    const WRITES: usize = 60;
    const PAGE: i64 = 3;
    let mut jobs = Vec::new();
    for _ in 0..WRITERS * 2 {
        jobs.push(create_of(&store, "external").await.id);
    }
    let start = store.max_change_seq().await.unwrap();

    // A reader doing what the stream poller does, a small page at a time, as fast as it can.
    let stop = CancellationToken::new();
    let reader = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut mark = start;
            let mut seen: HashMap<JobId, i64> = HashMap::new();
            let mut newest_seen = 0;
            loop {
                // After the writers stop, one more pass picks up whatever is above the mark.
                let last_pass = stop.is_cancelled();
                loop {
                    let page = store.changes_since(mark, PAGE).await.unwrap();
                    assert!(page.len() <= PAGE as usize, "a page of {} rows", page.len());
                    let newest = store.max_change_seq().await.unwrap();
                    for &(id, version, seq) in &page {
                        assert!(seq > mark, "change {seq} at or below the mark {mark}");
                        assert!(newest >= seq, "max_change_seq {newest} below change {seq}");
                        if let Some(&earlier) = seen.get(&id) {
                            assert!(
                                version > earlier,
                                "{id}: version {version} read after {earlier}"
                            );
                        }
                        mark = seq;
                        newest_seen = newest_seen.max(seq);
                        seen.insert(id, version);
                    }
                    if page.len() < PAGE as usize {
                        break;
                    }
                }
                if last_pass {
                    return (seen, newest_seen);
                }
                tokio::task::yield_now().await;
            }
        })
    };

    // Writers of every kind: progress, log lines, new jobs.
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = writers[w % writers.len()].clone();
            let mine = [jobs[2 * w], jobs[2 * w + 1]];
            tokio::spawn(async move {
                let mut made = Vec::new();
                for n in 0..WRITES {
                    let id = mine[n % 2];
                    match n % 3 {
                        0 => drop(
                            store
                                .report_progress(
                                    id,
                                    Writer::External,
                                    &report((n % 100) as f64, "on"),
                                )
                                .await
                                .unwrap(),
                        ),
                        1 => drop(
                            store
                                .append_log(id, Writer::External, LogLevel::Info, &format!("{n}"))
                                .await
                                .unwrap(),
                        ),
                        _ => made.push(create_of(&store, "external").await.id),
                    }
                }
                made
            })
        })
        .collect();
    for writer in writers {
        let made = tokio::time::timeout(Duration::from_secs(30), writer)
            .await
            .expect("the writers finish")
            .unwrap();
        jobs.extend(made);
    }
    stop.cancel();
    let (seen, newest_seen) = reader.await.unwrap();

    let stored = store.get_jobs(&jobs).await.unwrap();
    assert_eq!(stored.len(), jobs.len());
    for job in stored {
        assert_eq!(
            seen.get(&job.id),
            Some(&job.version),
            "the reader missed the last change of {}",
            job.id
        );
    }
    assert!(store.max_change_seq().await.unwrap() >= newest_seen);
}

conformance!(changes_come_oldest_first_up_to_the_limit);
async fn changes_come_oldest_first_up_to_the_limit(store: Store) {
    let a = create_of(&store, "work").await;
    let b = create_of(&store, "work").await;
    let c = create_of(&store, "work").await;
    // a changes again, after c: its one row moves to the end.
    let a2 = store
        .report_progress(a.id, Writer::External, &report(1.0, "again"))
        .await
        .unwrap();
    let all = store.changes_since(0, 100).await.unwrap();
    let order: Vec<(JobId, i64)> = all.iter().map(|&(id, version, _)| (id, version)).collect();
    assert_eq!(
        order,
        [(b.id, b.version), (c.id, c.version), (a.id, a2.version)],
        "one row per job, at its latest change, oldest change first"
    );
    assert!(
        all.windows(2).all(|w| w[0].2 < w[1].2),
        "numbers ascend: {all:?}"
    );
    let first_two = store.changes_since(0, 2).await.unwrap();
    assert_eq!(first_two, all[..2]);
    let after_first = store.changes_since(all[0].2, 100).await.unwrap();
    assert_eq!(after_first, all[1..]);
    assert_eq!(store.changes_since(all[2].2, 100).await.unwrap(), []);
    assert_eq!(store.max_change_seq().await.unwrap(), all[2].2);
}
