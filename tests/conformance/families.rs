//! Parent and child jobs: children made atomically with the check on their parent, a parent
//! waiting for them and queued again when the last one ends, the fail-fast and wait-for-all
//! policies, cancels that cascade, retries that keep completed children, and the limits.

use jobcast::job::ChildPolicy;
use jobcast::store::{BulkAction, FamilyLimits, JobFilter};

use crate::fixtures::*;

const LIMITS: FamilyLimits = FamilyLimits {
    max_depth: 2,
    max_children: 5,
};

fn child(job_type: &str, n: usize) -> NewJob {
    NewJob {
        payload: json!({ "part": n }),
        max_attempts: 1,
        ..new_job(job_type)
    }
}

/// A running parent (claimed by OWNER) and the `n` children it made under `policy`.
async fn family(store: &Store, n: usize, policy: ChildPolicy) -> (Job, Vec<Job>, String) {
    let parent = running_job(store, OWNER, LEASE).await;
    let kids = unique_type("child");
    let made = store
        .spawn_children(
            parent.id,
            Writer::Lease(OWNER),
            (0..n).map(|i| child(&kids, i)).collect(),
            policy,
            LIMITS,
        )
        .await
        .expect("spawn_children");
    assert!(made.iter().all(|(_, new)| *new), "every child is new");
    (
        get(store, parent.id).await,
        made.into_iter().map(|(job, _)| job).collect(),
        kids,
    )
}

/// Claims every queued child of type `kids` for OTHER.
async fn claim_children(store: &Store, kids: &str, n: usize) -> Vec<Job> {
    let claimed = claim(store, &[kids], &runner(OTHER), LEASE, n).await;
    assert_eq!(claimed.len(), n, "every child claimed");
    claimed
}

async fn complete_child(store: &Store, id: JobId, result: Value) -> Job {
    store
        .complete(id, Writer::Lease(OTHER), Some(&result))
        .await
        .expect("complete the child")
}

async fn fail_child(store: &Store, id: JobId) -> Job {
    store
        .fail(id, Writer::Lease(OTHER), "bad part", None, None)
        .await
        .expect("fail the child")
}

async fn complete_parent(store: &Store, parent: &Job) -> Job {
    store
        .complete(parent.id, Writer::Lease(OWNER), Some(&json!("split")))
        .await
        .expect("the parent's handler returns")
}

conformance!(a_running_parent_makes_queued_children_that_name_it);
async fn a_running_parent_makes_queued_children_that_name_it(store: Store) {
    let (parent, children, _) = family(&store, 3, ChildPolicy::FailFast).await;
    assert_eq!(parent.children, 3);
    assert!(parent.awaiting_children);
    for (i, job) in children.iter().enumerate() {
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(job.parent_id, Some(parent.id));
        assert_eq!(job.depth, 1);
        assert_eq!(job.payload, json!({ "part": i }));
    }
    let listed = store.children(parent.id, None, 10).await.unwrap();
    assert_eq!(ids(&listed), ids(&children), "listed oldest first");
    let first = store.children(parent.id, None, 2).await.unwrap();
    let rest = store
        .children(parent.id, Some(first[1].id), 2)
        .await
        .unwrap();
    assert_eq!(
        [ids(&first), ids(&rest)].concat(),
        ids(&children),
        "paging neither skips nor repeats"
    );
    assert!(store
        .children(children[0].id, None, 10)
        .await
        .unwrap()
        .is_empty());
}

conformance!(children_are_refused_unless_the_writer_may_report_on_the_parent);
async fn children_are_refused_unless_the_writer_may_report_on_the_parent(store: Store) {
    let parent = running_job(&store, OWNER, LEASE).await;
    let kids = unique_type("child");
    let spawn = |writer, id| {
        store.spawn_children(
            id,
            writer,
            vec![child(&kids, 0)],
            ChildPolicy::FailFast,
            LIMITS,
        )
    };
    assert_conflict(
        spawn(Writer::Lease(OTHER), parent.id).await,
        parent.id,
        JobStatus::Running,
    );
    assert_conflict(
        spawn(Writer::External, parent.id).await,
        parent.id,
        JobStatus::Running,
    );
    assert_not_found(spawn(Writer::Lease(OWNER), JobId::new()).await);
    let queued = create_of(&store, &unique_type("queued")).await;
    assert_conflict(
        spawn(Writer::Lease(OWNER), queued.id).await,
        queued.id,
        JobStatus::Queued,
    );
    assert!(store
        .children(parent.id, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(get(&store, parent.id).await.version, parent.version);
    assert_eq!(store.count_queued(&kids).await.unwrap(), 0, "no child made");
}

conformance!(the_depth_and_children_limits_refuse_the_whole_request);
async fn the_depth_and_children_limits_refuse_the_whole_request(store: Store) {
    let (parent, _, kids) = family(&store, 4, ChildPolicy::FailFast).await;
    let too_many = store
        .spawn_children(
            parent.id,
            Writer::Lease(OWNER),
            vec![child(&kids, 4), child(&kids, 5)],
            ChildPolicy::FailFast,
            LIMITS,
        )
        .await;
    assert!(
        matches!(&too_many, Err(StoreError::Family(m)) if m.contains("at most 5 children")),
        "{too_many:?}"
    );
    assert_eq!(get(&store, parent.id).await.children, 4, "nothing counted");
    assert_eq!(store.count_queued(&kids).await.unwrap(), 4, "nothing made");

    // Depth: the parent is 0, its child 1, the grandchild 2 (the limit), no deeper.
    let child = claim(&store, &[&kids], &runner(OTHER), LEASE, 1)
        .await
        .remove(0);
    let grandkids = unique_type("grandchild");
    let grandchild = store
        .spawn_children(
            child.id,
            Writer::Lease(OTHER),
            vec![new_job(&grandkids)],
            ChildPolicy::FailFast,
            LIMITS,
        )
        .await
        .unwrap()
        .remove(0)
        .0;
    assert_eq!(grandchild.depth, 2);
    let grandchild = claim_job(&store, &grandchild, OWNER, LEASE).await;
    let too_deep = store
        .spawn_children(
            grandchild.id,
            Writer::Lease(OWNER),
            vec![new_job(&grandkids)],
            ChildPolicy::FailFast,
            LIMITS,
        )
        .await;
    assert!(
        matches!(&too_deep, Err(StoreError::Family(m)) if m.contains("levels deep")),
        "{too_deep:?}"
    );
    assert_eq!(get(&store, grandchild.id).await.children, 0);
}

conformance!(a_parent_waits_without_a_lease_and_is_queued_when_its_last_child_ends);
async fn a_parent_waits_without_a_lease_and_is_queued_when_its_last_child_ends(store: Store) {
    let (parent, _, kids) = family(&store, 2, ChildPolicy::FailFast).await;
    let waiting = complete_parent(&store, &parent).await;
    assert_eq!(waiting.status, JobStatus::Waiting);
    assert_eq!(waiting.lease_owner, None, "a waiting parent holds no lease");
    assert_eq!(waiting.finished_at, None);
    assert!(!waiting.awaiting_children);

    let running = claim_children(&store, &kids, 2).await;
    let mark = store.max_change_seq().await.unwrap();
    complete_child(&store, running[0].id, json!({"spans": 10})).await;
    assert_eq!(get(&store, parent.id).await.status, JobStatus::Waiting);
    let last = complete_child(&store, running[1].id, json!({"spans": 32})).await;
    let woken = get(&store, parent.id).await;
    assert_eq!(
        woken.status,
        JobStatus::Queued,
        "queued with the last child's end"
    );
    assert!(woken.version > waiting.version);
    let (changes, _) = changes_above(&store, mark, 100).await;
    let seq_of = |id: JobId| changes.iter().find(|c| c.0 == id).map(|c| c.2);
    assert!(
        seq_of(parent.id) > seq_of(last.id),
        "the parent's wake-up is a change of its own, after the child's end"
    );

    // Its next run reads the children's outcomes.
    let again = claim_job(&store, &woken, OWNER, LEASE).await;
    assert_eq!(again.attempt, 1, "the waiting did not use up an attempt");
    let outcomes = store.children(parent.id, None, 10).await.unwrap();
    let spans: i64 = outcomes
        .iter()
        .map(|c| c.result.as_ref().unwrap()["spans"].as_i64().unwrap())
        .sum();
    assert_eq!(spans, 42);
    let done = store
        .complete(
            parent.id,
            Writer::Lease(OWNER),
            Some(&json!({"spans": spans})),
        )
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.progress, 100.0);
}

conformance!(a_parent_whose_children_ended_before_it_returned_still_runs_again);
async fn a_parent_whose_children_ended_before_it_returned_still_runs_again(store: Store) {
    let (parent, _, kids) = family(&store, 1, ChildPolicy::FailFast).await;
    let running = claim_children(&store, &kids, 1).await;
    complete_child(&store, running[0].id, json!(1)).await;
    assert_eq!(get(&store, parent.id).await.status, JobStatus::Running);
    let after = complete_parent(&store, &parent).await;
    assert_eq!(
        after.status,
        JobStatus::Waiting,
        "as answered to the parent's end"
    );
    assert_eq!(
        get(&store, parent.id).await.status,
        JobStatus::Queued,
        "and queued in the same transaction: nothing left to wait for"
    );
}

conformance!(a_failed_child_fails_a_fail_fast_parent_and_cancels_the_rest);
async fn a_failed_child_fails_a_fail_fast_parent_and_cancels_the_rest(store: Store) {
    let (parent, children, kids) = family(&store, 3, ChildPolicy::FailFast).await;
    complete_parent(&store, &parent).await;
    let running = claim_children(&store, &kids, 2).await;
    let failed = fail_child(&store, running[0].id).await;
    assert_eq!(failed.status, JobStatus::Failed);
    let parent = get(&store, parent.id).await;
    assert_eq!(parent.status, JobStatus::Failed);
    assert!(
        parent
            .error
            .as_deref()
            .unwrap()
            .contains(&failed.id.to_string()),
        "the parent's error names the child: {:?}",
        parent.error
    );
    let queued = children
        .iter()
        .find(|c| !running.iter().any(|r| r.id == c.id))
        .unwrap();
    assert_eq!(get(&store, queued.id).await.status, JobStatus::Cancelled);
    let other = get(&store, running[1].id).await;
    assert_eq!(other.status, JobStatus::Running, "its runner stops it");
    assert!(other.cancel_requested, "asked to stop");
    let stopped = store.finish_cancelled(other.id, OTHER).await.unwrap();
    assert_eq!(stopped.status, JobStatus::Cancelled);
    assert_eq!(get(&store, parent.id).await.status, JobStatus::Failed);
}

conformance!(a_wait_for_all_parent_runs_again_after_a_child_failed);
async fn a_wait_for_all_parent_runs_again_after_a_child_failed(store: Store) {
    let (parent, _, kids) = family(&store, 2, ChildPolicy::WaitForAll).await;
    complete_parent(&store, &parent).await;
    let running = claim_children(&store, &kids, 2).await;
    fail_child(&store, running[0].id).await;
    assert_eq!(get(&store, parent.id).await.status, JobStatus::Waiting);
    complete_child(&store, running[1].id, json!("ok")).await;
    assert_eq!(get(&store, parent.id).await.status, JobStatus::Queued);
    let outcomes = store.children(parent.id, None, 10).await.unwrap();
    let statuses: Vec<JobStatus> = outcomes.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [JobStatus::Failed, JobStatus::Completed]);
    assert_eq!(outcomes[0].error.as_deref(), Some("bad part"));
}

conformance!(cancelling_a_waiting_parent_cancels_its_unfinished_children_and_theirs);
async fn cancelling_a_waiting_parent_cancels_its_unfinished_children_and_theirs(store: Store) {
    let (parent, children, kids) = family(&store, 3, ChildPolicy::WaitForAll).await;
    complete_parent(&store, &parent).await;
    let running = claim_children(&store, &kids, 2).await;
    complete_child(&store, running[0].id, json!("kept")).await;
    // The other running child makes a child of its own and waits for it.
    let grandkids = unique_type("grandchild");
    let grandchild = store
        .spawn_children(
            running[1].id,
            Writer::Lease(OTHER),
            vec![new_job(&grandkids)],
            ChildPolicy::FailFast,
            LIMITS,
        )
        .await
        .unwrap()
        .remove(0)
        .0;
    complete_child(&store, running[1].id, json!("split")).await;
    assert_eq!(get(&store, running[1].id).await.status, JobStatus::Waiting);

    let outcome = store.cancel(parent.id, false).await.unwrap();
    assert!(
        matches!(outcome, CancelOutcome::Cancelled(_)),
        "{outcome:?}"
    );
    assert_eq!(get(&store, parent.id).await.status, JobStatus::Cancelled);
    let queued = children
        .iter()
        .find(|c| !running.iter().any(|r| r.id == c.id))
        .unwrap();
    assert_eq!(get(&store, queued.id).await.status, JobStatus::Cancelled);
    assert_eq!(
        get(&store, running[1].id).await.status,
        JobStatus::Cancelled
    );
    assert_eq!(
        get(&store, grandchild.id).await.status,
        JobStatus::Cancelled
    );
    assert_eq!(
        get(&store, running[0].id).await.status,
        JobStatus::Completed,
        "a finished child stays as it is"
    );
}

conformance!(retrying_a_failed_parent_reruns_failed_children_and_keeps_completed_ones);
async fn retrying_a_failed_parent_reruns_failed_children_and_keeps_completed_ones(store: Store) {
    let (parent, children, kids) = family(&store, 3, ChildPolicy::FailFast).await;
    complete_parent(&store, &parent).await;
    let running = claim_children(&store, &kids, 2).await;
    let kept = complete_child(&store, running[0].id, json!("kept")).await;
    fail_child(&store, running[1].id).await;
    assert_eq!(get(&store, parent.id).await.status, JobStatus::Failed);

    let retried = store.retry(parent.id).await.unwrap();
    assert_eq!(retried.status, JobStatus::Queued);
    // Unchanged but for its parent's record of having heard of it.
    let after = get(&store, kept.id).await;
    assert_eq!(
        Job {
            family_version: kept.family_version,
            echoed_version: kept.echoed_version,
            told: kept.told,
            ..after
        },
        kept,
        "a completed child is not run again"
    );
    assert_eq!(get(&store, running[1].id).await.status, JobStatus::Queued);
    let cancelled = children
        .iter()
        .find(|c| !running.iter().any(|r| r.id == c.id));
    assert_eq!(
        get(&store, cancelled.unwrap().id).await.status,
        JobStatus::Queued
    );

    // The parent's next run returns while they run: it waits, and wakes when they end.
    let again = claim_job(&store, &retried, OWNER, LEASE).await;
    let waiting = complete_parent(&store, &again).await;
    assert_eq!(waiting.status, JobStatus::Waiting);
    for job in claim_children(&store, &kids, 2).await {
        complete_child(&store, job.id, json!("ok")).await;
    }
    assert_eq!(get(&store, parent.id).await.status, JobStatus::Queued);
}

conformance!(children_made_again_under_their_keys_are_the_same_children);
async fn children_made_again_under_their_keys_are_the_same_children(store: Store) {
    let parent = running_job(&store, OWNER, LEASE).await;
    let kids = unique_type("child");
    let keyed = |n: usize| NewJob {
        idempotency_key: Some(format!("part-{n}")),
        ..child(&kids, n)
    };
    let spawn = |children| {
        store.spawn_children(
            parent.id,
            Writer::Lease(OWNER),
            children,
            ChildPolicy::FailFast,
            LIMITS,
        )
    };
    let first = spawn(vec![keyed(0), keyed(1)]).await.unwrap();
    let again = spawn(vec![keyed(0), keyed(1), keyed(2)]).await.unwrap();
    let new: Vec<bool> = again.iter().map(|(_, new)| *new).collect();
    assert_eq!(new, [false, false, true]);
    assert_eq!(again[0].0.id, first[0].0.id);
    assert_eq!(again[1].0.id, first[1].0.id);
    assert_eq!(
        get(&store, parent.id).await.children,
        3,
        "counted once each"
    );
}

conformance!(a_child_whose_lease_expired_for_good_fails_its_fail_fast_parent);
async fn a_child_whose_lease_expired_for_good_fails_its_fail_fast_parent(store: Store) {
    let (parent, _, kids) = family(&store, 1, ChildPolicy::FailFast).await;
    complete_parent(&store, &parent).await;
    let child = claim(&store, &[&kids], &runner(OTHER), SHORT_LEASE, 1)
        .await
        .remove(0);
    let recovered = recover(&store, &[child.id]).await;
    assert_eq!(
        recovered[0].status,
        JobStatus::Failed,
        "its one attempt is used up"
    );
    assert_eq!(get(&store, parent.id).await.status, JobStatus::Failed);
}

conformance!(a_waiting_parents_progress_is_its_familys_weighted_by_the_childrens_totals);
async fn a_waiting_parents_progress_is_its_familys_weighted_by_the_childrens_totals(store: Store) {
    let (parent, _, kids) = family(&store, 3, ChildPolicy::FailFast).await;
    complete_parent(&store, &parent).await;
    let running = claim_children(&store, &kids, 3).await;
    let total = |n: i64, progress: f64| Progress {
        progress,
        total: Some(n),
        ..Progress::default()
    };
    let lease = Writer::Lease(OTHER);
    store
        .report_progress(running[0].id, lease, &total(100, 50.0))
        .await
        .unwrap();
    store
        .report_progress(running[1].id, lease, &total(300, 10.0))
        .await
        .unwrap();
    store
        .report_progress(running[2].id, lease, &total(600, 0.0))
        .await
        .unwrap();
    let before = get(&store, parent.id).await;
    complete_child(&store, running[1].id, json!(1)).await;
    let rolled = get(&store, parent.id).await;
    // (100 × 50 + 300 × 100 + 600 × 0) / 1000
    assert_eq!(rolled.progress, 35.0);
    assert_eq!((rolled.current, rolled.total), (Some(1), Some(3)));
    assert!(
        rolled
            .message
            .as_deref()
            .unwrap()
            .starts_with("1 of 3 children ended: 1 completed, 0 failed, 2 running, 0 queued"),
        "{:?}",
        rolled.message
    );
    assert!(rolled.version > before.version, "a change of its own");

    // Later ends move the bar on, never back, and the last one ends it at 100.
    store
        .report_progress(running[2].id, lease, &report(0.0, "working"))
        .await
        .unwrap();
    complete_child(&store, running[0].id, json!(0)).await;
    let equal = get(&store, parent.id).await;
    assert!(equal.progress >= rolled.progress, "{}", equal.progress);
    complete_child(&store, running[2].id, json!(2)).await;
    let woken = get(&store, parent.id).await;
    assert_eq!(woken.status, JobStatus::Queued);
    assert_eq!(woken.progress, 100.0);
}

conformance!(retention_prunes_a_family_children_first_and_never_a_child_of_a_kept_parent);
async fn retention_prunes_a_family_children_first_and_never_a_child_of_a_kept_parent(store: Store) {
    let everything = PruneRule {
        finished_before: Timestamp::from_millis(Timestamp::now().as_millis() + 3_600_000),
        per_type: Default::default(),
        only_type: None,
    };
    let (parent, _, kids) = family(&store, 2, ChildPolicy::FailFast).await;
    complete_parent(&store, &parent).await;
    let running = claim_children(&store, &kids, 2).await;
    complete_child(&store, running[0].id, json!(0)).await;
    // One child ended, its parent waits: that child is kept, so it is never an orphan.
    create_of(&store, "bystander").await;
    let prunable = store.prunable_jobs(&everything, 100).await.unwrap();
    assert!(!prunable.contains(&running[0].id), "{prunable:?}");

    complete_child(&store, running[1].id, json!(1)).await;
    let again = claim_job(&store, &get(&store, parent.id).await, OWNER, LEASE).await;
    store
        .complete(again.id, Writer::Lease(OWNER), Some(&json!("merged")))
        .await
        .unwrap();
    create_of(&store, "bystander").await;

    // The whole family is due: the children go first, the parent after them.
    let first = store.prunable_jobs(&everything, 100).await.unwrap();
    assert_eq!(
        {
            let mut ids = first.clone();
            ids.sort();
            ids
        },
        ids(&running),
        "the children, not yet their parent"
    );
    assert_eq!(
        store
            .delete_prunable_jobs(&first, &everything)
            .await
            .unwrap(),
        2
    );
    assert!(store.get_job(running[0].id).await.unwrap().is_none());
    assert_eq!(get(&store, parent.id).await.status, JobStatus::Completed);
    let second = store.prunable_jobs(&everything, 100).await.unwrap();
    assert_eq!(second, [parent.id]);
    assert_eq!(
        store
            .delete_prunable_jobs(&second, &everything)
            .await
            .unwrap(),
        1
    );
    assert!(store.get_job(parent.id).await.unwrap().is_none());
}

conformance!(a_childs_lines_and_changes_reach_its_parent_at_versions_of_the_parents_own);
async fn a_childs_lines_and_changes_reach_its_parent_at_versions_of_the_parents_own(store: Store) {
    let (parent, _, kids) = family(&store, 2, ChildPolicy::WaitForAll).await;
    let waiting = complete_parent(&store, &parent).await;
    assert_eq!(waiting.status, JobStatus::Waiting);
    let running = claim_children(&store, &kids, 2).await;
    let lease = Writer::Lease(OTHER);
    let before = get(&store, parent.id).await;
    store
        .append_log(running[0].id, lease, LogLevel::Info, "part 0 read")
        .await
        .unwrap();
    store
        .report_progress(running[1].id, lease, &report(40.0, "working"))
        .await
        .unwrap();
    complete_child(&store, running[0].id, json!(0)).await;
    let after = get(&store, parent.id).await;

    // The child's line is on the parent's log, tagged with the child, at a version of the
    // parent's own, as are the children's changes (their `family_version`).
    let lines = store
        .logs_between_versions(parent.id, before.version, after.version)
        .await
        .unwrap();
    let copied: Vec<_> = lines.iter().filter(|l| l.child_id.is_some()).collect();
    assert_eq!(copied.len(), 1, "{lines:?}");
    assert_eq!(copied[0].child_id, Some(running[0].id));
    assert_eq!(copied[0].message, "part 0 read");
    assert!(copied[0].version > before.version && copied[0].version <= after.version);
    let changed = store
        .children_changed(parent.id, before.version, after.version)
        .await
        .unwrap();
    let ids: Vec<JobId> = changed.iter().map(|c| c.id).collect();
    assert_eq!(
        ids.len(),
        2,
        "each child once, at its latest change: {changed:?}"
    );
    assert!(ids.contains(&running[0].id) && ids.contains(&running[1].id));
    let versions: Vec<i64> = changed.iter().map(|c| c.family_version).collect();
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]),
        "in order: {versions:?}"
    );
    assert!(versions
        .iter()
        .all(|v| *v > copied[0].version.min(before.version)));
    let done = changed.iter().find(|c| c.id == running[0].id).unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert!(
        done.family_version > copied[0].version,
        "a child's end after its lines"
    );
    // Nothing is told twice: the same range read again later is the same, and nothing after.
    assert!(store
        .children_changed(parent.id, after.version, after.version + 100)
        .await
        .unwrap()
        .is_empty());

    // The family's counts and its progress: one child at 100, one at 40.
    let family = after.family.expect("a parent's counts");
    assert_eq!((family.completed, family.running), (1, 1));
    assert_eq!(after.progress, 70.0);
    assert!(after.state_version > before.state_version);
}

conformance!(a_grandchilds_lines_and_progress_reach_the_top_of_the_family);
async fn a_grandchilds_lines_and_progress_reach_the_top_of_the_family(store: Store) {
    let (parent, _, kids) = family(&store, 1, ChildPolicy::WaitForAll).await;
    complete_parent(&store, &parent).await;
    let child = claim_children(&store, &kids, 1).await.remove(0);
    let grandkids = unique_type("grandchild");
    store
        .spawn_children(
            child.id,
            Writer::Lease(OTHER),
            vec![new_job(&grandkids), new_job(&grandkids)],
            ChildPolicy::WaitForAll,
            LIMITS,
        )
        .await
        .unwrap();
    complete_child(&store, child.id, json!("split")).await;
    let grandchildren = claim(&store, &[&grandkids], &runner(OWNER), LEASE, 2).await;
    assert_eq!(grandchildren.len(), 2);
    let before = get(&store, parent.id).await;

    let lease = Writer::Lease(OWNER);
    store
        .append_log(grandchildren[0].id, lease, LogLevel::Info, "deep line")
        .await
        .unwrap();
    store
        .report_progress(grandchildren[1].id, lease, &report(50.0, "working"))
        .await
        .unwrap();

    // The line reaches the child's log and the top parent's, each once, tagged with the
    // grandchild that wrote it.
    for (job, whose) in [(child.id, "the child's"), (parent.id, "the top parent's")] {
        let lines = store.logs_after_seq(job, 0, 100).await.unwrap();
        let deep: Vec<_> = lines.iter().filter(|l| l.message == "deep line").collect();
        assert_eq!(deep.len(), 1, "{whose} log: {lines:?}");
        assert_eq!(deep[0].child_id, Some(grandchildren[0].id), "{whose} log");
    }
    // The grandchild's progress moves the child's (its family's: 0 and 50) and so the top's.
    let child_now = get(&store, child.id).await;
    assert_eq!(child_now.progress, 25.0);
    let after = get(&store, parent.id).await;
    assert_eq!(after.progress, 25.0, "the top parent's bar moved");
    assert!(after.version > before.version);
    let changed = store
        .children_changed(parent.id, before.version, after.version)
        .await
        .unwrap();
    assert_eq!(changed.len(), 1, "the child, once: {changed:?}");
    assert_eq!((changed[0].id, changed[0].progress), (child.id, 25.0));

    // The family ends from the bottom up: the grandchildren, the child's second run, the top's.
    for grandchild in &grandchildren {
        store
            .complete(grandchild.id, lease, Some(&json!(1)))
            .await
            .unwrap();
    }
    let child_again = claim_children(&store, &kids, 1).await.remove(0);
    assert_eq!(child_again.id, child.id);
    complete_child(&store, child.id, json!("merged")).await;
    assert_eq!(get(&store, parent.id).await.status, JobStatus::Queued);
    let lines = store.logs_after_seq(parent.id, 0, 100).await.unwrap();
    assert_eq!(
        lines.iter().filter(|l| l.message == "deep line").count(),
        1,
        "still once: {lines:?}"
    );
}

conformance!(a_bulk_retry_of_a_failed_parent_reruns_its_failed_children_as_a_single_retry_does);
async fn a_bulk_retry_of_a_failed_parent_reruns_its_failed_children_as_a_single_retry_does(
    store: Store,
) {
    let (parent, children, kids) = family(&store, 3, ChildPolicy::FailFast).await;
    complete_parent(&store, &parent).await;
    let running = claim_children(&store, &kids, 2).await;
    let kept = complete_child(&store, running[0].id, json!("kept")).await;
    fail_child(&store, running[1].id).await;
    assert_eq!(get(&store, parent.id).await.status, JobStatus::Failed);

    let filter = JobFilter {
        ids: Some(vec![parent.id]),
        ..JobFilter::default()
    };
    let changed = store
        .bulk(
            BulkAction::Retry,
            &filter,
            &[JobStatus::Failed],
            500,
            |_| {},
        )
        .await
        .unwrap();
    assert!(changed >= 1);
    assert_eq!(get(&store, parent.id).await.status, JobStatus::Queued);
    assert_eq!(
        get(&store, kept.id).await.status,
        JobStatus::Completed,
        "kept"
    );
    for child in children.iter().filter(|c| c.id != kept.id) {
        assert_eq!(
            get(&store, child.id).await.status,
            JobStatus::Queued,
            "a failed or cancelled child runs again"
        );
    }
}
