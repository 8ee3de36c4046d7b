//! SQLite behind the [`Backend`] contract: one file, one node. WAL, `synchronous=NORMAL`, a busy
//! timeout and foreign keys; one writer connection, through which every write is serialised
//! (the hot ones grouped into batches by `batch.rs`), and a small pool of readers, so a slow
//! reader never holds up a writer and writers never see "database is locked". Pruning, freed
//! pages and backups are in `retention.rs`.

mod batch;
mod retention;

use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot, watch};

use self::batch::Write;
use super::rows::{duration_ms, job_from_row, log_from_row, parse_id};
use super::{
    Backend, CancelOutcome, Change, Claimant, ListFilter, PruneRule, RetryPolicy, StoreError,
    Upload, Writer,
};
use crate::job::{Job, JobId, LogLevel, LogLine, NewJob, Progress, Timestamp};

/// The SET clause that gives the one job a statement changes the next change sequence number.
/// Statements changing several rows number them with `base + ord` instead (see
/// [`PICK_NUMBERED`]): this subquery is evaluated once per statement, so all its rows would
/// share one number.
const NEXT_CHANGE: &str = "change_seq = (SELECT MAX(change_seq) + 1 FROM jobs)";

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
/// The schema, from `migrations/sqlite/`, built into the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Writes waiting for the batch writer; callers wait beyond this.
const WRITE_QUEUE: usize = 4096;

/// How long a write waits for another process's write lock before giving up. Long enough that
/// a busy neighbour never surfaces as "database is locked" to a client.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Readers at once; SQLite in WAL mode lets them run beside the writer.
const READERS: u32 = 4;

/// The job store. Cheap to clone: both pools are shared handles.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Exactly one connection: every write is serialised here, in this process.
    writer: SqlitePool,
    reader: SqlitePool,
    /// Bumped after every committed change to a job, so the stream poller and the event
    /// streams look at once instead of at their next tick. A `watch`: a burst of writes wakes
    /// each listener once.
    changed: Arc<watch::Sender<u64>>,
    /// The hot writes (create, progress, log, complete) go to the batch writer.
    batch: mpsc::Sender<Write>,
    /// Log lines kept per job (see [`Store::keep_log_lines`]).
    keep_log_lines: Arc<AtomicI64>,
}

/// The guard a [`Writer`] adds to an UPDATE's WHERE clause, with the owner as parameter
/// `?{param}`, and the owner to bind there. (sqlx numbers bare `?` apart from `?N`, so
/// statements here use numbered parameters only.)
fn writer_guard(writer: Writer<'_>, param: usize) -> (String, Option<&str>) {
    match writer {
        Writer::External => (
            "status IN ('queued', 'running') AND lease_owner IS NULL".to_owned(),
            None,
        ),
        Writer::Lease(owner) => (
            format!("status = 'running' AND lease_owner = ?{param}"),
            Some(owner),
        ),
    }
}

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
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.clone().auto_vacuum(SqliteAutoVacuum::Incremental))
            .await
            .map_err(open_err)?;
        retention::use_incremental_vacuum(&writer).await?;
        MIGRATOR.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.read_only(true))
            .await
            .map_err(open_err)?;
        let changed = Arc::new(watch::Sender::new(0u64));
        let (batch, queue) = mpsc::channel(WRITE_QUEUE);
        let notify = changed.clone();
        let keep_log_lines = Arc::new(AtomicI64::new(i64::MAX));
        tokio::spawn(batch::run(
            writer.clone(),
            queue,
            keep_log_lines.clone(),
            move || notify.send_modify(|n| *n = n.wrapping_add(1)),
        ));
        Ok(SqliteStore {
            writer,
            reader,
            changed,
            batch,
            keep_log_lines,
        })
    }

    /// Passes a write on: called after every committed change to a job.
    fn wrote(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Sends a write to the batch writer and waits for it to commit.
    async fn queue<T>(
        &self,
        write: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Write,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.batch
            .send(write(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        // A dropped reply means the batch failed as a whole; the writer logged why.
        answer
            .await
            .map_err(|_| StoreError::Batch("the write was not applied".to_owned()))?
    }

    /// The answer to a guarded `UPDATE ... RETURNING *` of one job: the job as changed, or why
    /// it was not.
    async fn updated(&self, id: JobId, row: Option<SqliteRow>) -> Result<Job, StoreError> {
        match row {
            Some(row) => {
                self.wrote();
                job_from_row(&row)
            }
            None => Err(self.why_not(id).await),
        }
    }

    /// Runs a `?1` = now, `?2` = id, `?3` = owner statement on a job this runner leases.
    async fn update_leased(&self, sql: &str, id: JobId, owner: &str) -> Result<Job, StoreError> {
        let row = sqlx::query(sql)
            .bind(Timestamp::now().as_millis())
            .bind(id.to_string())
            .bind(owner)
            .fetch_optional(&self.writer)
            .await?;
        self.updated(id, row).await
    }

    /// After a guarded UPDATE matched nothing: was the job missing, or in the wrong state?
    async fn why_not(&self, id: JobId) -> StoreError {
        let row = sqlx::query("SELECT status FROM jobs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.writer)
            .await;
        match row {
            Ok(None) => StoreError::NotFound,
            Ok(Some(row)) => match row.try_get::<String, _>("status") {
                Ok(status) => match status.parse() {
                    Ok(status) => StoreError::Conflict { job_id: id, status },
                    Err(e) => StoreError::Corrupt(e),
                },
                Err(e) => e.into(),
            },
            Err(e) => e.into(),
        }
    }
}

#[async_trait::async_trait]
impl Backend for SqliteStore {
    /// Jobs by type and status, for the metrics.
    async fn count_by_type_and_status(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows =
            sqlx::query("SELECT type, status, COUNT(*) AS n FROM jobs GROUP BY type, status")
                .fetch_all(&self.reader)
                .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("type")?,
                    row.try_get("status")?,
                    row.try_get("n")?,
                ))
            })
            .collect()
    }

    /// Each job keeps at most its `lines` newest log lines from now on; older ones are deleted
    /// as new ones are written, so a chatty job cannot fill the disk.
    fn keep_log_lines(&self, lines: i64) {
        self.keep_log_lines.store(lines.max(1), Ordering::Relaxed);
    }

    /// Queued jobs of `job_type` (for the queue-depth limit).
    async fn count_queued(&self, job_type: &str) -> Result<i64, StoreError> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued' AND type = ?1")
                .bind(job_type)
                .fetch_one(&self.reader)
                .await?;
        Ok(row.try_get("n")?)
    }

    /// A receiver that changes after a job changed through this store (this process's writes
    /// only; others' are found by polling [`Store::changes_since`]).
    fn watch_changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// None: SQLite has no notifications between processes. This process's creates wake its
    /// runner directly; jobs queued by another process on the same file wait for the
    /// runner's next poll.
    fn watch_queued(&self) -> Option<watch::Receiver<u64>> {
        None
    }

    /// The newest change sequence number (0 for an empty store).
    async fn max_change_seq(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(change_seq), 0) AS seq FROM jobs")
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get("seq")?)
    }

    /// Jobs changed after change `after`, oldest change first, at most `limit`: their id,
    /// version and change sequence number. Costs one range scan over the changes only.
    async fn changes_since(&self, after: i64, limit: i64) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, version, change_seq FROM jobs WHERE change_seq > ? \
             ORDER BY change_seq LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    parse_id(&row.try_get::<String, _>("id")?)?,
                    row.try_get("version")?,
                    row.try_get("change_seq")?,
                ))
            })
            .collect()
    }

    /// The jobs with these ids (those that exist), in one query.
    async fn get_jobs(&self, ids: &[JobId]) -> Result<Vec<Job>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = sqlx::QueryBuilder::new("SELECT * FROM jobs WHERE id IN (");
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(id.to_string());
        }
        query.push(")");
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Records a received upload.
    async fn insert_upload(&self, upload: &Upload) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO uploads (id, size, sha256, content_type, filename, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&upload.id)
        .bind(upload.size)
        .bind(&upload.sha256)
        .bind(&upload.content_type)
        .bind(&upload.filename)
        .bind(upload.created_at.as_millis())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn get_upload(&self, id: &str) -> Result<Option<Upload>, StoreError> {
        let row = sqlx::query("SELECT * FROM uploads WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| {
            Ok(Upload {
                id: row.try_get("id")?,
                size: row.try_get("size")?,
                sha256: row.try_get("sha256")?,
                content_type: row.try_get("content_type")?,
                filename: row.try_get("filename")?,
                created_at: Timestamp::from_millis(row.try_get("created_at")?),
            })
        })
        .transpose()
    }

    /// Deletes uploads that arrived before `before` and that no job refers to; returns their
    /// ids so their files can go too.
    async fn delete_unused_uploads(&self, before: Timestamp) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "DELETE FROM uploads WHERE created_at < ? \
                 AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.upload_id = uploads.id) \
             RETURNING id",
        )
        .bind(before.as_millis())
        .fetch_all(&self.writer)
        .await?;
        rows.iter()
            .map(|row| row.try_get("id").map_err(StoreError::from))
            .collect()
    }

    /// Ready to serve: every migration this build knows is applied, and the write lock can be
    /// taken (then released at once, writing nothing).
    async fn check_ready(&self) -> Result<(), StoreError> {
        let known = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.reader)
                .await?;
        if applied.unwrap_or(0) < known {
            return Err(StoreError::NotMigrated {
                applied: applied.unwrap_or(0),
                known,
            });
        }
        let mut conn = self.writer.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        sqlx::query("ROLLBACK").execute(&mut *conn).await?;
        Ok(())
    }

    /// Answers when the database does.
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// Closes both pools, waiting for queries under way.
    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Inserts a job. With an idempotency key already used for this type, returns the existing
    /// job and `false`. Batched with other writes (see `batch`).
    async fn create_job(&self, new: NewJob) -> Result<(Job, bool), StoreError> {
        self.queue(|reply| Write::Create(new, reply)).await
    }

    async fn get_job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Newest first; pages never skip or repeat under concurrent inserts because new jobs
    /// always sort before the cursor.
    async fn list_jobs(&self, filter: &ListFilter) -> Result<Vec<Job>, StoreError> {
        let mut query = sqlx::QueryBuilder::new("SELECT * FROM jobs WHERE 1 = 1");
        if let Some(status) = filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(job_type) = &filter.job_type {
            query.push(" AND type = ").push_bind(job_type.clone());
        }
        if let Some(before) = filter.before {
            query.push(" AND id < ").push_bind(before.to_string());
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(filter.limit);
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Log lines with `seq > after`, oldest first, at most `limit`.
    async fn logs_after_seq(
        &self,
        id: JobId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LogLine>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM job_logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?")
                .bind(id.to_string())
                .bind(after)
                .bind(limit)
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(log_from_row).collect()
    }

    /// Log lines added after version `after` up to and including version `upto`, oldest first.
    async fn logs_between_versions(
        &self,
        id: JobId,
        after: i64,
        upto: i64,
    ) -> Result<Vec<LogLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM job_logs WHERE job_id = ? AND version > ? AND version <= ? ORDER BY seq",
        )
        .bind(id.to_string())
        .bind(after)
        .bind(upto)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(log_from_row).collect()
    }

    /// Cancels a queued job (or any unfinished `external` job) at once; a running in-process
    /// job is marked so its runner stops it. Finished jobs are a conflict.
    async fn cancel(&self, id: JobId, external: bool) -> Result<CancelOutcome, StoreError> {
        let now = Timestamp::now().as_millis();
        let cancelled = sqlx::query(&format!(
            "UPDATE jobs SET status = 'cancelled', error = 'cancelled', finished_at = ?1, \
                 updated_at = ?1, lease_owner = NULL, lease_expires_at = NULL, \
                 version = version + 1, {NEXT_CHANGE}, state_version = version + 1 \
             WHERE id = ?2 AND (status = 'queued' OR (?3 AND status = 'running')) \
             RETURNING *"
        ))
        .bind(now)
        .bind(id.to_string())
        .bind(external)
        .fetch_optional(&self.writer)
        .await?;
        if let Some(row) = cancelled {
            self.wrote();
            return Ok(CancelOutcome::Cancelled(job_from_row(&row)?));
        }
        let requested = sqlx::query(
            "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running' RETURNING *",
        )
        .bind(id.to_string())
        .fetch_optional(&self.writer)
        .await?;
        match requested {
            Some(row) => Ok(CancelOutcome::Requested(job_from_row(&row)?)),
            None => Err(self.why_not(id).await),
        }
    }

    /// Records progress. Fields left `None` keep their value.
    async fn report_progress(
        &self,
        id: JobId,
        writer: Writer<'_>,
        progress: &Progress,
    ) -> Result<Job, StoreError> {
        let (author, progress) = (batch::Author::from(writer), progress.clone());
        self.queue(|reply| Write::Progress(id, author, progress, reply))
            .await
    }

    /// Queues a progress report from the runner holding the job's lease without waiting for
    /// it: reports queued together are merged into one write, so a handler may report as often
    /// as it likes. The job's end (and [`Store::flush`]) waits for every report before it.
    async fn queue_progress(
        &self,
        id: JobId,
        owner: &str,
        progress: Progress,
    ) -> Result<(), StoreError> {
        let (reply, _) = oneshot::channel();
        let write = Write::Progress(id, batch::Author::Lease(owner.to_owned()), progress, reply);
        self.batch.send(write).await.map_err(|_| StoreError::Closed)
    }

    /// Queues a log line from the runner holding the job's lease, like [`Store::queue_progress`].
    async fn queue_log(
        &self,
        id: JobId,
        owner: &str,
        level: LogLevel,
        message: String,
    ) -> Result<(), StoreError> {
        let (reply, _) = oneshot::channel();
        let write = Write::Log(
            id,
            batch::Author::Lease(owner.to_owned()),
            level,
            message,
            reply,
        );
        self.batch.send(write).await.map_err(|_| StoreError::Closed)
    }

    /// Waits until every write queued before this call has been applied.
    async fn flush(&self) -> Result<(), StoreError> {
        self.queue(Write::Flush).await
    }

    /// Adds a log line, bumping the job's version.
    async fn append_log(
        &self,
        id: JobId,
        writer: Writer<'_>,
        level: LogLevel,
        message: &str,
    ) -> Result<LogLine, StoreError> {
        let (author, message) = (batch::Author::from(writer), message.to_owned());
        self.queue(|reply| Write::Log(id, author, level, message, reply))
            .await
    }

    /// Finishes a job as `completed` with `result`.
    async fn complete(
        &self,
        id: JobId,
        writer: Writer<'_>,
        result: Option<&Value>,
    ) -> Result<Job, StoreError> {
        let (author, result) = (batch::Author::from(writer), result.cloned());
        let job = self
            .queue(|reply| Write::Complete(id, author, result, reply))
            .await?;
        Ok(job)
    }

    /// Records a failed attempt. With `retry` and attempts left the job is queued again for
    /// `retry.retry_at`; otherwise it is `failed` for good.
    async fn fail(
        &self,
        id: JobId,
        writer: Writer<'_>,
        error: &str,
        details: Option<&Value>,
        retry: Option<RetryPolicy>,
    ) -> Result<Job, StoreError> {
        let (guard, owner) = writer_guard(writer, 6);
        let sql = format!(
            "UPDATE jobs SET \
                 status = CASE WHEN ?5 IS NOT NULL AND attempt < max_attempts \
                     THEN 'queued' ELSE 'failed' END, \
                 finished_at = CASE WHEN ?5 IS NOT NULL AND attempt < max_attempts \
                     THEN NULL ELSE ?1 END, \
                 run_at = COALESCE(?5, run_at), \
                 started_at = COALESCE(started_at, ?1), attempt = MAX(attempt, 1), \
                 error = ?2, details = ?3, updated_at = ?1, \
                 lease_owner = NULL, lease_expires_at = NULL, \
                 version = version + 1, {NEXT_CHANGE}, state_version = version + 1 \
             WHERE id = ?4 AND {guard} RETURNING *"
        );
        let row = sqlx::query(&sql)
            .bind(Timestamp::now().as_millis())
            .bind(error)
            .bind(details.map(Value::to_string))
            .bind(id.to_string())
            .bind(retry.map(|r| r.retry_at.as_millis()))
            .bind(owner)
            .fetch_optional(&self.writer)
            .await?;
        self.updated(id, row).await
    }

    /// The runner stopped a job whose cancel was requested.
    async fn finish_cancelled(&self, id: JobId, owner: &str) -> Result<Job, StoreError> {
        self.update_leased(
            &format!(
                "UPDATE jobs SET status = 'cancelled', error = 'cancelled', finished_at = ?1, \
                 updated_at = ?1, lease_owner = NULL, lease_expires_at = NULL, \
                 version = version + 1, {NEXT_CHANGE}, state_version = version + 1 \
             WHERE id = ?2 AND status = 'running' AND lease_owner = ?3 RETURNING *"
            ),
            id,
            owner,
        )
        .await
    }

    /// Sends a failed or cancelled job back to the queue with a fresh attempt budget, noting it
    /// in the job's log; its earlier log lines stay.
    async fn retry(&self, id: JobId) -> Result<Job, StoreError> {
        let now = Timestamp::now();
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = 'queued', attempt = 0, run_at = ?1, progress = 0, \
                 message = NULL, current = NULL, total = NULL, stage = NULL, result = NULL, \
                 error = NULL, details = NULL, started_at = NULL, finished_at = NULL, \
                 cancel_requested = 0, lease_owner = NULL, lease_expires_at = NULL, \
                 worker = NULL, updated_at = ?1, log_seq = log_seq + 1, \
                 version = version + 2, state_version = version + 1, {NEXT_CHANGE} \
             WHERE id = ?2 AND status IN ('failed', 'cancelled') RETURNING *"
        ))
        .bind(now.as_millis())
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            drop(tx);
            return Err(self.why_not(id).await);
        };
        let job = job_from_row(&row)?;
        sqlx::query(
            "INSERT INTO job_logs (job_id, seq, version, ts, level, message) \
             VALUES (?, ?, ?, ?, 'info', 'retried on request with a fresh attempt budget')",
        )
        .bind(id.to_string())
        .bind(job.log_seq)
        .bind(job.version)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.wrote();
        Ok(job)
    }

    /// Puts a job this runner could not finish (shutdown) back in the queue; the interrupted
    /// attempt is not counted.
    async fn requeue(&self, id: JobId, owner: &str) -> Result<Job, StoreError> {
        self.update_leased(
            &format!(
                "UPDATE jobs SET status = 'queued', attempt = MAX(attempt - 1, 0), run_at = ?1, \
                 progress = 0, message = NULL, current = NULL, total = NULL, stage = NULL, \
                 updated_at = ?1, lease_owner = NULL, lease_expires_at = NULL, \
                 version = version + 1, {NEXT_CHANGE}, state_version = version + 1 \
             WHERE id = ?2 AND status = 'running' AND lease_owner = ?3 RETURNING *"
            ),
            id,
            owner,
        )
        .await
    }

    /// Claims up to `limit` due jobs of `types` for `claimant` in one statement: highest
    /// priority first, then oldest.
    async fn claim(
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
        let placeholders = (0..types.len())
            .map(|i| format!("?{}", i + 7))
            .collect::<Vec<_>>()
            .join(", ");
        let picked = pick_numbered(
            &format!(
                "SELECT id, priority FROM jobs WHERE status = 'queued' AND run_at <= ?1 \
                 AND type IN ({placeholders}) ORDER BY priority DESC, id LIMIT ?4"
            ),
            "priority DESC, id",
        );
        let sql = format!(
            "{picked} UPDATE jobs SET status = 'running', attempt = attempt + 1, started_at = ?1, \
                 error = NULL, details = NULL, updated_at = ?1, lease_owner = ?2, \
                 lease_expires_at = ?3, worker = ?5, lease_ms = ?6, \
                 version = version + 1, change_seq = picked.seq, state_version = version + 1 \
             FROM picked WHERE jobs.id = picked.id \
             RETURNING *"
        );
        let mut query = sqlx::query(&sql)
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
        if !rows.is_empty() {
            self.wrote();
        }
        let mut jobs = rows
            .iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
        Ok(jobs)
    }

    /// Extends every lease `owner` holds; returns the ids of those jobs whose cancel was
    /// requested (perhaps through another process).
    async fn renew_leases(&self, owner: &str, lease: Duration) -> Result<Vec<JobId>, StoreError> {
        let until = Timestamp::now().saturating_add(lease);
        let rows = sqlx::query(
            "UPDATE jobs SET lease_expires_at = ? WHERE lease_owner = ? AND status = 'running' \
             RETURNING id, cancel_requested",
        )
        .bind(until.as_millis())
        .bind(owner)
        .fetch_all(&self.writer)
        .await?;
        let mut cancel = Vec::new();
        for row in rows {
            if row.try_get::<bool, _>("cancel_requested")? {
                cancel.push(parse_id(&row.try_get::<String, _>("id")?)?);
            }
        }
        Ok(cancel)
    }

    /// Jobs whose lease expired (their process died): queued again while attempts remain,
    /// else failed as interrupted; cancelled if a cancel was pending.
    async fn recover_expired(&self) -> Result<Vec<Job>, StoreError> {
        let picked = pick_numbered(
            "SELECT id FROM jobs WHERE status = 'running' AND lease_expires_at IS NOT NULL \
                 AND lease_expires_at < ?1",
            "id",
        );
        let rows = sqlx::query(&format!(
            "{picked} UPDATE jobs SET \
                 status = CASE WHEN cancel_requested THEN 'cancelled' \
                     WHEN attempt < max_attempts THEN 'queued' ELSE 'failed' END, \
                 error = CASE WHEN cancel_requested THEN 'cancelled' \
                     ELSE 'interrupted: the worker running this job stopped and its lease expired' END, \
                 finished_at = CASE WHEN NOT cancel_requested AND attempt < max_attempts \
                     THEN NULL ELSE ?1 END, \
                 run_at = ?1, progress = CASE WHEN cancel_requested THEN progress ELSE 0 END, \
                 updated_at = ?1, lease_owner = NULL, lease_expires_at = NULL, \
                 version = version + 1, change_seq = picked.seq, state_version = version + 1 \
             FROM picked WHERE jobs.id = picked.id \
             RETURNING *"
        ))
        .bind(Timestamp::now().as_millis())
        .fetch_all(&self.writer)
        .await?;
        if !rows.is_empty() {
            self.wrote();
        }
        let jobs = rows
            .iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(jobs)
    }

    async fn prunable_jobs(
        &self,
        rule: &PruneRule,
        limit: usize,
    ) -> Result<Vec<JobId>, StoreError> {
        retention::prunable_jobs(self, rule, limit).await
    }

    async fn count_prunable(&self, rule: &PruneRule) -> Result<(u64, u64), StoreError> {
        retention::count_prunable(self, rule).await
    }

    async fn delete_prunable_logs(
        &self,
        ids: &[JobId],
        rule: &PruneRule,
        limit: usize,
    ) -> Result<u64, StoreError> {
        retention::delete_prunable_logs(self, ids, rule, limit).await
    }

    async fn delete_prunable_jobs(
        &self,
        ids: &[JobId],
        rule: &PruneRule,
    ) -> Result<u64, StoreError> {
        retention::delete_prunable_jobs(self, ids, rule).await
    }
}
