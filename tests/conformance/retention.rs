//! Retention: `PruneRule` ("Jobs that finished before this are pruned, unless their type has
//! its own cutoff"; "Only jobs of this type"), `prunable_jobs` ("Up to `limit` prunable jobs,
//! oldest finished first"), `count_prunable` ("How many jobs, and log lines of theirs, the rule
//! would prune now"), `delete_prunable_logs` ("Deletes at most `limit` log lines of those of
//! `ids` that are still prunable"), `delete_prunable_jobs` ("Deletes those of `ids` that are
//! still prunable and have no log lines left"). Finished jobs only, and never the job changed
//! last (its change number would be handed out again).

use std::collections::BTreeMap;

use crate::fixtures::*;

fn hours_from_now(hours: i64) -> Timestamp {
    Timestamp::from_millis(Timestamp::now().as_millis() + hours * 3_600_000)
}

/// Everything finished so far.
fn everything() -> PruneRule {
    PruneRule {
        finished_before: hours_from_now(1),
        per_type: BTreeMap::new(),
        only_type: None,
    }
}

/// A job of `job_type` with `lines` log lines, finished as `end` says.
async fn finished_job(store: &Store, job_type: &str, lines: usize, end: JobStatus) -> Job {
    let job = create_of(store, job_type).await;
    for n in 0..lines {
        store
            .append_log(
                job.id,
                Writer::External,
                LogLevel::Info,
                &format!("line {n}"),
            )
            .await
            .unwrap();
    }
    match end {
        JobStatus::Completed => store
            .complete(job.id, Writer::External, None)
            .await
            .unwrap(),
        JobStatus::Failed => store
            .fail(job.id, Writer::External, "broke", None, None)
            .await
            .unwrap(),
        JobStatus::Cancelled => cancel_outcome_job(store.cancel(job.id, true).await.unwrap()),
        other => panic!("{other} is not an end"),
    }
}

/// Some job that is changed last, so none of the finished ones is.
async fn change_something_else(store: &Store) -> Job {
    create_of(store, "bystander").await
}

fn sorted(mut ids: Vec<JobId>) -> Vec<JobId> {
    ids.sort();
    ids
}

conformance!(only_finished_jobs_that_finished_before_the_cutoff_are_prunable);
async fn only_finished_jobs_that_finished_before_the_cutoff_are_prunable(store: Store) {
    let completed = finished_job(&store, "work", 0, JobStatus::Completed).await;
    let failed = finished_job(&store, "work", 0, JobStatus::Failed).await;
    let cancelled = finished_job(&store, "work", 0, JobStatus::Cancelled).await;
    let running = running_job(&store, OWNER, LEASE).await;
    let external = create_of(&store, "work").await;
    store
        .report_progress(external.id, Writer::External, &report(1.0, "on"))
        .await
        .unwrap();
    let queued = change_something_else(&store).await;

    let prunable = store.prunable_jobs(&everything(), 100).await.unwrap();
    assert_eq!(
        sorted(prunable),
        sorted(vec![completed.id, failed.id, cancelled.id]),
        "finished jobs only: never {} (running), {} (external, running) or {} (queued)",
        running.id,
        external.id,
        queued.id
    );
    assert_eq!(store.count_prunable(&everything()).await.unwrap(), (3, 0));

    // The cutoff is exclusive: finished at it is kept, a millisecond before it is not.
    let at = completed.finished_at.unwrap();
    let rule = |finished_before| PruneRule {
        finished_before,
        ..everything()
    };
    let just_after = Timestamp::from_millis(at.as_millis() + 1);
    assert!(store
        .prunable_jobs(&rule(at), 100)
        .await
        .unwrap()
        .iter()
        .all(|id| *id != completed.id));
    assert!(store
        .prunable_jobs(&rule(just_after), 100)
        .await
        .unwrap()
        .contains(&completed.id));
    assert_eq!(
        store
            .prunable_jobs(&rule(Timestamp::from_millis(0)), 100)
            .await
            .unwrap(),
        [],
        "nothing finished before 1970"
    );

    // Deleting checks each job again: unfinished ones passed in are kept.
    let all_ids = [
        completed.id,
        failed.id,
        cancelled.id,
        running.id,
        external.id,
        queued.id,
    ];
    assert_eq!(
        store
            .delete_prunable_logs(&all_ids, &everything(), 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .delete_prunable_jobs(&all_ids, &everything())
            .await
            .unwrap(),
        3
    );
    let left = store.get_jobs(&all_ids).await.unwrap();
    assert_eq!(
        sorted(ids(&left)),
        sorted(vec![running.id, external.id, queued.id])
    );
}

conformance!(the_job_changed_last_is_never_pruned);
async fn the_job_changed_last_is_never_pruned(store: Store) {
    let first = finished_job(&store, "work", 0, JobStatus::Completed).await;
    let last = finished_job(&store, "work", 0, JobStatus::Completed).await;
    let newest = store.max_change_seq().await.unwrap();
    assert_eq!(
        store.prunable_jobs(&everything(), 100).await.unwrap(),
        [first.id],
        "the job changed last is kept"
    );
    assert_eq!(store.count_prunable(&everything()).await.unwrap(), (1, 0));
    assert_eq!(
        store
            .delete_prunable_jobs(&[first.id, last.id], &everything())
            .await
            .unwrap(),
        1
    );
    assert!(store.get_job(last.id).await.unwrap().is_some());
    assert_eq!(
        store.max_change_seq().await.unwrap(),
        newest,
        "the newest number stays"
    );

    // Once something else has changed, it may go too.
    change_something_else(&store).await;
    assert_eq!(
        store.prunable_jobs(&everything(), 100).await.unwrap(),
        [last.id]
    );
    assert_eq!(
        store
            .delete_prunable_jobs(&[last.id], &everything())
            .await
            .unwrap(),
        1
    );
    assert!(store.get_job(last.id).await.unwrap().is_none());
}

conformance!(per_type_cutoffs_and_only_type_narrow_the_rule);
async fn per_type_cutoffs_and_only_type_narrow_the_rule(store: Store) {
    let a = finished_job(&store, "a", 0, JobStatus::Completed).await;
    let b = finished_job(&store, "b", 0, JobStatus::Completed).await;
    let c = finished_job(&store, "c", 0, JobStatus::Failed).await;
    change_something_else(&store).await;
    let long_ago = Timestamp::from_millis(0);

    // b keeps its jobs longer: its own cutoff is before any of them finished.
    let rule = PruneRule {
        per_type: BTreeMap::from([("b".to_owned(), long_ago)]),
        ..everything()
    };
    assert_eq!(
        sorted(store.prunable_jobs(&rule, 100).await.unwrap()),
        sorted(vec![a.id, c.id])
    );
    assert_eq!(store.count_prunable(&rule).await.unwrap(), (2, 0));

    // A type's own cutoff can be later than the default too.
    let rule = PruneRule {
        finished_before: long_ago,
        per_type: BTreeMap::from([("c".to_owned(), hours_from_now(1))]),
        only_type: None,
    };
    assert_eq!(store.prunable_jobs(&rule, 100).await.unwrap(), [c.id]);

    let only_b = PruneRule {
        only_type: Some("b".to_owned()),
        ..everything()
    };
    assert_eq!(store.prunable_jobs(&only_b, 100).await.unwrap(), [b.id]);
    assert_eq!(store.count_prunable(&only_b).await.unwrap(), (1, 0));
    // The deletes honour the rule too, whatever ids they are given.
    assert_eq!(
        store
            .delete_prunable_jobs(&[a.id, b.id, c.id], &only_b)
            .await
            .unwrap(),
        1
    );
    let left = store.get_jobs(&[a.id, b.id, c.id]).await.unwrap();
    assert_eq!(sorted(ids(&left)), sorted(vec![a.id, c.id]));
}

conformance!(prunable_jobs_come_oldest_finished_first_up_to_the_limit);
async fn prunable_jobs_come_oldest_finished_first_up_to_the_limit(store: Store) {
    // Finished in the reverse of the order they were made.
    let made: Vec<Job> = {
        let mut made = Vec::new();
        for _ in 0..5 {
            made.push(create_of(&store, "work").await);
        }
        made
    };
    let mut finished = Vec::new();
    for job in made.iter().rev() {
        // A millisecond apart, so the order is the finishing order.
        if let Some(previous) = finished.last().map(|j: &Job| j.finished_at.unwrap()) {
            clock_past(previous).await;
        }
        finished.push(
            store
                .complete(job.id, Writer::External, None)
                .await
                .unwrap(),
        );
    }
    change_something_else(&store).await;
    assert_eq!(
        store.prunable_jobs(&everything(), 100).await.unwrap(),
        ids(&finished)
    );
    assert_eq!(
        store.prunable_jobs(&everything(), 2).await.unwrap(),
        ids(&finished[..2])
    );
    assert_eq!(store.prunable_jobs(&everything(), 0).await.unwrap(), []);
}

conformance!(pruning_deletes_log_lines_in_batches_then_the_jobs_left_without_lines);
async fn pruning_deletes_log_lines_in_batches_then_the_jobs_left_without_lines(store: Store) {
    let chatty = finished_job(&store, "work", 7, JobStatus::Completed).await;
    let quiet = finished_job(&store, "work", 2, JobStatus::Failed).await;
    let silent = finished_job(&store, "work", 0, JobStatus::Cancelled).await;
    let unfinished = create_of(&store, "work").await;
    store
        .append_log(
            unfinished.id,
            Writer::External,
            LogLevel::Info,
            "still going",
        )
        .await
        .unwrap();
    change_something_else(&store).await;
    let rule = everything();
    assert_eq!(store.count_prunable(&rule).await.unwrap(), (3, 9));

    let ids = store.prunable_jobs(&rule, 100).await.unwrap();
    assert_eq!(ids.len(), 3);
    let mut passed = ids.clone();
    passed.push(unfinished.id);
    // A job with lines left is not deleted.
    assert_eq!(
        store.delete_prunable_jobs(&passed, &rule).await.unwrap(),
        1,
        "only the silent one"
    );
    assert!(store.get_job(silent.id).await.unwrap().is_none());

    let mut batches = Vec::new();
    loop {
        let deleted = store.delete_prunable_logs(&passed, &rule, 4).await.unwrap();
        if deleted == 0 {
            break;
        }
        assert!(deleted <= 4, "a batch of {deleted} lines, over its limit");
        batches.push(deleted);
    }
    assert_eq!(
        batches.iter().sum::<u64>(),
        9,
        "every line of the prunable jobs: {batches:?}"
    );
    assert_eq!(store.count_prunable(&rule).await.unwrap(), (2, 0));
    assert!(all_logs(&store, chatty.id).await.is_empty());
    assert_eq!(
        all_logs(&store, unfinished.id).await.len(),
        1,
        "an unfinished job's lines stay"
    );

    assert_eq!(store.delete_prunable_jobs(&passed, &rule).await.unwrap(), 2);
    for id in [chatty.id, quiet.id, silent.id] {
        assert!(store.get_job(id).await.unwrap().is_none());
    }
    assert!(store.get_job(unfinished.id).await.unwrap().is_some());
    assert_eq!(store.count_prunable(&rule).await.unwrap(), (0, 0));
}
