//! The shared poller: one poll loop per process that watches the store for changed jobs and
//! hands each change to the streams watching that job.
//!
//! Every write bumps a job's `change_seq` (a global sequence), so each tick is one range scan
//! for "what changed since the last tick": the cost follows the number of changes, not the
//! number of open streams. Writes made through this process's store wake the poller at once;
//! writes made by anyone else (another process on the same file) are found at the next tick,
//! so every stream still sees every change within one poll interval.
//!
//! Per watched job the poller keeps a [`Snapshot`] in a `watch` channel: the latest job row and
//! its recent log lines. Sending never blocks, and a stream that falls behind simply reads the
//! latest snapshot when it catches up (older log lines come from the store if they have left
//! the buffer), so a slow client never holds up the poller or other streams.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{sleep, Instant};
use tokio_util::sync::CancellationToken;

use crate::job::{Job, JobId, LogLine};
use crate::store::{Store, StoreError};

/// Log lines kept in memory per watched job; a stream further behind reads the store.
const RECENT_LOG_LINES: usize = 256;
/// Changed rows read per query; more are read in further queries of the same tick.
const CHANGES_PER_QUERY: i64 = 5000;
/// A burst of local writes is looked at no more often than this, so that it costs a few
/// queries, not one per write.
const MIN_WAKE_GAP: Duration = Duration::from_millis(1);

/// What a stream knows about its job: the latest row and the log lines added recently.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub job: Arc<Job>,
    /// Log lines in version order; every line with a version above `logs_after` is here.
    /// Each line is shared, so a new snapshot copies pointers, not messages.
    pub logs: Arc<[Arc<LogLine>]>,
    pub logs_after: i64,
}

impl Snapshot {
    /// A snapshot of `job` with no buffered log lines.
    pub fn new(job: Job) -> Self {
        let logs_after = job.version;
        Snapshot {
            job: Arc::new(job),
            logs: Arc::from(Vec::new()),
            logs_after,
        }
    }

    /// The log lines after version `after` up to this snapshot's version, if the buffer holds
    /// all of them.
    pub fn logs_since(&self, after: i64) -> Option<Vec<LogLine>> {
        (after >= self.logs_after).then(|| {
            self.logs
                .iter()
                .filter(|line| line.version > after)
                .map(|line| LogLine::clone(line))
                .collect()
        })
    }
}

/// One watched job: its channel and how many streams hold it. The channel is made by the
/// first read of the job, the subscriber's or the poller's, whichever comes first; until then
/// the job is watched but has no snapshot yet, and the poller treats any change to it as news.
struct Watched {
    sender: Option<watch::Sender<Snapshot>>,
    watchers: usize,
}

impl Watched {
    /// Publishes `job` if it is newer than what the channel holds (or makes the channel).
    fn offer(&mut self, job: Job) {
        match &self.sender {
            None => self.sender = Some(watch::Sender::new(Snapshot::new(job))),
            Some(sender) => {
                sender.send_if_modified(|current| {
                    let newer = job.version > current.job.version;
                    if newer {
                        *current = Snapshot::new(job);
                    }
                    newer
                });
            }
        }
    }

    /// The version published, if any; a change above it is news.
    fn version(&self) -> Option<i64> {
        self.sender.as_ref().map(|s| s.borrow().job.version)
    }
}

/// A test's hook into [`Poller::subscribe`], run right after the subscriber's read of the job.
type ReadHook = Arc<dyn Fn(JobId) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

struct Shared {
    store: Store,
    watched: Mutex<HashMap<JobId, Watched>>,
    /// The change number every watched job's stream has been told about up to.
    looked_through: AtomicI64,
    after_read: OnceLock<ReadHook>,
}

impl Shared {
    fn watched(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Watched>> {
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The poller's handle: streams subscribe through it. Cheap to clone.
#[derive(Clone)]
pub struct Poller {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("watched_jobs", &self.shared.watched().len())
            .finish()
    }
}

/// A stream's interest in one job. Dropping it stops the watching when it was the last.
pub struct Subscription {
    receiver: watch::Receiver<Snapshot>,
    _watch: Registration,
}

/// One watcher counted on a job's entry, from before the subscriber's read until the
/// subscription is dropped (or the read fails).
struct Registration {
    job_id: JobId,
    shared: Arc<Shared>,
}

impl Subscription {
    /// The latest snapshot, marking it seen.
    pub fn latest(&mut self) -> Snapshot {
        self.receiver.borrow_and_update().clone()
    }

    /// Resolves when a newer snapshot is there. Never resolves if the poller has stopped.
    pub async fn changed(&mut self) {
        if self.receiver.changed().await.is_err() {
            std::future::pending::<()>().await
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut watched = self.shared.watched();
        if let Some(entry) = watched.get_mut(&self.job_id) {
            entry.watchers -= 1;
            if entry.watchers == 0 {
                watched.remove(&self.job_id);
            }
        }
    }
}

impl Poller {
    pub fn new(store: Store) -> Self {
        Poller {
            shared: Arc::new(Shared {
                store,
                watched: Mutex::new(HashMap::new()),
                looked_through: AtomicI64::new(0),
                after_read: OnceLock::new(),
            }),
        }
    }

    /// Starts watching `id` and returns its current snapshot, or `None` if there is no such
    /// job. A job already watched is answered from memory; otherwise the watch is registered
    /// first and the job read from the store after, so a change committed at any moment is
    /// either in that read or seen by the poller as news for a watched job.
    pub async fn subscribe(&self, id: JobId) -> Result<Option<Subscription>, StoreError> {
        let existing = {
            let mut watched = self.shared.watched();
            let entry = watched.entry(id).or_insert(Watched {
                sender: None,
                watchers: 0,
            });
            entry.watchers += 1;
            entry.sender.as_ref().map(watch::Sender::subscribe)
        };
        // From here on the watch is counted; dropping this undoes it (no job, a failed read).
        let registration = Registration {
            job_id: id,
            shared: self.shared.clone(),
        };
        let receiver = match existing {
            Some(receiver) => receiver,
            None => {
                let Some(job) = self.shared.store.get_job(id).await? else {
                    return Ok(None);
                };
                if let Some(hook) = self.shared.after_read.get() {
                    hook(id).await;
                }
                let mut watched = self.shared.watched();
                let entry = watched
                    .get_mut(&id)
                    .expect("a registered watch keeps its entry");
                // The poller (or another subscriber) may have published a newer row meanwhile.
                entry.offer(job);
                entry
                    .sender
                    .as_ref()
                    .expect("offer made the channel")
                    .subscribe()
            }
        };
        Ok(Some(Subscription {
            receiver,
            _watch: registration,
        }))
    }

    /// The change number the poller has looked through: every change up to it has reached
    /// the streams watching its job.
    pub fn looked_through(&self) -> i64 {
        self.shared.looked_through.load(Ordering::Acquire)
    }

    /// For tests: runs `hook` in every [`subscribe`](Self::subscribe) right after it read the
    /// job from the store, so a test can commit a change at exactly that point.
    #[doc(hidden)]
    pub fn set_after_read_hook(
        &self,
        hook: impl Fn(JobId) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync + 'static,
    ) {
        let _ = self.shared.after_read.set(Arc::new(hook));
    }

    /// Jobs watched right now.
    pub fn watched_jobs(&self) -> usize {
        self.shared.watched().len()
    }

    /// Runs the poll loop until `shutdown`: a tick every `interval`, and at once after this
    /// process writes.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        let store = self.shared.store.clone();
        let mut last_seq = loop {
            match store.max_change_seq().await {
                Ok(seq) => break seq,
                Err(error) => {
                    tracing::warn!(%error, "poller could not read the change sequence");
                    tokio::select! {
                        _ = sleep(interval) => {}
                        _ = shutdown.cancelled() => return,
                    }
                }
            }
        };
        self.shared
            .looked_through
            .store(last_seq, Ordering::Release);
        let mut changes = store.watch_changes();
        let mut next_tick = Instant::now() + interval;
        let mut last_look = Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(next_tick) => {}
                _ = changes.changed() => {
                    // With nobody watching there is no one to tell: the next tick moves the
                    // mark, and the first subscriber reads its job fresh anyway.
                    if self.shared.watched().is_empty() {
                        continue;
                    }
                    let since = last_look.elapsed();
                    if since < MIN_WAKE_GAP {
                        sleep(MIN_WAKE_GAP - since).await;
                    }
                }
            }
            last_look = Instant::now();
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + interval;
            }
            let started = Instant::now();
            match self.look(last_seq).await {
                Ok((seq, rows)) => {
                    last_seq = seq;
                    self.shared.looked_through.store(seq, Ordering::Release);
                    store.metrics().polled(started.elapsed(), rows);
                }
                Err(error) => {
                    store.metrics().store_error();
                    tracing::warn!(%error, "poll for changed jobs failed");
                }
            }
        }
    }

    /// One look: reads what changed after `last_seq`, refreshes the watched jobs among it, and
    /// returns the new high-water mark and how many changed rows it read.
    async fn look(&self, mut last_seq: i64) -> Result<(i64, usize), StoreError> {
        let store = &self.shared.store;
        if self.shared.watched().is_empty() {
            // Nobody to tell: just move the mark (one index lookup).
            return Ok((store.max_change_seq().await?, 0));
        }
        let mut rows = 0;
        loop {
            let changes = store.changes_since(last_seq, CHANGES_PER_QUERY).await?;
            rows += changes.len();
            let Some(&(_, _, newest)) = changes.last() else {
                return Ok((last_seq, rows));
            };
            last_seq = newest;
            let stale: Vec<JobId> = {
                let watched = self.shared.watched();
                changes
                    .iter()
                    .filter(|(id, version, _)| {
                        watched
                            .get(id)
                            .is_some_and(|w| w.version().is_none_or(|known| known < *version))
                    })
                    .map(|(id, _, _)| *id)
                    .collect()
            };
            for job in store.get_jobs(&stale).await? {
                self.refresh(job).await?;
            }
            if (changes.len() as i64) < CHANGES_PER_QUERY {
                return Ok((last_seq, rows));
            }
        }
    }

    /// Publishes a newer row of a watched job, with the log lines added since the last one.
    async fn refresh(&self, job: Job) -> Result<(), StoreError> {
        let known = {
            let mut watched = self.shared.watched();
            let Some(entry) = watched.get_mut(&job.id) else {
                return Ok(());
            };
            match &entry.sender {
                Some(sender) => sender.borrow().clone(),
                None => {
                    // Watched, but its subscriber's read is still under way: this row is news
                    // that read may have missed.
                    entry.offer(job);
                    return Ok(());
                }
            }
        };
        if job.version <= known.job.version {
            return Ok(());
        }
        let new_lines = if job.log_seq > known.job.log_seq {
            self.shared
                .store
                .logs_between_versions(job.id, known.job.version, job.version)
                .await?
        } else {
            Vec::new()
        };
        let watched = self.shared.watched();
        let Some(sender) = watched.get(&job.id).and_then(|e| e.sender.as_ref()) else {
            return Ok(());
        };
        sender.send_if_modified(|current| {
            if job.version <= current.job.version {
                return false;
            }
            let (logs, logs_after) = if current.job.version == known.job.version {
                merge_recent(&current.logs, current.logs_after, new_lines)
            } else {
                // Someone else published in between: keep only what is certainly complete.
                (Arc::from(Vec::new()), job.version)
            };
            *current = Snapshot {
                job: Arc::new(job),
                logs,
                logs_after,
            };
            true
        });
        Ok(())
    }
}

/// Appends `new_lines` to the buffer, dropping the oldest past the limit and moving the
/// "complete after" mark past what was dropped.
fn merge_recent(
    old: &[Arc<LogLine>],
    logs_after: i64,
    new_lines: Vec<LogLine>,
) -> (Arc<[Arc<LogLine>]>, i64) {
    let kept_new = new_lines.len().min(RECENT_LOG_LINES);
    let skip_new = new_lines.len() - kept_new;
    let keep_old = RECENT_LOG_LINES - kept_new;
    let skip_old = old.len().saturating_sub(keep_old);
    // The newest line dropped, from the new lines if any were, else from the old ones.
    let dropped = new_lines[..skip_new]
        .last()
        .map(|line| line.version)
        .or_else(|| old[..skip_old].last().map(|line| line.version));
    let all: Vec<Arc<LogLine>> = old[skip_old..]
        .iter()
        .cloned()
        .chain(new_lines.into_iter().skip(skip_new).map(Arc::new))
        .collect();
    let after = dropped.map_or(logs_after, |version| logs_after.max(version));
    (Arc::from(all), after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{LogLevel, Timestamp};

    fn line(seq: i64, version: i64) -> LogLine {
        LogLine {
            seq,
            ts: Timestamp::now(),
            level: LogLevel::Info,
            message: String::new(),
            version,
            child_id: None,
        }
    }

    #[test]
    fn the_buffer_keeps_recent_lines_and_knows_from_where_it_is_complete() {
        let old: Vec<Arc<LogLine>> = (1..=RECENT_LOG_LINES as i64)
            .map(|i| Arc::new(line(i, i + 10)))
            .collect();
        let (logs, after) = merge_recent(&old, 10, vec![line(257, 300), line(258, 301)]);
        assert_eq!(logs.len(), RECENT_LOG_LINES);
        assert_eq!(logs[0].seq, 3);
        assert_eq!(logs.last().unwrap().seq, 258);
        // Lines 1 and 2 (versions 11 and 12) were dropped.
        assert_eq!(after, 12);
        assert!(
            Arc::ptr_eq(&logs[0], &old[2]),
            "old lines are shared, not copied"
        );

        // More new lines than the buffer holds: only the newest stay, and the mark moves past
        // the newest one dropped.
        let many: Vec<LogLine> = (259..=259 + 300).map(|i| line(i, i + 100)).collect();
        let (logs, after) = merge_recent(&logs, after, many);
        assert_eq!(logs.len(), RECENT_LOG_LINES);
        assert_eq!(logs[0].seq, 559 - 255);
        assert_eq!(after, (559 - 256) + 100);

        // Few lines: nothing dropped, the mark stays.
        let (logs, after) = merge_recent(&[], 7, vec![line(1, 8)]);
        assert_eq!((logs.len(), after), (1, 7));
    }
}
