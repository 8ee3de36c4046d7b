//! The job: its id, its status and the transitions between them, its log lines.
//!
//! This module knows nothing of HTTP or SQL; the store persists these types and the HTTP layer
//! renders them. The state machine (see `docs/job-states.md`), whose transitions are declared
//! once in [`Action`]:
//!
//! - `queued`: entered on create, on a retry after a failed attempt, when a lease expires with
//!   attempts left, and when a shutdown puts an unfinished job back. Left when a worker claims it
//!   (or, for `external` jobs, on their first update) or when it is cancelled.
//! - `running`: a worker holds a lease on it (in-process types) or outside code reports on it
//!   (`external`). Left for `completed`, `failed`, `cancelled`, `waiting`, or back to `queued`.
//! - `waiting`: a parent whose run ended while children it made in that run were unfinished;
//!   it holds no worker slot and no lease. Left for `queued` when its last child ends (its next
//!   run reads the children's outcomes), for `failed` when a child fails under the fail-fast
//!   policy, or for `cancelled`.
//! - `completed`, `failed`, `cancelled`: finished; nothing changes them but a retry (of a failed
//!   or cancelled job), which queues the job again with a fresh attempt budget.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

mod states;

pub use states::Action;

/// A job's id: a UUID v7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(Uuid);

impl JobId {
    /// A new id for a job created now.
    pub fn new() -> Self {
        JobId(Uuid::now_v7())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_hyphenated().fmt(f)
    }
}

impl FromStr for JobId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(JobId)
    }
}

/// Where a job is in its life; see the module docs for how each is entered and left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Waiting,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Waiting,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Waiting => "waiting",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Finished jobs never change again.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown status {s:?}"))
    }
}

/// A point in time in whole milliseconds since the Unix epoch (UTC); serialized as RFC 3339.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }

    pub fn from_datetime(at: OffsetDateTime) -> Self {
        Timestamp((at.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    /// Parses an RFC 3339 date-time such as `2026-11-21T10:00:00Z`.
    pub fn parse_rfc3339(s: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(s, &Rfc3339).map(Self::from_datetime)
    }

    pub fn saturating_add(self, by: std::time::Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|at| at.format(&Rfc3339).ok())
            .unwrap_or_default()
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

/// The start of the idempotency key of every job a schedule made (`schedule:NAME:TICK`, see
/// `crate::schedules`); jobs created over the API may not use it.
pub const SCHEDULE_KEY_PREFIX: &str = "schedule:";

/// The name of the schedule that made a job, read from its idempotency key.
pub fn schedule_of_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(SCHEDULE_KEY_PREFIX)?;
    rest.split_once(':').map(|(name, _)| name)
}

/// The idempotency keys of schedule `name`'s jobs lie in `[low, high)` (';' follows ':').
pub fn schedule_key_range(name: &str) -> (String, String) {
    (
        format!("{SCHEDULE_KEY_PREFIX}{name}:"),
        format!("{SCHEDULE_KEY_PREFIX}{name};"),
    )
}

/// One job as stored. The HTTP layer decides which fields a client sees.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub job_type: String,
    pub status: JobStatus,
    /// 0 to 100.
    pub progress: f64,
    pub message: Option<String>,
    pub current: Option<i64>,
    pub total: Option<i64>,
    pub stage: Option<String>,
    pub payload: Value,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub details: Option<Value>,
    pub priority: i64,
    /// Attempts started so far (1 while the first attempt runs).
    pub attempt: i64,
    pub max_attempts: i64,
    /// Per-job limit on one attempt; `None` means the type's default.
    pub timeout: Option<std::time::Duration>,
    pub idempotency_key: Option<String>,
    /// Not claimed before this time.
    pub run_at: Timestamp,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    /// Grows by one on every change, log lines included. A cancel request is not one: it is a
    /// flag for the runner, whose stop is the change.
    pub version: i64,
    /// The version at which status or progress fields last changed.
    pub state_version: i64,
    /// Sequence number of the newest log line (0 when none).
    pub log_seq: i64,
    /// The runner instance holding this job's lease, for in-process types.
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<Timestamp>,
    /// Someone asked to cancel this running job; its runner stops it.
    pub cancel_requested: bool,
    /// The external worker that claimed it, if one did.
    pub worker: Option<String>,
    /// The upload the job works on, if its payload named one.
    pub upload_id: Option<String>,
    /// The job that made this one, for a child job.
    pub parent_id: Option<JobId>,
    /// 0 for a top-level job, the parent's depth + 1 for a child.
    pub depth: i64,
    /// How many children this job has made (0: not a parent).
    pub children: i64,
    /// What a failed child does to this parent.
    pub child_policy: ChildPolicy,
    /// It made children in its current run: its handler's return makes it `waiting`.
    pub awaiting_children: bool,
    /// A parent's children by status, as they last changed.
    pub family: Option<FamilyCounts>,
    /// For a child: its parent's version at which this child's status or progress last changed
    /// (its latest `child` event's id on the parent's stream).
    pub family_version: i64,
    /// For a child: its own version up to which its parent has heard of it (above it: news
    /// for the parent's record and stream).
    pub echoed_version: i64,
    /// For a child: its status, progress and total as last added into its parent's family
    /// sums (`None`: not yet).
    pub told: Option<(JobStatus, f64, Option<i64>)>,
}

/// A job's progress fields as every view of it shows them (a job's JSON, its stream's
/// `progress` events, a parent's `child` events, `/api/events`), flattened into each; fields
/// that are not set are left out.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProgressFields<'a> {
    pub progress: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<&'a str>,
}

impl Job {
    /// This job's progress fields, for a view.
    pub fn progress_fields(&self) -> ProgressFields<'_> {
        ProgressFields {
            progress: self.progress,
            message: self.message.as_deref(),
            current: self.current,
            total: self.total,
            stage: self.stage.as_deref(),
        }
    }
}

/// A parent's children counted by status (a waiting grandchild-maker counts as running).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyCounts {
    pub queued: i64,
    pub running: i64,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
}

/// What a parent does when one of its children fails for good.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildPolicy {
    /// The parent fails at once and its unfinished children are cancelled.
    #[default]
    FailFast,
    /// The parent waits for every child and its next run decides.
    WaitForAll,
}

impl ChildPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ChildPolicy::FailFast => "fail_fast",
            ChildPolicy::WaitForAll => "wait_for_all",
        }
    }
}

/// What a client may ask for when it creates a job, after validation.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub job_type: String,
    pub payload: Value,
    pub priority: i64,
    pub max_attempts: i64,
    pub timeout: Option<std::time::Duration>,
    pub run_at: Option<Timestamp>,
    pub idempotency_key: Option<String>,
    /// The upload the payload names in `upload_id`, checked to exist.
    pub upload_id: Option<String>,
}

/// A progress report; `None` fields keep their previous value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub progress: f64,
    pub message: Option<String>,
    pub current: Option<i64>,
    pub total: Option<i64>,
    pub stage: Option<String>,
}

impl Progress {
    /// Folds a later report into this one, which was not written yet: the later value wins,
    /// and fields it leaves out keep this one's (as if both had been written in turn).
    pub fn merge(&mut self, later: Progress) {
        self.progress = later.progress;
        self.message = later.message.or(self.message.take());
        self.current = later.current.or(self.current);
        self.total = later.total.or(self.total);
        self.stage = later.stage.or(self.stage.take());
    }
}

/// How loud a log line is; the dashboard colours them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Info,
    Warning,
    Error,
    Success,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Info => "info",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Success => "success",
        }
    }
}

impl FromStr for LogLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(LogLevel::Info),
            "warning" => Ok(LogLevel::Warning),
            "error" => Ok(LogLevel::Error),
            "success" => Ok(LogLevel::Success),
            other => Err(format!("unknown log level {other:?}")),
        }
    }
}

/// One log line of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// 1, 2, 3... per job.
    pub seq: i64,
    pub ts: Timestamp,
    pub level: LogLevel,
    pub message: String,
    /// The job's version once this line was added; the stream's event id.
    #[serde(skip)]
    pub version: i64,
    /// On a parent's log: the child that wrote this line (copied onto the parent's log, so the
    /// parent's stream is the family's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_id: Option<JobId>,
}

/// Whole numbers in JSON request bodies, read as JSON (and JSON Schema's `integer`) counts them:
/// `84` and `84.0` are one number, so a field documented as an integer takes both; `84.5` and
/// numbers outside `i64` are refused. For `#[serde(deserialize_with = ...)]`.
pub mod whole_number {
    use serde::de::{Error, Unexpected};
    use serde::{Deserialize, Deserializer};
    use serde_json::Number;

    fn whole<E: Error>(number: Number) -> Result<i64, E> {
        if let Some(n) = number.as_i64() {
            return Ok(n);
        }
        match number.as_f64() {
            // Every such float is exactly an i64 (below 2^63 they are multiples of 1024 at most).
            Some(f)
                if f.fract() == 0.0
                    && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) =>
            {
                Ok(f as i64)
            }
            Some(f) => Err(E::invalid_value(Unexpected::Float(f), &"a whole number")),
            None => Err(E::invalid_value(
                Unexpected::Other("a number"),
                &"a whole number",
            )),
        }
    }

    /// An `i64` field.
    pub fn required<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        whole(Number::deserialize(deserializer)?)
    }

    /// An `Option<i64>` field (null is `None`); give it `#[serde(default)]` too.
    pub fn optional<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
        Option::<Number>::deserialize(deserializer)?
            .map(whole)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_its_name() {
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse::<JobStatus>(), Ok(status));
        }
        assert!("done".parse::<JobStatus>().is_err());
    }

    #[test]
    fn timestamps_format_as_rfc3339_and_parse_back() {
        let at = Timestamp::parse_rfc3339("2026-11-21T10:00:00.250Z").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-21T10:00:00.25Z");
        assert_eq!(Timestamp::parse_rfc3339(&at.to_rfc3339()).unwrap(), at);
    }

    #[test]
    fn a_merged_progress_report_keeps_earlier_fields_the_later_one_leaves_out() {
        let mut earlier = Progress {
            progress: 10.0,
            message: Some("reading".into()),
            current: Some(1),
            total: Some(10),
            stage: Some("read".into()),
        };
        earlier.merge(Progress {
            progress: 20.0,
            message: None,
            current: Some(2),
            total: None,
            stage: Some("parse".into()),
        });
        assert_eq!(
            earlier,
            Progress {
                progress: 20.0,
                message: Some("reading".into()),
                current: Some(2),
                total: Some(10),
                stage: Some("parse".into()),
            }
        );
    }

    #[test]
    fn whole_numbers_take_integral_floats_and_refuse_the_rest() {
        #[derive(Debug, Deserialize)]
        struct Body {
            #[serde(deserialize_with = "whole_number::required")]
            n: i64,
            #[serde(default, deserialize_with = "whole_number::optional")]
            m: Option<i64>,
        }
        let read = |text: &str| serde_json::from_str::<Body>(text).map(|b| (b.n, b.m));
        assert_eq!(read(r#"{"n": 84}"#).unwrap(), (84, None));
        assert_eq!(read(r#"{"n": 84.0, "m": -3.0}"#).unwrap(), (84, Some(-3)));
        assert_eq!(read(r#"{"n": 1e3, "m": null}"#).unwrap(), (1000, None));
        assert_eq!(read(r#"{"n": -9223372036854775808}"#).unwrap().0, i64::MIN);
        for refused in [
            r#"{"n": 84.5}"#,
            r#"{"n": "84"}"#,
            r#"{"n": 9223372036854775808}"#,
            r#"{"n": 9.3e18}"#,
            r#"{"n": 1, "m": 0.25}"#,
        ] {
            assert!(read(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn job_ids_sort_by_creation() {
        let first = JobId::new();
        let second = JobId::new();
        assert!(first < second);
        assert!(first.to_string() < second.to_string());
    }
}
