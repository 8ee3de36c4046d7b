//! The `[runner]` section: how many jobs this process runs, and the timings of leases,
//! polling, shutdown and retries.
//!
//! Only the settings live here; claiming and running jobs is `runner`'s.

use std::time::Duration;

use serde::Deserialize;

use super::{above_zero, invalid, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunnerConfig {
    /// Jobs run at once in this process; 0 runs none (a node that only serves the API and
    /// streams, beside nodes that run the jobs).
    pub workers: usize,
    /// How long a claimed job stays ours without renewal; the runner renews well before.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// How often the runner looks for due jobs, expired leases and cancel requests.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// On shutdown, how long running jobs may take before they are put back in the queue.
    #[serde(with = "humantime_serde")]
    pub grace_period: Duration,
    /// First retry delay; doubled per attempt, with jitter.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// Longest retry delay.
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// While jobs take less than this on average, keep up to one job per worker claimed ahead
    /// (see `runner::claiming`); zero never does.
    #[serde(with = "humantime_serde")]
    pub claim_ahead: Duration,
    /// How deep families go: a top-level job is at depth 0, its children at 1; no child may
    /// be made deeper than this.
    pub max_child_depth: i64,
    /// Children one parent may make in all.
    pub max_children: i64,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            workers: 4,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            grace_period: Duration::from_secs(30),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            claim_ahead: Duration::from_millis(20),
            max_child_depth: 3,
            max_children: 10_000,
        }
    }
}

impl RunnerConfig {
    /// A zero lease would expire as it is taken, a zero poll interval would spin, and a zero
    /// retry base stays zero however often it is doubled. Families need at least one level. A zero grace period is fine: jobs
    /// go back to the queue at once on shutdown.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        above_zero(&[
            ("runner.lease", self.lease),
            ("runner.poll_interval", self.poll_interval),
            ("runner.retry_base", self.retry_base),
        ])?;
        if !(1..=32).contains(&self.max_child_depth) {
            return Err(invalid(
                "runner.max_child_depth",
                self.max_child_depth,
                "must be from 1 to 32",
            ));
        }
        if !(1..=1_000_000).contains(&self.max_children) {
            return Err(invalid(
                "runner.max_children",
                self.max_children,
                "must be from 1 to 1000000",
            ));
        }
        if self.workers > 1024 {
            return Err(invalid(
                "runner.workers",
                self.workers,
                "must be from 0 to 1024",
            ));
        }
        Ok(())
    }
}
