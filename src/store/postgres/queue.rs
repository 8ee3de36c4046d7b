//! Progress reports and log lines a runner queues without waiting (`queue_progress`,
//! `queue_log`): a writer task per job and author merges the reports and gathers the lines
//! that arrive while it writes, so a chatty handler costs a few statements, not one per call;
//! `flush` waits for the tasks started before it ([`InFlight`]), so a job's end still comes
//! after its last line. A write that fails for want of the database is tried again until it
//! is applied or refused, so a short outage loses nothing.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

use super::PgStore;
use crate::job::{JobId, LogLevel, Progress};
use crate::store::StoreError;

/// The writer tasks of queued writes (`queue_progress`, `queue_log`) under way, by ticket:
/// [`PgStore::flush`] waits for those started before it, as the SQLite writer's queue makes a
/// flush wait for the writes queued before it. A write merged into a running task's work is
/// covered by that task's ticket, taken before the write was queued.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    next: AtomicU64,
    running: watch::Sender<BTreeSet<u64>>,
}

impl InFlight {
    pub(super) fn start(&self) -> u64 {
        let ticket = self.next.fetch_add(1, Ordering::SeqCst);
        self.running.send_modify(|running| {
            running.insert(ticket);
        });
        ticket
    }

    pub(super) fn done(&self, ticket: u64) {
        self.running.send_modify(|running| {
            running.remove(&ticket);
        });
    }

    /// Waits until every write started before this call has finished (later ones may go on).
    pub(super) async fn wait(&self) {
        let upto = self.next.load(Ordering::SeqCst);
        let mut running = self.running.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = running
            .wait_for(|running| running.first().is_none_or(|&oldest| oldest >= upto))
            .await;
    }
}

/// Most log lines that may wait for one job's writer before `queue_log` makes its caller
/// wait (SQLite's writer queue holds 4096 writes of any kind).
pub(super) const MAX_QUEUED_LINES: usize = 4096;

/// What waits to be written for one job and author: its merged progress and its log lines.
#[derive(Debug, Default)]
pub(super) struct Queued {
    pub(super) progress: Option<Progress>,
    pub(super) lines: Vec<(LogLevel, String)>,
}

/// The queued writes of every job with a writer task running (one per job and author: an
/// entry exists exactly while its task runs), and a signal for callers waiting for room.
#[derive(Debug, Default)]
pub(super) struct QueuedWrites {
    waiting: std::sync::Mutex<std::collections::HashMap<(JobId, String), Queued>>,
    /// Notified whenever a writer takes what waits.
    pub(super) drained: tokio::sync::Notify,
}

impl QueuedWrites {
    fn waiting(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(JobId, String), Queued>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether what waits for `(id, owner)` satisfies `check` (false when nothing waits).
    pub(super) fn is(&self, id: JobId, owner: &str, check: impl Fn(&Queued) -> bool) -> bool {
        self.waiting()
            .get(&(id, owner.to_owned()))
            .is_some_and(check)
    }
}

/// Logs what became of a queued write.
fn report_queued(id: JobId, result: Result<(), StoreError>) {
    match result {
        Ok(()) => {}
        Err(error @ (StoreError::NotFound | StoreError::Conflict { .. })) => {
            tracing::debug!(job_id = %id, %error, "a queued write was refused")
        }
        Err(error) => tracing::warn!(job_id = %id, error = ?error, "a queued write failed"),
    }
}

impl PgStore {
    /// Adds to what waits for `(id, owner)`'s writer, starting one if none is running.
    pub(super) async fn enqueue(
        &self,
        id: JobId,
        owner: &str,
        add: impl FnOnce(&mut Queued),
    ) -> Result<(), StoreError> {
        if self.pool.is_closed() {
            return Err(StoreError::Closed);
        }
        let key = (id, owner.to_owned());
        let start = {
            let mut waiting = self.queued.waiting();
            let start = !waiting.contains_key(&key);
            add(waiting.entry(key.clone()).or_default());
            start
        };
        if start {
            // The ticket is taken before returning, so a flush after this call waits for it.
            let ticket = self.in_flight.start();
            tokio::spawn(self.clone().write_queued(key, ticket));
        }
        Ok(())
    }

    /// Writes what waits for one job and author until nothing does: the merged progress
    /// first, then the lines, as SQLite's batches do. Refusals (the lease was lost, the job is
    /// gone) are not the queuing caller's to handle: logged at debug, failures at warn.
    ///
    /// Each round holds a ticket for what it took, and takes the next round's ticket as it
    /// takes the work, so what is queued meanwhile is covered by that one: a flush waits for
    /// the round holding what was queued before it, not for a chatty job to fall silent.
    async fn write_queued(self, key: (JobId, String), mut ticket: u64) {
        let (id, owner) = (key.0, key.1.as_str());
        loop {
            let (work, next) = {
                let mut waiting = self.queued.waiting();
                let work = waiting
                    .get_mut(&key)
                    .map(std::mem::take)
                    .unwrap_or_default();
                if work.progress.is_none() && work.lines.is_empty() {
                    waiting.remove(&key);
                    break;
                }
                (work, self.in_flight.start())
            };
            self.queued.drained.notify_waiters();
            if let Some(progress) = work.progress {
                let result = self
                    .retry_transient(id, || self.progress(id, Some(owner), &progress))
                    .await;
                report_queued(id, result.map(drop));
            }
            if !work.lines.is_empty() {
                // One id for every try of this write, so a try that committed unseen is not
                // repeated.
                let (lines, write) = (&work.lines, uuid::Uuid::now_v7().to_string());
                let result = self
                    .retry_transient(id, || self.log(id, Some(owner), lines, &write))
                    .await;
                report_queued(id, result.map(drop));
            }
            self.in_flight.done(ticket);
            ticket = next;
        }
        self.queued.drained.notify_waiters();
        self.in_flight.done(ticket);
    }

    /// Runs a queued write again while it fails for want of the database, until it is
    /// applied or refused (a lease that lapsed meanwhile is refused) or the store closes.
    /// Later writes for the job wait behind it, so they still land in order; the handler's own
    /// calls keep queueing until [`MAX_QUEUED_LINES`], then wait too.
    async fn retry_transient<T, F, Fut>(&self, id: JobId, write: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        crate::store::retry_transient(id, |_| !self.pool.is_closed(), write).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn flush_waits_for_queued_writes_started_before_it_only() {
        let in_flight = Arc::new(InFlight::default());
        let first = in_flight.start();
        let flushed = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.wait().await }
        });
        tokio::task::yield_now().await;
        // A write started after the flush does not hold it up.
        let later = in_flight.start();
        assert!(!flushed.is_finished());
        in_flight.done(first);
        tokio::time::timeout(Duration::from_secs(5), flushed)
            .await
            .expect("the flush ends once the earlier write is done")
            .unwrap();
        in_flight.done(later);
    }
}
