//! A family's consequences followed: a waiting parent woken or failed, a failed or
//! cancelled parent's unfinished children cancelled.

use std::collections::{HashSet, VecDeque};

use super::super::{Dialect, Run, Statement};
use super::echo::echo;
use super::{job, seeds};
use crate::job::{ChildPolicy, Job, JobId, JobStatus, Timestamp};
use crate::store::sql::{self, unfinished_list};
use crate::store::StoreError;

/// Settles the families of `seeds`: each parent among them first hears of its children's news
/// ([`echo`]), then follows its policy, following every consequence (a cancelled child that is a
/// parent cancels its own children; a failed parent may fail its parent) until nothing moves.
pub(crate) async fn settle(
    run: &mut dyn Run,
    d: &Dialect,
    now: Timestamp,
    keep: i64,
    from: Vec<JobId>,
) -> Result<(), StoreError> {
    let mut queue: VecDeque<JobId> = from.into();
    // A job is looked at again only after it changed, so this ends.
    let mut settled: HashSet<JobId> = HashSet::new();
    while let Some(id) = queue.pop_front() {
        if !settled.insert(id) {
            continue;
        }
        let Some(mut job) = job(run, id).await? else {
            continue;
        };
        if job.children > 0 {
            if let Some(told) = echo(run, d, now, keep, &job).await? {
                // What its family did is news for its own parent too: a grandchild's lines
                // and progress reach the top of the family.
                if let Some(up) = told.parent_id {
                    settled.remove(&up);
                    queue.push_back(up);
                }
                job = told;
            }
        }
        let changed = match job.status {
            JobStatus::Waiting => settle_waiting(run, d, now, &job).await?,
            JobStatus::Failed | JobStatus::Cancelled if job.children > 0 => {
                for child in cancel_children(run, d, now, &job).await? {
                    queue.extend(seeds([&child]));
                    settled.remove(&child.id);
                }
                // The cancelled children's changes, on their (finished) parent's record.
                echo(run, d, now, keep, &job).await?;
                None
            }
            _ => None,
        };
        if let Some(changed) = changed {
            settled.remove(&changed.id);
            queue.extend(seeds([&changed]));
        }
    }
    Ok(())
}

/// A waiting parent: failed if a child failed and it fails fast, queued again once no child
/// is unfinished; else as it is.
async fn settle_waiting(
    run: &mut dyn Run,
    d: &Dialect,
    now: Timestamp,
    parent: &Job,
) -> Result<Option<Job>, StoreError> {
    let failed = {
        let mut statement = Statement::new(format!(
            "SELECT * FROM jobs WHERE parent_id = $1 AND status = {} ORDER BY id LIMIT 1",
            sql::quoted(JobStatus::Failed)
        ));
        statement.args = vec![parent.id.to_string().into()];
        run.jobs(&statement).await?.pop()
    };
    let set = match failed {
        Some(child) if parent.child_policy == ChildPolicy::FailFast => {
            let error = format!(
                "child {} failed: {}",
                child.id,
                child.error.as_deref().unwrap_or("no error given")
            );
            let mut set = Statement::new(format!(
                "UPDATE jobs SET status = {failed}, error = ",
                failed = sql::quoted(JobStatus::Failed)
            ));
            set.bind((d.text)(&error)).push(", finished_at = ");
            set
        }
        _ => {
            let mut unfinished = Statement::new(format!(
                "SELECT * FROM jobs WHERE parent_id = $1 AND status IN ({}) LIMIT 1",
                unfinished_list()
            ));
            unfinished.args = vec![parent.id.to_string().into()];
            if !run.jobs(&unfinished).await?.is_empty() {
                return Ok(None);
            }
            // Its next run reads the children's outcomes; the attempt that made them is not
            // counted twice.
            Statement::new(format!(
                "UPDATE jobs SET status = {queued}, awaiting_children = FALSE, \
                 attempt = CASE WHEN jobs.attempt > 0 THEN jobs.attempt - 1 ELSE 0 END, \
                 finished_at = NULL, run_at = ",
                queued = sql::quoted(JobStatus::Queued)
            ))
        }
    };
    let mut update = set;
    let at = update.args.len() + 1;
    update.bind(now.as_millis()).push(format!(
        ", updated_at = ${at}, version = jobs.version + 1, state_version = jobs.version + 1, {} \
         WHERE jobs.id = ",
        d.next_change
    ));
    update.bind(parent.id.to_string()).push(format!(
        " AND {} {}",
        sql::status_allows("jobs.status", crate::job::Action::Settle),
        d.returning
    ));
    Ok(run.jobs(&update).await?.pop())
}
/// Cancels the unfinished children of a failed or cancelled parent: queued and waiting ones,
/// and running external ones, at once (each its own version and change number); running ones
/// a runner holds are asked to stop, as a cancel request asks (no version). Returns those
/// cancelled at once.
async fn cancel_children(
    run: &mut dyn Run,
    d: &Dialect,
    now: Timestamp,
    parent: &Job,
) -> Result<Vec<Job>, StoreError> {
    let mut request = Statement::new(format!(
        "UPDATE jobs SET cancel_requested = TRUE WHERE parent_id = $1 AND status = {} \
         AND lease_owner IS NOT NULL AND NOT cancel_requested {}",
        sql::quoted(JobStatus::Running),
        d.returning
    ));
    request.args = vec![parent.id.to_string().into()];
    run.jobs(&request).await?;
    let mut open = Statement::new(format!(
        "SELECT * FROM jobs WHERE parent_id = $1 AND (status IN ({}, {}) \
         OR (status = {} AND lease_owner IS NULL)) ORDER BY id",
        sql::quoted(JobStatus::Queued),
        sql::quoted(JobStatus::Waiting),
        sql::quoted(JobStatus::Running),
    ));
    open.args = vec![parent.id.to_string().into()];
    let mut cancelled = Vec::new();
    for child in run.jobs(&open).await? {
        let mut update = Statement::new(format!(
            "UPDATE jobs SET {set}, version = jobs.version + 1, \
             state_version = jobs.version + 1, {change} WHERE jobs.id = $2 \
             AND jobs.status = $3 {returning}",
            set = sql::cancelled_set("$1"),
            change = d.next_change,
            returning = d.returning,
        ));
        update.args = vec![
            now.as_millis().into(),
            child.id.to_string().into(),
            child.status.as_str().into(),
        ];
        cancelled.extend(run.jobs(&update).await?);
    }
    Ok(cancelled)
}
