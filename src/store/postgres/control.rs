//! Control on PostgreSQL: pausing job types and bulk actions. A pause takes the change lock, so
//! it waits for a batch whose claim is under way and every claim after it sees the pause; a
//! resume tells every node that jobs are claimable (`NOTIFY ... 'queued'`). A bulk step numbers
//! its jobs from the sequence under the change lock, like every write that changes jobs. The
//! reads and the schedule's plain writes are shared (`store/shared.rs`).

use sqlx::Row;

use super::{pg_text, PgStore, CHANGE_LOCK, NEXT_CHANGE, NOTIFY};
use crate::job::{Job, JobId, JobStatus, Timestamp};
use crate::store::batch::{bind_all, Statement};
use crate::store::rows::job_from_row;
use crate::store::shared::matching;
use crate::store::{sql, BulkAction, BulkStep, JobFilter, StoreError};

impl PgStore {
    pub(super) async fn pause(
        &self,
        job_type: &str,
        at: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        let row = sqlx::query(&format!(
            "{CHANGE_LOCK} {}",
            sql::pause_type("FROM change_lock")
        ))
        .bind(pg_text(job_type))
        .bind(at.as_millis())
        .fetch_one(&self.pool)
        .await?;
        self.committed();
        Ok(Timestamp::from_millis(row.try_get("paused_at")?))
    }

    pub(super) async fn resume(&self, job_type: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "WITH gone AS (DELETE FROM paused_types WHERE type = $1 RETURNING type) \
             SELECT pg_notify('jobcast_changes', 'queued') AS notified FROM gone",
        )
        .bind(pg_text(job_type))
        .fetch_optional(&self.pool)
        .await?;
        self.committed();
        Ok(row.is_some())
    }

    /// One step of a bulk action, one statement: the jobs picked in id order and locked under
    /// the change lock, changed, numbered, the other nodes told; a retry's notes inserted from
    /// the changed rows.
    pub(super) async fn bulk(
        &self,
        action: BulkAction,
        filter: &JobFilter,
        status: JobStatus,
        after: Option<JobId>,
        limit: usize,
    ) -> Result<BulkStep, StoreError> {
        if !action.action().allows(status) || limit == 0 {
            return Ok(BulkStep::default());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let guard = sql::status_allows("jobs.status", action.action());
        let mut statement = Statement::default();
        let picked = |statement: &mut Statement, from: &str| {
            statement.push(format!("SELECT jobs.id FROM {from} WHERE "));
            matching(statement, filter, status, after, pg_text);
            // A literal, as on SQLite: the planner sees how few rows a step takes.
            statement.push(format!(
                " ORDER BY jobs.id LIMIT {limit} FOR UPDATE OF jobs"
            ));
        };
        if action == BulkAction::RequestCancel {
            // As a single cancel request: no version, no change number, so no lock; rows are
            // locked in id order, as lease renewals lock them.
            statement.push(format!(
                "UPDATE jobs SET {} WHERE jobs.id IN (",
                sql::bulk_set(action, "NULL")
            ));
            picked(&mut statement, "jobs");
            statement.push(format!(") AND {guard} RETURNING jobs.*"));
        } else {
            statement.push("WITH now (at) AS (SELECT CAST(");
            statement.bind(Timestamp::now().as_millis());
            statement.push(format!(
                " AS BIGINT)), {}, picked AS (",
                CHANGE_LOCK.trim_start_matches("WITH ")
            ));
            picked(&mut statement, "jobs, change_lock");
            statement.push(format!(
                "), j AS (UPDATE jobs SET {set}, {NEXT_CHANGE} FROM picked \
                 WHERE jobs.id = picked.id AND {guard} RETURNING jobs.*, {NOTIFY})",
                set = sql::bulk_set(action, "(SELECT at FROM now)"),
            ));
            if action == BulkAction::Retry {
                statement
                    .push(format!(
                        ", line AS (INSERT INTO {} SELECT j.id, j.log_seq, j.version, \
                         (SELECT at FROM now), 'info', ",
                        sql::INSERT_LOG_COLUMNS
                    ))
                    .bind(sql::RETRY_NOTE)
                    .push(" FROM j)");
            }
            statement.push(" SELECT * FROM j");
        }
        let rows = bind_all(sqlx::query(&statement.sql), &statement.args)
            .fetch_all(&self.pool)
            .await?;
        let mut changed = rows
            .iter()
            .map(job_from_row)
            .collect::<Result<Vec<Job>, _>>()?;
        changed.sort_by_key(|job| job.id);
        if changed.is_empty() || action == BulkAction::RequestCancel {
            self.committed();
        } else {
            self.wrote();
        }
        Ok(BulkStep {
            last: changed.last().map(|job| job.id),
            changed,
        })
    }
}
