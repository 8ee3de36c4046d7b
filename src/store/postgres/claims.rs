//! Claims and leases on PostgreSQL: the claim statement the batch writer runs, with `FOR UPDATE
//! SKIP LOCKED`, walking the queue index per type; lease renewals and recovery locking rows in
//! id order, so they never deadlock with each other.

use std::time::Duration;

use super::{pg_text, PgStore, CHANGE_LOCK, NEXT_CHANGE, NOTIFY};
use crate::job::{Job, JobId, Timestamp};
use crate::store::batch::{Arg, ClaimRequest, Statement};
use crate::store::rows::{cancel_requested, job_from_row};
use crate::store::{sql, StoreError};

/// The claim `request` makes at `now`, as a statement for the batch writer (which holds the
/// change lock). Rows another transaction has locked are skipped, not waited for. Each type is
/// looked up on its own, walking `jobs_queue` in order and stopping after `limit` rows: with
/// `type = ANY(...)` the planner read every queued job of those types and sorted them,
/// milliseconds per claim with 10 000 queued.
pub(super) fn claim(request: &ClaimRequest, now: Timestamp) -> Statement {
    let order = sql::CLAIM_ORDER;
    let wanted = (0..request.types.len())
        .map(|i| format!("(CAST(${} AS TEXT))", i + 7))
        .collect::<Vec<_>>()
        .join(", ");
    let mut statement = Statement::new(format!(
        "WITH due AS ( \
             SELECT picked.id FROM (VALUES {wanted}) AS wanted (type), LATERAL ( \
                 SELECT jobs.id, jobs.priority FROM jobs \
                 WHERE {claimable} AND jobs.type = wanted.type AND {not_paused} \
                 ORDER BY {order} LIMIT $4 \
                 FOR UPDATE OF jobs SKIP LOCKED) AS picked \
             ORDER BY {order} LIMIT $4) \
         UPDATE jobs SET {set}, {NEXT_CHANGE} \
         FROM due WHERE jobs.id = due.id RETURNING jobs.*, {NOTIFY}",
        claimable = sql::claimable("jobs", "$1"),
        // Of the wanted type only, so checked once per type, not per job.
        not_paused = sql::not_paused("wanted.type"),
        set = sql::claim_set(&sql::ClaimInputs {
            now: "$1",
            owner: "$2",
            expires: "$3",
            worker: "$5",
            lease_ms: "$6",
        }),
    ));
    statement.args = vec![
        now.as_millis().into(),
        request.owner.as_str().into(),
        request.expires(now).into(),
        request.limit().into(),
        request.worker.as_deref().map(pg_text).into(),
        request.worker_lease_ms().into(),
    ];
    statement
        .args
        .extend(request.types.iter().map(|t| Arg::from(pg_text(t))));
    statement
}

impl PgStore {
    /// Rows another transaction holds are skipped, not waited for: a batch holding the
    /// change lock locks its rows in no particular order, and a renewal waiting on one of them
    /// while holding others could close a cycle with it, which PostgreSQL breaks only after
    /// `deadlock_timeout` (1 s by default), by failing the renewal, so short leases expired
    /// under running jobs. A row skipped is being written by its batch (usually its end) and is
    /// renewed at the next poll if it still runs; leases are several polls long.
    pub(super) async fn renew(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Vec<JobId>, StoreError> {
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET lease_expires_at = $1 \
             WHERE id IN (SELECT id FROM jobs WHERE {mine} ORDER BY id FOR UPDATE SKIP LOCKED) \
             AND {mine} \
             RETURNING id, cancel_requested",
            mine = sql::leases_of_owner()
        ))
        .bind(Timestamp::now().saturating_add(lease).as_millis())
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        self.committed();
        cancel_requested(&rows)
    }

    pub(super) async fn recover(&self) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(&format!(
            "{CHANGE_LOCK}, expired AS ( \
                 SELECT jobs.id FROM jobs, change_lock WHERE {expired} \
                 ORDER BY jobs.id FOR UPDATE OF jobs) \
             UPDATE jobs SET {set}, {NEXT_CHANGE} \
             FROM expired WHERE jobs.id = expired.id RETURNING jobs.*, {NOTIFY}",
            expired = sql::lease_expired("jobs"),
            set = sql::recover_set(),
        ))
        .bind(Timestamp::now().as_millis())
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            self.committed();
        } else {
            self.wrote();
        }
        rows.iter().map(job_from_row).collect()
    }
}
