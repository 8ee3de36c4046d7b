//! Typed settings: built-in defaults, then a TOML file, then `JOBCAST_*` environment variables,
//! then one validation of the result.
//!
//! `config/default.toml` documents every key. A bad value stops start-up with a message that
//! names the key and the value; nothing here panics. Durations are humantime strings (`250ms`,
//! `1s`, `5m`).
//!
//! This module owns [`Config`] and how it is loaded and checked. Each section's struct, its
//! defaults and its checks sit in a file of their own (`stream.rs`, `runner.rs`, `limits.rs`,
//! ...; the database keys in `database.rs`, the job types in `types.rs`), and the environment
//! variables in `env.rs`; every type is re-exported here, so `jobcast::config::StreamConfig`
//! is the path to use. What the settings *do* is the business of the modules they configure;
//! this one depends on none of them but [`crate::auth`] (for the token types it holds).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod auth;
mod database;
mod env;
mod http;
mod limits;
mod retention;
mod runner;
mod schedules;
mod stream;
mod types;
mod uploads;

pub use auth::AuthConfig;
pub use database::{DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_MAX_CONNECTIONS};
pub use http::HttpConfig;
pub use limits::LimitsConfig;
pub use retention::RetentionConfig;
pub use runner::RunnerConfig;
pub use schedules::{Missed, ScheduleConfig};
pub use stream::StreamConfig;
pub use types::{JobKind, JobTypeConfig};
pub use uploads::UploadsConfig;

/// The file read when no `--config` is given; missing is fine (the defaults apply).
pub const DEFAULT_CONFIG_PATH: &str = "config/default.toml";

/// Every setting jobcast has.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `sqlite://PATH` (the file and its folder are created if missing), or
    /// `postgres://USER@HOST/DATABASE` (the database must exist; with PostgreSQL,
    /// `uploads.dir` must be set too).
    pub database_url: String,
    /// Connections to PostgreSQL at most, per process (SQLite keeps one writer and a few
    /// readers whatever this says).
    pub database_max_connections: u32,
    /// How long a request waits for a PostgreSQL connection before it is answered 503: while
    /// the database is down or restarting, requests fail this soon instead of hanging.
    #[serde(with = "humantime_serde")]
    pub database_acquire_timeout: Duration,
    pub http: HttpConfig,
    pub stream: StreamConfig,
    pub runner: RunnerConfig,
    pub uploads: UploadsConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub retention: RetentionConfig,
    /// Declared job types by name.
    pub job_types: BTreeMap<String, JobTypeConfig>,
    /// Periodic jobs (`[[schedules]]`), none by default.
    pub schedules: Vec<ScheduleConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://data/jobcast.db".to_owned(),
            database_max_connections: database::DEFAULT_MAX_CONNECTIONS,
            database_acquire_timeout: database::DEFAULT_ACQUIRE_TIMEOUT,
            http: HttpConfig::default(),
            stream: StreamConfig::default(),
            runner: RunnerConfig::default(),
            uploads: UploadsConfig::default(),
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            retention: RetentionConfig::default(),
            job_types: types::built_in(),
            schedules: Vec::new(),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for {key}: {value:?}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
}

/// The error for a bad value: `key` is the file's key (`stream.heartbeat`) or the variable's
/// name (`JOBCAST_STREAM_HEARTBEAT`), whichever the reader wrote.
fn invalid(key: &str, value: impl ToString, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// The first of `durations` that is zero, as the error naming its key.
fn above_zero(durations: &[(&str, Duration)]) -> Result<(), ConfigError> {
    match durations.iter().find(|(_, value)| value.is_zero()) {
        Some((key, value)) => Err(invalid(
            key,
            humantime::format_duration(*value),
            "must be above zero",
        )),
        None => Ok(()),
    }
}

impl Config {
    /// Loads `path` (or `config/default.toml` if it exists), then applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let config = match path {
            Some(path) => Self::from_file(path)?,
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
                Self::from_file(Path::new(DEFAULT_CONFIG_PATH))?
            }
            None => Config::default(),
        };
        config.with_env(|key| std::env::var(key).ok())
    }

    /// Parses a TOML file; keys it leaves out keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text. Without a `[job_types]` table the built-in types are kept.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        Ok(config)
    }

    /// Applies `JOBCAST_*` overrides read through `lookup`, then validates.
    pub fn with_env(
        mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        env::apply(&mut self, lookup)?;
        self.validate()?;
        Ok(self)
    }

    /// Checks values that parse but make no sense, section by section; the first one found is
    /// the error, named by its key. Each section's rules, and why, are with its struct.
    ///
    /// `[uploads]` and `[auth]` have no rules here. Checks that need more than these values
    /// are made when the application is built (`app`): a PostgreSQL database needs
    /// `uploads.dir`, the file's tokens must be well-formed, open mode (no tokens) listens on
    /// a loopback address only, and a `rust` type needs a registered handler.
    pub fn validate(&self) -> Result<(), ConfigError> {
        database::validate(
            &self.database_url,
            self.database_max_connections,
            self.database_acquire_timeout,
        )?;
        self.stream.validate()?;
        self.runner.validate()?;
        self.http.validate()?;
        self.limits.validate()?;
        self.retention.validate()?;
        types::validate(&self.job_types)?;
        schedules::validate(&self.schedules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_shipped_config_file_matches_the_built_in_defaults() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml"))
                .unwrap();
        let file = Config::from_toml(&text).unwrap();
        let defaults = Config::default();
        assert_eq!(file.listen, defaults.listen);
        assert_eq!(file.database_url, defaults.database_url);
        assert_eq!(
            file.database_max_connections,
            defaults.database_max_connections
        );
        assert_eq!(
            file.database_acquire_timeout,
            defaults.database_acquire_timeout
        );
        assert_eq!(file.stream.poll_interval, defaults.stream.poll_interval);
        assert_eq!(file.stream.heartbeat, defaults.stream.heartbeat);
        assert_eq!(file.stream.max_duration, defaults.stream.max_duration);
        assert_eq!(file.stream.close_delay, defaults.stream.close_delay);
        assert_eq!(file.runner.workers, defaults.runner.workers);
        assert_eq!(
            file.http.cors_allowed_origins,
            defaults.http.cors_allowed_origins
        );
        assert_eq!(file.http.max_body_bytes, defaults.http.max_body_bytes);
        assert_eq!(file.http.max_bulk_jobs, defaults.http.max_bulk_jobs);
        assert_eq!(
            file.http.max_bulk_body_bytes,
            defaults.http.max_bulk_body_bytes
        );
        assert!(file.job_types.contains_key("demo"));
        assert!(file.job_types.contains_key("external"));
        let (file, defaults) = (&file.limits, &defaults.limits);
        assert_eq!(file.max_json_depth, defaults.max_json_depth);
        assert_eq!(file.max_payload_bytes, defaults.max_payload_bytes);
        assert_eq!(file.max_log_line_bytes, defaults.max_log_line_bytes);
        assert_eq!(file.max_log_lines_per_job, defaults.max_log_lines_per_job);
        assert_eq!(file.max_streams, defaults.max_streams);
        assert_eq!(file.max_streams_per_client, defaults.max_streams_per_client);
        assert_eq!(file.max_streams_per_job, defaults.max_streams_per_job);
        assert_eq!(file.create_rate, defaults.create_rate);
        assert_eq!(file.create_burst, defaults.create_burst);
        assert_eq!(file.header_read_timeout, defaults.header_read_timeout);
        assert_eq!(file.max_header_bytes, defaults.max_header_bytes);
        assert_eq!(file.max_queued_per_type, defaults.max_queued_per_type);
        assert!(!file.trust_forwarded_for);
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = Config::default()
            .with_env(env(&[
                ("JOBCAST_STREAM_POLL_INTERVAL", "250ms"),
                ("JOBCAST_WORKERS", "8"),
                ("JOBCAST_LISTEN", "127.0.0.1:0"),
                ("JOBCAST_CORS_ALLOWED_ORIGINS", "https://a.example, *"),
            ]))
            .unwrap();
        assert_eq!(config.stream.poll_interval, Duration::from_millis(250));
        assert_eq!(config.runner.workers, 8);
        assert_eq!(config.listen.port(), 0);
        assert_eq!(
            config.http.cors_allowed_origins,
            vec!["https://a.example", "*"]
        );
    }

    #[test]
    fn postgres_urls_are_accepted_with_a_pool_size_and_other_schemes_are_not() {
        let config = Config::default()
            .with_env(env(&[
                (
                    "JOBCAST_DATABASE_URL",
                    "postgres://jobcast@db.internal:5432/jobcast",
                ),
                ("JOBCAST_DATABASE_MAX_CONNECTIONS", "25"),
                ("JOBCAST_DATABASE_ACQUIRE_TIMEOUT", "2s"),
            ]))
            .unwrap();
        assert_eq!(config.database_max_connections, 25);
        assert_eq!(config.database_acquire_timeout, Duration::from_secs(2));
        Config::default()
            .with_env(env(&[("JOBCAST_DATABASE_URL", "postgresql:///jobcast")]))
            .unwrap();

        let err = Config::default()
            .with_env(env(&[("JOBCAST_DATABASE_URL", "mysql://db/jobcast")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("database_url") && err.contains("mysql"),
            "{err}"
        );
        let err = Config::default()
            .with_env(env(&[("JOBCAST_DATABASE_MAX_CONNECTIONS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("database_max_connections"), "{err}");
    }

    #[test]
    fn a_bad_value_names_the_key_and_the_value() {
        let err = Config::default()
            .with_env(env(&[("JOBCAST_STREAM_HEARTBEAT", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("JOBCAST_STREAM_HEARTBEAT"), "{err}");
        assert!(err.contains("soon"), "{err}");

        let err = Config::default()
            .with_env(env(&[("JOBCAST_WORKERS", "1025")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("workers") && err.contains("1025"), "{err}");
        let api_only = Config::default()
            .with_env(env(&[("JOBCAST_WORKERS", "0")]))
            .unwrap();
        assert_eq!(api_only.runner.workers, 0, "a node that runs no jobs");
    }

    #[test]
    fn the_shipped_retention_settings_match_the_defaults_and_a_type_may_override_the_age() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml"))
                .unwrap();
        let (file, defaults) = (
            Config::from_toml(&text).unwrap().retention,
            RetentionConfig::default(),
        );
        assert_eq!(file.enabled, defaults.enabled);
        assert_eq!(file.keep_finished, defaults.keep_finished);
        assert_eq!(file.interval, defaults.interval);
        assert_eq!(file.batch, defaults.batch);

        let config = Config::from_toml(
            "[retention]\nkeep_finished = \"2d\"\n\
             [job_types.short]\nkind = \"external\"\nretention = \"1h\"\n",
        )
        .unwrap();
        assert_eq!(
            config.retention.keep_finished,
            Duration::from_secs(2 * 86400)
        );
        assert_eq!(
            config.job_types["short"].retention,
            Some(Duration::from_secs(3600))
        );
        let mut config = Config::default();
        config.retention.batch = 0;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("retention.batch"), "{err}");
    }

    #[test]
    fn validation_names_the_key_and_the_value_of_a_bad_setting_in_every_section() {
        type Break = fn(&mut Config);
        let cases: [(&str, &str, Break); 19] = [
            ("database_url", "mysql://db", |c| {
                c.database_url = "mysql://db".into()
            }),
            ("database_max_connections", "1001", |c| {
                c.database_max_connections = 1001
            }),
            ("database_acquire_timeout", "0s", |c| {
                c.database_acquire_timeout = Duration::ZERO
            }),
            ("stream.max_duration", "0s", |c| {
                c.stream.max_duration = Duration::ZERO
            }),
            ("runner.retry_base", "0s", |c| {
                c.runner.retry_base = Duration::ZERO
            }),
            ("runner.workers", "1025", |c| c.runner.workers = 1025),
            ("http.max_body_bytes", "0", |c| c.http.max_body_bytes = 0),
            ("http.max_bulk_body_bytes", "0", |c| {
                c.http.max_bulk_body_bytes = 0
            }),
            ("http.max_bulk_jobs", "0", |c| c.http.max_bulk_jobs = 0),
            ("http.max_bulk_jobs", "10001", |c| {
                c.http.max_bulk_jobs = 10_001
            }),
            ("limits.max_streams_per_job", "0", |c| {
                c.limits.max_streams_per_job = 0
            }),
            ("limits.max_header_bytes", "1023", |c| {
                c.limits.max_header_bytes = 1023
            }),
            ("limits.create_rate", "inf", |c| {
                c.limits.create_rate = f64::INFINITY
            }),
            ("limits.header_read_timeout", "0s", |c| {
                c.limits.header_read_timeout = Duration::ZERO
            }),
            ("retention.interval", "0s", |c| {
                c.retention.interval = Duration::ZERO
            }),
            ("retention.batch", "100001", |c| c.retention.batch = 100_001),
            ("job_types", "a b", |c| {
                c.job_types
                    .insert("a b".into(), JobTypeConfig::new(JobKind::External));
            }),
            ("job_types.run.command", "[]", |c| {
                c.job_types
                    .insert("run".into(), JobTypeConfig::new(JobKind::Command));
            }),
            ("job_types.demo.max_attempts", "0", |c| {
                c.job_types.get_mut("demo").unwrap().max_attempts = 0
            }),
        ];
        Config::default().validate().unwrap();
        for (key, value, break_it) in cases {
            let mut config = Config::default();
            break_it(&mut config);
            let err = config.validate().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid value for {key}: {value:?}: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_bad_file_value_is_an_error_not_a_panic() {
        let err = Config::from_toml("[stream]\npoll_interval = \"fast\"\n").unwrap_err();
        assert!(err.contains("poll_interval"), "{err}");
        assert!(Config::from_toml("nonsense = 1").is_err());
    }
}
