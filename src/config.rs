//! Typed settings: built-in defaults, then a TOML file, then `JOBCAST_*` environment variables.
//!
//! `config/default.toml` documents every key. A bad value stops start-up with a message that
//! names the key and the value; nothing here panics. Durations are humantime strings (`250ms`,
//! `1s`, `5m`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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
}

/// API tokens. Tokens in the file are SHA-256 hashes; `JOBCAST_AUTH_TOKENS` adds plain
/// `role:token` pairs, kept in memory only.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub tokens: Vec<crate::auth::TokenConfig>,
    /// From `JOBCAST_AUTH_TOKENS`; never printed.
    #[serde(skip)]
    pub plain_tokens: Vec<(crate::auth::Role, String)>,
    /// Run without tokens on a non-loopback address (`--insecure-open`).
    pub insecure_open: bool,
    /// The key that signs browser stream URLs (`JOBCAST_AUTH_SECRET`); by default one is made
    /// and kept in `secret` next to the database (with PostgreSQL, next to `uploads.dir`),
    /// readable by its owner only.
    pub secret: Option<String>,
    /// How long a job's signed stream URL keeps working after the job ends (it works for as
    /// long as the job runs), and how long a signed `/api/events` URL works after issue.
    #[serde(with = "humantime_serde")]
    pub stream_token_ttl: Duration,
    /// Serve `/metrics` without a token even when tokens are on (for a scraper on a private
    /// network that cannot send one).
    pub public_metrics: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            tokens: Vec::new(),
            plain_tokens: Vec::new(),
            insecure_open: false,
            secret: None,
            stream_token_ttl: Duration::from_secs(3600),
            public_metrics: false,
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("tokens", &self.tokens.len())
            .field("plain_tokens", &self.plain_tokens.len())
            .field("insecure_open", &self.insecure_open)
            .field("secret", &self.secret.as_ref().map(|_| "(set)"))
            .field("stream_token_ttl", &self.stream_token_ttl)
            .field("public_metrics", &self.public_metrics)
            .finish()
    }
}

/// What one client, or all of them together, may ask of the server. Each limit answers with a
/// JSON error (and `Retry-After` where waiting helps) instead of letting the server degrade.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Deepest nesting of arrays and objects in a JSON body (400 `json_too_deep` beyond).
    pub max_json_depth: usize,
    /// Largest job `payload`, `result` or failure `details`, as JSON, in bytes (422).
    pub max_payload_bytes: usize,
    /// Longest log line or progress message, in bytes (422).
    pub max_log_line_bytes: usize,
    /// Log lines kept per job; older ones are dropped as new ones arrive.
    pub max_log_lines_per_job: i64,
    /// Open event streams in total (429).
    pub max_streams: usize,
    /// Open event streams per client address (429).
    pub max_streams_per_client: usize,
    /// Open streams on one job (429).
    pub max_streams_per_job: usize,
    /// Jobs one token (or, without one, one client address) may create per second, on average.
    pub create_rate: f64,
    /// How many creations may come at once before `create_rate` applies.
    pub create_burst: u32,
    /// A client has this long to send a request's headers, and a kept-alive connection may sit
    /// idle this long between requests (slow or half-open clients cannot hold the server).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Largest request head (431 `headers_too_large` beyond).
    pub max_header_bytes: usize,
    /// Queued jobs per type; a create beyond gets 503 `queue_full`.
    pub max_queued_per_type: i64,
    /// Take the client address from the last `X-Forwarded-For` entry (set it behind a proxy
    /// you trust, so per-client limits see clients rather than the proxy).
    pub trust_forwarded_for: bool,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_json_depth: 32,
            max_payload_bytes: 256 * 1024,
            max_log_line_bytes: 16 * 1024,
            max_log_lines_per_job: 100_000,
            max_streams: 10_000,
            max_streams_per_client: 256,
            max_streams_per_job: 1_000,
            create_rate: 100.0,
            create_burst: 500,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 32 * 1024,
            max_queued_per_type: 100_000,
            trust_forwarded_for: false,
        }
    }
}

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

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadsConfig {
    /// Where uploaded files are kept; empty means `uploads/` next to the database file (and
    /// is refused with PostgreSQL, which has no file).
    pub dir: Option<PathBuf>,
    /// Largest upload, in bytes (413 above).
    pub max_bytes: u64,
    /// Uploads no job refers to are removed this long after they arrived.
    #[serde(with = "humantime_serde")]
    pub keep_unused: Duration,
}

impl Default for UploadsConfig {
    fn default() -> Self {
        UploadsConfig {
            dir: None,
            max_bytes: 256 * 1024 * 1024,
            keep_unused: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes (413 above).
    pub max_body_bytes: usize,
    /// Origins allowed by CORS: exact origins, `scheme://host:*` for any port, or `*`.
    pub cors_allowed_origins: Vec<String>,
    /// On SIGTERM, serve this long with `/readyz` at 503 before shutting down, so a load
    /// balancer stops sending traffic first. Zero (the default) shuts down at once.
    #[serde(with = "humantime_serde")]
    pub shutdown_drain: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// How often a stream looks at its job.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How often a `: heartbeat` comment is sent.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// A stream is ended after this long even if its job never finishes.
    #[serde(with = "humantime_serde")]
    pub max_duration: Duration,
    /// How long after the terminal event the body ends.
    #[serde(with = "humantime_serde")]
    pub close_delay: Duration,
    /// The reconnect delay suggested to clients in the `retry:` field.
    #[serde(with = "humantime_serde")]
    pub retry: Duration,
    /// One poll loop for all streams (true), or one query per stream per poll interval
    /// (false: the hand-rolled design, kept to measure against).
    pub shared_poller: bool,
}

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
}

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
}

fn default_cancel_grace() -> Duration {
    Duration::from_secs(5)
}

fn default_max_attempts() -> i64 {
    3
}

impl Default for Config {
    fn default() -> Self {
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
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://data/jobcast.db".to_owned(),
            database_max_connections: crate::store::DEFAULT_MAX_CONNECTIONS,
            database_acquire_timeout: crate::store::DEFAULT_ACQUIRE_TIMEOUT,
            http: HttpConfig::default(),
            stream: StreamConfig::default(),
            runner: RunnerConfig::default(),
            uploads: UploadsConfig::default(),
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            retention: RetentionConfig::default(),
            job_types,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 1024 * 1024,
            cors_allowed_origins: vec![
                "http://localhost:*".to_owned(),
                "http://127.0.0.1:*".to_owned(),
            ],
            shutdown_drain: Duration::ZERO,
        }
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            poll_interval: Duration::from_secs(1),
            heartbeat: Duration::from_secs(30),
            max_duration: Duration::from_secs(300),
            close_delay: Duration::from_millis(100),
            retry: Duration::from_secs(2),
            shared_poller: true,
        }
    }
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
        }
    }
}

impl LimitsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let at_least_one = [
            ("limits.max_json_depth", self.max_json_depth),
            ("limits.max_payload_bytes", self.max_payload_bytes),
            ("limits.max_log_line_bytes", self.max_log_line_bytes),
            ("limits.max_streams", self.max_streams),
            ("limits.max_streams_per_client", self.max_streams_per_client),
            ("limits.max_streams_per_job", self.max_streams_per_job),
            ("limits.create_burst", self.create_burst as usize),
            (
                "limits.max_log_lines_per_job",
                self.max_log_lines_per_job.max(0) as usize,
            ),
            (
                "limits.max_queued_per_type",
                self.max_queued_per_type.max(0) as usize,
            ),
        ];
        for (key, value) in at_least_one {
            if value == 0 {
                return Err(invalid(key, value, "must be 1 or more"));
            }
        }
        if self.max_header_bytes < 1024 {
            return Err(invalid(
                "limits.max_header_bytes",
                self.max_header_bytes,
                "must be at least 1024",
            ));
        }
        if !(self.create_rate.is_finite() && self.create_rate > 0.0) {
            return Err(invalid(
                "limits.create_rate",
                self.create_rate,
                "must be a number of jobs per second above zero",
            ));
        }
        if self.header_read_timeout.is_zero() {
            return Err(invalid(
                "limits.header_read_timeout",
                "0s",
                "must be above zero",
            ));
        }
        Ok(())
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

fn invalid(key: &str, value: impl ToString, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        value: value.to_string(),
        reason: reason.to_string(),
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
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("JOBCAST_LISTEN") {
            self.listen = v.trim().parse().map_err(|_| {
                invalid(
                    "JOBCAST_LISTEN",
                    &v,
                    "expected an address like 127.0.0.1:8080",
                )
            })?;
        }
        if let Some(v) = get("JOBCAST_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = get("JOBCAST_DATABASE_MAX_CONNECTIONS") {
            self.database_max_connections = v.trim().parse().map_err(|_| {
                invalid(
                    "JOBCAST_DATABASE_MAX_CONNECTIONS",
                    &v,
                    "expected a whole number",
                )
            })?;
        }
        let durations: [(&str, &mut Duration); 14] = [
            (
                "JOBCAST_DATABASE_ACQUIRE_TIMEOUT",
                &mut self.database_acquire_timeout,
            ),
            ("JOBCAST_SHUTDOWN_DRAIN", &mut self.http.shutdown_drain),
            (
                "JOBCAST_HEADER_READ_TIMEOUT",
                &mut self.limits.header_read_timeout,
            ),
            ("JOBCAST_UPLOAD_KEEP_UNUSED", &mut self.uploads.keep_unused),
            (
                "JOBCAST_STREAM_POLL_INTERVAL",
                &mut self.stream.poll_interval,
            ),
            ("JOBCAST_STREAM_HEARTBEAT", &mut self.stream.heartbeat),
            ("JOBCAST_STREAM_MAX_DURATION", &mut self.stream.max_duration),
            ("JOBCAST_STREAM_CLOSE_DELAY", &mut self.stream.close_delay),
            ("JOBCAST_STREAM_RETRY", &mut self.stream.retry),
            ("JOBCAST_LEASE", &mut self.runner.lease),
            (
                "JOBCAST_RUNNER_POLL_INTERVAL",
                &mut self.runner.poll_interval,
            ),
            ("JOBCAST_SHUTDOWN_GRACE", &mut self.runner.grace_period),
            ("JOBCAST_RETRY_BASE", &mut self.runner.retry_base),
            ("JOBCAST_RETRY_MAX", &mut self.runner.retry_max),
        ];
        for (key, slot) in durations {
            if let Some(v) = get(key) {
                *slot = humantime::parse_duration(v.trim()).map_err(|e| {
                    invalid(
                        key,
                        &v,
                        format!("{e}; expected a duration like 250ms, 1s or 5m"),
                    )
                })?;
            }
        }
        if let Some(v) = get("JOBCAST_STREAM_SHARED_POLLER") {
            self.stream.shared_poller = v.trim().parse().map_err(|_| {
                invalid("JOBCAST_STREAM_SHARED_POLLER", &v, "expected true or false")
            })?;
        }
        let counts: [(&str, &mut usize); 4] = [
            ("JOBCAST_MAX_STREAMS", &mut self.limits.max_streams),
            (
                "JOBCAST_MAX_STREAMS_PER_CLIENT",
                &mut self.limits.max_streams_per_client,
            ),
            (
                "JOBCAST_MAX_STREAMS_PER_JOB",
                &mut self.limits.max_streams_per_job,
            ),
            (
                "JOBCAST_MAX_PAYLOAD_BYTES",
                &mut self.limits.max_payload_bytes,
            ),
        ];
        for (key, slot) in counts {
            if let Some(v) = get(key) {
                *slot = v
                    .trim()
                    .parse()
                    .map_err(|_| invalid(key, &v, "expected a whole number"))?;
            }
        }
        if let Some(v) = get("JOBCAST_MAX_QUEUED_PER_TYPE") {
            self.limits.max_queued_per_type = v.trim().parse().map_err(|_| {
                invalid("JOBCAST_MAX_QUEUED_PER_TYPE", &v, "expected a whole number")
            })?;
        }
        if let Some(v) = get("JOBCAST_CREATE_RATE") {
            self.limits.create_rate = v.trim().parse().map_err(|_| {
                invalid(
                    "JOBCAST_CREATE_RATE",
                    &v,
                    "expected jobs per second, like 50 or 0.5",
                )
            })?;
        }
        if let Some(v) = get("JOBCAST_TRUST_FORWARDED_FOR") {
            self.limits.trust_forwarded_for = v.trim().parse().map_err(|_| {
                invalid("JOBCAST_TRUST_FORWARDED_FOR", &v, "expected true or false")
            })?;
        }
        if let Some(v) = get("JOBCAST_WORKERS") {
            self.runner.workers = v
                .trim()
                .parse()
                .map_err(|_| invalid("JOBCAST_WORKERS", &v, "expected a whole number"))?;
        }
        if let Some(v) = get("JOBCAST_AUTH_TOKENS") {
            // The value holds secrets: name the key, never echo it.
            self.auth.plain_tokens = crate::auth::parse_pairs(&v)
                .map_err(|reason| invalid("JOBCAST_AUTH_TOKENS", "(not shown)", reason))?;
        }
        if let Some(v) = get("JOBCAST_AUTH_SECRET") {
            self.auth.secret = Some(v);
        }
        if let Some(v) = get("JOBCAST_UPLOAD_DIR") {
            self.uploads.dir = Some(PathBuf::from(v));
        }
        if let Some(v) = get("JOBCAST_UPLOAD_MAX_BYTES") {
            self.uploads.max_bytes = v.trim().parse().map_err(|_| {
                invalid("JOBCAST_UPLOAD_MAX_BYTES", &v, "expected a number of bytes")
            })?;
        }
        if let Some(v) = get("JOBCAST_MAX_BODY_BYTES") {
            self.http.max_body_bytes = v
                .trim()
                .parse()
                .map_err(|_| invalid("JOBCAST_MAX_BODY_BYTES", &v, "expected a number of bytes"))?;
        }
        if let Some(v) = get("JOBCAST_CORS_ALLOWED_ORIGINS") {
            self.http.cors_allowed_origins = v
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
        self.validate()?;
        Ok(self)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.database_url.starts_with("sqlite:")
            && !crate::store::is_postgres_url(&self.database_url)
        {
            return Err(invalid(
                "database_url",
                &self.database_url,
                "expected a sqlite:// or postgres:// URL",
            ));
        }
        if !(1..=1000).contains(&self.database_max_connections) {
            return Err(invalid(
                "database_max_connections",
                self.database_max_connections,
                "must be from 1 to 1000",
            ));
        }
        let positive = [
            ("database_acquire_timeout", self.database_acquire_timeout),
            ("stream.poll_interval", self.stream.poll_interval),
            ("stream.heartbeat", self.stream.heartbeat),
            ("stream.max_duration", self.stream.max_duration),
            ("runner.lease", self.runner.lease),
            ("runner.poll_interval", self.runner.poll_interval),
            ("runner.retry_base", self.runner.retry_base),
        ];
        for (key, value) in positive {
            if value.is_zero() {
                return Err(invalid(
                    key,
                    humantime::format_duration(value),
                    "must be above zero",
                ));
            }
        }
        if self.runner.workers > 1024 {
            return Err(invalid(
                "runner.workers",
                self.runner.workers,
                "must be from 0 to 1024",
            ));
        }
        if self.http.max_body_bytes == 0 {
            return Err(invalid("http.max_body_bytes", 0, "must be above zero"));
        }
        self.limits.validate()?;
        if self.retention.interval.is_zero() {
            return Err(invalid("retention.interval", "0s", "must be above zero"));
        }
        if !(1..=100_000).contains(&self.retention.batch) {
            return Err(invalid(
                "retention.batch",
                self.retention.batch,
                "must be from 1 to 100000",
            ));
        }
        for (name, job_type) in &self.job_types {
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
            match job_type.kind {
                JobKind::Command if job_type.command.is_empty() => {
                    return Err(invalid(
                        &key("command"),
                        "[]",
                        "a command job type needs a program to run",
                    ));
                }
                JobKind::Demo | JobKind::External | JobKind::Rust
                    if !job_type.command.is_empty() =>
                {
                    return Err(invalid(
                        &key("command"),
                        job_type.command.join(" "),
                        "only kind = \"command\" types run a command",
                    ));
                }
                _ => {}
            }
            if job_type.concurrency == Some(0) {
                return Err(invalid(
                    &key("concurrency"),
                    0,
                    "must be 1 or more (leave it out for no limit)",
                ));
            }
            if !(1..=100).contains(&job_type.max_attempts) {
                return Err(invalid(
                    &format!("job_types.{name}.max_attempts"),
                    job_type.max_attempts,
                    "must be from 1 to 100",
                ));
            }
        }
        Ok(())
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
    fn a_bad_file_value_is_an_error_not_a_panic() {
        let err = Config::from_toml("[stream]\npoll_interval = \"fast\"\n").unwrap_err();
        assert!(err.contains("poll_interval"), "{err}");
        assert!(Config::from_toml("nonsense = 1").is_err());
    }
}
