//! Parent and child jobs in the batch's transaction: children made atomically with the check
//! on their parent ([`spawn`]), and the consequences of a family member's change ([`settle`]):
//! a waiting parent queued again once its last child ended, failed when a child failed under
//! the fail-fast policy, the unfinished children of a failed or cancelled parent cancelled.
//!
//! Both run after the batch's planned statements, one row per statement (each changed row
//! takes the next change number, [`Dialect::next_change`]): on PostgreSQL in the batch's
//! transaction; on SQLite, whose batch commits in the same round trip as its statements, in a
//! transaction of its own right after, on the one writer connection. A family's state lives
//! in its rows, not in messages: settling is driven by what the rows say, so it holds
//! whichever process ended the child. The one window SQLite leaves (its process killed
//! between the two commits: a child ended, its parent not yet woken) is closed by the sweep
//! ([`unsettled`]) the application runs when it starts; SQLite has one process, so that is
//! the process that would have settled it.
//!
//! - `spawn.rs`: children made.
//! - `settle.rs`: a family's consequences followed.
//! - `echo.rs`: a child's news copied onto its parent, and the family's roll-up.

mod echo;
mod settle;
mod spawn;

pub(crate) use settle::settle;
pub(crate) use spawn::{spawn, SpawnRequest};

use super::{Run, Statement};
use crate::job::{Job, JobId, JobStatus};
use crate::store::sql::{self, unfinished_list};
use crate::store::StoreError;

/// How far families may grow: set by the caller (the configuration's `[families]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyLimits {
    /// A top-level job is at depth 0; a child may be made at most at this depth.
    pub max_depth: i64,
    /// Children one parent may make in all.
    pub max_children: i64,
}

impl Default for FamilyLimits {
    fn default() -> Self {
        FamilyLimits {
            max_depth: 3,
            max_children: 10_000,
        }
    }
}
/// The jobs a batch's changes may have moved on: each changed job's parent, and each changed
/// job that is a parent itself (its children follow a failure or a cancel).
pub(crate) fn seeds<'j>(changed: impl IntoIterator<Item = &'j Job>) -> Vec<JobId> {
    let mut seeds = Vec::new();
    for job in changed {
        if let Some(parent) = job.parent_id {
            seeds.push(parent);
        }
        if job.children > 0 {
            seeds.push(job.id);
        }
    }
    seeds
}
/// Every job a sweep settles: waiting parents, failed or cancelled parents that still have
/// unfinished children, and parents whose children have news they did not hear (SQLite's
/// process killed between a batch and its family step), found from those children (unfinished jobs are few; finished ones may
/// be millions), so a start-up's sweep costs what the unfinished jobs cost.
pub(crate) async fn unsettled(run: &mut dyn Run) -> Result<Vec<JobId>, StoreError> {
    let statement = Statement::new(format!(
        "SELECT * FROM jobs WHERE status = {waiting} \
         UNION ALL SELECT * FROM jobs p WHERE p.status IN ({failed}, {cancelled}) \
             AND p.id IN (SELECT kid.parent_id FROM jobs kid \
                 WHERE kid.status IN ({unfinished}) AND kid.parent_id IS NOT NULL) \
         UNION ALL SELECT * FROM jobs p WHERE p.id IN (SELECT kid.parent_id FROM jobs kid \
             WHERE kid.parent_id IS NOT NULL AND kid.version > kid.echoed_version)",
        waiting = sql::quoted(JobStatus::Waiting),
        failed = sql::quoted(JobStatus::Failed),
        cancelled = sql::quoted(JobStatus::Cancelled),
        unfinished = unfinished_list(),
    ));
    Ok(run
        .jobs(&statement)
        .await?
        .iter()
        .map(|job| job.id)
        .collect())
}
/// The job `id`, if there is one.
pub(super) async fn job(run: &mut dyn Run, id: JobId) -> Result<Option<Job>, StoreError> {
    let mut statement = Statement::new(sql::GET_JOB);
    statement.args = vec![id.to_string().into()];
    Ok(run.jobs(&statement).await?.pop())
}
