//! Claims and leases on SQLite: one statement per claim or recovery under the one writer,
//! every job it changes numbered on its own.

use std::time::Duration;

use super::SqliteStore;
use crate::job::{Job, JobId, Timestamp};
use crate::store::rows::{cancel_requested, claimed, duration_ms, job_from_row};
use crate::store::{sql, Claimant, StoreError};

/// For an `UPDATE jobs ... FROM picked WHERE jobs.id = picked.id` over several rows: `picked`
/// gives each chosen job its own next change number, `seq`, in the order given. The window
/// function makes SQLite compute the whole list, and with it the base, before any row changes.
fn pick_numbered(select_ids: &str, order: &str) -> String {
    format!(
        "WITH picked (id, seq) AS MATERIALIZED (\
             SELECT id, (SELECT COALESCE(MAX(change_seq), 0) FROM jobs) \
                 + row_number() OVER (ORDER BY {order}) \
             FROM ({select_ids})) "
    )
}

/// The claim of up to `$4` due jobs of `types` types (`$7`, `$8`, ...): the queue index walked
/// per type in claim order, each job picked numbered on its own.
fn claim_statement(types: usize) -> String {
    let placeholders = (0..types)
        .map(|i| format!("${}", i + 7))
        .collect::<Vec<_>>()
        .join(", ");
    let picked = pick_numbered(
        &format!(
            "SELECT id, priority FROM jobs WHERE {} AND type IN ({placeholders}) \
             ORDER BY {order} LIMIT $4",
            sql::claimable("jobs"),
            order = sql::CLAIM_ORDER
        ),
        sql::CLAIM_ORDER,
    );
    format!(
        "{picked} UPDATE jobs SET {}, change_seq = picked.seq \
         FROM picked WHERE jobs.id = picked.id RETURNING *",
        sql::claim_set()
    )
}

impl SqliteStore {
    /// One statement: the jobs picked in claim order, each with its own change number.
    pub(super) async fn claim_due(
        &self,
        types: &[String],
        claimant: &Claimant<'_>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        if types.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let now = Timestamp::now();
        let statement = claim_statement(types.len());
        let mut query = sqlx::query(&statement)
            .bind(now.as_millis())
            .bind(claimant.owner)
            .bind(now.saturating_add(lease).as_millis())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(claimant.worker)
            .bind(claimant.worker.map(|_| duration_ms(lease)));
        for job_type in types {
            query = query.bind(job_type);
        }
        let rows = query.fetch_all(&self.writer).await?;
        if rows.is_empty() {
            self.committed();
        } else {
            self.wrote();
        }
        claimed(&rows)
    }

    pub(super) async fn renew(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Vec<JobId>, StoreError> {
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET lease_expires_at = $1 WHERE {} RETURNING id, cancel_requested",
            sql::leases_of_owner()
        ))
        .bind(Timestamp::now().saturating_add(lease).as_millis())
        .bind(owner)
        .fetch_all(&self.writer)
        .await?;
        self.committed();
        cancel_requested(&rows)
    }

    pub(super) async fn recover(&self) -> Result<Vec<Job>, StoreError> {
        let picked = pick_numbered(
            &format!("SELECT id FROM jobs WHERE {}", sql::lease_expired("jobs")),
            "id",
        );
        let rows = sqlx::query(&format!(
            "{picked} UPDATE jobs SET {}, change_seq = picked.seq \
             FROM picked WHERE jobs.id = picked.id RETURNING *",
            sql::recover_set()
        ))
        .bind(Timestamp::now().as_millis())
        .fetch_all(&self.writer)
        .await?;
        if rows.is_empty() {
            self.committed();
        } else {
            self.wrote();
        }
        rows.iter().map(job_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A claim of one type walks the partial queue index (`WHERE status = 'queued'`): a guard
    /// SQLite does not read as the index's own condition (`status IN ('queued')`) would have it
    /// sort every queued job of the type on each claim.
    #[tokio::test]
    async fn a_claim_walks_the_queue_index() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/jobs.db", dir.path().display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {}", claim_statement(1)))
                .fetch_all(&store.reader)
                .await
                .unwrap();
        let plan: Vec<String> = rows.into_iter().map(|row| row.3).collect();
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX jobs_queue")),
            "{plan:?}"
        );
    }
}
