//! The `[job_types.NAME]` tables: the declared job types, how each one runs, and the two
//! built in when the file declares none (`demo` and `external`).
//!
//! Only the declarations live here; running a type is `runner`'s (`runner::command` for the
//! `command` kind).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ConfigError};

/// How jobs of one type run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// The built-in demo handler: steps, progress, logs.
    Demo,
    /// Run by outside code through the progress/logs/complete/fail calls.
    External,
    /// A program run per attempt: payload on stdin, JSON lines on stdout (see
    /// `runner::command`).
    Command,
    /// Run by a Rust handler registered in code when jobcast is embedded as a library.
    Rust,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTypeConfig {
    pub kind: JobKind,
    /// Attempts a job gets unless its request says otherwise.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: i64,
    /// Limit on one attempt unless the request says otherwise; none by default.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// At most this many jobs of this type run at once in this process (within `workers`).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// `command` kind: the program and its arguments.
    #[serde(default)]
    pub command: Vec<String>,
    /// `command` kind: extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `command` kind: the working directory (default: jobcast's own).
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// Jobs of this type work on an uploaded file: the dashboard's "new job" form asks for one.
    #[serde(default)]
    pub file_input: bool,
    /// `command` kind: after SIGTERM on cancel, how long before SIGKILL.
    #[serde(default = "default_cancel_grace", with = "humantime_serde")]
    pub cancel_grace: Duration,
    /// Finished jobs of this type are pruned this long after they finished, instead of after
    /// `retention.keep_finished`.
    #[serde(default, with = "humantime_serde")]
    pub retention: Option<Duration>,
}

impl JobTypeConfig {
    /// A type of `kind` with every other setting at its default.
    pub fn new(kind: JobKind) -> Self {
        JobTypeConfig {
            kind,
            max_attempts: default_max_attempts(),
            timeout: None,
            concurrency: None,
            command: Vec::new(),
            env: BTreeMap::new(),
            working_dir: None,
            file_input: false,
            cancel_grace: default_cancel_grace(),
            retention: None,
        }
    }

    /// A `command` type running `program` with `args`.
    pub fn command(program: &str, args: &[&str]) -> Self {
        JobTypeConfig {
            command: std::iter::once(program)
                .chain(args.iter().copied())
                .map(str::to_owned)
                .collect(),
            ..JobTypeConfig::new(JobKind::Command)
        }
    }

    /// Checks the type called `name`: its name fits in URLs, metric labels and log lines, a
    /// command is given exactly when the kind runs one, and its counts leave it able to run.
    fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_name {
            return Err(invalid(
                "job_types",
                name,
                "type names are 1 to 64 characters of letters, digits, '-', '_' or '.'",
            ));
        }
        let key = |field: &str| format!("job_types.{name}.{field}");
        match self.kind {
            JobKind::Command if self.command.is_empty() => {
                return Err(invalid(
                    &key("command"),
                    "[]",
                    "a command job type needs a program to run",
                ));
            }
            JobKind::Demo | JobKind::External | JobKind::Rust if !self.command.is_empty() => {
                return Err(invalid(
                    &key("command"),
                    self.command.join(" "),
                    "only kind = \"command\" types run a command",
                ));
            }
            _ => {}
        }
        if self.concurrency == Some(0) {
            return Err(invalid(
                &key("concurrency"),
                0,
                "must be 1 or more (leave it out for no limit)",
            ));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(invalid(
                &key("max_attempts"),
                self.max_attempts,
                "must be from 1 to 100",
            ));
        }
        Ok(())
    }
}

/// Checks every declared type, in name order.
pub(super) fn validate(job_types: &BTreeMap<String, JobTypeConfig>) -> Result<(), ConfigError> {
    job_types
        .iter()
        .try_for_each(|(name, job_type)| job_type.validate(name))
}

/// The types a config without a `[job_types]` table has: `demo` (one attempt of at most an
/// hour) and `external` (one attempt).
pub(super) fn built_in() -> BTreeMap<String, JobTypeConfig> {
    let mut job_types = BTreeMap::new();
    job_types.insert(
        "demo".to_owned(),
        JobTypeConfig {
            max_attempts: 1,
            timeout: Some(Duration::from_secs(3600)),
            ..JobTypeConfig::new(JobKind::Demo)
        },
    );
    job_types.insert(
        "external".to_owned(),
        JobTypeConfig {
            max_attempts: 1,
            ..JobTypeConfig::new(JobKind::External)
        },
    );
    job_types
}

/// Three attempts: a job that fails for a passing reason (a restart, a flaky dependency)
/// gets two more chances, and one that always fails stops soon.
fn default_max_attempts() -> i64 {
    3
}

/// Five seconds after SIGTERM, then SIGKILL: time enough to flush and exit cleanly, short
/// enough that a cancel is felt at once.
fn default_cancel_grace() -> Duration {
    Duration::from_secs(5)
}
