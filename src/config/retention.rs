//! The `[retention]` section: how long finished jobs are kept and how pruning paces itself.
//!
//! Only the settings live here; pruning is [`crate::retention`]'s. A job type may keep its
//! jobs for a different time (`job_types.NAME.retention`, in [`super::JobTypeConfig`]).

use std::time::Duration;

use serde::Deserialize;

use super::{above_zero, invalid, ConfigError};

/// Finished jobs are deleted, with their log lines, once they are old enough (see
/// [`crate::retention`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Prune in the background. `jobcast prune` works either way.
    pub enabled: bool,
    /// Completed, failed and cancelled jobs are deleted this long after they finished, unless
    /// their type sets its own `retention`. Queued and running jobs are never deleted.
    #[serde(with = "humantime_serde")]
    pub keep_finished: Duration,
    /// How often the background task looks for jobs to prune.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Most rows (log lines, or jobs) one delete removes: each delete is a short transaction
    /// of its own, so other writes wait for one batch at most.
    pub batch: usize,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            enabled: true,
            keep_finished: Duration::from_secs(7 * 24 * 3600),
            interval: Duration::from_secs(60),
            batch: 500,
        }
    }
}

impl RetentionConfig {
    /// A zero interval would spin; a batch of zero deletes nothing, and a huge one holds the
    /// writer for as long as it takes.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        above_zero(&[("retention.interval", self.interval)])?;
        if !(1..=100_000).contains(&self.batch) {
            return Err(invalid(
                "retention.batch",
                self.batch,
                "must be from 1 to 100000",
            ));
        }
        Ok(())
    }
}
