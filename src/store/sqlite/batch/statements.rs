//! The statements of one batch, by kind: creates, progress reports (merged per job and author),
//! log lines (their seqs and versions reserved on the job in one UPDATE, then inserted), and
//! completions. Each is a multi-row statement over a `VALUES` table `u`, fed to the same SET
//! clauses and guards (`sql.rs`) the single-row writes use.

use std::collections::HashMap;

use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::{Author, Outcomes, Reply};
use crate::job::{Job, JobId, JobStatus, LogLevel, LogLine, NewJob, Progress, Timestamp};
use crate::store::rows::{duration_ms, job_from_row, parse_id, refusal};
use crate::store::{sql, StoreError};

/// Merged progress of one job by one author, and everyone waiting for it.
type ProgressRow = (JobId, Author, Progress, Vec<Reply<Job>>);
/// The log lines of one job by one author in a batch.
type LogGroup = (JobId, Author, Vec<(LogLevel, String, Reply<LogLine>)>);

/// Rows per multi-row statement (each row binds up to 11 values; SQLite allows 32 766).
const ROWS_PER_STATEMENT: usize = 256;

/// The batch's time and author, as the shared clauses of `sql.rs` read them: from the `c` and
/// `u` tables of each batched statement.
const NOW: &str = "(SELECT now FROM c)";
const OWNER: &str = "u.owner";

/// After a guarded UPDATE left a job out: missing, or in a state that refuses the change?
async fn why_not(conn: &mut SqliteConnection, id: JobId) -> Result<StoreError, StoreError> {
    let status: Option<String> = sqlx::query_scalar(sql::STATUS_OF)
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(refusal(id, status))
}

pub(super) async fn create(
    conn: &mut SqliteConnection,
    now: Timestamp,
    creates: Vec<(NewJob, Reply<(Job, bool)>)>,
    outcomes: &mut Outcomes,
) -> Result<(), StoreError> {
    for chunk in chunks(creates) {
        // Ids are made here, in commit order, so they sort the way jobs were stored.
        let ids: Vec<JobId> = chunk.iter().map(|_| JobId::new()).collect();
        // Each row its own change number above every earlier one (see [`BATCH_CHANGE`]).
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "WITH c (base) AS MATERIALIZED (SELECT COALESCE(MAX(change_seq), 0) FROM jobs) \
             INSERT INTO jobs ({}) ",
            sql::NEW_JOB_COLUMNS
        ));
        let queued = sql::quoted(JobStatus::Queued);
        query.push_values(
            (1_i64..).zip(chunk.iter().zip(&ids)),
            |mut row, (ord, ((new, _), id))| {
                row.push_bind(id.to_string())
                    .push_bind(new.job_type.clone())
                    .push(&queued)
                    .push_bind(new.payload.to_string())
                    .push_bind(new.priority)
                    .push_bind(new.max_attempts)
                    .push_bind(new.timeout.map(duration_ms))
                    .push_bind(new.idempotency_key.clone())
                    .push_bind(new.run_at.unwrap_or(now).as_millis())
                    .push_bind(now.as_millis())
                    .push_bind(now.as_millis())
                    .push(format_args!("(SELECT base FROM c) + {ord}"))
                    .push_bind(new.upload_id.clone());
            },
        );
        query.push(format!(" {} RETURNING *", sql::ON_KEY_TAKEN));
        let rows = query.build().fetch_all(&mut *conn).await?;
        let mut inserted = by_id(&rows)?;
        for ((new, reply), id) in chunk.into_iter().zip(ids) {
            let result = match inserted.remove(&id) {
                Some(job) => Ok((job, true)),
                None => existing(conn, &new).await.map(|job| (job, false)),
            };
            outcomes.creates.push((reply, result));
        }
    }
    Ok(())
}

/// The job already stored under `new`'s idempotency key.
async fn existing(conn: &mut SqliteConnection, new: &NewJob) -> Result<Job, StoreError> {
    let row = sqlx::query(sql::BY_IDEMPOTENCY_KEY)
        .bind(&new.job_type)
        .bind(&new.idempotency_key)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    job_from_row(&row)
}

/// Starts `WITH c (now, base) AS (...), <table> AS (`: the batch's time is bound, not spliced
/// into the text, so each statement's text repeats and its prepared form is reused. `base` is
/// the highest change number before the statement; each source row carries its ordinal `ord`
/// (1, 2, ...), so the rows a statement changes get numbers of their own ([`BATCH_CHANGE`]).
fn with_now(now: Timestamp, table: &str) -> QueryBuilder<'static, Sqlite> {
    let mut query = QueryBuilder::new("WITH c (now, base) AS MATERIALIZED (SELECT ");
    query.push_bind(now.as_millis());
    query.push(format!(
        ", (SELECT COALESCE(MAX(change_seq), 0) FROM jobs)), {table} AS ("
    ));
    query
}

/// The SET clause giving each row of a batched UPDATE its own change number, above every
/// number before the statement: one shared number could straddle the poller's read limit and
/// be skipped, and would give two `/api/events` events one id.
const BATCH_CHANGE: &str = "change_seq = (SELECT base FROM c) + u.ord";

/// Splits rows into statements of at most [`ROWS_PER_STATEMENT`] rows in which no job appears
/// twice (an UPDATE ... FROM applies only one source row per target row).
fn rounds<T>(rows: Vec<T>, job: impl Fn(&T) -> JobId) -> Vec<Vec<T>> {
    let mut rounds: Vec<Vec<T>> = Vec::new();
    for row in rows {
        let id = job(&row);
        let round = rounds
            .iter_mut()
            .find(|round| round.len() < ROWS_PER_STATEMENT && !round.iter().any(|r| job(r) == id));
        match round {
            Some(round) => round.push(row),
            None => rounds.push(vec![row]),
        }
    }
    rounds
}

/// Splits `items` into statement-sized chunks.
fn chunks<T>(items: Vec<T>) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        out.push(items.by_ref().take(ROWS_PER_STATEMENT).collect());
    }
    out
}

fn by_id(rows: &[SqliteRow]) -> Result<HashMap<JobId, Job>, StoreError> {
    rows.iter()
        .map(|row| job_from_row(row).map(|job| (job.id, job)))
        .collect()
}

pub(super) async fn progress(
    conn: &mut SqliteConnection,
    now: Timestamp,
    reports: Vec<(JobId, Author, Progress, Reply<Job>)>,
    outcomes: &mut Outcomes,
) -> Result<(), StoreError> {
    // One row per (job, author); every caller merged into it gets the same answer.
    let mut merged: Vec<ProgressRow> = Vec::new();
    let mut index: HashMap<(JobId, Author), usize> = HashMap::new();
    for (id, author, report, reply) in reports {
        match index.get(&(id, author.clone())) {
            Some(&i) => {
                merged[i].2.merge(report);
                merged[i].3.push(reply);
            }
            None => {
                index.insert((id, author.clone()), merged.len());
                merged.push((id, author, report, vec![reply]));
            }
        }
    }
    let rounds = rounds(merged, |row| row.0);
    for round in rounds {
        let mut query = with_now(
            now,
            "u (ord, id, owner, progress, message, current, total, stage)",
        );
        query.push_values(
            (1_i64..).zip(&round),
            |mut row, (ord, (id, author, p, _))| {
                row.push_bind(ord)
                    .push_bind(id.to_string())
                    .push_bind(author.owner().map(str::to_owned))
                    .push_bind(p.progress)
                    .push_bind(p.message.clone())
                    .push_bind(p.current)
                    .push_bind(p.total)
                    .push_bind(p.stage.clone());
            },
        );
        let set = sql::progress_set(&sql::ProgressInputs {
            now: NOW,
            owner: OWNER,
            progress: "u.progress",
            message: "u.message",
            current: "u.current",
            total: "u.total",
            stage: "u.stage",
        });
        query.push(format!(
            ") UPDATE jobs SET {set}, {BATCH_CHANGE} FROM u \
             WHERE jobs.id = u.id AND {guard} RETURNING *",
            guard = sql::writer_guard(OWNER)
        ));
        let rows = query.build().fetch_all(&mut *conn).await?;
        let mut updated = by_id(&rows)?;
        for (id, _, _, replies) in round {
            let result = match updated.remove(&id) {
                Some(job) => Ok(job),
                None => Err(why_not(conn, id).await?),
            };
            for reply in replies {
                outcomes.jobs.push((reply, clone_result(&result)));
            }
        }
    }
    Ok(())
}

fn clone_result(result: &Result<Job, StoreError>) -> Result<Job, StoreError> {
    match result {
        Ok(job) => Ok(job.clone()),
        Err(error) => Err(clone_error(error)),
    }
}

pub(super) async fn logs(
    conn: &mut SqliteConnection,
    now: Timestamp,
    lines: Vec<(JobId, Author, LogLevel, String, Reply<LogLine>)>,
    keep: i64,
    outcomes: &mut Outcomes,
) -> Result<(), StoreError> {
    // Per (job, author), how many lines; the UPDATE reserves that many seqs and versions.
    let mut groups: Vec<LogGroup> = Vec::new();
    let mut index: HashMap<(JobId, Author), usize> = HashMap::new();
    for (id, author, level, message, reply) in lines {
        match index.get(&(id, author.clone())) {
            Some(&i) => groups[i].2.push((level, message, reply)),
            None => {
                index.insert((id, author.clone()), groups.len());
                groups.push((id, author, vec![(level, message, reply)]));
            }
        }
    }
    let rounds = rounds(groups, |group| group.0);
    for round in rounds {
        let mut query = with_now(now, "u (ord, id, owner, n)");
        query.push_values(
            (1_i64..).zip(&round),
            |mut row, (ord, (id, author, lines))| {
                row.push_bind(ord)
                    .push_bind(id.to_string())
                    .push_bind(author.owner().map(str::to_owned))
                    .push_bind(lines.len() as i64);
            },
        );
        query.push(format!(
            ") UPDATE jobs SET {set}, {BATCH_CHANGE} FROM u \
             WHERE jobs.id = u.id AND {guard} RETURNING id, log_seq, version",
            set = sql::reserve_log_lines(NOW, OWNER, "u.n"),
            guard = sql::writer_guard(OWNER)
        ));
        let rows = query.build().fetch_all(&mut *conn).await?;
        let mut reserved: HashMap<JobId, (i64, i64)> = HashMap::new();
        for row in &rows {
            let id = parse_id(&row.try_get::<String, _>("id")?)?;
            reserved.insert(id, (row.try_get("log_seq")?, row.try_get("version")?));
        }
        let mut new_lines: Vec<(JobId, LogLine)> = Vec::new();
        for (id, _, lines) in round {
            let Some(&(last_seq, last_version)) = reserved.get(&id) else {
                let error = why_not(conn, id).await?;
                for (.., reply) in lines {
                    outcomes.logs.push((reply, Err(clone_error(&error))));
                }
                continue;
            };
            let n = lines.len() as i64;
            for (k, (level, message, reply)) in (1..).zip(lines) {
                let line = LogLine {
                    seq: last_seq - n + k,
                    version: last_version - n + k,
                    ts: now,
                    level,
                    message,
                };
                new_lines.push((id, line.clone()));
                outcomes.logs.push((reply, Ok(line)));
            }
        }
        for chunk in new_lines.chunks(ROWS_PER_STATEMENT) {
            let mut insert =
                QueryBuilder::<Sqlite>::new(format!("INSERT INTO {} ", sql::INSERT_LOG_COLUMNS));
            insert.push_values(chunk, |mut row, (id, line)| {
                row.push_bind(id.to_string())
                    .push_bind(line.seq)
                    .push_bind(line.version)
                    .push_bind(line.ts.as_millis())
                    .push_bind(line.level.as_str())
                    .push_bind(line.message.clone());
            });
            insert.build().execute(&mut *conn).await?;
        }
        // Past the retention limit, each new line pushes out the oldest: one indexed range
        // delete per job, and only for jobs over the limit.
        for (id, (last_seq, _)) in &reserved {
            if *last_seq > keep {
                sqlx::query(sql::TRIM_LOG)
                    .bind(id.to_string())
                    .bind(last_seq - keep)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    Ok(())
}

fn clone_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict { job_id, status } => StoreError::Conflict {
            job_id: *job_id,
            status: *status,
        },
        // Not a refusal: the caller's write failed with the batch.
        other => StoreError::Batch(other.to_string()),
    }
}

pub(super) async fn complete(
    conn: &mut SqliteConnection,
    now: Timestamp,
    completes: Vec<(JobId, Author, Option<Value>, Reply<Job>)>,
    outcomes: &mut Outcomes,
) -> Result<(), StoreError> {
    // A job completed twice in one batch: the first wins, the rest find it completed.
    let mut seen = std::collections::HashSet::new();
    let (first, repeats): (Vec<_>, Vec<_>) = completes.into_iter().partition(|c| seen.insert(c.0));
    for chunk in chunks(first) {
        let mut query = with_now(now, "u (ord, id, owner, result)");
        query.push_values(
            (1_i64..).zip(&chunk),
            |mut row, (ord, (id, author, result, _))| {
                row.push_bind(ord)
                    .push_bind(id.to_string())
                    .push_bind(author.owner().map(str::to_owned))
                    .push_bind(result.as_ref().map(Value::to_string));
            },
        );
        query.push(format!(
            ") UPDATE jobs SET {set}, {BATCH_CHANGE} FROM u \
             WHERE jobs.id = u.id AND {guard} RETURNING *",
            set = sql::complete_set(NOW, "u.result"),
            guard = sql::writer_guard(OWNER)
        ));
        let rows = query.build().fetch_all(&mut *conn).await?;
        let mut updated = by_id(&rows)?;
        for (id, _, _, reply) in chunk {
            let result = match updated.remove(&id) {
                Some(job) => Ok(job),
                None => Err(why_not(conn, id).await?),
            };
            outcomes.jobs.push((reply, result));
        }
    }
    for (id, _, _, reply) in repeats {
        outcomes.jobs.push((reply, Err(why_not(conn, id).await?)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_split_at_the_statement_size() {
        let sizes: Vec<usize> = chunks((0..600).collect::<Vec<_>>())
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [256, 256, 88]);
    }
}
