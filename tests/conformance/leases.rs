//! Leases: `renew_leases` ("Extends every lease `owner` holds; returns the ids of those jobs
//! whose cancel was requested"), `recover_expired` ("Jobs whose lease expired: queued again
//! while attempts remain, else failed as interrupted; cancelled if a cancel was pending"), and
//! who may write: `Writer::Lease` is "allowed while the job is running and the lease is still
//! this owner's"; a write to a job that is not there is `NotFound`.

use std::time::Duration;

use crate::fixtures::*;

conformance!(renewing_extends_only_the_owners_running_leases_and_names_those_with_a_cancel_request);
async fn renewing_extends_only_the_owners_running_leases_and_names_those_with_a_cancel_request(
    store: Store,
) {
    let short = Duration::from_secs(30);
    let mine = [
        running_job(&store, OWNER, short).await,
        running_job(&store, OWNER, short).await,
        running_job(&store, OWNER, short).await,
    ];
    let theirs = running_job(&store, OTHER, short).await;
    let finished = running_job(&store, OWNER, short).await;
    let finished = store
        .complete(finished.id, Writer::Lease(OWNER), None)
        .await
        .unwrap();
    let queued = create_of(&store, "idle").await;
    let requested = store.cancel(mine[1].id, false).await.unwrap();
    assert!(matches!(requested, CancelOutcome::Requested(_)));
    let theirs_requested = store.cancel(theirs.id, false).await.unwrap();
    assert!(matches!(theirs_requested, CancelOutcome::Requested(_)));

    let before = Timestamp::now();
    let long = Duration::from_secs(3600);
    let cancel = store.renew_leases(OWNER, long).await.unwrap();
    assert_eq!(
        cancel,
        [mine[1].id],
        "only the owner's job with a cancel request"
    );

    for job in &mine {
        let now = get(&store, job.id).await;
        assert_eq!(now.status, JobStatus::Running);
        assert_eq!(now.lease_owner.as_deref(), Some(OWNER));
        let until = now.lease_expires_at.expect("a running job has a lease");
        assert!(
            until >= before.saturating_add(long),
            "the lease of {} was not extended: {until:?}",
            job.id
        );
    }
    assert_eq!(
        get(&store, theirs.id).await.lease_expires_at,
        theirs.lease_expires_at,
        "another owner's lease is left alone"
    );
    assert_eq!(
        get(&store, finished.id).await,
        finished,
        "a finished job is left alone"
    );
    assert_eq!(
        get(&store, queued.id).await,
        queued,
        "a queued job is left alone"
    );
    assert_eq!(store.renew_leases("nobody", long).await.unwrap(), []);
}

conformance!(an_expired_lease_puts_the_job_back_in_the_queue_with_the_attempt_counted);
async fn an_expired_lease_puts_the_job_back_in_the_queue_with_the_attempt_counted(store: Store) {
    // Bystanders: a live lease, an external job that has no lease, a queued job.
    let live = running_job(&store, OTHER, LEASE).await;
    let external = create_of(&store, "external").await;
    let external = store
        .report_progress(external.id, Writer::External, &report(5.0, "outside"))
        .await
        .unwrap();
    let queued = create_of(&store, "idle").await;

    let claimed = running_job(&store, OWNER, SHORT_LEASE).await;
    assert_eq!((claimed.attempt, claimed.max_attempts), (1, 3));
    let [recovered] = recover(&store, &[claimed.id]).await.try_into().unwrap();
    assert_eq!(recovered.status, JobStatus::Queued);
    assert_eq!(
        recovered.attempt, 1,
        "the interrupted attempt stays counted"
    );
    assert!(
        recovered
            .error
            .as_deref()
            .is_some_and(|e| e.contains("interrupted")),
        "the error says it was interrupted: {:?}",
        recovered.error
    );
    assert_eq!(recovered.lease_owner, None);
    assert_eq!(recovered.lease_expires_at, None);
    assert_eq!(recovered.finished_at, None);
    assert!(recovered.run_at <= Timestamp::now(), "due again at once");
    assert!(recovered.version > claimed.version);
    assert_eq!(get(&store, claimed.id).await, recovered);

    assert_eq!(
        get(&store, live.id).await,
        live,
        "a live lease is not recovered"
    );
    assert_eq!(
        get(&store, external.id).await,
        external,
        "nor an unleased job"
    );
    assert_eq!(get(&store, queued.id).await, queued, "nor a queued one");
    assert!(
        store.recover_expired().await.unwrap().is_empty(),
        "recovered once"
    );

    let again = claim_job(&store, &recovered, OTHER, LEASE).await;
    assert_eq!(again.attempt, 2, "the next claim is the second attempt");
}

conformance!(an_expired_lease_on_the_last_attempt_fails_the_job_as_interrupted);
async fn an_expired_lease_on_the_last_attempt_fails_the_job_as_interrupted(store: Store) {
    let job = create(
        &store,
        NewJob {
            max_attempts: 1,
            ..new_job("once")
        },
    )
    .await;
    let claimed = claim_job(&store, &job, OWNER, SHORT_LEASE).await;
    let [recovered] = recover(&store, &[claimed.id]).await.try_into().unwrap();
    assert_eq!(recovered.status, JobStatus::Failed);
    assert_eq!(recovered.attempt, 1);
    assert!(recovered
        .error
        .as_deref()
        .is_some_and(|e| e.contains("interrupted")));
    assert!(recovered.finished_at.is_some(), "a failed job has finished");
    assert_eq!(recovered.lease_owner, None);
    assert_eq!(get(&store, job.id).await, recovered);
    assert!(claim(&store, &["once"], &runner(OTHER), LEASE, 1)
        .await
        .is_empty());
}

conformance!(an_expired_lease_with_a_cancel_requested_cancels_the_job);
async fn an_expired_lease_with_a_cancel_requested_cancels_the_job(store: Store) {
    let claimed = running_job(&store, OWNER, SHORT_LEASE).await;
    let requested = store.cancel(claimed.id, false).await.unwrap();
    let requested = match requested {
        CancelOutcome::Requested(job) => job,
        other => panic!("a running in-process job is asked to stop, got {other:?}"),
    };
    assert!(requested.cancel_requested);
    let [recovered] = recover(&store, &[claimed.id]).await.try_into().unwrap();
    assert_eq!(
        recovered.status,
        JobStatus::Cancelled,
        "attempts remain, but it was cancelled"
    );
    assert!(recovered.finished_at.is_some());
    assert_eq!(recovered.lease_owner, None);
    assert_eq!(get(&store, claimed.id).await, recovered);
}

/// Every write a lease holder can make, by `writer`, to job `id`.
async fn every_lease_write(
    store: &Store,
    id: JobId,
    owner: &str,
) -> Vec<(&'static str, Result<(), StoreError>)> {
    let writer = Writer::Lease(owner);
    let retry = RetryPolicy {
        retry_at: Timestamp::now(),
    };
    vec![
        (
            "report_progress",
            store
                .report_progress(id, writer, &report(50.0, "half"))
                .await
                .map(drop),
        ),
        (
            "append_log",
            store
                .append_log(id, writer, LogLevel::Info, "a line")
                .await
                .map(drop),
        ),
        ("complete", store.complete(id, writer, None).await.map(drop)),
        (
            "fail",
            store.fail(id, writer, "broke", None, None).await.map(drop),
        ),
        (
            "fail with retry",
            store
                .fail(id, writer, "broke", None, Some(retry))
                .await
                .map(drop),
        ),
        (
            "finish_cancelled",
            store.finish_cancelled(id, owner).await.map(drop),
        ),
        ("requeue", store.requeue(id, owner).await.map(drop)),
    ]
}

/// Every write outside code can make to job `id`.
async fn every_external_write(
    store: &Store,
    id: JobId,
) -> Vec<(&'static str, Result<(), StoreError>)> {
    vec![
        (
            "report_progress",
            store
                .report_progress(id, Writer::External, &report(50.0, "half"))
                .await
                .map(drop),
        ),
        (
            "append_log",
            store
                .append_log(id, Writer::External, LogLevel::Info, "a line")
                .await
                .map(drop),
        ),
        (
            "complete",
            store.complete(id, Writer::External, None).await.map(drop),
        ),
        (
            "fail",
            store
                .fail(id, Writer::External, "broke", None, None)
                .await
                .map(drop),
        ),
    ]
}

#[track_caller]
fn assert_all_conflicts(
    writes: Vec<(&'static str, Result<(), StoreError>)>,
    id: JobId,
    status: JobStatus,
) {
    for (what, result) in writes {
        match result {
            Err(StoreError::Conflict { job_id, status: s }) if job_id == id && s == status => {}
            other => panic!("{what}: expected Conflict {{ status: {status} }}, got {other:?}"),
        }
    }
}

conformance!(writes_under_a_lease_that_is_not_the_writers_are_conflicts_and_change_nothing);
async fn writes_under_a_lease_that_is_not_the_writers_are_conflicts_and_change_nothing(
    store: Store,
) {
    let job = running_job(&store, OWNER, LEASE).await;
    let writes = every_lease_write(&store, job.id, OTHER).await;
    assert_all_conflicts(writes, job.id, JobStatus::Running);
    // Outside code may not write to a job a runner or worker leases either.
    let writes = every_external_write(&store, job.id).await;
    assert_all_conflicts(writes, job.id, JobStatus::Running);
    assert_eq!(get(&store, job.id).await, job, "nothing changed");
    assert!(all_logs(&store, job.id).await.is_empty());
    // The lease holder still may.
    store
        .report_progress(job.id, Writer::Lease(OWNER), &report(10.0, "mine"))
        .await
        .unwrap();
}

conformance!(writes_after_the_lease_was_lost_to_recovery_are_conflicts);
async fn writes_after_the_lease_was_lost_to_recovery_are_conflicts(store: Store) {
    let claimed = running_job(&store, OWNER, SHORT_LEASE).await;
    let [recovered] = recover(&store, &[claimed.id]).await.try_into().unwrap();
    assert_eq!(recovered.status, JobStatus::Queued);
    assert_all_conflicts(
        every_lease_write(&store, claimed.id, OWNER).await,
        claimed.id,
        JobStatus::Queued,
    );
    assert_eq!(get(&store, claimed.id).await, recovered);

    // Another runner has it now: the old owner's writes still conflict, the new one's land.
    let taken = claim_job(&store, &recovered, OTHER, LEASE).await;
    assert_all_conflicts(
        every_lease_write(&store, claimed.id, OWNER).await,
        claimed.id,
        JobStatus::Running,
    );
    assert_eq!(get(&store, claimed.id).await, taken);
    let done = store
        .complete(claimed.id, Writer::Lease(OTHER), Some(&json!(1)))
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
}

conformance!(queued_writes_under_a_lease_that_is_not_the_writers_are_dropped);
async fn queued_writes_under_a_lease_that_is_not_the_writers_are_dropped(store: Store) {
    let job = running_job(&store, OWNER, LEASE).await;
    store
        .queue_progress(job.id, OTHER, report(70.0, "not mine"), None)
        .await
        .expect("queueing does not wait for the write");
    store
        .queue_log(job.id, OTHER, LogLevel::Error, "not mine".to_owned(), None)
        .await
        .expect("queueing does not wait for the write");
    store.flush().await.unwrap();
    assert_eq!(get(&store, job.id).await, job, "nothing was applied");
    assert!(all_logs(&store, job.id).await.is_empty());
}

conformance!(writes_to_a_job_that_does_not_exist_are_not_found);
async fn writes_to_a_job_that_does_not_exist_are_not_found(store: Store) {
    create_of(&store, "work").await;
    let missing = JobId::new();
    for (what, result) in every_lease_write(&store, missing, OWNER).await {
        assert!(
            matches!(result, Err(StoreError::NotFound)),
            "{what} (lease): {result:?}"
        );
    }
    for (what, result) in every_external_write(&store, missing).await {
        assert!(
            matches!(result, Err(StoreError::NotFound)),
            "{what} (external): {result:?}"
        );
    }
    assert_not_found(store.retry(missing).await);
    assert_not_found(store.cancel(missing, false).await);
    assert_not_found(store.cancel(missing, true).await);
    assert_eq!(store.get_job(missing).await.unwrap(), None);
    assert!(store.get_jobs(&[missing]).await.unwrap().is_empty());
    assert!(all_logs(&store, missing).await.is_empty());
}

conformance!(an_external_workers_updates_extend_its_lease_and_a_runners_do_not);
async fn an_external_workers_updates_extend_its_lease_and_a_runners_do_not(store: Store) {
    let lease = Duration::from_secs(120);
    create_of(&store, "remote").await;
    let claimant = Claimant {
        owner: "worker-lease-1",
        worker: Some("worker-1"),
    };
    let claimed = claim(&store, &["remote"], &claimant, lease, 1).await;
    let [worker_job] = claimed.try_into().unwrap();
    assert_eq!(worker_job.worker.as_deref(), Some("worker-1"));
    let runner_job = running_job(&store, OWNER, lease).await;

    let worker_writer = Writer::Lease("worker-lease-1");
    // Progress first, then a log line: each accepted update extends the worker's lease.
    let set_at = |until: Timestamp| Timestamp::from_millis(until.as_millis() - 120_000);
    let mut lease_until = worker_job.lease_expires_at.unwrap();
    for update in ["progress", "log"] {
        // A millisecond on, so an extended lease ends later than the one before.
        clock_past(set_at(lease_until)).await;
        let before = Timestamp::now();
        match update {
            "progress" => drop(
                store
                    .report_progress(worker_job.id, worker_writer, &report(10.0, "going"))
                    .await
                    .unwrap(),
            ),
            _ => drop(
                store
                    .append_log(worker_job.id, worker_writer, LogLevel::Info, "going")
                    .await
                    .unwrap(),
            ),
        }
        let now = get(&store, worker_job.id).await.lease_expires_at.unwrap();
        assert!(
            now >= before.saturating_add(lease) && now > lease_until,
            "the {update} update did not extend the worker's lease ({lease_until:?} -> {now:?})"
        );
        lease_until = now;
    }

    // A runner renews its own leases; its updates leave them be.
    clock_past(runner_job.started_at.unwrap()).await;
    store
        .report_progress(runner_job.id, Writer::Lease(OWNER), &report(10.0, "going"))
        .await
        .unwrap();
    store
        .append_log(runner_job.id, Writer::Lease(OWNER), LogLevel::Info, "going")
        .await
        .unwrap();
    assert_eq!(
        get(&store, runner_job.id).await.lease_expires_at,
        runner_job.lease_expires_at
    );
}
