//! Opening a SQLite store: the file and its folder, WAL and the other pragmas, the one writer
//! connection, the migrations, the readers, and the group-commit writer on that connection.

use std::str::FromStr;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::watch;

use super::{retention, Batches, SqliteStore, BUSY_TIMEOUT, MIGRATOR, READERS};
use crate::store::batch::Writes;
use crate::store::StoreError;

/// The file a `sqlite:` URL names (`None` for other URLs).
pub fn database_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    SqliteConnectOptions::from_str(url)
        .ok()
        .map(|options| options.get_filename().to_path_buf())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and applies migrations.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let open_err = |source| StoreError::Open {
            url: url.to_owned(),
            source,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(open_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let path = options.get_filename();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        // Incremental auto-vacuum (set on the writer only: setting it is a write), so space that
        // retention frees can be given back to the file system; see `use_incremental_vacuum`.
        // A file needs no health check before each use: sqlx's default pings the connection's
        // thread on every acquire, a round trip per write for nothing.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.clone().auto_vacuum(SqliteAutoVacuum::Incremental))
            .await
            .map_err(open_err)?;
        retention::use_incremental_vacuum(&writer).await?;
        MIGRATOR.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await
            .map_err(open_err)?;
        let changed = Arc::new(watch::Sender::new(0u64));
        let notify = changed.clone();
        let keep_log_lines = Arc::new(AtomicI64::new(i64::MAX));
        let commits = Arc::new(AtomicU64::new(0));
        let writes = Writes::start(
            Batches {
                writer: writer.clone(),
            },
            keep_log_lines.clone(),
            commits.clone(),
            move || notify.send_modify(|n| *n = n.wrapping_add(1)),
        );
        Ok(SqliteStore {
            writer,
            reader,
            changed,
            writes,
            keep_log_lines,
            commits,
        })
    }
}
