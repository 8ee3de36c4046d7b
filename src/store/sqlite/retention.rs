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
use crate::store::shared::{Prune, Shared};
use crate::store::{sql, PruneRule, StoreError};

/// How SQLite spells the prune rule: per-type cutoffs from the JSON object `$2` through
/// `json_each`, ids as a JSON array in `$1`. `+status`: finished jobs are found through
/// `jobs_finished_at`, not the status index.
fn prune() -> Prune {
    Prune {
        rule: sql::prunable(
            "+j.status",
            "COALESCE((SELECT value FROM json_each($2) WHERE key = j.type), $3)",
        ),
        ids: "j.id IN (SELECT value FROM json_each($1))",
        lock: None,
    }
}

/// Pages given back to the file system by one `incremental_vacuum` step (1 MiB at the default
/// 4 KiB page size): each step is one write transaction, about as long as a prune batch.
const RECLAIM_STEP: i64 = 256;

pub(super) async fn prunable_jobs(
    store: &SqliteStore,
    rule: &PruneRule,
    limit: usize,
) -> Result<Vec<JobId>, StoreError> {
    Shared(&store.reader)
        .prunable_jobs(&prune(), rule, limit)
        .await
}

pub(super) async fn count_prunable(
    store: &SqliteStore,
    rule: &PruneRule,
) -> Result<(u64, u64), StoreError> {
    Shared(&store.reader).count_prunable(&prune(), rule).await
}

pub(super) async fn delete_prunable_logs(
    store: &SqliteStore,
    ids: &[JobId],
    rule: &PruneRule,
    limit: usize,
) -> Result<u64, StoreError> {
    Shared(&store.writer)
        .delete_prunable_logs(&prune(), ids_json(ids), rule, limit)
        .await
}

pub(super) async fn delete_prunable_jobs(
    store: &SqliteStore,
    ids: &[JobId],
    rule: &PruneRule,
) -> Result<u64, StoreError> {
    Shared(&store.writer)
        .delete_prunable_jobs(&prune(), ids_json(ids), rule)
        .await
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
