//! The job's state machine: which statuses allow each action, declared once. Both store
//! backends build the guards of their statements from this table (`store/sql.rs`), so a new
//! status is added here, in the table test below, and in `docs/job-states.md`.

use super::JobStatus;

/// What can be done to a job. Which statuses allow each action is declared here, once: both
/// store backends build the guards of their statements from [`Action::allowed_from`], and a
/// write whose job is in any other status changes nothing and is refused as a conflict. A new
/// status is added here and in the table test below, and the statements follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A worker (the runner, or an external one over HTTP) claims a due job.
    Claim,
    /// Outside code reports on an unclaimed `external` job (progress, log lines, complete,
    /// fail); its first report starts it.
    ReportExternal,
    /// The lease holder reports on the job it runs (progress, log lines, complete, fail, lease
    /// renewals).
    ReportLeased,
    /// Cancel at once: a queued job.
    Cancel,
    /// Cancel at once an unfinished `external` job (no runner to stop it).
    CancelExternal,
    /// Ask the runner to stop a running in-process job.
    RequestCancel,
    /// The lease holder stopped a job whose cancel was requested.
    FinishCancelled,
    /// Send a failed or cancelled job back to the queue with a fresh attempt budget.
    Retry,
    /// A shutdown puts the lease holder's unfinished job back in the queue.
    Requeue,
    /// The job's lease expired: its attempt ends as interrupted.
    Recover,
    /// Retention deletes a finished job.
    Prune,
    /// A waiting parent's children moved on: queued again once none is unfinished, or failed
    /// when one failed and the parent's policy is fail-fast.
    Settle,
}

impl Action {
    pub const ALL: [Action; 12] = [
        Action::Claim,
        Action::ReportExternal,
        Action::ReportLeased,
        Action::Cancel,
        Action::CancelExternal,
        Action::RequestCancel,
        Action::FinishCancelled,
        Action::Retry,
        Action::Requeue,
        Action::Recover,
        Action::Prune,
        Action::Settle,
    ];

    /// The statuses a job may be in for this action to apply.
    pub const fn allowed_from(self) -> &'static [JobStatus] {
        use JobStatus::*;
        match self {
            Action::Claim => &[Queued],
            Action::Cancel => &[Queued, Waiting],
            Action::ReportExternal => &[Queued, Running],
            Action::CancelExternal => &[Queued, Running, Waiting],
            Action::Settle => &[Waiting],
            Action::ReportLeased
            | Action::RequestCancel
            | Action::FinishCancelled
            | Action::Requeue
            | Action::Recover => &[Running],
            Action::Retry => &[Failed, Cancelled],
            Action::Prune => &[Completed, Failed, Cancelled],
        }
    }

    /// The statuses a job may be in after the action (`Prune` leaves no job).
    pub const fn leads_to(self) -> &'static [JobStatus] {
        use JobStatus::*;
        match self {
            Action::Claim | Action::ReportExternal | Action::ReportLeased => {
                &[Running, Waiting, Completed, Failed, Queued]
            }
            Action::Settle => &[Queued, Failed],
            Action::Cancel | Action::CancelExternal | Action::FinishCancelled => &[Cancelled],
            Action::RequestCancel => &[Running],
            Action::Retry | Action::Requeue => &[Queued],
            Action::Recover => &[Queued, Failed, Cancelled],
            Action::Prune => &[],
        }
    }

    /// Whether a job in `status` allows this action.
    pub fn allows(self, status: JobStatus) -> bool {
        self.allowed_from().contains(&status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair of status and action, spelled out: `Q R W C F X` for queued, running,
    /// waiting, completed, failed, cancelled; `y` where the action applies. A change to the state
    /// machine must change this table too.
    #[test]
    fn each_action_applies_from_exactly_the_statuses_of_the_table() {
        use Action::*;
        #[rustfmt::skip]
        let table: [(Action, [char; 6]); 12] = [
            //                  Q    R    W    C    F    X
            (Claim,           ['y', '.', '.', '.', '.', '.']),
            (ReportExternal,  ['y', 'y', '.', '.', '.', '.']),
            (ReportLeased,    ['.', 'y', '.', '.', '.', '.']),
            (Cancel,          ['y', '.', 'y', '.', '.', '.']),
            (CancelExternal,  ['y', 'y', 'y', '.', '.', '.']),
            (RequestCancel,   ['.', 'y', '.', '.', '.', '.']),
            (FinishCancelled, ['.', 'y', '.', '.', '.', '.']),
            (Retry,           ['.', '.', '.', '.', 'y', 'y']),
            (Requeue,         ['.', 'y', '.', '.', '.', '.']),
            (Recover,         ['.', 'y', '.', '.', '.', '.']),
            (Prune,           ['.', '.', '.', 'y', 'y', 'y']),
            (Settle,          ['.', '.', 'y', '.', '.', '.']),
        ];
        assert_eq!(
            table.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            Action::ALL,
            "the table lists every action, in order"
        );
        for (action, row) in table {
            for (status, mark) in JobStatus::ALL.into_iter().zip(row) {
                assert_eq!(
                    action.allows(status),
                    mark == 'y',
                    "{action:?} from {status}"
                );
            }
        }
    }

    #[test]
    fn only_a_retry_leaves_a_finished_status_and_every_action_ends_somewhere_it_may() {
        for action in Action::ALL {
            for from in action.allowed_from() {
                if from.is_finished() && action != Action::Prune {
                    assert_eq!(action, Action::Retry, "{action:?} from {from}");
                }
            }
            assert_eq!(action.leads_to().is_empty(), action == Action::Prune);
        }
    }
}
