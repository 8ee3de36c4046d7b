//! Claims and leases on SQLite: the claim statement the batch writer runs, lease renewals and
//! recovery; one statement each under the one writer, every job it changes numbered on its own.

use std::time::Duration;

use super::SqliteStore;
use crate::job::{Job, JobId, Timestamp};
use crate::store::batch::{Arg, ClaimRequest, Statement};
use crate::store::rows::{cancel_requested, job_from_row};
use crate::store::{sql, StoreError};

/// For an `UPDATE jobs ... FROM picked WHERE jobs.id = picked.id` over several rows: `picked`
/// gives each chosen job its own next change number, `seq`, in the order given. The window
/// function makes SQLite compute the whole list, and with it the base, before any row changes.
/// A table of a `WITH` list.
pub(super) fn pick_numbered(select_ids: &str, order: &str) -> String {
    format!(
        "picked (id, seq) AS MATERIALIZED (\
             SELECT id, (SELECT COALESCE(MAX(change_seq), 0) FROM jobs) \
                 + row_number() OVER (ORDER BY {order}) \
             FROM ({select_ids})) "
    )
}

/// The claim of up to `lim` due jobs of `types` types, each job picked numbered on its own.
/// The claim's inputs are the table `p`, bound in order (`$1` to `$6`, then each type), so each
/// value appears once, in the order it is bound. Each type is looked up on its own, walking the
/// queue index in claim order and stopping after `lim` rows; with `type IN (...)` SQLite would
/// read every queued job of those types through the status index and sort them, on every claim.
/// A paused type's rows are left out after its walk, which stops at `lim` rows: checked per row
/// inside it, a paused type's whole queue would be read on every claim.
fn claim_statement(types: usize) -> String {
    let per_type = (0..types)
        .map(|i| {
            format!(
                "SELECT id, priority FROM (SELECT id, priority, type FROM jobs \
                     WHERE {} AND type = ${} ORDER BY {order} LIMIT (SELECT lim FROM p)) AS q \
                 WHERE {not_paused}",
                sql::claimable("jobs", "(SELECT now FROM p)"),
                i + 7,
                order = sql::CLAIM_ORDER,
                not_paused = sql::not_paused("q.type"),
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let picked = pick_numbered(
        &format!(
            "SELECT id, priority FROM ({per_type}) ORDER BY {order} LIMIT (SELECT lim FROM p)",
            order = sql::CLAIM_ORDER
        ),
        sql::CLAIM_ORDER,
    );
    let set = sql::claim_set(&sql::ClaimInputs {
        now: "(SELECT now FROM p)",
        owner: "(SELECT owner FROM p)",
        expires: "(SELECT expires FROM p)",
        worker: "(SELECT worker FROM p)",
        lease_ms: "(SELECT lease_ms FROM p)",
    });
    format!(
        "WITH p (now, owner, expires, lim, worker, lease_ms) AS \
             (SELECT $1, $2, $3, $4, $5, $6), {picked} \
         UPDATE jobs SET {set}, change_seq = picked.seq \
         FROM picked WHERE jobs.id = picked.id RETURNING *"
    )
}

/// The claim `request` makes at `now`, as a statement for the batch writer.
pub(super) fn claim(request: &ClaimRequest, now: Timestamp) -> Statement {
    let mut statement = Statement::new(claim_statement(request.types.len()));
    statement.args = vec![
        now.as_millis().into(),
        request.owner.as_str().into(),
        request.expires(now).into(),
        request.limit().into(),
        request.worker.clone().into(),
        request.worker_lease_ms().into(),
    ];
    statement
        .args
        .extend(request.types.iter().map(|t| Arg::from(t.as_str())));
    statement
}

impl SqliteStore {
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
            "WITH {picked} UPDATE jobs SET {}, change_seq = picked.seq \
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

    /// A claim walks the partial queue index (`WHERE status = 'queued'`) once per type: a guard
    /// SQLite does not read as the index's own condition (`status IN ('queued')`), or a claim
    /// of several types in one `type IN (...)`, would have it sort every queued job of the
    /// types on each claim. (The index carries `run_at`, so the walk reads no table row.)
    #[tokio::test]
    async fn a_claim_walks_the_queue_index_once_per_type() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/jobs.db", dir.path().display());
        let store = SqliteStore::connect(&url).await.unwrap();
        for types in [1, 3] {
            let rows: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {}", claim_statement(types)))
                    .fetch_all(&store.reader)
                    .await
                    .unwrap();
            let plan: Vec<String> = rows.into_iter().map(|row| row.3).collect();
            let walks = plan
                .iter()
                .filter(|step| step.contains("INDEX jobs_queue (type=?"))
                .count();
            assert_eq!(walks, types, "{plan:?}");
            assert!(
                !plan.iter().any(|step| step.contains("jobs_status_id")),
                "{plan:?}"
            );
        }
    }
}
