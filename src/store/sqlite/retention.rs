//! What SQLite keeps apart from the shared contract's statements: pruning finished jobs in
//! bounded batches (with its own JSON functions), giving freed pages back to the file system,
//! and online backups (`jobcast backup`). Every delete is one statement, so one short
//! transaction of its own on the writer.

use std::str::FromStr;

use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::Row;

use super::{SqliteStore, BUSY_TIMEOUT};
use crate::job::JobId;
use crate::store::rows::parse_id;
use crate::store::{PruneRule, StoreError};

/// Whether job `j` may be pruned under the rule bound as `?2` (per-type cutoffs, a JSON object
/// of type name to milliseconds), `?3` (the default cutoff) and `?4` (only this type, or NULL).
///
/// Finished only (`+status`: finished jobs are found through `jobs_finished_at`, not the status
/// index). The job changed last is never pruned: change numbers are `MAX(change_seq) + 1`, so
/// removing it would hand its number out again and the stream poller would miss that change.
const PRUNABLE: &str = "+j.status IN ('completed', 'failed', 'cancelled') \
     AND j.finished_at < COALESCE((SELECT value FROM json_each(?2) WHERE key = j.type), ?3) \
     AND (?4 IS NULL OR j.type = ?4) \
     AND j.change_seq < (SELECT MAX(change_seq) FROM jobs)";

/// Pages given back to the file system by one `incremental_vacuum` step (1 MiB at the default
/// 4 KiB page size): each step is one write transaction, about as long as a prune batch.
const RECLAIM_STEP: i64 = 256;

/// Up to `limit` prunable jobs, oldest finished first. Read from a snapshot: the deletes
/// check every job again.
pub(super) async fn prunable_jobs(
    store: &SqliteStore,
    rule: &PruneRule,
    limit: usize,
) -> Result<Vec<JobId>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT j.id FROM jobs j WHERE j.finished_at < ?1 AND {PRUNABLE} \
         ORDER BY j.finished_at LIMIT ?5"
    ))
    .bind(rule.newest_cutoff())
    .bind(rule.per_type_json())
    .bind(rule.finished_before.as_millis())
    .bind(rule.only_type.as_deref())
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&store.reader)
    .await?;
    rows.iter()
        .map(|row| parse_id(&row.try_get::<String, _>("id")?))
        .collect()
}

/// How many jobs, and log lines of theirs, the rule would prune now.
pub(super) async fn count_prunable(
    store: &SqliteStore,
    rule: &PruneRule,
) -> Result<(u64, u64), StoreError> {
    let row = sqlx::query(&format!(
        "SELECT COUNT(*) AS jobs, \
             COALESCE(SUM((SELECT COUNT(*) FROM job_logs l WHERE l.job_id = j.id)), 0) AS lines \
         FROM jobs j WHERE j.finished_at < ?1 AND {PRUNABLE}"
    ))
    .bind(rule.newest_cutoff())
    .bind(rule.per_type_json())
    .bind(rule.finished_before.as_millis())
    .bind(rule.only_type.as_deref())
    .fetch_one(&store.reader)
    .await?;
    let count = |column: &str| -> Result<u64, StoreError> {
        Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
    };
    Ok((count("jobs")?, count("lines")?))
}

/// Deletes at most `limit` log lines of those of `ids` that are still prunable.
pub(super) async fn delete_prunable_logs(
    store: &SqliteStore,
    ids: &[JobId],
    rule: &PruneRule,
    limit: usize,
) -> Result<u64, StoreError> {
    let done = sqlx::query(&format!(
        "DELETE FROM job_logs WHERE (job_id, seq) IN ( \
             SELECT l.job_id, l.seq FROM jobs j JOIN job_logs l ON l.job_id = j.id \
             WHERE j.id IN (SELECT value FROM json_each(?1)) AND {PRUNABLE} LIMIT ?5)"
    ))
    .bind(ids_json(ids))
    .bind(rule.per_type_json())
    .bind(rule.finished_before.as_millis())
    .bind(rule.only_type.as_deref())
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .execute(&store.writer)
    .await?;
    Ok(done.rows_affected())
}

/// Deletes those of `ids` that are still prunable and have no log lines left (so the
/// cascade to `job_logs` never has anything to do).
pub(super) async fn delete_prunable_jobs(
    store: &SqliteStore,
    ids: &[JobId],
    rule: &PruneRule,
) -> Result<u64, StoreError> {
    let done = sqlx::query(&format!(
        "DELETE FROM jobs AS j WHERE j.id IN (SELECT value FROM json_each(?1)) AND {PRUNABLE} \
             AND NOT EXISTS (SELECT 1 FROM job_logs l WHERE l.job_id = j.id)"
    ))
    .bind(ids_json(ids))
    .bind(rule.per_type_json())
    .bind(rule.finished_before.as_millis())
    .bind(rule.only_type.as_deref())
    .execute(&store.writer)
    .await?;
    Ok(done.rows_affected())
}

impl SqliteStore {
    /// Unused pages inside the database file.
    pub async fn free_pages(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("PRAGMA freelist_count")
            .fetch_one(&self.writer)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Gives up to one step of free pages back to the file system (in WAL mode the file
    /// shrinks at the next checkpoint); returns how many.
    pub async fn reclaim_free_pages(&self) -> Result<i64, StoreError> {
        let free = self.free_pages().await?;
        if free > 0 {
            let step = free.min(RECLAIM_STEP);
            sqlx::query(&format!("PRAGMA incremental_vacuum({step})"))
                .execute(&self.writer)
                .await?;
            return Ok(free - self.free_pages().await?);
        }
        Ok(0)
    }

    /// Writes a consistent copy of the database at `url` to the new file `dest` with
    /// `VACUUM INTO`, and returns its size. The copy is one read transaction: writers carry on
    /// meanwhile (in WAL mode a reader never blocks them). Refuses to create the database
    /// and, through SQLite, to overwrite an existing `dest`.
    pub async fn backup(url: &str, dest: &std::path::Path) -> Result<u64, StoreError> {
        use sqlx::{ConnectOptions, Connection};
        let open_err = |source| StoreError::Open {
            url: url.to_owned(),
            source,
        };
        let mut conn = SqliteConnectOptions::from_str(url)
            .map_err(open_err)?
            .read_only(true)
            .busy_timeout(BUSY_TIMEOUT)
            .connect()
            .await
            .map_err(open_err)?;
        let dest_text = dest
            .to_str()
            .ok_or_else(|| StoreError::Corrupt(format!("{} is not UTF-8", dest.display())))?;
        sqlx::query("VACUUM INTO ?1")
            .bind(dest_text)
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        // VACUUM INTO does not sync what it wrote: make the copy durable before saying so.
        let file = std::fs::File::open(dest).map_err(|e| StoreError::Database(e.into()))?;
        file.sync_all()
            .map_err(|e| StoreError::Database(e.into()))?;
        Ok(file
            .metadata()
            .map_err(|e| StoreError::Database(e.into()))?
            .len())
    }
}

fn ids_json(ids: &[JobId]) -> String {
    Value::from(ids.iter().map(JobId::to_string).collect::<Vec<_>>()).to_string()
}

/// Makes sure the database uses incremental auto-vacuum. A new database gets it from the
/// connect options before any table exists; an older one made without it (auto_vacuum NONE)
/// is rewritten once with `VACUUM`, which takes about as long as copying the file.
pub(super) async fn use_incremental_vacuum(writer: &SqlitePool) -> Result<(), StoreError> {
    let mode: i64 = sqlx::query("PRAGMA auto_vacuum")
        .fetch_one(writer)
        .await?
        .try_get(0)?;
    // 0 = NONE, 1 = FULL, 2 = INCREMENTAL. FULL becomes INCREMENTAL through the pragma alone.
    if mode != 0 {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let pages: i64 = sqlx::query("PRAGMA page_count")
        .fetch_one(writer)
        .await?
        .try_get(0)?;
    tracing::info!(
        pages,
        "switching the database to incremental auto-vacuum: rewriting it once with VACUUM"
    );
    sqlx::query("PRAGMA auto_vacuum = INCREMENTAL")
        .execute(writer)
        .await?;
    sqlx::query("VACUUM").execute(writer).await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "the database now uses incremental auto-vacuum"
    );
    Ok(())
}
