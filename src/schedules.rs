//! Periodic jobs: each `[[schedules]]` entry makes a job of its type at every tick of its cron
//! expression, read in its time zone, exactly once per tick however many nodes run.
//!
//! How:
//!
//! - **Exactly once.** Every node runs every schedule. A tick's job carries the idempotency key
//!   `schedule:NAME:TICK` (the tick in RFC 3339, UTC), and the jobs table holds one job per type
//!   and key, so the nodes that reach a tick make one job between them; the first of them to
//!   record the run in the `schedules` table ([`Backend::record_schedule_run`]) counts it.
//! - **Late or missed ticks.** A node that wakes late (a stall) runs the latest tick that has
//!   come, once; ticks before it are skipped. After downtime, ticks that passed while no node
//!   ran are skipped by default; with `missed = "run-once"` a node that starts runs the latest
//!   of them once (unless another node ran it). Never a burst of replays.
//! - **Time zones and DST** are croner's (`croner::Cron::find_next_occurrence` on a
//!   `chrono_tz` time): in a spring-forward gap a tick at a fixed time runs at the first time
//!   after the gap on that day, and wildcard or stepped ticks inside the gap are skipped; in a
//!   fall-back overlap a tick at a fixed time runs once, at its first occurrence, and wildcard
//!   or stepped ticks run in both passes.
//! - **State** (paused, last run, its job, run count) is in the database, shared by every node
//!   and kept across restarts. A paused schedule makes no job at its ticks; `trigger` makes
//!   one now, paused or not, and counts as a run.
//!
//! What a schedule's job looks like is in [`Schedule::new_job`]; the HTTP routes are in
//! `http/schedules.rs`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use tokio_util::sync::CancellationToken;

use crate::config::{Missed, ScheduleConfig};
use crate::job::{Job, NewJob, Timestamp};
use crate::runner::JobTypes;
use crate::store::{ScheduleState, Store, StoreError};

pub use crate::job::{
    schedule_key_range as key_range, schedule_of_key, SCHEDULE_KEY_PREFIX as KEY_PREFIX,
};

/// A declared schedule, its expression and zone parsed.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub config: ScheduleConfig,
    cron: croner::Cron,
    zone: chrono_tz::Tz,
}

impl Schedule {
    /// The schedule `config` declares, or why its expression or zone is wrong.
    pub fn new(config: ScheduleConfig) -> Result<Schedule, String> {
        let (cron, zone) = config
            .parse()
            .map_err(|(field, reason)| format!("schedules.{}.{field}: {reason}", config.name))?;
        Ok(Schedule { config, cron, zone })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// `at` in the schedule's zone, to the whole second below (ticks are whole seconds: croner
    /// keeps the fraction of the time it starts from).
    fn zoned(&self, at: Timestamp) -> Option<chrono::DateTime<chrono_tz::Tz>> {
        let seconds = at.as_millis().div_euclid(1000);
        self.zone.timestamp_opt(seconds, 0).single()
    }

    /// The first tick strictly after `at`.
    pub fn next_after(&self, at: Timestamp) -> Option<Timestamp> {
        let next = self
            .cron
            .find_next_occurrence(&self.zoned(at)?, false)
            .ok()?;
        Some(Timestamp::from_millis(next.timestamp_millis()))
    }

    /// The latest tick at or before `at`.
    pub fn latest_at_or_before(&self, at: Timestamp) -> Option<Timestamp> {
        let tick = self
            .cron
            .find_previous_occurrence(&self.zoned(at)?, true)
            .ok()?;
        Some(Timestamp::from_millis(tick.timestamp_millis()))
    }

    /// The idempotency key of the run at `tick`: the same on every node.
    pub fn key(&self, tick: Timestamp) -> String {
        format!("{KEY_PREFIX}{}:{}", self.name(), tick.to_rfc3339())
    }

    /// The job a run makes: of the schedule's type, with its payload and the type's attempts,
    /// keyed by `key`.
    fn new_job(&self, types: &JobTypes, key: String) -> NewJob {
        let max_attempts = types
            .get(&self.config.job_type)
            .map_or(1, |t| t.config.max_attempts);
        NewJob {
            job_type: self.config.job_type.clone(),
            payload: self.config.payload.clone(),
            priority: 0,
            max_attempts,
            timeout: None,
            run_at: None,
            idempotency_key: Some(key),
            upload_id: None,
        }
    }
}

/// Why a schedule could not be run by hand.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("no schedule {0:?}")]
    Unknown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// This process's schedules and what running them needs. Cheap to clone.
#[derive(Clone)]
pub struct Schedules {
    list: Arc<Vec<Schedule>>,
    store: Store,
    types: Arc<JobTypes>,
    /// Called after a run made a new job: wakes the runner and waiting worker claims.
    queued: Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Schedules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(Schedule::name))
            .finish()
    }
}

impl Schedules {
    /// The schedules `configs` declare, for job types `types`: every one's type must be
    /// declared and its payload one the type takes; otherwise the error names the key.
    pub fn new(
        configs: &[ScheduleConfig],
        store: Store,
        types: Arc<JobTypes>,
        queued: impl Fn() + Send + Sync + 'static,
    ) -> Result<Schedules, String> {
        let mut list = Vec::new();
        for config in configs {
            let name = &config.name;
            let Some(job_type) = types.get(&config.job_type) else {
                let known: Vec<&str> = types.names().collect();
                return Err(format!(
                    "schedules.{name}.type: unknown job type {:?}; declared types: {}",
                    config.job_type,
                    known.join(", ")
                ));
            };
            if let Some(handler) = &job_type.handler {
                handler
                    .validate(&config.payload)
                    .map_err(|e| format!("schedules.{name}.payload: {}: {}", e.field, e.message))?;
            }
            list.push(Schedule::new(config.clone())?);
        }
        Ok(Schedules {
            list: Arc::new(list),
            store,
            types,
            queued: Arc::new(queued),
        })
    }

    pub fn all(&self) -> &[Schedule] {
        &self.list
    }

    pub fn get(&self, name: &str) -> Option<&Schedule> {
        self.list.iter().find(|s| s.name() == name)
    }

    /// Each schedule with its stored state (a fresh one for a schedule that never ran).
    pub async fn states(&self) -> Result<Vec<(&Schedule, ScheduleState)>, StoreError> {
        let mut stored = self.store.schedule_states().await?;
        Ok(self
            .list
            .iter()
            .map(|schedule| {
                let state = match stored.iter().position(|s| s.name == schedule.name()) {
                    Some(i) => stored.swap_remove(i),
                    None => ScheduleState::new(schedule.name()),
                };
                (schedule, state)
            })
            .collect())
    }

    /// Runs schedule `name` now, whether paused or not: a job made now (its own key), counted
    /// as a run.
    pub async fn trigger(&self, name: &str) -> Result<Job, TriggerError> {
        let schedule = self
            .get(name)
            .ok_or_else(|| TriggerError::Unknown(name.to_owned()))?;
        let now = Timestamp::now();
        let key = format!(
            "{KEY_PREFIX}{name}:manual:{}",
            uuid::Uuid::now_v7().as_hyphenated()
        );
        let (job, _) = self
            .store
            .create_job(schedule.new_job(&self.types, key))
            .await?;
        self.store
            .record_schedule_run(name, now, job.id, true)
            .await?;
        (self.queued)();
        tracing::info!(schedule = name, job_id = %job.id, "schedule triggered");
        Ok(job)
    }

    /// Runs `schedule` for `tick` unless it is paused: its job made (or found, when another
    /// node made it) and the run recorded.
    async fn run_tick(&self, schedule: &Schedule, tick: Timestamp) -> Result<(), StoreError> {
        let name = schedule.name();
        let paused = self
            .store
            .schedule_states()
            .await?
            .iter()
            .any(|s| s.name == name && s.paused);
        if paused {
            tracing::debug!(schedule = name, "schedule paused: tick skipped");
            return Ok(());
        }
        let new = schedule.new_job(&self.types, schedule.key(tick));
        let (job, created) = self.store.create_job(new).await?;
        self.store
            .record_schedule_run(name, tick, job.id, false)
            .await?;
        if created {
            (self.queued)();
            tracing::info!(schedule = name, tick = %tick.to_rfc3339(), job_id = %job.id, "schedule ran");
        }
        Ok(())
    }

    async fn run_logged(&self, schedule: &Schedule, tick: Timestamp) {
        if let Err(error) = self.run_tick(schedule, tick).await {
            self.store.metrics().store_error();
            tracing::warn!(schedule = schedule.name(), tick = %tick.to_rfc3339(), %error, "a schedule's tick could not run");
        }
    }

    /// Runs the schedules until `shutdown`: missed ticks first (`missed = "run-once"`), then
    /// each tick as it comes.
    pub async fn run(self, shutdown: CancellationToken) {
        if self.list.is_empty() {
            return;
        }
        let started = Timestamp::now();
        self.run_missed(started, &shutdown).await;
        let mut next: Vec<Option<Timestamp>> =
            self.list.iter().map(|s| s.next_after(started)).collect();
        tracing::info!(schedules = self.list.len(), "schedules started");
        loop {
            let Some(soonest) = next.iter().flatten().min().copied() else {
                return;
            };
            let wait = soonest.as_millis() - Timestamp::now().as_millis();
            if wait > 0 {
                let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.cancelled() => return,
                }
                continue;
            }
            let now = Timestamp::now();
            for (schedule, next) in self.list.iter().zip(next.iter_mut()) {
                if next.is_none_or(|at| at > now) {
                    continue;
                }
                // Late (a stall) by more than a tick: the latest tick runs, the others are
                // skipped.
                if let Some(tick) = schedule.latest_at_or_before(now) {
                    self.run_logged(schedule, tick).await;
                }
                *next = schedule.next_after(now);
            }
        }
    }

    /// At start: a `run-once` schedule whose latest tick so far came after its last recorded
    /// run (no node ran it) runs that tick once. A schedule that never ran has missed nothing.
    async fn run_missed(&self, now: Timestamp, shutdown: &CancellationToken) {
        let wanted = self.list.iter().any(|s| s.config.missed == Missed::RunOnce);
        if !wanted {
            return;
        }
        let mut delay = Duration::from_millis(100);
        let states = loop {
            match self.states().await {
                Ok(states) => break states,
                Err(error) => {
                    tracing::warn!(%error, "reading the schedules' state failed; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.cancelled() => return,
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        };
        for (schedule, state) in states {
            if schedule.config.missed != Missed::RunOnce || state.paused {
                continue;
            }
            let (Some(last), Some(latest)) = (state.last_run_at, schedule.latest_at_or_before(now))
            else {
                continue;
            };
            if latest > last {
                tracing::info!(schedule = schedule.name(), tick = %latest.to_rfc3339(), "running a tick missed while no node ran");
                self.run_logged(schedule, latest).await;
            }
        }
    }
}

/// The first tick strictly after now, for `GET /api/schedules`.
pub fn next_run(schedule: &Schedule) -> Option<Timestamp> {
    schedule.next_after(Timestamp::from_millis(Utc::now().timestamp_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(cron: &str, zone: &str) -> Schedule {
        let mut config = ScheduleConfig::new("s", "demo", cron);
        config.timezone = zone.to_owned();
        Schedule::new(config).unwrap()
    }

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp::parse_rfc3339(rfc3339).unwrap()
    }

    #[test]
    fn ticks_are_read_in_the_schedules_zone() {
        let nightly = schedule("0 2 * * *", "Europe/Berlin");
        // 02:00 in Berlin in winter is 01:00 UTC.
        assert_eq!(
            nightly.next_after(at("2026-01-10T12:00:00Z")),
            Some(at("2026-01-11T01:00:00Z"))
        );
        assert_eq!(
            nightly.latest_at_or_before(at("2026-01-11T01:00:00Z")),
            Some(at("2026-01-11T01:00:00Z"))
        );
        let every_second = schedule("* * * * * *", "UTC");
        assert_eq!(
            every_second.next_after(at("2026-01-10T12:00:00.400Z")),
            Some(at("2026-01-10T12:00:01Z"))
        );
    }

    /// croner's rules, as the README documents them: a fixed time in the spring-forward gap
    /// runs right after the gap; in the fall-back overlap it runs once.
    #[test]
    fn dst_gaps_and_overlaps_are_handled_as_croner_defines() {
        let at_0230 = schedule("30 2 * * *", "Europe/Berlin");
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:30 does not exist.
        assert_eq!(
            at_0230.next_after(at("2026-03-28T12:00:00Z")),
            Some(at("2026-03-29T01:00:00Z"))
        );
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 comes twice, runs once.
        let first = at_0230.next_after(at("2026-10-24T12:00:00Z")).unwrap();
        assert_eq!(first, at("2026-10-25T00:30:00Z"));
        assert_eq!(at_0230.next_after(first), Some(at("2026-10-26T01:30:00Z")));
    }

    #[test]
    fn keys_name_the_schedule_and_sort_by_tick() {
        let s = schedule("* * * * *", "UTC");
        let key = s.key(at("2026-01-10T12:00:00Z"));
        assert_eq!(key, "schedule:s:2026-01-10T12:00:00Z");
        assert_eq!(schedule_of_key(&key), Some("s"));
        assert_eq!(schedule_of_key("schedule:s:manual:x"), Some("s"));
        assert_eq!(schedule_of_key("other"), None);
        let (low, high) = key_range("s");
        assert!(low.as_str() <= key.as_str() && key.as_str() < high.as_str());
    }
}
