//! The `[[schedules]]` tables: periodic jobs, each a cron expression in a time zone that makes
//! a job of a declared type with a fixed payload.
//!
//! Only the declarations and their checks live here; running them, exactly once per tick
//! however many nodes run, is `schedules`' (the crate module).

use std::str::FromStr;

use serde::Deserialize;
use serde_json::Value;

use super::{invalid, ConfigError};

/// What a schedule does about ticks that passed while no node ran (downtime): they are never
/// made up for one by one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Missed {
    /// Nothing: the next run is the next tick.
    #[default]
    Skip,
    /// One run at start for the latest missed tick, however many were missed.
    RunOnce,
}

impl Missed {
    pub fn as_str(self) -> &'static str {
        match self {
            Missed::Skip => "skip",
            Missed::RunOnce => "run-once",
        }
    }
}

/// One `[[schedules]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Unique; names the schedule in the API, the metrics and its jobs' idempotency keys.
    pub name: String,
    /// The job type its jobs are of (declared, or registered in code).
    #[serde(rename = "type")]
    pub job_type: String,
    /// Five fields (minute hour day-of-month month day-of-week), or six with seconds first.
    pub cron: String,
    /// An IANA time zone (`Europe/Berlin`) the expression is read in; `UTC` by default.
    #[serde(default = "utc")]
    pub timezone: String,
    /// The payload of every job it makes (null by default).
    #[serde(default)]
    pub payload: Value,
    /// What to do about ticks missed while no node ran.
    #[serde(default)]
    pub missed: Missed,
}

fn utc() -> String {
    "UTC".to_owned()
}

impl ScheduleConfig {
    /// A schedule `name` making jobs of `job_type` on `cron` (UTC, null payload, missed ticks
    /// skipped).
    pub fn new(name: &str, job_type: &str, cron: &str) -> Self {
        ScheduleConfig {
            name: name.to_owned(),
            job_type: job_type.to_owned(),
            cron: cron.to_owned(),
            timezone: utc(),
            payload: Value::Null,
            missed: Missed::Skip,
        }
    }

    /// The cron expression, read by croner with an optional seconds field (and no year), and
    /// the time zone; or the field that is wrong (`cron`, `timezone`) and why.
    pub fn parse(&self) -> Result<(croner::Cron, chrono_tz::Tz), (&'static str, String)> {
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(&self.cron)
            .map_err(|e| {
                (
                    "cron",
                    format!("{e}; expected five fields (minute hour day month weekday), or six with seconds first"),
                )
            })?;
        let zone = chrono_tz::Tz::from_str(self.timezone.trim()).map_err(|_| {
            (
                "timezone",
                "not an IANA time zone name like Europe/Berlin or UTC".to_owned(),
            )
        })?;
        let now = chrono::Utc::now().with_timezone(&zone);
        if cron.find_next_occurrence(&now, false).is_err() {
            return Err(("cron", "never matches a time that will come".to_owned()));
        }
        Ok((cron, zone))
    }
}

/// Names as job types have them: they go into URLs, metric labels and idempotency keys.
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks every schedule in order: a good unique name, an expression and a zone that parse.
/// Whether its type exists is checked when the application is built, which knows the types
/// registered in code too.
pub(super) fn validate(schedules: &[ScheduleConfig]) -> Result<(), ConfigError> {
    for (i, schedule) in schedules.iter().enumerate() {
        let name = &schedule.name;
        if !valid_name(name) {
            return Err(invalid(
                &format!("schedules[{i}].name"),
                name,
                "schedule names are 1 to 64 characters of letters, digits, '-', '_' or '.'",
            ));
        }
        if schedules[..i].iter().any(|other| other.name == *name) {
            return Err(invalid(
                &format!("schedules.{name}.name"),
                name,
                "another schedule has this name",
            ));
        }
        if let Err((field, reason)) = schedule.parse() {
            let value = match field {
                "cron" => &schedule.cron,
                _ => &schedule.timezone,
            };
            return Err(invalid(&format!("schedules.{name}.{field}"), value, reason));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(schedule: ScheduleConfig) -> String {
        validate(&[schedule]).unwrap_err().to_string()
    }

    #[test]
    fn five_or_six_fields_parse_in_an_iana_zone() {
        let mut schedule = ScheduleConfig::new("nightly", "demo", "0 2 * * *");
        schedule.timezone = "Europe/Berlin".into();
        validate(&[schedule.clone()]).unwrap();
        schedule.cron = "*/10 * * * * *".into();
        validate(&[schedule]).unwrap();
    }

    #[test]
    fn a_bad_expression_zone_or_name_names_its_key() {
        let err = check(ScheduleConfig::new("a", "demo", "61 * * * *"));
        assert!(
            err.starts_with("invalid value for schedules.a.cron: \"61 * * * *\": "),
            "{err}"
        );
        let err = check(ScheduleConfig::new("a", "demo", "* * * *"));
        assert!(err.contains("schedules.a.cron"), "{err}");
        let err = check(ScheduleConfig::new("a", "demo", "0 0 0 30 2 *"));
        assert!(
            err.contains("schedules.a.cron") && err.contains("never"),
            "{err}"
        );
        let mut zone = ScheduleConfig::new("a", "demo", "* * * * *");
        zone.timezone = "Mars/Olympus".into();
        let err = check(zone);
        assert!(
            err.starts_with("invalid value for schedules.a.timezone: \"Mars/Olympus\""),
            "{err}"
        );
        let err = check(ScheduleConfig::new("a b", "demo", "* * * * *"));
        assert!(err.contains("schedules[0].name"), "{err}");
        let twice = ScheduleConfig::new("a", "demo", "* * * * *");
        let err = validate(&[twice.clone(), twice]).unwrap_err().to_string();
        assert!(err.contains("schedules.a.name"), "{err}");
    }

    #[test]
    fn a_schedule_reads_from_toml_with_its_defaults() {
        #[derive(Deserialize)]
        struct File {
            schedules: Vec<ScheduleConfig>,
        }
        let file: File = toml::from_str(
            "[[schedules]]\nname = \"n\"\ntype = \"demo\"\ncron = \"0 2 * * *\"\n\
             payload = { steps = 3 }\nmissed = \"run-once\"\n",
        )
        .unwrap();
        let schedule = &file.schedules[0];
        assert_eq!(schedule.timezone, "UTC");
        assert_eq!(schedule.missed, Missed::RunOnce);
        assert_eq!(schedule.payload, serde_json::json!({"steps": 3}));
        assert!(toml::from_str::<File>(
            "[[schedules]]\nname = \"n\"\ntype = \"d\"\ncron = \"* * * * *\"\nmissed = \"all\"\n"
        )
        .is_err());
    }
}
