//! Group commit, for both backends: every write a job makes in its life (its creation, its
//! progress reports and log lines, the end of each attempt) and every claim go through one
//! writer task per process, which applies all the writes waiting at a moment in one
//! transaction, with one multi-row statement per kind.
//!
//! Why: a statement is a round trip (to SQLite's connection thread, or over the network to
//! PostgreSQL), and a commit is the expensive part of a write. One transaction per write made
//! a tiny job cost several commits; here a job costs a share of one. A claim rides in the same
//! transaction as the ends of the attempts before it, as BullMQ's `moveToFinished` fetches the
//! next job in the round trip that ends the last, so a runner's workers are fed in one step.
//!
//! What callers can rely on:
//! - A write's answer is sent only once its transaction has committed (a queued report or line
//!   has no answer: it is applied in order, before the job's end).
//! - Writes pending at one moment come from different callers, so any order among them is one
//!   they could have happened in; kinds are applied in a fixed order (creates, progress, log
//!   lines, ends, claims, then children made and families settled: `family/`), and one
//!   caller's writes to a job keep their order: it queues its reports before it sends the end.
//! - Reports for one job by one author in a batch are merged (the later wins field by field).
//! - Batching comes from concurrency alone, with no timer: a lone write is not delayed. The
//!   queue is bounded ([`WRITE_QUEUE`]), so a backlog makes writers wait rather than grow.
//! - A batch that fails for want of the database (PostgreSQL restarting) answers its awaited
//!   writes with a transient error (the caller tries again, or answers 503) and keeps the
//!   queued reports and lines for the next batch, so an outage loses none of them.
//!
//! The statements are built once, in `apply.rs`, for both databases; [`Dialect`] holds the few
//! spellings that differ, and each backend implements [`Transactions`]: how to open, lock and
//! commit the batch's transaction.

mod apply;
mod family;
mod statement;

pub(crate) use apply::{apply, ClaimRequest, Results};
pub use family::FamilyLimits;
pub(crate) use family::{seeds as family_seeds, SpawnRequest};
pub(crate) use statement::{
    bind_all, decode, Arg, On, Output, Rows, Run, Statement, ROWS_PER_STATEMENT,
};

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::job::{Job, JobId, LogLevel, LogLine, NewJob, Progress, Timestamp};
use crate::store::{Claimant, RetryPolicy, StoreError, Writer};

/// Most writes applied in one transaction; the queue holds the rest for the next one.
const MAX_BATCH: usize = 1024;

/// Writes waiting for the writer; callers wait beyond this.
pub(crate) const WRITE_QUEUE: usize = 4096;

/// Who may make a write, as owned data (see [`Writer`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Author {
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

/// A log line as its writer said it, and when.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub(crate) level: LogLevel,
    pub(crate) message: String,
    /// When it was written (queued, for a runner's line): so a line never bears a time after
    /// the end of the attempt that wrote it.
    pub(crate) ts: Timestamp,
}

impl Line {
    fn now(level: LogLevel, message: String) -> Line {
        Line {
            level,
            message,
            ts: Timestamp::now(),
        }
    }
}

/// When an attempt ran, as its runner saw it: its end's `finished_at` (and `updated_at`), and
/// its `started_at` when it started later than it was claimed (a job claimed ahead). Unset,
/// the batch's time and the claim's.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Times {
    pub(crate) started: Option<Timestamp>,
    pub(crate) ended: Option<Timestamp>,
}

/// How an attempt ended, as written by its end.
#[derive(Debug, Clone)]
pub(crate) enum End {
    Complete(Option<Value>),
    /// A failed attempt: queued again for `retry.retry_at` while attempts remain, else failed.
    Fail {
        error: String,
        details: Option<Value>,
        retry: Option<RetryPolicy>,
    },
    /// The lease holder stopped a job whose cancel was requested.
    Cancelled,
    /// The lease holder could not finish (a shutdown): back to the queue, the attempt not
    /// counted.
    Requeue,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Jobs created together, and where their answer goes.
pub(crate) type Creates = (Vec<NewJob>, Reply<Vec<(Job, bool)>>);

/// Children made for a parent, and where their answer goes.
pub(crate) type Spawns = (SpawnRequest, Reply<Vec<(Job, bool)>>);

/// One queued write and where its answer goes.
pub(crate) enum Write {
    /// Jobs inserted together (one for a plain create, many for a bulk one).
    Create(Vec<NewJob>, Reply<Vec<(Job, bool)>>),
    Progress(JobId, Author, Progress, Reply<Job>),
    Log(JobId, Author, Line, Reply<LogLine>),
    End(JobId, Author, End, Times, Reply<Job>),
    Claim(ClaimRequest, Reply<Vec<Job>>),
    /// Answered once every write queued before it has been applied.
    Flush(Reply<()>),
    /// Children made for a parent, atomically with the check on it (`family/`).
    Spawn(SpawnRequest, Reply<Vec<(Job, bool)>>),
    /// Families to settle after changes made outside the writer (a cancel, lease recovery);
    /// none named: every family that may need it (a sweep).
    Settle(Vec<JobId>, Reply<()>),
    /// A parent whose child's queued report or line was sent before this: its record and
    /// stream hear of it (`family/`).
    Tell(JobId),
}

impl Write {
    /// Whether someone waits for this write's answer (a queued report or line has none; a
    /// flush waits for the writes before it, not for an answer of its own).
    fn awaited(&self) -> bool {
        match self {
            Write::Progress(.., reply) => !reply.is_closed(),
            Write::Log(.., reply) => !reply.is_closed(),
            Write::Tell(_) | Write::Flush(_) => false,
            _ => true,
        }
    }

    /// Answers an awaited write with `error` and gives back one nobody awaits, to be written
    /// later.
    fn refuse(self, error: impl Fn() -> StoreError) -> Option<Write> {
        fn answer<T>(reply: Reply<T>, error: StoreError) -> Option<Write> {
            let _ = reply.send(Err(error));
            None
        }
        if !self.awaited() {
            return Some(self);
        }
        match self {
            Write::Tell(_) | Write::Flush(_) => Some(self),
            Write::Create(_, reply) | Write::Spawn(_, reply) => answer(reply, error()),
            Write::Progress(.., reply) => answer(reply, error()),
            Write::Log(.., reply) => answer(reply, error()),
            Write::End(.., reply) => answer(reply, error()),
            Write::Claim(_, reply) => answer(reply, error()),
            Write::Settle(_, reply) => answer(reply, error()),
        }
    }
}

/// What the batch's statements spell differently on each database.
#[derive(Debug)]
pub(crate) struct Dialect {
    /// Writes the `c` table every batched statement starts with: `WITH c (now, ...) AS (...)`,
    /// binding `now`.
    pub(crate) with_now: fn(&mut Statement, Timestamp),
    /// The change number of the source row `u` (with its ordinal `u.ord`) being written.
    pub(crate) change: &'static str,
    /// The `RETURNING` list of a statement that changes jobs: whole jobs.
    pub(crate) returning: &'static str,
    /// The `RETURNING` list of a log reservation: `id`, `log_seq`, `version`.
    pub(crate) returning_reserved: &'static str,
    /// Text as the database can store it.
    pub(crate) text: fn(&str) -> String,
    /// A claim's statement: the jobs picked, numbered and leased in one.
    pub(crate) claim: fn(&ClaimRequest, Timestamp) -> Statement,
    /// The SET item that gives the one row a statement changes the next change number.
    pub(crate) next_change: &'static str,
}

/// Finds out whether a commit whose answer was lost happened: `Some(true)` it did,
/// `Some(false)` it did not, `None` it could not tell.
pub(crate) type Lookup = Pin<Box<dyn Future<Output = Option<bool>> + Send>>;

/// What became of a batch's transaction that ran to its commit.
pub(crate) enum Committed {
    /// Committed and durable.
    Yes(Results),
    /// The connection went away during the commit (`error`): `lookup` tells whether it
    /// happened. The writes that come meanwhile wait for it no longer than `patience` (see
    /// [`meanwhile`]): the lookup lasts as long as the database is away.
    Unknown {
        results: Results,
        error: StoreError,
        lookup: Lookup,
        patience: Duration,
    },
}

/// The columns of [`new_job_rows`]' rows, for a `u (...)` table.
pub(crate) const NEW_JOB_ROWS: &str = "ord, id, type, payload, priority, max_attempts, \
     timeout_ms, idempotency_key, run_at, upload_id";

/// Appends the VALUES rows of jobs to insert, each new job with its id, numbered from 1 (see
/// [`NEW_JOB_ROWS`]); a job without its own `run_at` runs from `now`. Creates and children
/// are inserted from these.
pub(crate) fn new_job_rows<'j>(
    statement: &mut Statement,
    d: &Dialect,
    now: Timestamp,
    jobs: impl IntoIterator<Item = (&'j NewJob, JobId)>,
) {
    statement.values((1_i64..).zip(jobs), |row, (ord, (new, id))| {
        row.bind(ord)
            .bind(id.to_string())
            .bind((d.text)(&new.job_type))
            .bind(new.payload.to_string())
            .bind(new.priority)
            .bind(new.max_attempts)
            .bind(new.timeout.map(crate::store::rows::duration_ms))
            .bind(new.idempotency_key.as_deref().map(d.text))
            .bind(new.run_at.unwrap_or(now).as_millis())
            .bind(new.upload_id.as_deref().map(d.text));
    });
}

/// How a backend runs a batch: one transaction, committed only if every statement ran.
#[async_trait::async_trait]
pub(crate) trait Transactions: Send + Sync + 'static {
    /// Runs `work` in a transaction (taking whatever lock the backend's change numbers need)
    /// and commits. `Yes` only once the commit is known to be durable; a transient error
    /// only when nothing was committed.
    async fn transaction(&self, work: &Batch, keep_log_lines: i64)
        -> Result<Committed, StoreError>;

    /// The store is closing: writes still waiting are given up.
    fn is_closed(&self) -> bool;
}

/// The writes of one transaction, sorted by kind.
#[derive(Default)]
pub(crate) struct Batch {
    creates: Vec<Creates>,
    progress: Vec<(JobId, Author, Progress, Reply<Job>)>,
    logs: Vec<(JobId, Author, Line, Reply<LogLine>)>,
    ends: Vec<(JobId, Author, End, Times, Reply<Job>)>,
    claims: Vec<(ClaimRequest, Reply<Vec<Job>>)>,
    flushes: Vec<Reply<()>>,
    spawns: Vec<Spawns>,
    settles: Vec<(Vec<JobId>, Reply<()>)>,
    tells: Vec<JobId>,
}

impl Batch {
    fn sort(writes: Vec<Write>) -> Batch {
        let mut batch = Batch::default();
        for write in writes {
            match write {
                Write::Create(new, reply) => batch.creates.push((new, reply)),
                Write::Progress(id, author, p, reply) => {
                    batch.progress.push((id, author, p, reply))
                }
                Write::Log(id, author, line, reply) => batch.logs.push((id, author, line, reply)),
                Write::End(id, author, end, times, reply) => {
                    batch.ends.push((id, author, end, times, reply))
                }
                Write::Claim(request, reply) => batch.claims.push((request, reply)),
                Write::Flush(reply) => batch.flushes.push(reply),
                Write::Spawn(request, reply) => batch.spawns.push((request, reply)),
                Write::Settle(ids, reply) => batch.settles.push((ids, reply)),
                Write::Tell(parent) => batch.tells.push(parent),
            }
        }
        batch
    }

    /// Anything to write (a batch of flushes alone commits nothing).
    fn writes_anything(&self) -> bool {
        !(self.creates.is_empty()
            && self.progress.is_empty()
            && self.logs.is_empty()
            && self.ends.is_empty()
            && self.claims.is_empty()
            && self.spawns.is_empty()
            && self.settles.is_empty()
            && self.tells.is_empty())
    }

    /// Sends each caller its answer, once the transaction has committed.
    fn answer(self, results: apply::Results) {
        fn send<T>(
            replies: impl IntoIterator<Item = Reply<T>>,
            results: Vec<Result<T, StoreError>>,
        ) {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        for reply in self.flushes {
            let _ = reply.send(Ok(()));
        }
        send(self.creates.into_iter().map(|w| w.1), results.creates);
        send(self.progress.into_iter().map(|w| w.3), results.progress);
        send(self.logs.into_iter().map(|w| w.3), results.logs);
        send(self.ends.into_iter().map(|w| w.4), results.ends);
        send(self.claims.into_iter().map(|w| w.1), results.claims);
        send(self.spawns.into_iter().map(|w| w.1), results.spawns);
        for (_, reply) in self.settles {
            let _ = reply.send(match &results.family_failed {
                None => Ok(()),
                Some(message) => Err(StoreError::Batch {
                    message: message.clone(),
                    transient: false,
                }),
            });
        }
    }

    /// The batch failed: awaited writes get the error; with a transient one, the queued reports
    /// and lines (nobody awaits them) and the flushes waiting for them are returned, to be
    /// written with the next batch.
    fn fail(self, error: &StoreError) -> Vec<Write> {
        let transient = error.is_transient();
        let failed = || match error {
            // The writes may stand: they are told so, not that they failed.
            StoreError::Unconfirmed(message) => StoreError::Unconfirmed(message.clone()),
            _ => StoreError::Batch {
                message: error.to_string(),
                transient,
            },
        };
        let mut kept = Vec::new();
        let mut dropped = 0usize;
        for (new, reply) in self.creates {
            let _ = (new, reply.send(Err(failed())));
        }
        for (id, author, progress, reply) in self.progress {
            if reply.is_closed() {
                match transient {
                    true => kept.push(Write::Progress(id, author, progress, reply)),
                    false => dropped += 1,
                }
            } else {
                let _ = reply.send(Err(failed()));
            }
        }
        for (id, author, line, reply) in self.logs {
            if reply.is_closed() {
                match transient {
                    true => kept.push(Write::Log(id, author, line, reply)),
                    false => dropped += 1,
                }
            } else {
                let _ = reply.send(Err(failed()));
            }
        }
        for (.., reply) in self.ends {
            let _ = reply.send(Err(failed()));
        }
        for (_, reply) in self.claims {
            let _ = reply.send(Err(failed()));
        }
        for (_, reply) in self.spawns {
            let _ = reply.send(Err(failed()));
        }
        for (_, reply) in self.settles {
            let _ = reply.send(Err(failed()));
        }
        if transient {
            kept.extend(self.tells.into_iter().map(Write::Tell));
        }
        for reply in self.flushes {
            match transient {
                true => kept.push(Write::Flush(reply)),
                false => {
                    let _ = reply.send(Err(failed()));
                }
            }
        }
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "queued progress reports and log lines were lost with a failed batch"
            );
        }
        kept
    }
}

/// A write sent to the writer whose answer has not come yet.
pub(crate) struct Sent<T>(oneshot::Receiver<Result<T, StoreError>>);

impl<T> Sent<T> {
    /// The answer, once the write's batch has committed.
    pub(crate) async fn answer(self) -> Result<T, StoreError> {
        self.0.await.map_err(|_| StoreError::Closed)?
    }
}

/// Sends writes to the writer task and waits for their answers. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Writes {
    queue: mpsc::Sender<Write>,
}

impl Writes {
    /// Starts the writer task over `db`; it stops once every [`Writes`] is dropped and the
    /// queue is empty. `wrote` is called after every commit that changed jobs.
    pub(crate) fn start<T: Transactions>(
        db: T,
        keep_log_lines: Arc<AtomicI64>,
        commits: Arc<AtomicU64>,
        wrote: impl Fn() + Send + 'static,
    ) -> Writes {
        let (queue, receiver) = mpsc::channel(WRITE_QUEUE);
        tokio::spawn(run(db, receiver, keep_log_lines, commits, wrote));
        Writes { queue }
    }

    /// Sends a write; its answer comes once its batch has committed.
    async fn submit<T>(
        &self,
        write: impl FnOnce(Reply<T>) -> Write,
    ) -> Result<Sent<T>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(write(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(Sent(answer))
    }

    /// Sends a write and waits for its answer.
    async fn send<T>(&self, write: impl FnOnce(Reply<T>) -> Write) -> Result<T, StoreError> {
        self.submit(write).await?.answer().await
    }

    /// Queues a write nobody waits for (its answer is dropped).
    async fn queue(&self, write: Write) -> Result<(), StoreError> {
        self.queue.send(write).await.map_err(|_| StoreError::Closed)
    }

    pub(crate) async fn create(&self, jobs: Vec<NewJob>) -> Result<Vec<(Job, bool)>, StoreError> {
        self.send(|reply| Write::Create(jobs, reply)).await
    }

    pub(crate) async fn progress(
        &self,
        id: JobId,
        writer: Writer<'_>,
        progress: &Progress,
    ) -> Result<Job, StoreError> {
        let (author, progress) = (Author::from(writer), progress.clone());
        self.send(|reply| Write::Progress(id, author, progress, reply))
            .await
    }

    pub(crate) async fn log(
        &self,
        id: JobId,
        writer: Writer<'_>,
        level: LogLevel,
        message: &str,
    ) -> Result<LogLine, StoreError> {
        let (author, line) = (Author::from(writer), Line::now(level, message.to_owned()));
        self.send(|reply| Write::Log(id, author, line, reply)).await
    }

    /// Queues a runner's report; a child's `parent` is told after it.
    pub(crate) async fn queue_progress(
        &self,
        id: JobId,
        owner: &str,
        progress: Progress,
        parent: Option<JobId>,
    ) -> Result<(), StoreError> {
        let (reply, _) = oneshot::channel();
        let author = Author::Lease(owner.to_owned());
        self.queue(Write::Progress(id, author, progress, reply))
            .await?;
        self.tell(parent).await
    }

    /// Queues a runner's log line; a child's `parent` is told after it.
    pub(crate) async fn queue_log(
        &self,
        id: JobId,
        owner: &str,
        level: LogLevel,
        message: String,
        parent: Option<JobId>,
    ) -> Result<(), StoreError> {
        let (reply, _) = oneshot::channel();
        let author = Author::Lease(owner.to_owned());
        self.queue(Write::Log(id, author, Line::now(level, message), reply))
            .await?;
        self.tell(parent).await
    }

    /// Sent after a child's write, so it lands in the same batch or a later one: either way the
    /// parent hears of a write already applied.
    async fn tell(&self, parent: Option<JobId>) -> Result<(), StoreError> {
        match parent {
            Some(parent) => self.queue(Write::Tell(parent)).await,
            None => Ok(()),
        }
    }

    pub(crate) async fn flush(&self) -> Result<(), StoreError> {
        self.send(Write::Flush).await
    }

    pub(crate) async fn spawn(
        &self,
        request: SpawnRequest,
    ) -> Result<Vec<(Job, bool)>, StoreError> {
        self.send(|reply| Write::Spawn(request, reply)).await
    }

    /// Settles the families of `ids`; with none, every family that may need it (a sweep).
    pub(crate) async fn settle(&self, ids: Vec<JobId>) -> Result<(), StoreError> {
        self.send(|reply| Write::Settle(ids, reply)).await
    }

    /// Sends the end of an attempt without waiting for it to commit.
    pub(crate) async fn end(
        &self,
        id: JobId,
        writer: Writer<'_>,
        end: End,
        times: Times,
    ) -> Result<Sent<Job>, StoreError> {
        let author = Author::from(writer);
        self.submit(|reply| Write::End(id, author, end, times, reply))
            .await
    }

    pub(crate) async fn claim(
        &self,
        types: &[String],
        claimant: &Claimant<'_>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        if types.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let request = ClaimRequest {
            types: types.to_vec(),
            owner: claimant.owner.to_owned(),
            worker: claimant.worker.map(str::to_owned),
            lease,
            limit,
        };
        self.send(|reply| Write::Claim(request, reply)).await
    }
}

/// Applies queued writes until every sender is gone. `keep_log_lines` is read per batch: each
/// job keeps at most that many of its newest log lines.
async fn run<T: Transactions>(
    db: T,
    mut queue: mpsc::Receiver<Write>,
    keep_log_lines: Arc<AtomicI64>,
    commits: Arc<AtomicU64>,
    wrote: impl Fn(),
) {
    let mut writes: Vec<Write> = Vec::with_capacity(MAX_BATCH);
    // After a batch failed for want of the database: how long to wait before the next try.
    let mut backoff = Duration::from_millis(50);
    loop {
        if writes.is_empty() && queue.recv_many(&mut writes, MAX_BATCH).await == 0 {
            break;
        }
        // Let tasks that are ready to write (a handler's next line, other workers) queue
        // theirs first: one yield, no timer, so a lone write is not delayed.
        tokio::task::yield_now().await;
        while writes.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(write) => writes.push(write),
                Err(_) => break,
            }
        }
        let count = writes.len();
        let batch = Batch::sort(std::mem::take(&mut writes));
        if !batch.writes_anything() {
            batch.answer(apply::Results::default());
            continue;
        }
        tracing::trace!(writes = count, "applying a batch");
        let keep = keep_log_lines.load(Ordering::Relaxed);
        let mut after = Vec::new();
        let outcome = match db.transaction(&batch, keep).await {
            Ok(Committed::Yes(results)) => Ok(results),
            Ok(Committed::Unknown {
                results,
                error,
                lookup,
                patience,
            }) => {
                tracing::warn!(error = ?error, "the database went away during a commit; asking whether it happened");
                let found;
                (found, after) = meanwhile(lookup, patience, &mut queue).await;
                match found {
                    Some(true) => Ok(results),
                    Some(false) => Err(error),
                    None => Err(StoreError::Unconfirmed(error.to_string())),
                }
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok(results) => {
                commits.fetch_add(1, Ordering::Relaxed);
                wrote();
                batch.answer(results);
                backoff = Duration::from_millis(50);
                writes = after;
            }
            Err(error) => {
                tracing::error!(error = ?error, writes = count, "a batch of writes failed");
                writes = batch.fail(&error);
                writes.append(&mut after);
                if !writes.is_empty() {
                    if db.is_closed() {
                        Batch::sort(std::mem::take(&mut writes)).fail(&StoreError::Closed);
                    } else {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                    }
                }
            }
        }
    }
}

/// While a lost commit is looked up: the writes that arrive are not held behind the lookup
/// for longer than `patience` (the time a request waits for a connection before its 503),
/// however long the database stays away. An awaited write not applied by then is answered
/// with a transient error (a runner tries again, an HTTP client gets a 503), as a batch of its
/// own would be; queued reports and lines, tells and flushes are kept, in order, to be written
/// after the batch they may follow. Gives the lookup's answer and the writes still to apply.
async fn meanwhile(
    mut lookup: Lookup,
    patience: Duration,
    queue: &mut mpsc::Receiver<Write>,
) -> (Option<bool>, Vec<Write>) {
    use tokio::time::{sleep_until, Instant};
    let away = || StoreError::Batch {
        message: "the database went away while committing an earlier batch".to_owned(),
        transient: true,
    };
    // Each write with when it came.
    let mut kept: Vec<(Instant, Write)> = Vec::new();
    loop {
        let due = kept
            .iter()
            .find(|(_, write)| write.awaited())
            .map(|(came, _)| *came + patience);
        tokio::select! {
            biased;
            found = &mut lookup => return (found, kept.into_iter().map(|(_, w)| w).collect()),
            _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                let now = Instant::now();
                kept = kept
                    .into_iter()
                    .filter_map(|(came, write)| match came + patience <= now {
                        true => write.refuse(away).map(|write| (came, write)),
                        false => Some((came, write)),
                    })
                    .collect();
            }
            // Past a batch's worth kept, senders wait on the bounded queue.
            write = queue.recv(), if kept.len() < MAX_BATCH => match write {
                Some(write) => kept.push((Instant::now(), write)),
                None => {
                    let found = lookup.await;
                    return (found, kept.into_iter().map(|(_, w)| w).collect());
                }
            },
        }
    }
}
