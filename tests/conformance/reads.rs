//! The other reads and signals: `get_jobs` ("The jobs with these ids (those that exist)"),
//! `count_queued`, `count_by_type_and_status`, `check_ready`, `ping`, and `watch_changes`
//! ("Changes after a job changed through this store") / `watch_queued` ("Changes when a job
//! became queued in another process sharing the database, where the backend can tell").

use std::time::Duration;

use crate::fixtures::*;

conformance!(get_jobs_returns_the_jobs_that_exist_as_stored);
async fn get_jobs_returns_the_jobs_that_exist_as_stored(store: Store) {
    let a = create_of(&store, "a").await;
    let b = running_job(&store, OWNER, LEASE).await;
    assert_eq!(store.get_jobs(&[]).await.unwrap(), []);
    let mut got = store.get_jobs(&[b.id, JobId::new(), a.id]).await.unwrap();
    got.sort_by_key(|job| job.id);
    assert_eq!(got, [a, b]);
}

conformance!(counts_are_by_type_and_status);
async fn counts_are_by_type_and_status(store: Store) {
    assert_eq!(store.count_by_type_and_status().await.unwrap(), []);
    for job_type in ["a", "a", "a", "b"] {
        create_of(&store, job_type).await;
    }
    claim(&store, &["a"], &runner(OWNER), LEASE, 1).await;
    let done = create_of(&store, "b").await;
    store
        .complete(done.id, Writer::External, None)
        .await
        .unwrap();
    assert_eq!(store.count_queued("a").await.unwrap(), 2);
    assert_eq!(store.count_queued("b").await.unwrap(), 1);
    assert_eq!(store.count_queued("c").await.unwrap(), 0);
    let mut counts = store.count_by_type_and_status().await.unwrap();
    counts.sort();
    let expected: Vec<(String, String, i64)> = [
        ("a", "queued", 2),
        ("a", "running", 1),
        ("b", "completed", 1),
        ("b", "queued", 1),
    ]
    .into_iter()
    .map(|(t, s, n)| (t.to_owned(), s.to_owned(), n))
    .collect();
    assert_eq!(counts, expected);
}

conformance!(a_fresh_store_is_ready_and_answers);
async fn a_fresh_store_is_ready_and_answers(store: Store) {
    store.check_ready().await.expect("migrated and writable");
    store.ping().await.expect("answers");
    assert_eq!(
        store
            .list_jobs(&ListFilter {
                limit: 10,
                ..ListFilter::default()
            })
            .await
            .unwrap(),
        []
    );
}

conformance!(multi_thread a_write_through_the_store_wakes_its_watchers);
async fn a_write_through_the_store_wakes_its_watchers(store: Store) {
    let mut changes = store.watch_changes();
    changes.borrow_and_update();
    let mut queued = store.watch_queued();
    if let Some(queued) = &mut queued {
        queued.borrow_and_update();
    }
    let job = create_of(&store, "work").await;
    tokio::time::timeout(Duration::from_secs(5), changes.changed())
        .await
        .expect("a create wakes watch_changes")
        .unwrap();
    // Where the backend can tell, a job becoming queued wakes watch_queued (through the
    // database's notifications, so a moment later).
    if let Some(queued) = &mut queued {
        tokio::time::timeout(Duration::from_secs(5), queued.changed())
            .await
            .expect("a job that became queued wakes watch_queued")
            .unwrap();
    }
    changes.borrow_and_update();
    store
        .report_progress(job.id, Writer::External, &report(1.0, "on"))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), changes.changed())
        .await
        .expect("a progress report wakes watch_changes")
        .unwrap();
}

conformance!(every_write_counts_a_commit_and_a_read_none);
/// `Backend::commits`: the metrics' commits per job rest on it.
async fn every_write_counts_a_commit_and_a_read_none(store: Store) {
    let before = store.commits();
    let job = create_of(&store, "work").await;
    let created = store.commits();
    assert!(created > before, "a create commits: {before} -> {created}");
    store.get_job(job.id).await.unwrap();
    store
        .list_jobs(&jobcast::store::ListFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.commits(), created, "reads commit nothing");
    store
        .complete(job.id, Writer::External, None)
        .await
        .unwrap();
    assert!(store.commits() > created, "a completion commits");
}
