//! A PostgreSQL store's own write statements for progress and log lines: one statement each,
//! data-modifying CTEs where SQLite needs two, and a marker that keeps a log write tried again
//! after a lost answer from landing twice.

use std::sync::atomic::Ordering;

use sqlx::Row;

use super::{pg_text, update_one, PgStore, CHANGE_LOCK, NEXT_CHANGE, NOTIFY, OWNER};
use crate::job::{Job, JobId, LogLevel, LogLine, Progress, Timestamp};
use crate::store::rows::log_from_row;
use crate::store::{sql, StoreError};

impl PgStore {
    pub(super) async fn progress(
        &self,
        id: JobId,
        owner: Option<&str>,
        p: &Progress,
    ) -> Result<Job, StoreError> {
        let set = sql::progress_set(&sql::ProgressInputs {
            now: "$1",
            owner: OWNER,
            progress: "$4",
            message: "$5",
            current: "$6",
            total: "$7",
            stage: "$8",
        });
        let row = sqlx::query(&update_one(&set, &sql::writer_guard(OWNER)))
            .bind(Timestamp::now().as_millis())
            .bind(id.to_string())
            .bind(owner)
            .bind(p.progress)
            .bind(p.message.as_deref().map(pg_text))
            .bind(p.current)
            .bind(p.total)
            .bind(p.stage.as_deref().map(pg_text))
            .fetch_optional(&self.pool)
            .await?;
        self.updated(id, row).await
    }

    /// Log lines in one statement: reserve their seqs and versions on the job, insert them,
    /// and trim the job's lines past the retention limit (lines that would be trimmed at once
    /// are not inserted). Outside code's first line also starts a queued job; the start takes
    /// its own version, one below the first line's, so every stream event has a distinct id.
    pub(super) async fn log(
        &self,
        id: JobId,
        owner: Option<&str>,
        lines: &[(LogLevel, String)],
        write: &str,
    ) -> Result<Vec<LogLine>, StoreError> {
        let now = Timestamp::now();
        let n = i64::try_from(lines.len()).unwrap_or(i64::MAX);
        let levels: Vec<&str> = lines.iter().map(|(level, _)| level.as_str()).collect();
        let messages: Vec<String> = lines.iter().map(|(_, message)| pg_text(message)).collect();
        let row = sqlx::query(&format!(
            "{CHANGE_LOCK}, j AS ( \
                 UPDATE jobs SET {reserve}, last_log_write = $8, {NEXT_CHANGE} \
                 FROM change_lock WHERE jobs.id = $2 AND {guard} \
                     AND jobs.last_log_write IS DISTINCT FROM $8 \
                 RETURNING jobs.id, jobs.log_seq, jobs.version, {NOTIFY}), \
             line AS (INSERT INTO {log_columns} \
                 SELECT j.id, j.log_seq - $7 + t.k, j.version - $7 + t.k, $1, t.level, t.message \
                 FROM j, unnest($4::text[], $5::text[]) WITH ORDINALITY AS t (level, message, k) \
                 WHERE t.k > $7 - $6), \
             trimmed AS (DELETE FROM job_logs USING j \
                 WHERE job_logs.job_id = j.id AND job_logs.seq <= j.log_seq - $6) \
             SELECT log_seq, version FROM j",
            reserve = sql::reserve_log_lines("$1", OWNER, "$7"),
            guard = sql::writer_guard(OWNER),
            log_columns = sql::INSERT_LOG_COLUMNS,
        ))
        .bind(now.as_millis())
        .bind(id.to_string())
        .bind(owner)
        .bind(&levels)
        .bind(&messages)
        .bind(self.keep_log_lines.load(Ordering::Relaxed))
        .bind(n)
        .bind(write)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return match self.written_before(id, write, n).await? {
                Some(lines) => Ok(lines),
                None => Err(self.why_not(id).await),
            };
        };
        self.wrote();
        let (last_seq, last_version): (i64, i64) =
            (row.try_get("log_seq")?, row.try_get("version")?);
        Ok((1..)
            .zip(lines.iter().zip(messages))
            .map(|(k, (&(level, _), message))| LogLine {
                seq: last_seq - n + k,
                version: last_version - n + k,
                ts: now,
                level,
                message,
            })
            .collect())
    }

    /// The `n` lines of log write `write`, if it was applied already: an earlier try of the
    /// same write committed and then the connection was lost before the answer came. Only
    /// the job's one writer (its lease holder) tries writes again, so they are its last `n`.
    pub(super) async fn written_before(
        &self,
        id: JobId,
        write: &str,
        n: i64,
    ) -> Result<Option<Vec<LogLine>>, StoreError> {
        let landed: Option<bool> =
            sqlx::query_scalar("SELECT last_log_write = $2 FROM jobs WHERE id = $1")
                .bind(id.to_string())
                .bind(write)
                .fetch_optional(&self.pool)
                .await?
                .flatten();
        if landed != Some(true) {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT * FROM (SELECT * FROM job_logs WHERE job_id = $1 ORDER BY seq DESC LIMIT $2) \
                 AS last ORDER BY seq",
        )
        .bind(id.to_string())
        .bind(n)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(log_from_row)
            .collect::<Result<_, _>>()
            .map(Some)
    }
}
