//! `Store::claim`: "Claims up to `limit` due jobs of `types` for `claimant` in one statement:
//! highest priority first, then oldest", leaving them `running` under the claimant's lease.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::fixtures::*;

/// Claims one job at a time until none is left; their ids in the order claimed.
async fn claim_one_by_one(store: &Store, job_type: &str) -> Vec<JobId> {
    let mut order = Vec::new();
    loop {
        let claimed = claim(store, &[job_type], &runner(OWNER), LEASE, 1).await;
        match claimed.as_slice() {
            [] => return order,
            [job] => order.push(job.id),
            more => panic!("a claim of limit 1 took {}", more.len()),
        }
    }
}

/// Jobs of `job_type` with these priorities, made one after another (so oldest first).
async fn jobs_with_priorities(store: &Store, job_type: &str, priorities: &[i64]) -> Vec<Job> {
    let mut made = Vec::new();
    for &priority in priorities {
        made.push(
            create(
                store,
                NewJob {
                    priority,
                    ..new_job(job_type)
                },
            )
            .await,
        );
    }
    assert!(
        made.windows(2).all(|w| w[0].id < w[1].id),
        "ids sort by creation"
    );
    made
}

/// The queue's order: priority descending, then id (oldest) ascending.
fn queue_order(jobs: &[Job]) -> Vec<JobId> {
    let mut sorted = jobs.to_vec();
    sorted.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    ids(&sorted)
}

/// `ids` as `priority/nth made` labels, for messages a person can read.
fn labels(made: &[Job], ids: &[JobId]) -> Vec<String> {
    ids.iter()
        .map(|id| match made.iter().position(|job| job.id == *id) {
            Some(n) => format!("p{}/#{n}", made[n].priority),
            None => format!("unknown {id}"),
        })
        .collect()
}

/// The claimed `got` are `expected`, in that order.
#[track_caller]
fn assert_claimed(made: &[Job], got: &[JobId], expected: &[JobId]) {
    assert_eq!(
        labels(made, got),
        labels(made, expected),
        "claimed (priority/creation order) vs the queue order"
    );
}

conformance!(claims_take_the_highest_priority_first_then_the_oldest);
async fn claims_take_the_highest_priority_first_then_the_oldest(store: Store) {
    let made = jobs_with_priorities(&store, "work", &[0, 5, 0, 10, 5, -1, 10, 0]).await;
    // One at a time, so the order is the store's choice and not a sort of one answer.
    let order = claim_one_by_one(&store, "work").await;
    assert_claimed(&made, &order, &queue_order(&made));
}

conformance!(a_claim_of_several_takes_the_front_of_the_queue_in_queue_order);
async fn a_claim_of_several_takes_the_front_of_the_queue_in_queue_order(store: Store) {
    let made = jobs_with_priorities(&store, "work", &[1, 0, 3, 3, 2, 0, 1]).await;
    let order = queue_order(&made);
    let first = claim(&store, &["work"], &runner(OWNER), LEASE, 3).await;
    assert_claimed(&made, &ids(&first), &order[..3]);
    let rest = claim(&store, &["work"], &runner(OWNER), LEASE, 10).await;
    assert_claimed(&made, &ids(&rest), &order[3..]);
}

conformance!(jobs_of_several_types_are_claimed_in_one_queue_order);
async fn jobs_of_several_types_are_claimed_in_one_queue_order(store: Store) {
    let mut made = Vec::new();
    for (job_type, priority) in [("a", 0), ("b", 2), ("a", 2), ("b", 0), ("a", 1)] {
        made.push(
            create(
                &store,
                NewJob {
                    priority,
                    ..new_job(job_type)
                },
            )
            .await,
        );
    }
    let claimed = claim(&store, &["a", "b"], &runner(OWNER), LEASE, 3).await;
    assert_claimed(&made, &ids(&claimed), &queue_order(&made)[..3]);
}

conformance!(jobs_due_later_are_not_claimed_until_due);
async fn jobs_due_later_are_not_claimed_until_due(store: Store) {
    let now = Timestamp::now();
    let at = |ms: i64| Some(Timestamp::from_millis(now.as_millis() + ms));
    let later = create(
        &store,
        NewJob {
            run_at: at(3_600_000),
            ..new_job("work")
        },
    )
    .await;
    let overdue = create(
        &store,
        NewJob {
            run_at: at(-1_000),
            // Lower than the others: due beats priority.
            priority: -5,
            ..new_job("work")
        },
    )
    .await;
    let soon = create(
        &store,
        NewJob {
            run_at: at(600),
            priority: 5,
            ..new_job("work")
        },
    )
    .await;
    assert_eq!(later.run_at, at(3_600_000).unwrap(), "run_at is stored");

    let first = claim(&store, &["work"], &runner(OWNER), LEASE, 10).await;
    assert_eq!(ids(&first), [overdue.id], "only the job that is due");
    assert_eq!(store.count_queued("work").await.unwrap(), 2);

    let deadline = Deadline::soon();
    let claimed = loop {
        let claimed = claim(&store, &["work"], &runner(OWNER), LEASE, 10).await;
        if !claimed.is_empty() {
            break claimed;
        }
        deadline.wait("the job due in 600 ms to be claimed").await;
    };
    assert_eq!(
        ids(&claimed),
        [soon.id],
        "the job due soon, and not the later one"
    );
    let started = claimed[0].started_at.expect("a claimed job has started");
    assert!(
        started >= soon.run_at,
        "claimed at {started:?}, before its run_at {:?}",
        soon.run_at
    );
    assert_eq!(get(&store, later.id).await.status, JobStatus::Queued);
}

conformance!(claims_take_only_the_types_asked_for);
async fn claims_take_only_the_types_asked_for(store: Store) {
    let a = create_of(&store, "a").await;
    let b = create_of(&store, "b").await;
    let c = create_of(&store, "c").await;
    assert!(claim(&store, &[], &runner(OWNER), LEASE, 10)
        .await
        .is_empty());
    assert!(
        claim(&store, &["nothing-of-this-type"], &runner(OWNER), LEASE, 10)
            .await
            .is_empty()
    );
    let claimed = claim(&store, &["b", "a"], &runner(OWNER), LEASE, 10).await;
    let mut claimed_ids = ids(&claimed);
    claimed_ids.sort();
    assert_eq!(claimed_ids, [a.id, b.id]);
    assert_eq!(get(&store, c.id).await.status, JobStatus::Queued);
    assert_eq!(store.count_queued("c").await.unwrap(), 1);
}

conformance!(a_claim_takes_at_most_its_limit);
async fn a_claim_takes_at_most_its_limit(store: Store) {
    for _ in 0..5 {
        create_of(&store, "work").await;
    }
    assert!(claim(&store, &["work"], &runner(OWNER), LEASE, 0)
        .await
        .is_empty());
    let sizes: Vec<usize> = {
        let mut sizes = Vec::new();
        for _ in 0..4 {
            sizes.push(
                claim(&store, &["work"], &runner(OWNER), LEASE, 2)
                    .await
                    .len(),
            );
        }
        sizes
    };
    assert_eq!(sizes, [2, 2, 1, 0]);
}

conformance!(a_claimed_job_is_running_under_the_claimants_lease);
async fn a_claimed_job_is_running_under_the_claimants_lease(store: Store) {
    let lease = std::time::Duration::from_secs(90);
    for worker in [None, Some("worker-7")] {
        let job_type = unique_type("claimed");
        let made = create_of(&store, &job_type).await;
        assert_eq!((made.status, made.attempt), (JobStatus::Queued, 0));
        let before = Timestamp::now();
        let claimant = Claimant {
            owner: OWNER,
            worker,
        };
        let claimed = claim(&store, &[&job_type], &claimant, lease, 1).await;
        let after = Timestamp::now();
        let [job] = claimed.as_slice() else {
            panic!("claimed {} jobs", claimed.len());
        };
        assert_eq!(job.id, made.id);
        assert_eq!(job.status, JobStatus::Running);
        assert_eq!(job.attempt, made.attempt + 1, "the attempt is counted");
        assert_eq!(job.lease_owner.as_deref(), Some(OWNER));
        assert_eq!(job.worker.as_deref(), worker, "the external worker's name");
        let started = job.started_at.expect("started_at is set");
        assert!(before <= started && started <= after);
        assert_eq!(
            job.lease_expires_at,
            Some(started.saturating_add(lease)),
            "the lease runs from the claim"
        );
        assert_eq!(job.finished_at, None);
        assert!(!job.cancel_requested);
        assert!(job.version > made.version);
        assert_eq!(
            &get(&store, job.id).await,
            job,
            "the claim is what is stored"
        );
    }
}

conformance!(a_job_claimed_again_after_a_failed_attempt_counts_the_attempt_and_clears_the_error);
async fn a_job_claimed_again_after_a_failed_attempt_counts_the_attempt_and_clears_the_error(
    store: Store,
) {
    let first = running_job(&store, OWNER, LEASE).await;
    let details = json!({"line": 3});
    let retry = RetryPolicy {
        retry_at: Timestamp::from_millis(Timestamp::now().as_millis() - 1),
    };
    let failed = store
        .fail(
            first.id,
            Writer::Lease(OWNER),
            "broke",
            Some(&details),
            Some(retry),
        )
        .await
        .unwrap();
    assert_eq!(failed.status, JobStatus::Queued);
    assert_eq!(failed.error.as_deref(), Some("broke"));
    let again = claim_job(&store, &failed, OTHER, LEASE).await;
    assert_eq!(again.attempt, 2);
    assert_eq!(again.lease_owner.as_deref(), Some(OTHER));
    assert_eq!(
        (again.error, again.details),
        (None, None),
        "cleared by the claim"
    );
}

conformance!(multi_thread concurrent_claimers_take_every_job_exactly_once);
async fn concurrent_claimers_take_every_job_exactly_once(store: Store) {
    const JOBS: usize = 400;
    const CLAIMERS: usize = 8;
    // Made concurrently too, so SQLite's writer batches them.
    let creators: Vec<_> = (0..CLAIMERS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut made = Vec::new();
                for _ in 0..JOBS / CLAIMERS {
                    made.push(create_of(&store, "work").await.id);
                }
                made
            })
        })
        .collect();
    let mut made = Vec::new();
    for creator in creators {
        made.extend(creator.await.unwrap());
    }
    assert_eq!(made.len(), JOBS);

    let claims: Arc<Mutex<HashMap<JobId, Vec<String>>>> = Arc::default();
    let claimers: Vec<_> = (0..CLAIMERS)
        .map(|n| {
            let (store, claims) = (store.clone(), claims.clone());
            tokio::spawn(async move {
                let owner = format!("claimer-{n}");
                let limit = 1 + n % 4;
                loop {
                    let claimed = claim(&store, &["work"], &runner(&owner), LEASE, limit).await;
                    assert!(claimed.len() <= limit);
                    if claimed.is_empty() {
                        // Empty because another claim holds the rest, or because none is left?
                        if store.count_queued("work").await.unwrap() == 0 {
                            return;
                        }
                        tokio::task::yield_now().await;
                        continue;
                    }
                    let mut claims = claims.lock().unwrap();
                    for job in claimed {
                        assert_eq!(job.lease_owner.as_deref(), Some(owner.as_str()));
                        claims.entry(job.id).or_default().push(owner.clone());
                    }
                }
            })
        })
        .collect();
    for claimer in claimers {
        claimer.await.unwrap();
    }

    let claims = Arc::try_unwrap(claims).unwrap().into_inner().unwrap();
    let twice: Vec<_> = claims.iter().filter(|(_, by)| by.len() > 1).collect();
    assert!(twice.is_empty(), "claimed more than once: {twice:?}");
    let missed: Vec<_> = made.iter().filter(|id| !claims.contains_key(id)).collect();
    assert!(missed.is_empty(), "never claimed: {missed:?}");
    assert_eq!(claims.len(), JOBS);
    for job in store.get_jobs(&made).await.unwrap() {
        assert_eq!(job.status, JobStatus::Running);
        assert_eq!(job.attempt, 1, "{} was started more than once", job.id);
        assert_eq!(
            job.lease_owner.as_ref(),
            claims[&job.id].first(),
            "the stored owner is the one claim's"
        );
    }
}
