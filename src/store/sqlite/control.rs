//! Control on SQLite: pausing job types and bulk actions, the writes that differ from
//! PostgreSQL's only in how they number changes (`MAX + 1` under the one writer) and in having
//! no other process to tell. The reads and the schedule's plain writes are shared
//! (`store/shared.rs`).

use sqlx::Row;

use super::claims::pick_numbered;
use super::SqliteStore;
use crate::job::{Job, JobStatus, Timestamp};
use crate::store::batch::{bind_all, Statement};
use crate::store::rows::job_from_row;
use crate::store::shared::matching;
use crate::store::{sql, BulkAction, BulkStep, JobFilter, StoreError};

impl SqliteStore {
    pub(super) async fn pause(
        &self,
        job_type: &str,
        at: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        let row = sqlx::query(&sql::pause_type("WHERE TRUE"))
            .bind(job_type)
            .bind(at.as_millis())
            .fetch_one(&self.writer)
            .await?;
        self.committed();
        Ok(Timestamp::from_millis(row.try_get("paused_at")?))
    }

    pub(super) async fn resume(&self, job_type: &str) -> Result<bool, StoreError> {
        let gone = sqlx::query("DELETE FROM paused_types WHERE type = $1")
            .bind(job_type)
            .execute(&self.writer)
            .await?;
        self.committed();
        Ok(gone.rows_affected() > 0)
    }

    /// One step of a bulk action in one transaction on the writer: for a retry the jobs' notes
    /// are inserted first, numbered from their rows as they are (the next seq, the version two
    /// above: the retry takes the one between), then the jobs are changed, each numbered on its
    /// own.
    pub(super) async fn bulk(
        &self,
        action: BulkAction,
        filter: &JobFilter,
        status: JobStatus,
        after: Option<crate::job::JobId>,
        limit: usize,
    ) -> Result<BulkStep, StoreError> {
        if !action.action().allows(status) || limit == 0 {
            return Ok(BulkStep::default());
        }
        let now = Timestamp::now();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let guard = sql::status_allows("jobs.status", action.action());
        // Through the status index, from `after` on: a step reads its own jobs, not every job of
        // the filter's type (the type index's walk would pass over all its finished jobs).
        let picked = |statement: &mut Statement| {
            statement.push("SELECT jobs.id FROM jobs INDEXED BY jobs_status_id WHERE ");
            matching(statement, filter, status, after, str::to_owned);
            // The step's size as a literal: told only "LIMIT ?", SQLite's planner cannot know
            // that `picked` is small, and walks every job to join it (seconds a step).
            statement.push(format!(" ORDER BY jobs.id LIMIT {limit}"));
        };
        let mut tx = self.writer.begin().await?;
        let rows = if action == BulkAction::RequestCancel {
            let mut update = Statement::new(format!(
                "UPDATE jobs SET {} WHERE jobs.id IN (",
                sql::bulk_set(action, "NULL")
            ));
            picked(&mut update);
            update.push(format!(") AND {guard} RETURNING *"));
            bind_all(sqlx::query(&update.sql), &update.args)
                .fetch_all(&mut *tx)
                .await?
        } else {
            if action == BulkAction::Retry {
                let mut notes = Statement::new("INSERT INTO ");
                notes
                    .push(sql::INSERT_LOG_COLUMNS)
                    .push(" SELECT jobs.id, jobs.log_seq + 1, jobs.version + 2, ")
                    .bind(now.as_millis())
                    .push(", 'info', ")
                    .bind(sql::RETRY_NOTE)
                    .push(" FROM jobs WHERE jobs.id IN (");
                picked(&mut notes);
                notes.push(")");
                bind_all(sqlx::query(&notes.sql), &notes.args)
                    .execute(&mut *tx)
                    .await?;
            }
            let mut update = Statement::new("WITH c (now) AS (SELECT ");
            update.bind(now.as_millis()).push("), ");
            let mut ids = Statement {
                args: std::mem::take(&mut update.args),
                ..Statement::default()
            };
            picked(&mut ids);
            update.args = std::mem::take(&mut ids.args);
            // Not `UPDATE ... FROM picked`: for that SQLite (3.46) walks every job of the
            // guard's statuses and scans `picked` for each (seconds a step with 100 000 failed
            // jobs); `id IN (...)` looks each picked job up by its key.
            update.push(pick_numbered(&ids.sql, "id")).push(format!(
                "UPDATE jobs SET {set}, \
                     change_seq = (SELECT seq FROM picked WHERE picked.id = jobs.id) \
                 WHERE jobs.id IN (SELECT id FROM picked) AND {guard} RETURNING *",
                set = sql::bulk_set(action, "(SELECT now FROM c)"),
            ));
            bind_all(sqlx::query(&update.sql), &update.args)
                .fetch_all(&mut *tx)
                .await?
        };
        tx.commit().await?;
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
