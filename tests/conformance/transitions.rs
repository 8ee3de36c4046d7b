//! The state machine (`src/job.rs`, `docs/job-states.md`): every action from every status.
//! An allowed action lands in the status its doc comment gives and bumps the version; a
//! refused one is `StoreError::Conflict { status }` naming the job's status, and changes
//! nothing at all (the stored job is equal to before and no change number is handed out).

use std::fmt;

use crate::fixtures::*;

/// Where a job starts from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Start {
    Queued,
    /// Claimed by [`OWNER`].
    Running,
    /// An `external` job that outside code started with an update: running, no lease.
    RunningExternal,
    /// Claimed by [`OWNER`], then asked to stop.
    CancelRequested,
    Completed,
    Failed,
    Cancelled,
}

const STARTS: [Start; 7] = [
    Start::Queued,
    Start::Running,
    Start::RunningExternal,
    Start::CancelRequested,
    Start::Completed,
    Start::Failed,
    Start::Cancelled,
];

impl Start {
    fn status(self) -> JobStatus {
        match self {
            Start::Queued => JobStatus::Queued,
            Start::Running | Start::RunningExternal | Start::CancelRequested => JobStatus::Running,
            Start::Completed => JobStatus::Completed,
            Start::Failed => JobStatus::Failed,
            Start::Cancelled => JobStatus::Cancelled,
        }
    }

    /// A fresh job (three attempts, a type of its own) brought to this state.
    async fn make(self, store: &Store) -> Job {
        let job = create_of(store, &unique_type("transition")).await;
        let job = match self {
            Start::Queued => job,
            Start::Running => claim_job(store, &job, OWNER, LEASE).await,
            Start::RunningExternal => store
                .report_progress(job.id, Writer::External, &report(10.0, "started outside"))
                .await
                .unwrap(),
            Start::CancelRequested => {
                let job = claim_job(store, &job, OWNER, LEASE).await;
                match store.cancel(job.id, false).await.unwrap() {
                    CancelOutcome::Requested(job) => job,
                    other => panic!("cancelling a running job: {other:?}"),
                }
            }
            Start::Completed => store
                .complete(job.id, Writer::External, Some(&json!({"done": true})))
                .await
                .unwrap(),
            Start::Failed => store
                .fail(job.id, Writer::External, "broke", None, None)
                .await
                .unwrap(),
            Start::Cancelled => cancel_outcome_job(store.cancel(job.id, false).await.unwrap()),
        };
        assert_eq!(job.status, self.status(), "setting up {self:?}");
        assert_eq!(
            job.cancel_requested,
            self == Start::CancelRequested,
            "setting up {self:?}"
        );
        assert_eq!(&get(store, job.id).await, &job);
        job
    }
}

/// What is done to the job.
#[derive(Debug, Clone, Copy)]
enum Action {
    /// `cancel(id, false)`: an in-process job.
    Cancel,
    /// `cancel(id, true)`: an `external` job.
    CancelExternal,
    CompleteByOwner,
    /// `complete` under a lease that is not the job's.
    CompleteByOtherOwner,
    CompleteExternal,
    FailByOwner,
    FailByOwnerWithRetry,
    FailExternal,
    FailExternalWithRetry,
    FinishCancelled,
    Retry,
    Requeue,
    ProgressByOwner,
    ProgressExternal,
    LogByOwner,
    LogExternal,
}

/// What the action must do from a start.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Done: the job is now in this status, with a new version.
    To(JobStatus),
    /// `cancel` of a running in-process job: still running, asked to stop.
    StopAsked,
    /// Refused: `Conflict` naming the start's status, nothing changed.
    No,
}

use Expect::{No, StopAsked, To};
use JobStatus::{Cancelled, Completed, Failed, Queued, Running};

/// One row per action, one column per start, in [`STARTS`] order. The comments quote the doc
/// comment each row follows.
#[rustfmt::skip]
const TABLE: &[(Action, [Expect; 7])] = &[
    //                             queued          running         running ext.    cancel asked    completed failed     cancelled
    // "Cancels a queued (or unfinished `external`) job at once, or asks the runner to stop it."
    (Action::Cancel,               [To(Cancelled), StopAsked,      StopAsked,      StopAsked,      No,       No,        No]),
    (Action::CancelExternal,       [To(Cancelled), To(Cancelled),  To(Cancelled),  To(Cancelled),  No,       No,        No]),
    // Writer::Lease: "allowed while the job is running and the lease is still this owner's".
    (Action::CompleteByOwner,      [No,            To(Completed),  No,             To(Completed),  No,       No,        No]),
    (Action::CompleteByOtherOwner, [No,            No,             No,             No,             No,       No,        No]),
    // Writer::External: "allowed while it is queued or running" (and leased by no one).
    (Action::CompleteExternal,     [To(Completed), No,             To(Completed),  No,             No,       No,        No]),
    // "queued again for `retry` while attempts remain, else failed" (three attempts, one used).
    (Action::FailByOwner,          [No,            To(Failed),     No,             To(Failed),     No,       No,        No]),
    (Action::FailByOwnerWithRetry, [No,            To(Queued),     No,             To(Queued),     No,       No,        No]),
    (Action::FailExternal,         [To(Failed),    No,             To(Failed),     No,             No,       No,        No]),
    (Action::FailExternalWithRetry,[To(Queued),    No,             To(Queued),     No,             No,       No,        No]),
    // "The runner stopped a job whose cancel was requested."
    (Action::FinishCancelled,      [No,            To(Cancelled),  No,             To(Cancelled),  No,       No,        No]),
    // "Sends a failed or cancelled job back to the queue with a fresh attempt budget".
    (Action::Retry,                [No,            No,             No,             No,             No,       To(Queued), To(Queued)]),
    // "Puts a job this runner could not finish (shutdown) back in the queue".
    (Action::Requeue,              [No,            To(Queued),     No,             To(Queued),     No,       No,        No]),
    // "the first update turns a queued job into a running one" (External).
    (Action::ProgressByOwner,      [No,            To(Running),    No,             To(Running),    No,       No,        No]),
    (Action::ProgressExternal,     [To(Running),   No,             To(Running),    No,             No,       No,        No]),
    (Action::LogByOwner,           [No,            To(Running),    No,             To(Running),    No,       No,        No]),
    (Action::LogExternal,          [To(Running),   No,             To(Running),    No,             No,       No,        No]),
];

/// The job after the action, as the action's answer gives it (a log line gives none).
enum Answer {
    Job(Job),
    Cancel(CancelOutcome),
    Line(LogLine),
}

impl Action {
    async fn apply(self, store: &Store, id: JobId) -> Result<Answer, StoreError> {
        let retry = Some(RetryPolicy {
            retry_at: Timestamp::now(),
        });
        let owner = Writer::Lease(OWNER);
        let result = json!({"answer": 42});
        let job = match self {
            Action::Cancel => return store.cancel(id, false).await.map(Answer::Cancel),
            Action::CancelExternal => return store.cancel(id, true).await.map(Answer::Cancel),
            Action::CompleteByOwner => store.complete(id, owner, Some(&result)).await,
            Action::CompleteByOtherOwner => {
                store
                    .complete(id, Writer::Lease(OTHER), Some(&result))
                    .await
            }
            Action::CompleteExternal => store.complete(id, Writer::External, Some(&result)).await,
            Action::FailByOwner => store.fail(id, owner, "broke", None, None).await,
            Action::FailByOwnerWithRetry => store.fail(id, owner, "broke", None, retry).await,
            Action::FailExternal => store.fail(id, Writer::External, "broke", None, None).await,
            Action::FailExternalWithRetry => {
                store.fail(id, Writer::External, "broke", None, retry).await
            }
            Action::FinishCancelled => store.finish_cancelled(id, OWNER).await,
            Action::Retry => store.retry(id).await,
            Action::Requeue => store.requeue(id, OWNER).await,
            Action::ProgressByOwner => store.report_progress(id, owner, &report(60.0, "on")).await,
            Action::ProgressExternal => {
                store
                    .report_progress(id, Writer::External, &report(60.0, "on"))
                    .await
            }
            Action::LogByOwner => {
                return store
                    .append_log(id, owner, LogLevel::Info, "a line")
                    .await
                    .map(Answer::Line)
            }
            Action::LogExternal => {
                return store
                    .append_log(id, Writer::External, LogLevel::Info, "a line")
                    .await
                    .map(Answer::Line)
            }
        };
        job.map(Answer::Job)
    }
}

/// One case that did not do what the table says.
struct Mismatch {
    action: Action,
    start: Start,
    expected: Expect,
    what: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} from {:?} (expected {:?}): {}",
            self.action, self.start, self.expected, self.what
        )
    }
}

/// Runs one case; what went wrong, if anything.
async fn check(
    store: &Store,
    action: Action,
    start: Start,
    expected: Expect,
) -> Result<(), String> {
    let before = start.make(store).await;
    let id = before.id;
    let mark = store.max_change_seq().await.unwrap();
    let answer = action.apply(store, id).await;
    let after = get(store, id).await;
    let changes = store.changes_since(mark, 100).await.unwrap();
    match (expected, answer) {
        (No, Err(StoreError::Conflict { job_id, status })) => {
            if job_id != id || status != start.status() {
                return Err(format!(
                    "the conflict names {job_id} in {status}, not {id} in {}",
                    start.status()
                ));
            }
            if after != before {
                return Err(format!(
                    "refused, but the job changed:\n  before {before:?}\n  after  {after:?}"
                ));
            }
            if !changes.is_empty() {
                return Err(format!(
                    "refused, but change numbers were handed out: {changes:?}"
                ));
            }
            Ok(())
        }
        (No, other) => Err(format!(
            "expected Conflict {{ status: {} }}, got {}",
            start.status(),
            show(&other)
        )),
        (StopAsked, Ok(Answer::Cancel(CancelOutcome::Requested(job)))) => {
            if job != after {
                return Err(format!("answered {job:?}, stored {after:?}"));
            }
            if after.status != Running || !after.cancel_requested {
                return Err(format!("not running with a cancel request: {after:?}"));
            }
            if after.lease_owner != before.lease_owner {
                return Err("the lease changed hands".to_owned());
            }
            Ok(())
        }
        (StopAsked, other) => Err(format!(
            "expected CancelOutcome::Requested, got {}",
            show(&other)
        )),
        (To(status), Ok(answer)) => {
            match &answer {
                Answer::Job(job) if *job != after => {
                    return Err(format!("answered {job:?}, stored {after:?}"));
                }
                Answer::Cancel(CancelOutcome::Requested(_)) => {
                    return Err("asked to stop instead of cancelled at once".to_owned());
                }
                Answer::Cancel(CancelOutcome::Cancelled(job)) if *job != after => {
                    return Err(format!("answered {job:?}, stored {after:?}"));
                }
                Answer::Line(line) if line.version != after.version => {
                    return Err(format!(
                        "the line's version {} is not the job's {}",
                        line.version, after.version
                    ));
                }
                _ => {}
            }
            if after.status != status {
                return Err(format!("landed in {}", after.status));
            }
            if after.version <= before.version {
                return Err(format!("version {} -> {}", before.version, after.version));
            }
            if changes
                .iter()
                .map(|&(id, version, _)| (id, version))
                .collect::<Vec<_>>()
                != [(id, after.version)]
            {
                return Err(format!("the change numbers after the mark are {changes:?}"));
            }
            if status.is_finished() != after.finished_at.is_some() {
                return Err(format!("finished_at is {:?}", after.finished_at));
            }
            if status != Running
                && (after.lease_owner.is_some() || after.lease_expires_at.is_some())
            {
                return Err(format!("left the lease on: {after:?}"));
            }
            Ok(())
        }
        (To(_), Err(error)) => Err(format!("refused: {error:?}")),
    }
}

fn show(answer: &Result<Answer, StoreError>) -> String {
    match answer {
        Ok(Answer::Job(job)) => format!("Ok(job in {})", job.status),
        Ok(Answer::Cancel(outcome)) => format!("Ok({outcome:?})"),
        Ok(Answer::Line(line)) => format!("Ok({line:?})"),
        Err(error) => format!("Err({error:?})"),
    }
}

conformance!(every_action_from_every_status_lands_where_documented_or_is_refused_unchanged);
async fn every_action_from_every_status_lands_where_documented_or_is_refused_unchanged(
    store: Store,
) {
    let mut mismatches = Vec::new();
    let mut cases = 0;
    for &(action, expected) in TABLE {
        for (start, expected) in STARTS.into_iter().zip(expected) {
            cases += 1;
            if let Err(what) = check(&store, action, start, expected).await {
                mismatches.push(Mismatch {
                    action,
                    start,
                    expected,
                    what,
                });
            }
        }
    }
    assert_eq!(cases, TABLE.len() * STARTS.len());
    assert!(
        mismatches.is_empty(),
        "{} of {cases} transitions are not as documented:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// What the allowed transitions leave behind, beyond the status.

conformance!(completing_stores_the_result_at_full_progress_and_ends_the_lease);
async fn completing_stores_the_result_at_full_progress_and_ends_the_lease(store: Store) {
    let job = running_job(&store, OWNER, LEASE).await;
    let result = json!({"rows": 12, "nested": {"ok": true}});
    let done = store
        .complete(job.id, Writer::Lease(OWNER), Some(&result))
        .await
        .unwrap();
    assert_eq!(done.status, Completed);
    assert_eq!(done.result, Some(result));
    assert_eq!(done.progress, 100.0);
    assert_eq!((done.error, done.details), (None, None));
    assert_eq!((done.lease_owner, done.lease_expires_at), (None, None));
    assert!(done
        .finished_at
        .is_some_and(|at| at >= job.started_at.unwrap()));
    assert_eq!(done.attempt, 1);

    // Outside code completing a job it never started: started and counted as one attempt.
    let external = create_of(&store, "external").await;
    let done = store
        .complete(external.id, Writer::External, None)
        .await
        .unwrap();
    assert_eq!((done.status, done.attempt), (Completed, 1));
    assert!(done.started_at.is_some());
    assert_eq!(done.result, None);
}

conformance!(failing_with_a_retry_queues_the_job_for_the_retry_time_while_attempts_remain);
async fn failing_with_a_retry_queues_the_job_for_the_retry_time_while_attempts_remain(
    store: Store,
) {
    let job = create(
        &store,
        NewJob {
            max_attempts: 2,
            ..new_job("flaky")
        },
    )
    .await;
    let claimed = claim_job(&store, &job, OWNER, LEASE).await;
    let retry_at = Timestamp::from_millis(Timestamp::now().as_millis() + 3_600_000);
    let details = json!({"cause": "timeout"});
    let queued = store
        .fail(
            job.id,
            Writer::Lease(OWNER),
            "first try broke",
            Some(&details),
            Some(RetryPolicy { retry_at }),
        )
        .await
        .unwrap();
    assert_eq!(queued.status, Queued);
    assert_eq!(queued.run_at, retry_at, "due at the retry time");
    assert_eq!(queued.attempt, claimed.attempt, "the attempt stays counted");
    assert_eq!(queued.error.as_deref(), Some("first try broke"));
    assert_eq!(queued.details, Some(details));
    assert_eq!((queued.lease_owner, queued.finished_at), (None, None));
    assert!(
        claim(&store, &["flaky"], &runner(OWNER), LEASE, 1)
            .await
            .is_empty(),
        "not claimed before the retry time"
    );

    // The last attempt fails for good, retry or not.
    let job = create(
        &store,
        NewJob {
            max_attempts: 1,
            ..new_job("once")
        },
    )
    .await;
    claim_job(&store, &job, OWNER, LEASE).await;
    let failed = store
        .fail(
            job.id,
            Writer::Lease(OWNER),
            "broke",
            None,
            Some(RetryPolicy { retry_at }),
        )
        .await
        .unwrap();
    assert_eq!(failed.status, Failed, "no attempts remain");
    assert!(failed.finished_at.is_some());
    assert_eq!(failed.error.as_deref(), Some("broke"));
}

conformance!(failing_without_a_retry_fails_the_job_for_good_whatever_attempts_remain);
async fn failing_without_a_retry_fails_the_job_for_good_whatever_attempts_remain(store: Store) {
    let job = running_job(&store, OWNER, LEASE).await;
    assert!(job.attempt < job.max_attempts);
    let details = json!(["a", "b"]);
    let failed = store
        .fail(
            job.id,
            Writer::Lease(OWNER),
            "bad input",
            Some(&details),
            None,
        )
        .await
        .unwrap();
    assert_eq!(failed.status, Failed);
    assert_eq!(failed.error.as_deref(), Some("bad input"));
    assert_eq!(failed.details, Some(details));
    assert!(failed.finished_at.is_some());
    assert_eq!((failed.lease_owner, failed.lease_expires_at), (None, None));
}

conformance!(requeueing_puts_the_job_back_without_counting_the_interrupted_attempt);
async fn requeueing_puts_the_job_back_without_counting_the_interrupted_attempt(store: Store) {
    let job = running_job(&store, OWNER, LEASE).await;
    store
        .report_progress(job.id, Writer::Lease(OWNER), &report(40.0, "halfway"))
        .await
        .unwrap();
    let queued = store.requeue(job.id, OWNER).await.unwrap();
    assert_eq!(queued.status, Queued);
    assert_eq!(
        queued.attempt,
        job.attempt - 1,
        "the interrupted attempt is not counted"
    );
    assert_eq!(queued.progress, 0.0);
    assert_eq!(queued.message, None);
    assert_eq!(
        (queued.lease_owner.as_deref(), queued.lease_expires_at),
        (None, None)
    );
    assert!(queued.run_at <= Timestamp::now(), "due at once");
    let again = claim_job(&store, &queued, OTHER, LEASE).await;
    assert_eq!(again.attempt, 1);
}

conformance!(retrying_gives_a_fresh_attempt_budget_and_notes_it_in_the_log);
async fn retrying_gives_a_fresh_attempt_budget_and_notes_it_in_the_log(store: Store) {
    for start in [Start::Failed, Start::Cancelled] {
        let job = start.make(&store).await;
        let line = store
            .append_log(job.id, Writer::External, LogLevel::Info, "before")
            .await;
        // A finished job takes no lines; its earlier ones (none here) would stay.
        assert_conflict(line, job.id, start.status());
        let retried = store.retry(job.id).await.unwrap();
        assert_eq!(retried.status, Queued);
        assert_eq!(retried.attempt, 0, "a fresh attempt budget");
        assert_eq!(
            (
                retried.error.clone(),
                retried.result.clone(),
                retried.finished_at
            ),
            (None, None, None)
        );
        assert!(!retried.cancel_requested);
        assert_eq!(retried.worker, None);
        assert_eq!(
            retried.version,
            job.version + 2,
            "the change and its log line"
        );
        let logs = all_logs(&store, job.id).await;
        let [note] = logs.as_slice() else {
            panic!("one note in the log, got {logs:?}");
        };
        assert_eq!((note.seq, note.version), (retried.log_seq, retried.version));
        assert!(note.message.contains("retried"), "{:?}", note.message);
        let claimed = claim_job(&store, &retried, OWNER, LEASE).await;
        assert_eq!(claimed.attempt, 1);
    }
}

conformance!(cancelling_a_queued_job_finishes_it_at_once);
async fn cancelling_a_queued_job_finishes_it_at_once(store: Store) {
    let job = create_of(&store, "work").await;
    let cancelled = match store.cancel(job.id, false).await.unwrap() {
        CancelOutcome::Cancelled(job) => job,
        other => panic!("a queued job is cancelled at once, got {other:?}"),
    };
    assert_eq!(cancelled.status, Cancelled);
    assert!(cancelled.finished_at.is_some());
    assert!(claim(&store, &["work"], &runner(OWNER), LEASE, 1)
        .await
        .is_empty());
}

conformance!(the_runner_finishing_a_cancelled_job_ends_its_lease);
async fn the_runner_finishing_a_cancelled_job_ends_its_lease(store: Store) {
    let job = running_job(&store, OWNER, LEASE).await;
    store.cancel(job.id, false).await.unwrap();
    assert_eq!(store.renew_leases(OWNER, LEASE).await.unwrap(), [job.id]);
    let done = store.finish_cancelled(job.id, OWNER).await.unwrap();
    assert_eq!(done.status, Cancelled);
    assert!(done.finished_at.is_some());
    assert_eq!((done.lease_owner, done.lease_expires_at), (None, None));
    assert_eq!(store.renew_leases(OWNER, LEASE).await.unwrap(), []);
}

conformance!(a_cancel_request_is_a_flag_for_the_runner_not_a_change_of_its_own);
/// `Backend::cancel`: a running in-process job is only marked (no version, no change number);
/// the runner's stop ([`Backend::finish_cancelled`]) is the change streams see.
async fn a_cancel_request_is_a_flag_for_the_runner_not_a_change_of_its_own(store: Store) {
    let job = running_job(&store, OWNER, LEASE).await;
    let mark = store.max_change_seq().await.unwrap();
    let asked = cancel_outcome_job(store.cancel(job.id, false).await.unwrap());
    assert!(asked.cancel_requested);
    assert_eq!(asked.version, job.version, "no version of its own");
    assert_eq!(store.changes_since(mark, 10).await.unwrap(), []);
    let stopped = store.finish_cancelled(job.id, OWNER).await.unwrap();
    assert!(stopped.version > job.version);
    assert_eq!(
        store
            .changes_since(mark, 10)
            .await
            .unwrap()
            .iter()
            .map(|c| c.0)
            .collect::<Vec<_>>(),
        [job.id]
    );
}
