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

mod statements;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use self::statements::{complete, create, logs, progress};

use crate::job::{Job, JobId, LogLevel, LogLine, NewJob, Progress, Timestamp};
use crate::store::{StoreError, Writer};

/// Most writes applied in one transaction; the queue holds the rest for the next one.
const MAX_BATCH: usize = 512;

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

pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;
/// A reply channel and the answer to send on it once the batch has committed.
pub(super) type Answer<T> = (Reply<T>, Result<T, StoreError>);

/// One queued write and where its answer goes.
pub(super) enum Write {
    Create(NewJob, Reply<(Job, bool)>),
    Progress(JobId, Author, Progress, Reply<Job>),
    Log(JobId, Author, LogLevel, String, Reply<LogLine>),
    Complete(JobId, Author, Option<Value>, Reply<Job>),
    /// Answered once every write queued before it has been applied.
    Flush(Reply<()>),
}

/// Applies queued writes until every sender is gone. `keep_log_lines` is read per batch: each
/// job keeps at most that many of its newest log lines.
pub(super) async fn run(
    pool: SqlitePool,
    mut queue: mpsc::Receiver<Write>,
    keep_log_lines: Arc<AtomicI64>,
    commits: Arc<AtomicU64>,
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
        let writes_anything = pending.writes_anything();
        // On error the callers' reply channels are dropped with the batch, and each caller
        // gets `StoreError::Batch` (see `Store::queue`).
        let keep = keep_log_lines.load(Ordering::Relaxed);
        match apply(&pool, pending, keep).await {
            Ok(outcomes) => {
                if writes_anything {
                    commits.fetch_add(1, Ordering::Relaxed);
                }
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
    /// Anything to write (a batch of flushes alone commits nothing).
    fn writes_anything(&self) -> bool {
        !(self.creates.is_empty()
            && self.progress.is_empty()
            && self.logs.is_empty()
            && self.completes.is_empty())
    }

    /// Exactly one write, and not a log line (which takes two statements).
    fn is_one_statement(&self) -> bool {
        self.logs.is_empty() && self.creates.len() + self.progress.len() + self.completes.len() == 1
    }
}

/// Answers computed inside the transaction, sent only once it has committed.
#[derive(Default)]
pub(super) struct Outcomes {
    pub(super) creates: Vec<Answer<(Job, bool)>>,
    pub(super) jobs: Vec<Answer<Job>>,
    pub(super) logs: Vec<Answer<LogLine>>,
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
    if !pending.writes_anything() {
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
