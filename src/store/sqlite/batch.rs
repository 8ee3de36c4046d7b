//! Group commit for the hot writes: job creation, progress, log lines and completion.
//!
//! Through sqlx every statement is a round trip to SQLite's connection thread (about 100 µs),
//! so one statement per write caps a process at roughly ten thousand writes a second. Here the
//! writes that arrive while a batch is being committed wait in a queue, and the next batch
//! applies all of them in one transaction with one multi-row statement per kind: many writes,
//! a handful of round trips. Callers still wait for their write to commit, so nothing is
//! acknowledged before it is durable; batching comes from concurrency alone, with no timer.
//!
//! Within a batch, progress reports for the same job are merged (the later wins, fields it
//! leaves out keep the earlier value), and kinds are applied in a fixed order (creates,
//! progress, log lines, completions). Writes pending at the same moment come from different
//! callers, so any order among them is one they could have happened in; one caller's writes to
//! a job are never reordered because it waits for each before sending the next.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::job::{Job, JobId, JobStatus, LogLevel, LogLine, NewJob, Progress, Timestamp};
use crate::store::rows::{duration_ms, job_from_row, parse_id, refusal};
use crate::store::{sql, StoreError, Writer};

/// Most writes applied in one transaction; the queue holds the rest for the next one.
const MAX_BATCH: usize = 512;
/// Rows per multi-row statement (each row binds up to 11 values; SQLite allows 32 766).
const ROWS_PER_STATEMENT: usize = 256;

/// Who may make a write, as owned data (see [`Writer`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Author {
    External,
    Lease(String),
}

impl From<Writer<'_>> for Author {
    fn from(writer: Writer<'_>) -> Self {
        match writer {
            Writer::External => Author::External,
            Writer::Lease(owner) => Author::Lease(owner.to_owned()),
        }
    }
}

impl Author {
    fn owner(&self) -> Option<&str> {
        match self {
            Author::External => None,
            Author::Lease(owner) => Some(owner),
        }
    }
}

/// The batch's time and author, as the shared clauses of `sql.rs` read them: from the `c` and
/// `u` tables of each batched statement.
const NOW: &str = "(SELECT now FROM c)";
const OWNER: &str = "u.owner";

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;
/// A reply channel and the answer to send on it once the batch has committed.
type Answer<T> = (Reply<T>, Result<T, StoreError>);
/// Merged progress of one job by one author, and everyone waiting for it.
type ProgressRow = (JobId, Author, Progress, Vec<Reply<Job>>);
/// The log lines of one job by one author in a batch.
type LogGroup = (JobId, Author, Vec<(LogLevel, String, Reply<LogLine>)>);

/// One queued write and where its answer goes.
pub(super) enum Write {
    Create(NewJob, Reply<(Job, bool)>),
    Progress(JobId, Author, Progress, Reply<Job>),
    Log(JobId, Author, LogLevel, String, Reply<LogLine>),
    Complete(JobId, Author, Option<Value>, Reply<Job>),
    /// Answered once every write queued before it has been applied.
    Flush(Reply<()>),
}

/// A copy of an error for another caller of the same batch.
fn batch_failed(error: &StoreError) -> StoreError {
    StoreError::Batch(error.to_string())
}

/// Applies queued writes until every sender is gone. `keep_log_lines` is read per batch: each
/// job keeps at most that many of its newest log lines.
pub(super) async fn run(
    pool: SqlitePool,
    mut queue: mpsc::Receiver<Write>,
    keep_log_lines: Arc<AtomicI64>,
    wrote: impl Fn(),
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Let tasks that are ready to write (a handler's next line, other workers) queue
        // theirs first: one yield, no timer, so a lone write is not delayed.
        tokio::task::yield_now().await;
        if batch.len() < MAX_BATCH {
            while let Ok(write) = queue.try_recv() {
                batch.push(write);
                if batch.len() == MAX_BATCH {
                    break;
                }
            }
        }
        let writes = batch.len();
        tracing::trace!(writes, "applying a batch");
        let pending = Pending::sort(std::mem::take(&mut batch));
        // On error the callers' reply channels are dropped with the batch, and each caller
        // gets `StoreError::Batch` (see `Store::queue`).
        let keep = keep_log_lines.load(Ordering::Relaxed);
        match apply(&pool, pending, keep).await {
            Ok(outcomes) => {
                wrote();
                outcomes.send();
            }
            Err(error) => tracing::error!(error = ?error, writes, "a batch of writes failed"),
        }
    }
}

/// A batch sorted by kind.
#[derive(Default)]
struct Pending {
    creates: Vec<(NewJob, Reply<(Job, bool)>)>,
    progress: Vec<(JobId, Author, Progress, Reply<Job>)>,
    logs: Vec<(JobId, Author, LogLevel, String, Reply<LogLine>)>,
    completes: Vec<(JobId, Author, Option<Value>, Reply<Job>)>,
    flushes: Vec<Reply<()>>,
}

impl Pending {
    fn sort(batch: Vec<Write>) -> Pending {
        let mut pending = Pending::default();
        for write in batch {
            match write {
                Write::Create(new, reply) => pending.creates.push((new, reply)),
                Write::Progress(id, author, p, reply) => {
                    pending.progress.push((id, author, p, reply))
                }
                Write::Log(id, author, level, message, reply) => {
                    pending.logs.push((id, author, level, message, reply))
                }
                Write::Complete(id, author, result, reply) => {
                    pending.completes.push((id, author, result, reply))
                }
                Write::Flush(reply) => pending.flushes.push(reply),
            }
        }
        pending
    }
}

impl Pending {
    /// Exactly one write, and not a log line (which takes two statements).
    fn is_one_statement(&self) -> bool {
        self.logs.is_empty() && self.creates.len() + self.progress.len() + self.completes.len() == 1
    }
}

/// Answers computed inside the transaction, sent only once it has committed.
#[derive(Default)]
struct Outcomes {
    creates: Vec<Answer<(Job, bool)>>,
    jobs: Vec<Answer<Job>>,
    logs: Vec<Answer<LogLine>>,
    flushes: Vec<Reply<()>>,
}

impl Outcomes {
    fn send(self) {
        for reply in self.flushes {
            let _ = reply.send(Ok(()));
        }
        for (reply, result) in self.creates {
            let _ = reply.send(result);
        }
        for (reply, result) in self.jobs {
            let _ = reply.send(result);
        }
        for (reply, result) in self.logs {
            let _ = reply.send(result);
        }
    }
}

/// Runs one batch in one transaction; on error nothing is committed.
async fn apply(
    pool: &SqlitePool,
    mut pending: Pending,
    keep_log_lines: i64,
) -> Result<Outcomes, StoreError> {
    let mut outcomes = Outcomes {
        flushes: std::mem::take(&mut pending.flushes),
        ..Outcomes::default()
    };
    if pending.creates.is_empty()
        && pending.progress.is_empty()
        && pending.logs.is_empty()
        && pending.completes.is_empty()
    {
        return Ok(outcomes);
    }
    let mut conn = pool.acquire().await?;
    let now = Timestamp::now();
    // A batch of one create, progress report or completion is a single statement, atomic by
    // itself: skip the two round trips of BEGIN and COMMIT, which matter most when writes
    // come one at a time.
    if pending.is_one_statement() {
        create(&mut conn, now, pending.creates, &mut outcomes).await?;
        progress(&mut conn, now, pending.progress, &mut outcomes).await?;
        complete(&mut conn, now, pending.completes, &mut outcomes).await?;
        return Ok(outcomes);
    }
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    create(&mut tx, now, pending.creates, &mut outcomes).await?;
    progress(&mut tx, now, pending.progress, &mut outcomes).await?;
    logs(&mut tx, now, pending.logs, keep_log_lines, &mut outcomes).await?;
    complete(&mut tx, now, pending.completes, &mut outcomes).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// After a guarded UPDATE left a job out: missing, or in a state that refuses the change?
async fn why_not(conn: &mut SqliteConnection, id: JobId) -> Result<StoreError, StoreError> {
    let status: Option<String> = sqlx::query_scalar(sql::STATUS_OF)
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(refusal(id, status))
}

async fn create(
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

async fn progress(
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

async fn logs(
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
        other => batch_failed(other),
    }
}

async fn complete(
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
