//! Control: paused types (`pause_type`: "no claim in any process takes a queued job of the
//! type"; `resume_type`), the counts and the types overview (`count_by_type_and_status`,
//! `type_stats`: "the same counts", kept as jobs change), bulk actions (`bulk_step`: "each job
//! changed is changed exactly as the single-job write would change it ... with a version and a
//! change number of its own"; `count_matching`), and schedules' state
//! (`record_schedule_run`: "exactly one does").

use std::collections::BTreeMap;
use std::sync::Arc;

use jobcast::store::{BulkAction, JobFilter, ScheduleState};

use crate::fixtures::*;

/// Jobs by (type, status), counted by listing every job: what the counters must say.
async fn counted(store: &Store) -> BTreeMap<(String, String), i64> {
    let mut counts = BTreeMap::new();
    let mut before = None;
    loop {
        let page = store
            .list_jobs(&ListFilter {
                before,
                limit: 500,
                ..ListFilter::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else {
            return counts;
        };
        before = Some(last.id);
        for job in &page {
            *counts
                .entry((job.job_type.clone(), job.status.as_str().to_owned()))
                .or_default() += 1;
        }
    }
}

/// What `count_by_type_and_status` says, as a map.
async fn reported(store: &Store) -> BTreeMap<(String, String), i64> {
    store
        .count_by_type_and_status()
        .await
        .unwrap()
        .into_iter()
        .map(|(t, s, n)| ((t, s), n))
        .collect()
}

#[track_caller]
fn assert_counts(
    reported: &BTreeMap<(String, String), i64>,
    counted: &BTreeMap<(String, String), i64>,
    when: &str,
) {
    assert_eq!(reported, counted, "counts {when}");
}

/// A failed job of `job_type`.
async fn failed(store: &Store, job_type: &str) -> Job {
    let job = create_of(store, job_type).await;
    store
        .fail(job.id, Writer::External, "broke", None, None)
        .await
        .unwrap()
}

/// A cancelled job of `job_type`.
async fn cancelled(store: &Store, job_type: &str) -> Job {
    let job = create_of(store, job_type).await;
    cancel_outcome_job(store.cancel(job.id, false).await.unwrap())
}

fn of_types(types: &[&str]) -> JobFilter {
    JobFilter {
        types: Some(type_list(types)),
        ..JobFilter::default()
    }
}

conformance!(a_paused_type_is_claimed_by_nobody_until_it_is_resumed);
async fn a_paused_type_is_claimed_by_nobody_until_it_is_resumed(store: Store) {
    let paused = create_of(&store, "paused").await;
    let other = create_of(&store, "other").await;
    let since = store.pause_type("paused").await.unwrap();
    assert_eq!(
        store.paused_types().await.unwrap(),
        [("paused".to_owned(), since)]
    );
    // Pausing again keeps the first pause's time.
    clock_past(since).await;
    assert_eq!(store.pause_type("paused").await.unwrap(), since);

    let claimed = claim(&store, &["paused", "other"], &runner(OWNER), LEASE, 10).await;
    assert_eq!(
        ids(&claimed),
        [other.id],
        "only the type that is not paused"
    );
    let worker = Claimant {
        owner: "lease-1",
        worker: Some("w"),
    };
    assert!(claim(&store, &["paused"], &worker, LEASE, 10)
        .await
        .is_empty());
    // Jobs created while paused are stored and wait.
    let later = create_of(&store, "paused").await;
    assert!(claim(&store, &["paused"], &runner(OTHER), LEASE, 10)
        .await
        .is_empty());
    assert_eq!(get(&store, paused.id).await.status, JobStatus::Queued);

    assert!(store.resume_type("paused").await.unwrap());
    assert!(
        !store.resume_type("paused").await.unwrap(),
        "no longer paused"
    );
    assert!(store.paused_types().await.unwrap().is_empty());
    let claimed = claim(&store, &["paused"], &runner(OWNER), LEASE, 10).await;
    assert_eq!(ids(&claimed), [paused.id, later.id]);
}

conformance!(a_pause_leaves_running_jobs_and_their_writes_alone);
async fn a_pause_leaves_running_jobs_and_their_writes_alone(store: Store) {
    let job = running_job(&store, OWNER, LEASE).await;
    store.pause_type(&job.job_type).await.unwrap();
    store
        .report_progress(job.id, Writer::Lease(OWNER), &report(50.0, "halfway"))
        .await
        .unwrap();
    let done = store
        .complete(job.id, Writer::Lease(OWNER), None)
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
}

conformance!(the_counts_follow_every_change_of_status);
async fn the_counts_follow_every_change_of_status(store: Store) {
    assert!(reported(&store).await.is_empty());
    let a = create_of(&store, "a").await;
    let b = create_of(&store, "a").await;
    create_of(&store, "b").await;
    assert_counts(
        &reported(&store).await,
        &counted(&store).await,
        "after creates",
    );
    claim_job(&store, &a, OWNER, LEASE).await;
    store
        .complete(a.id, Writer::Lease(OWNER), None)
        .await
        .unwrap();
    let f = failed(&store, "b").await;
    let c = cancelled(&store, "a").await;
    cancel_outcome_job(store.cancel(b.id, false).await.unwrap());
    assert_counts(
        &reported(&store).await,
        &counted(&store).await,
        "after ends",
    );
    store.retry(f.id).await.unwrap();
    store.retry(c.id).await.unwrap();
    assert_counts(
        &reported(&store).await,
        &counted(&store).await,
        "after retries",
    );
    // An attempt whose lease expired, with attempts left and without.
    let expiring = running_job(&store, OWNER, SHORT_LEASE).await;
    recover(&store, &[expiring.id]).await;
    assert_counts(
        &reported(&store).await,
        &counted(&store).await,
        "after recovery",
    );
    // Pruning finished jobs (all but the one changed last).
    create_of(&store, "bystander").await;
    let rule = PruneRule {
        finished_before: Timestamp::from_millis(Timestamp::now().as_millis() + 3_600_000),
        per_type: BTreeMap::new(),
        only_type: None,
    };
    let prunable = store.prunable_jobs(&rule, 100).await.unwrap();
    assert!(!prunable.is_empty());
    store.delete_prunable_jobs(&prunable, &rule).await.unwrap();
    assert_counts(
        &reported(&store).await,
        &counted(&store).await,
        "after a prune",
    );
    // A bulk retry and a bulk cancel.
    failed(&store, "a").await;
    store
        .bulk(
            BulkAction::Retry,
            &of_types(&["a"]),
            &[JobStatus::Failed],
            1,
            |_| {},
        )
        .await
        .unwrap();
    store
        .bulk(
            BulkAction::Cancel,
            &of_types(&["a", "b"]),
            &[JobStatus::Queued],
            2,
            |_| {},
        )
        .await
        .unwrap();
    assert_counts(
        &reported(&store).await,
        &counted(&store).await,
        "after bulk actions",
    );
}

conformance!(the_overview_counts_each_type_and_knows_its_oldest_due_job_and_throughput);
async fn the_overview_counts_each_type_and_knows_its_oldest_due_job_and_throughput(store: Store) {
    let now = Timestamp::now();
    let at = |ms: i64| Some(Timestamp::from_millis(now.as_millis() + ms));
    let due = create(
        &store,
        NewJob {
            run_at: at(-60_000),
            ..new_job("t")
        },
    )
    .await;
    create(
        &store,
        NewJob {
            run_at: at(3_600_000),
            ..new_job("t")
        },
    )
    .await;
    create_of(&store, "t").await;
    let done = create_of(&store, "t").await;
    store
        .complete(done.id, Writer::External, None)
        .await
        .unwrap();
    failed(&store, "u").await;

    let stats = store.type_stats(Timestamp::now()).await.unwrap();
    let t = stats
        .iter()
        .find(|s| s.job_type == "t")
        .expect("t is there");
    assert_eq!(t.counts.get(&JobStatus::Queued), Some(&3));
    assert_eq!(t.counts.get(&JobStatus::Completed), Some(&1));
    assert_eq!(t.counts.get(&JobStatus::Failed), None);
    // The job due a minute ago has waited longest; the one due in an hour is not waiting.
    assert_eq!(t.oldest_due, Some(due.run_at));
    assert_eq!((t.finished_last_minute, t.finished_last_hour), (1, 1));
    let u = stats
        .iter()
        .find(|s| s.job_type == "u")
        .expect("u is there");
    assert_eq!(u.counts.get(&JobStatus::Failed), Some(&1));
    assert_eq!(u.oldest_due, None);
    assert_eq!((u.finished_last_minute, u.finished_last_hour), (1, 1));
    // The same counts as the metrics read.
    let from_stats: BTreeMap<(String, String), i64> = stats
        .iter()
        .flat_map(|s| {
            s.counts
                .iter()
                .map(|(status, n)| ((s.job_type.clone(), status.as_str().to_owned()), *n))
        })
        .collect();
    assert_counts(&from_stats, &reported(&store).await, "in the overview");

    // An hour later the finishes have left the window, and once forgotten are gone.
    let later = Timestamp::from_millis(Timestamp::now().as_millis() + 3_700_000);
    let t = store.type_stats(later).await.unwrap();
    let t = t.iter().find(|s| s.job_type == "t").unwrap();
    assert_eq!((t.finished_last_minute, t.finished_last_hour), (0, 0));
    assert_eq!(t.counts.get(&JobStatus::Completed), Some(&1), "counts stay");
    assert!(store.forget_finishes(later).await.unwrap() >= 2);
    assert_eq!(store.forget_finishes(later).await.unwrap(), 0);
}

conformance!(a_bulk_retry_changes_exactly_the_matching_jobs_each_as_a_retry_does);
async fn a_bulk_retry_changes_exactly_the_matching_jobs_each_as_a_retry_does(store: Store) {
    let mut matching = Vec::new();
    for _ in 0..3 {
        matching.push(failed(&store, "import").await);
        matching.push(cancelled(&store, "import").await);
    }
    let other_type = failed(&store, "export").await;
    let completed = create_of(&store, "import").await;
    let completed = store
        .complete(completed.id, Writer::External, None)
        .await
        .unwrap();
    let queued = create_of(&store, "import").await;
    let mark = store.max_change_seq().await.unwrap();
    let filter = of_types(&["import"]);
    let statuses = [JobStatus::Failed, JobStatus::Cancelled];
    let mut would = 0;
    for status in statuses {
        would += store.count_matching(&filter, status).await.unwrap();
    }
    assert_eq!(would, 6);

    let mut steps = Vec::new();
    let changed = store
        .bulk(BulkAction::Retry, &filter, &statuses, 4, |jobs| {
            steps.push(jobs.len())
        })
        .await
        .unwrap();
    assert_eq!(changed, 6);
    assert!(
        steps.iter().all(|n| *n <= 4),
        "steps of at most 4: {steps:?}"
    );
    for before in &matching {
        let after = get(&store, before.id).await;
        assert_eq!(after.status, JobStatus::Queued, "{}", before.id);
        assert_eq!(after.attempt, 0);
        assert_eq!((after.error.as_deref(), after.finished_at), (None, None));
        // As a single retry: the state change, then the note, each a version of its own.
        assert_eq!(after.version, before.version + 2);
        assert_eq!(after.state_version, before.version + 1);
        let note = all_logs(&store, before.id).await.pop().expect("a note");
        assert!(note.message.contains("retried"), "{}", note.message);
        assert_eq!((note.seq, note.version), (after.log_seq, after.version));
    }
    for untouched in [&other_type, &completed, &queued] {
        assert_eq!(&get(&store, untouched.id).await, untouched);
    }
    // Each changed job got a change number of its own.
    let (changes, _) = changes_above(&store, mark, 2).await;
    let mut seen: Vec<JobId> = changes.iter().map(|(id, ..)| *id).collect();
    seen.sort();
    let mut expected = ids(&matching);
    expected.sort();
    assert_eq!(seen, expected);
    let numbers: std::collections::BTreeSet<i64> = changes.iter().map(|c| c.2).collect();
    assert_eq!(numbers.len(), 6);
    // Nothing matches now.
    assert_eq!(
        store
            .count_matching(&filter, JobStatus::Failed)
            .await
            .unwrap(),
        0
    );
}

conformance!(a_bulk_cancel_ends_queued_jobs_and_asks_runners_to_stop_theirs);
async fn a_bulk_cancel_ends_queued_jobs_and_asks_runners_to_stop_theirs(store: Store) {
    let queued = [
        create_of(&store, "work").await,
        create_of(&store, "work").await,
    ];
    let running = claim_job(&store, &create_of(&store, "solo").await, OWNER, LEASE).await;
    let outside = create_of(&store, "outside").await;
    let outside = store
        .report_progress(outside.id, Writer::External, &report(5.0, "started"))
        .await
        .unwrap();
    let finished = failed(&store, "work").await;

    let cancelled = store
        .bulk(
            BulkAction::Cancel,
            &of_types(&["work", "solo", "outside"]),
            &[JobStatus::Queued],
            10,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(cancelled, 2);
    for job in &queued {
        let after = get(&store, job.id).await;
        assert_eq!(after.status, JobStatus::Cancelled);
        assert_eq!(after.version, job.version + 1);
        assert!(after.finished_at.is_some());
    }
    // Running jobs outside code runs end at once; in-process ones are asked to stop.
    let external = store
        .bulk(
            BulkAction::CancelExternal,
            &of_types(&["outside"]),
            &[JobStatus::Running],
            10,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(external, 1);
    assert_eq!(get(&store, outside.id).await.status, JobStatus::Cancelled);
    let requested = store
        .bulk(
            BulkAction::RequestCancel,
            &of_types(&["solo"]),
            &[JobStatus::Running],
            10,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(requested, 1);
    let after = get(&store, running.id).await;
    assert_eq!(after.status, JobStatus::Running);
    assert!(after.cancel_requested);
    assert_eq!(after.version, running.version, "a request is not a change");
    assert_eq!(
        store.renew_leases(OWNER, LEASE).await.unwrap(),
        [running.id],
        "the runner hears of it"
    );
    assert_eq!(&get(&store, finished.id).await, &finished);
    // A status the action does not apply from matches nothing.
    let none = store
        .bulk_step(
            BulkAction::Cancel,
            &of_types(&["work"]),
            JobStatus::Failed,
            None,
            10,
        )
        .await
        .unwrap();
    assert!(none.changed.is_empty() && none.last.is_none());
}

conformance!(a_bulk_filter_by_ids_and_creation_time_takes_only_those);
async fn a_bulk_filter_by_ids_and_creation_time_takes_only_those(store: Store) {
    let mut jobs = Vec::new();
    for _ in 0..3 {
        jobs.push(failed(&store, "batch").await);
    }
    // Made within one millisecond, later jobs could share the cut's time: they are made after.
    let cut = Timestamp::from_millis(jobs[2].created_at.as_millis() + 1);
    clock_past(cut).await;
    for _ in 0..2 {
        jobs.push(failed(&store, "batch").await);
    }
    let newer = failed(&store, "batch").await;
    let by_time = JobFilter {
        created_before: Some(cut),
        ..JobFilter::default()
    };
    assert_eq!(
        store
            .count_matching(&by_time, JobStatus::Failed)
            .await
            .unwrap(),
        3
    );
    let by_ids = JobFilter {
        ids: Some(vec![jobs[1].id, newer.id, JobId::new()]),
        ..JobFilter::default()
    };
    assert_eq!(
        store
            .count_matching(&by_ids, JobStatus::Failed)
            .await
            .unwrap(),
        2
    );
    let changed = store
        .bulk(BulkAction::Retry, &by_ids, &[JobStatus::Failed], 1, |_| {})
        .await
        .unwrap();
    assert_eq!(changed, 2);
    assert_eq!(get(&store, jobs[1].id).await.status, JobStatus::Queued);
    assert_eq!(get(&store, newer.id).await.status, JobStatus::Queued);
    assert_eq!(get(&store, jobs[0].id).await.status, JobStatus::Failed);
    assert_eq!(
        store
            .count_matching(&by_time, JobStatus::Failed)
            .await
            .unwrap(),
        2
    );
}

conformance!(a_tick_is_recorded_once_and_a_manual_run_always_counts);
async fn a_tick_is_recorded_once_and_a_manual_run_always_counts(store: Store) {
    assert!(store.schedule_states().await.unwrap().is_empty());
    let tick = Timestamp::from_millis(1_800_000_000_000);
    let (first, second) = (JobId::new(), JobId::new());
    assert!(store
        .record_schedule_run("nightly", tick, first, false)
        .await
        .unwrap());
    assert!(!store
        .record_schedule_run("nightly", tick, second, false)
        .await
        .unwrap());
    let earlier = Timestamp::from_millis(tick.as_millis() - 1000);
    assert!(!store
        .record_schedule_run("nightly", earlier, second, false)
        .await
        .unwrap());
    let state = store.schedule_states().await.unwrap().pop().unwrap();
    assert_eq!(
        state,
        ScheduleState {
            last_run_at: Some(tick),
            last_job_id: Some(first),
            run_count: 1,
            ..ScheduleState::new("nightly")
        }
    );
    let next = Timestamp::from_millis(tick.as_millis() + 1000);
    assert!(store
        .record_schedule_run("nightly", next, second, false)
        .await
        .unwrap());
    // Triggers count every time, even at an instant already recorded.
    let manual = JobId::new();
    assert!(store
        .record_schedule_run("nightly", next, manual, true)
        .await
        .unwrap());
    assert!(store
        .record_schedule_run("nightly", earlier, JobId::new(), true)
        .await
        .unwrap());
    let state = store.schedule_states().await.unwrap().pop().unwrap();
    assert_eq!(state.run_count, 4);
    assert_eq!(
        state.last_run_at,
        Some(next),
        "an older trigger does not move it back"
    );

    let paused = store
        .set_schedule_paused("nightly", true, next)
        .await
        .unwrap();
    assert!(paused.paused && paused.run_count == 4);
    let other = store
        .set_schedule_paused("weekly", true, next)
        .await
        .unwrap();
    assert_eq!(
        other,
        ScheduleState {
            paused: true,
            ..ScheduleState::new("weekly")
        }
    );
    let resumed = store
        .set_schedule_paused("nightly", false, next)
        .await
        .unwrap();
    assert!(!resumed.paused);
    let names: Vec<String> = store
        .schedule_states()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["nightly", "weekly"]);
}

conformance!(multi_thread concurrent_records_of_one_tick_count_it_once);
async fn concurrent_records_of_one_tick_count_it_once(store: Store) {
    let tick = Timestamp::from_millis(1_800_000_000_000);
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .record_schedule_run("every-second", tick, JobId::new(), false)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut recorded = 0;
    for task in tasks {
        recorded += usize::from(task.await.unwrap());
    }
    assert_eq!(recorded, 1);
    let state = store.schedule_states().await.unwrap().pop().unwrap();
    assert_eq!(state.run_count, 1);
}
