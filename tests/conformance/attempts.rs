//! Attempt history: `attempts` ("The ended attempts of job `id`, in the order they ended
//! (oldest first): one for each time the job left `running` (or outside code ended it while
//! queued), written in the same transaction as that change, whatever made it"; "Deleting a job
//! deletes its attempts").

use std::collections::BTreeMap;

use crate::fixtures::*;

/// The attempts of `id`, which must be readable.
async fn attempts(store: &Store, id: JobId) -> Vec<Attempt> {
    store.attempts(id).await.expect("attempts")
}

/// Each attempt's (number, outcome).
fn outcomes(attempts: &[Attempt]) -> Vec<(i64, &str)> {
    attempts
        .iter()
        .map(|a| (a.attempt, a.outcome.as_str()))
        .collect()
}

/// A retry that is due at once.
fn retry_now() -> Option<RetryPolicy> {
    Some(RetryPolicy {
        retry_at: Timestamp::now(),
    })
}

conformance!(every_end_of_a_runners_attempt_is_kept_in_order);
async fn every_end_of_a_runners_attempt_is_kept_in_order(store: Store) {
    let job = create_of(&store, &unique_type("attempts")).await;
    assert_eq!(
        attempts(&store, job.id).await,
        [],
        "no attempt has ended yet"
    );

    // 1: failed with attempts left, so retried.
    claim_job(&store, &job, OWNER, LEASE).await;
    let details = json!({"code": 7});
    store
        .fail(
            job.id,
            Writer::Lease(OWNER),
            "broke",
            Some(&details),
            retry_now(),
        )
        .await
        .unwrap();
    // 2: put back by a shutdown, not counted.
    claim_job(&store, &job, OWNER, LEASE).await;
    let requeued = store.requeue(job.id, OWNER).await.unwrap();
    assert_eq!(requeued.attempt, 1);
    // 2 again: its lease expired.
    claim_job(&store, &job, OTHER, SHORT_LEASE).await;
    recover(&store, &[job.id]).await;
    // 3: completed.
    let claimed = claim_job(&store, &job, OWNER, LEASE).await;
    assert_eq!(claimed.attempt, 3);
    let done = store
        .complete(job.id, Writer::Lease(OWNER), Some(&json!("ok")))
        .await
        .unwrap();

    let kept = attempts(&store, job.id).await;
    assert_eq!(
        outcomes(&kept),
        [
            (1, "retried"),
            (2, "requeued"),
            (2, "retried"),
            (3, "completed")
        ]
    );
    assert_eq!(kept[0].error.as_deref(), Some("broke"));
    let stored: Value = serde_json::from_str(kept[0].details.as_deref().unwrap()).unwrap();
    assert_eq!(stored, details);
    assert!(
        kept[2].error.as_deref().unwrap().contains("lease expired"),
        "{:?}",
        kept[2]
    );
    assert_eq!(
        (kept[3].error.as_deref(), kept[3].details.as_deref()),
        (None, None)
    );
    let runners: Vec<Option<&str>> = kept.iter().map(|a| a.runner.as_deref()).collect();
    assert_eq!(
        runners,
        [Some(OWNER), Some(OWNER), Some(OTHER), Some(OWNER)]
    );
    assert!(kept.iter().all(|a| a.worker.is_none()));
    for attempt in &kept {
        let started = attempt.started_at.expect("a claimed attempt has a start");
        assert!(started <= attempt.finished_at, "{attempt:?}");
    }
    assert!(
        kept.windows(2)
            .all(|pair| pair[0].finished_at <= pair[1].finished_at),
        "oldest first: {kept:?}"
    );
    let last = kept.last().unwrap();
    assert_eq!(
        (Some(last.finished_at), last.started_at),
        (done.finished_at, done.started_at),
        "the last attempt is the job's current one"
    );
}

conformance!(ends_outside_the_runner_are_kept_and_other_changes_are_not);
async fn ends_outside_the_runner_are_kept_and_other_changes_are_not(store: Store) {
    // Outside code: a job it starts with a log line and fails for good.
    let failed = create_of(&store, &unique_type("outside")).await;
    store
        .append_log(failed.id, Writer::External, LogLevel::Info, "starting")
        .await
        .unwrap();
    store
        .report_progress(failed.id, Writer::External, &report(50.0, "half"))
        .await
        .unwrap();
    store
        .fail(failed.id, Writer::External, "gave up", None, None)
        .await
        .unwrap();
    let kept = attempts(&store, failed.id).await;
    assert_eq!(outcomes(&kept), [(1, "failed")]);
    assert_eq!(kept[0].error.as_deref(), Some("gave up"));
    assert_eq!(
        (kept[0].runner.as_deref(), kept[0].worker.as_deref()),
        (None, None)
    );

    // A queued job completed at once by outside code: one attempt.
    let at_once = create_of(&store, &unique_type("outside")).await;
    store
        .complete(at_once.id, Writer::External, None)
        .await
        .unwrap();
    assert_eq!(
        outcomes(&attempts(&store, at_once.id).await),
        [(1, "completed")]
    );

    // A cancelled queued job ended no attempt; a cancelled running external one did.
    let queued = create_of(&store, &unique_type("outside")).await;
    store.cancel(queued.id, false).await.unwrap();
    assert_eq!(attempts(&store, queued.id).await, []);
    let running = create_of(&store, &unique_type("outside")).await;
    store
        .report_progress(running.id, Writer::External, &report(10.0, "started"))
        .await
        .unwrap();
    store.cancel(running.id, true).await.unwrap();
    assert_eq!(
        outcomes(&attempts(&store, running.id).await),
        [(1, "cancelled")]
    );

    // A runner stopping a job whose cancel was requested.
    let stopped = running_job(&store, OWNER, LEASE).await;
    store.cancel(stopped.id, false).await.unwrap();
    store.finish_cancelled(stopped.id, OWNER).await.unwrap();
    assert_eq!(
        outcomes(&attempts(&store, stopped.id).await),
        [(1, "cancelled")]
    );

    // Progress, log lines, claims and refused writes end nothing.
    let busy = running_job(&store, OWNER, LEASE).await;
    store
        .report_progress(busy.id, Writer::Lease(OWNER), &report(20.0, "working"))
        .await
        .unwrap();
    store
        .append_log(busy.id, Writer::Lease(OWNER), LogLevel::Info, "line")
        .await
        .unwrap();
    assert_conflict(
        store.complete(busy.id, Writer::Lease(OTHER), None).await,
        busy.id,
        JobStatus::Running,
    );
    assert_eq!(attempts(&store, busy.id).await, []);

    // A manual retry starts the count again; the history keeps both runs, in order.
    store.retry(failed.id).await.unwrap();
    let again = claim_job(&store, &get(&store, failed.id).await, OWNER, LEASE).await;
    assert_eq!(again.attempt, 1);
    store
        .complete(failed.id, Writer::Lease(OWNER), None)
        .await
        .unwrap();
    assert_eq!(
        outcomes(&attempts(&store, failed.id).await),
        [(1, "failed"), (1, "completed")]
    );

    // An unknown job has none.
    assert_eq!(attempts(&store, JobId::new()).await, []);
}

conformance!(pruning_a_job_deletes_its_attempts);
async fn pruning_a_job_deletes_its_attempts(store: Store) {
    let job_type = unique_type("pruned");
    let job = create_of(&store, &job_type).await;
    claim_job(&store, &job, OWNER, LEASE).await;
    store
        .fail(job.id, Writer::Lease(OWNER), "once", None, retry_now())
        .await
        .unwrap();
    claim_job(&store, &job, OWNER, LEASE).await;
    store
        .fail(job.id, Writer::Lease(OWNER), "twice", None, None)
        .await
        .unwrap();
    let kept = create_of(&store, &job_type).await;
    store
        .complete(kept.id, Writer::External, None)
        .await
        .unwrap();
    assert_eq!(attempts(&store, job.id).await.len(), 2);
    // Some job changed last, so neither of those is.
    create_of(&store, "bystander").await;

    let rule = PruneRule {
        finished_before: Timestamp::from_millis(Timestamp::now().as_millis() + 3_600_000),
        per_type: BTreeMap::new(),
        only_type: None,
    };
    assert_eq!(
        store.delete_prunable_jobs(&[job.id], &rule).await.unwrap(),
        1
    );
    assert!(store.get_job(job.id).await.unwrap().is_none());
    assert_eq!(
        attempts(&store, job.id).await,
        [],
        "its attempts went with it"
    );
    assert_eq!(
        outcomes(&attempts(&store, kept.id).await),
        [(1, "completed")],
        "another job's attempts stay"
    );
}

conformance!(a_parents_run_that_made_children_ends_waiting_and_its_next_run_is_kept_too);
async fn a_parents_run_that_made_children_ends_waiting_and_its_next_run_is_kept_too(store: Store) {
    let parent = running_job(&store, OWNER, LEASE).await;
    let kids = unique_type("child");
    let made = store
        .spawn_children(
            parent.id,
            Writer::Lease(OWNER),
            vec![NewJob {
                max_attempts: 1,
                ..new_job(&kids)
            }],
            jobcast::job::ChildPolicy::FailFast,
            jobcast::store::FamilyLimits {
                max_depth: 2,
                max_children: 5,
            },
        )
        .await
        .expect("spawn_children");
    let child = made[0].0.clone();
    let waiting = store
        .complete(parent.id, Writer::Lease(OWNER), None)
        .await
        .unwrap();
    assert_eq!(waiting.status, JobStatus::Waiting);
    assert_eq!(
        outcomes(&attempts(&store, parent.id).await),
        [(1, "waiting")]
    );

    // The child's run, then the parent's next one (the same attempt number: the waiting one
    // was not counted).
    claim_job(&store, &child, OTHER, LEASE).await;
    store
        .complete(child.id, Writer::Lease(OTHER), None)
        .await
        .unwrap();
    assert_eq!(
        outcomes(&attempts(&store, child.id).await),
        [(1, "completed")]
    );
    let woken = get(&store, parent.id).await;
    assert_eq!(woken.status, JobStatus::Queued);
    assert_eq!(
        attempts(&store, parent.id).await.len(),
        1,
        "waking a parent ends no attempt"
    );
    claim_job(&store, &woken, OWNER, LEASE).await;
    store
        .complete(parent.id, Writer::Lease(OWNER), None)
        .await
        .unwrap();
    let kept = attempts(&store, parent.id).await;
    assert_eq!(outcomes(&kept), [(1, "waiting"), (1, "completed")]);
    assert_eq!(
        (kept[0].error.as_deref(), kept[0].details.as_deref()),
        (None, None)
    );
}
