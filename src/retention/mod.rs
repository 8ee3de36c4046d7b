//! Retention and backups: what keeps a long-running database from growing without bound, and
//! how to copy it while it is in use.
//!
//! Finished jobs (completed, failed, cancelled) are deleted with their log lines once they
//! finished longer ago than `retention.keep_finished`, or their type's own
//! `job_types.NAME.retention`. Queued and running jobs are never touched. [`run`] does this in
//! the background every `retention.interval`; `jobcast prune` does it once, from the command
//! line, with [`prune_database`].
//!
//! All writes share one writer connection, and a job may have 100 000 log lines: deleting it
//! with one cascading `DELETE` would hold that writer for as long as the deletes take. So
//! [`prune`] deletes log lines first, at most `retention.batch` per statement, then the job rows
//! (only those with no lines left), each statement a short transaction of its own, yielding
//! between them so the group-commit writer gets its turn. After a round that deleted
//! something, the freed pages go back to the file system in small `incremental_vacuum` steps
//! (the store opens databases with `auto_vacuum = INCREMENTAL`).
//!
//! Uploads are not handled here: once its jobs are gone, an upload is unused and the upload
//! sweeper in [`crate::app`] removes it. The SQL lives in [`crate::store`], as all SQL does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::job::Timestamp;
use crate::store::{database_file, is_postgres_url, PruneRule, SqliteStore, Store, StoreError};
use crate::telemetry::error_chain;

/// The retention settings, as the background task and `jobcast prune` use them.
#[derive(Debug, Clone)]
pub struct Retention {
    /// How long finished jobs are kept.
    pub keep_finished: Duration,
    /// Types that keep their finished jobs for a different time.
    pub per_type: BTreeMap<String, Duration>,
    /// How often the background task looks.
    pub interval: Duration,
    /// Most rows one delete statement removes.
    pub batch: usize,
}

impl Retention {
    /// The retention configured in `config` (whether or not the background task is enabled).
    pub fn from_config(config: &Config) -> Retention {
        Retention {
            keep_finished: config.retention.keep_finished,
            per_type: config
                .job_types
                .iter()
                .filter_map(|(name, job_type)| Some((name.clone(), job_type.retention?)))
                .collect(),
            interval: config.retention.interval,
            batch: config.retention.batch,
        }
    }

    /// Which jobs may go as of `now`.
    pub fn rule(&self, now: Timestamp) -> PruneRule {
        PruneRule {
            finished_before: ago(now, self.keep_finished),
            per_type: self
                .per_type
                .iter()
                .map(|(name, keep)| (name.clone(), ago(now, *keep)))
                .collect(),
            only_type: None,
        }
    }
}

/// `now` minus `age`, saturating (an age of a thousand years is fine).
fn ago(now: Timestamp, age: Duration) -> Timestamp {
    let age = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_millis(now.as_millis().saturating_sub(age))
}

/// What one prune did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub jobs: u64,
    pub log_lines: u64,
    /// Delete statements run, each its own transaction.
    pub statements: u64,
    /// The longest of them: about the longest any other write had to wait for pruning.
    pub longest_statement: Duration,
}

impl Pruned {
    fn is_empty(&self) -> bool {
        self.jobs == 0 && self.log_lines == 0
    }

    fn timed(&mut self, started: Instant) {
        self.statements += 1;
        self.longest_statement = self.longest_statement.max(started.elapsed());
    }
}

/// Deletes every job `rule` allows, with its log lines, in statements of at most `batch` rows.
/// Stops early (leaving a consistent state) when `stop` is cancelled.
pub async fn prune(
    store: &Store,
    rule: &PruneRule,
    batch: usize,
    stop: &CancellationToken,
) -> Result<Pruned, StoreError> {
    let batch = batch.max(1);
    let mut pruned = Pruned::default();
    while !stop.is_cancelled() {
        let ids = store.prunable_jobs(rule, batch).await?;
        if ids.is_empty() {
            break;
        }
        // Log lines first, a bounded batch at a time: a job may have 100 000 of them.
        loop {
            let started = Instant::now();
            let lines = store.delete_prunable_logs(&ids, rule, batch).await?;
            pruned.timed(started);
            pruned.log_lines += lines;
            tracing::debug!(
                lines,
                elapsed_us = started.elapsed().as_micros() as u64,
                "pruned log lines"
            );
            tokio::task::yield_now().await;
            if lines < batch as u64 || stop.is_cancelled() {
                break;
            }
        }
        // Then the rows; a job whose lines are not all gone (stopped early) stays for later.
        let started = Instant::now();
        let jobs = store.delete_prunable_jobs(&ids, rule).await?;
        pruned.timed(started);
        pruned.jobs += jobs;
        tracing::debug!(
            jobs,
            elapsed_us = started.elapsed().as_micros() as u64,
            "pruned jobs"
        );
        tokio::task::yield_now().await;
        // Fewer than asked for: that was the last batch. None deleted: they changed since
        // they were found (retried, say); the next round looks again.
        if ids.len() < batch || jobs == 0 {
            break;
        }
    }
    Ok(pruned)
}

/// Gives the SQLite file's free pages back to the file system, a step at a time; returns how
/// many pages were freed. (PostgreSQL's autovacuum makes freed space reusable by itself.)
pub async fn reclaim(store: &SqliteStore, stop: &CancellationToken) -> Result<i64, StoreError> {
    let mut reclaimed = 0;
    while !stop.is_cancelled() {
        let pages = store.reclaim_free_pages().await?;
        if pages <= 0 {
            break;
        }
        reclaimed += pages;
        tokio::task::yield_now().await;
    }
    Ok(reclaimed)
}

/// The background task: a prune round every `retention.interval` (the first at once), until
/// `shutdown`. Each round that deleted something is logged at info.
pub async fn run(store: Store, retention: Retention, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(retention.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let started = Instant::now();
        let rule = retention.rule(Timestamp::now());
        let pruned = match prune(&store, &rule, retention.batch, &shutdown).await {
            Ok(pruned) => pruned,
            Err(_) if shutdown.is_cancelled() => return,
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "pruning finished jobs failed");
                continue;
            }
        };
        if pruned.is_empty() {
            continue;
        }
        let reclaimed = match store.sqlite() {
            Some(sqlite) => reclaim(sqlite, &shutdown).await,
            None => Ok(0),
        };
        let pages = match reclaimed {
            Ok(pages) => pages,
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "reclaiming free pages failed");
                0
            }
        };
        tracing::info!(
            jobs = pruned.jobs,
            log_lines = pruned.log_lines,
            pages_reclaimed = pages,
            statements = pruned.statements,
            longest_statement_ms = pruned.longest_statement.as_secs_f64() * 1000.0,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "pruned finished jobs"
        );
    }
}

/// Why `jobcast prune` or `jobcast backup` did not finish.
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    #[error("there is no database at {0}")]
    NoDatabase(PathBuf),
    #[error("{0} already exists: a backup never overwrites a file, choose a new name")]
    Exists(PathBuf),
    #[error("the folder {0} does not exist")]
    NoFolder(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `jobcast prune` did, or with `dry_run` would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneReport {
    pub dry_run: bool,
    pub jobs: u64,
    pub log_lines: u64,
    /// Pages given back to the file system (0 for a dry run).
    pub pages_reclaimed: i64,
}

/// `jobcast prune`: opens the configured database (beside a server using it, if any), and
/// prunes finished jobs older than `older_than` (default: the configured retention), of
/// `job_type` only if given.
pub async fn prune_database(
    config: &Config,
    older_than: Option<Duration>,
    job_type: Option<String>,
    dry_run: bool,
) -> Result<PruneReport, OperationError> {
    existing_database(&config.database_url)?;
    let store = Store::connect_with(&config.database_url, config.database_max_connections).await?;
    let retention = Retention::from_config(config);
    let now = Timestamp::now();
    let mut rule = match older_than {
        Some(age) => PruneRule {
            finished_before: ago(now, age),
            per_type: BTreeMap::new(),
            only_type: None,
        },
        None => retention.rule(now),
    };
    rule.only_type = job_type;
    let result = async {
        if dry_run {
            let (jobs, log_lines) = store.count_prunable(&rule).await?;
            return Ok(PruneReport {
                dry_run,
                jobs,
                log_lines,
                pages_reclaimed: 0,
            });
        }
        let never = CancellationToken::new();
        let pruned = prune(&store, &rule, retention.batch, &never).await?;
        let pages_reclaimed = match store.sqlite() {
            Some(sqlite) if !pruned.is_empty() => reclaim(sqlite, &never).await?,
            _ => 0,
        };
        Ok(PruneReport {
            dry_run,
            jobs: pruned.jobs,
            log_lines: pruned.log_lines,
            pages_reclaimed,
        })
    }
    .await;
    store.close().await;
    result
}

/// `jobcast backup FILE`: a consistent copy of the configured database in the new file
/// `dest`, made while a server may be using it. Returns the copy's size in bytes.
pub async fn backup_database(config: &Config, dest: &Path) -> Result<u64, OperationError> {
    existing_database(&config.database_url)?;
    if dest.symlink_metadata().is_ok() {
        return Err(OperationError::Exists(dest.to_owned()));
    }
    if let Some(folder) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !folder.is_dir() {
            return Err(OperationError::NoFolder(folder.to_owned()));
        }
    }
    if is_postgres_url(&config.database_url) {
        return Err(StoreError::Unsupported(
            "jobcast backup copies SQLite databases only; back up a PostgreSQL database \
             with pg_dump (for example pg_dump --format=custom --file=jobcast.dump URL)",
        )
        .into());
    }
    Ok(SqliteStore::backup(&config.database_url, dest).await?)
}

/// Refuses to go on (and so to create an empty database) when the database file is missing.
fn existing_database(url: &str) -> Result<(), OperationError> {
    match database_file(url) {
        Some(path) if !path.exists() => Err(OperationError::NoDatabase(path)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
