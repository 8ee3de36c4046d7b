//! The `JOBCAST_*` environment variables, applied over the file's values: one row per
//! variable in [`VARIABLES`], one way to read a row and report a bad value.
//!
//! A row names the variable, the field it sets (whose path is the file's key), how its text
//! is read, and an example value. Every bad value is refused the same way, "invalid value for
//! JOBCAST_NAME: \"text\": what was expected", naming the variable and echoing the text
//! (never for a secret). A blank value counts as unset. Values that parse but make no sense
//! are left to [`super::Config::validate`], which names the file's key. Adding a variable is
//! adding a row, and naming it in `config/default.toml` in its key's section (a test checks).
//!
//! `JOBCAST_LOG_FORMAT` is not here: logging is set up before the config is read (see
//! `telemetry`); `JOBCAST_URL` and `JOBCAST_TOKEN` belong to the terminal client (`cli`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{invalid, Config, ConfigError};

/// Applies the variables read through `lookup` to `config`, in table order; the first bad
/// value is the error.
pub(super) fn apply(
    config: &mut Config,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for var in VARIABLES {
        if let Some(text) = lookup(var.name).filter(|text| !text.trim().is_empty()) {
            var.apply(config, &text)?;
        }
    }
    Ok(())
}

/// A row of [`VARIABLES`]: `var!(NAME, section.field, reader, "example")`. The key is the
/// field's path, so the two cannot disagree; the setter is `field = reader(text)?`.
macro_rules! var {
    ($name:literal, $first:ident $(. $rest:ident)*, $read:expr, $example:literal) => {
        Var {
            name: $name,
            key: concat!(stringify!($first) $(, ".", stringify!($rest))*),
            example: $example,
            secret: false,
            set: |config, text| {
                config.$first $(.$rest)* = $read(text)?;
                Ok(())
            },
        }
    };
}

/// Every variable, grouped by section in the order of `config/default.toml`: the variable,
/// the field it sets (as the file names it), how its text is read, an example.
#[rustfmt::skip]
static VARIABLES: &[Var] = &[
    var!("JOBCAST_LISTEN", listen, address, "127.0.0.1:0"),
    var!("JOBCAST_DATABASE_URL", database_url, text, "postgres://jobcast@db/jobcast"),
    var!("JOBCAST_DATABASE_MAX_CONNECTIONS", database_max_connections, whole_number, "25"),
    var!("JOBCAST_DATABASE_ACQUIRE_TIMEOUT", database_acquire_timeout, duration, "2s"),
    // [http]
    var!("JOBCAST_MAX_BODY_BYTES", http.max_body_bytes, bytes, "65536"),
    var!("JOBCAST_MAX_BULK_JOBS", http.max_bulk_jobs, whole_number, "100"),
    var!("JOBCAST_MAX_BULK_BODY_BYTES", http.max_bulk_body_bytes, bytes, "4194304"),
    var!("JOBCAST_CORS_ALLOWED_ORIGINS", http.cors_allowed_origins, origins, "https://a.test, *"),
    var!("JOBCAST_SHUTDOWN_DRAIN", http.shutdown_drain, duration, "5s"),
    // [stream]
    var!("JOBCAST_STREAM_POLL_INTERVAL", stream.poll_interval, duration, "250ms"),
    var!("JOBCAST_STREAM_HEARTBEAT", stream.heartbeat, duration, "15s"),
    var!("JOBCAST_STREAM_MAX_DURATION", stream.max_duration, duration, "1h"),
    var!("JOBCAST_STREAM_CLOSE_DELAY", stream.close_delay, duration, "0s"),
    var!("JOBCAST_STREAM_RETRY", stream.retry, duration, "5s"),
    var!("JOBCAST_STREAM_SHARED_POLLER", stream.shared_poller, flag, "false"),
    // [uploads]
    var!("JOBCAST_UPLOAD_DIR", uploads.dir, some_path, "/srv/shared/jobcast/uploads"),
    var!("JOBCAST_UPLOAD_MAX_BYTES", uploads.max_bytes, bytes, "1048576"),
    var!("JOBCAST_UPLOAD_KEEP_UNUSED", uploads.keep_unused, duration, "1d"),
    // [runner]
    var!("JOBCAST_WORKERS", runner.workers, whole_number, "8"),
    var!("JOBCAST_LEASE", runner.lease, duration, "2m"),
    var!("JOBCAST_RUNNER_POLL_INTERVAL", runner.poll_interval, duration, "100ms"),
    var!("JOBCAST_SHUTDOWN_GRACE", runner.grace_period, duration, "10s"),
    var!("JOBCAST_RETRY_BASE", runner.retry_base, duration, "250ms"),
    var!("JOBCAST_RETRY_MAX", runner.retry_max, duration, "1m"),
    var!("JOBCAST_CLAIM_AHEAD", runner.claim_ahead, duration, "5ms"),
    var!("JOBCAST_MAX_CHILD_DEPTH", runner.max_child_depth, whole_number, "2"),
    var!("JOBCAST_MAX_CHILDREN", runner.max_children, whole_number, "500"),
    // [auth]: the file's tokens are hashes; these plain ones have no file key.
    var!("JOBCAST_AUTH_TOKENS", auth.plain_tokens, token_pairs, "admin:0123456789abcdef").secret(),
    var!("JOBCAST_AUTH_SECRET", auth.secret, some_text, "0123456789abcdef").secret(),
    // [limits]
    var!("JOBCAST_MAX_PAYLOAD_BYTES", limits.max_payload_bytes, whole_number, "4096"),
    var!("JOBCAST_MAX_STREAMS", limits.max_streams, whole_number, "50000"),
    var!("JOBCAST_MAX_STREAMS_PER_CLIENT", limits.max_streams_per_client, whole_number, "16"),
    var!("JOBCAST_MAX_STREAMS_PER_JOB", limits.max_streams_per_job, whole_number, "64"),
    var!("JOBCAST_CREATE_RATE", limits.create_rate, jobs_per_second, "0.5"),
    var!("JOBCAST_CREATE_BURST", limits.create_burst, whole_number, "2000"),
    var!("JOBCAST_HEADER_READ_TIMEOUT", limits.header_read_timeout, duration, "3s"),
    var!("JOBCAST_MAX_QUEUED_PER_TYPE", limits.max_queued_per_type, whole_number, "1000"),
    var!("JOBCAST_TRUST_FORWARDED_FOR", limits.trust_forwarded_for, flag, "true"),
];

/// One environment variable: a row of [`VARIABLES`].
struct Var {
    /// `JOBCAST_...`.
    name: &'static str,
    /// The field it sets, as the file names it (`stream.poll_interval`). Read by the tests,
    /// which check that the row sets this and nothing else.
    #[cfg_attr(not(test), allow(dead_code))]
    key: &'static str,
    /// A good value that differs from the default: documentation, and what the tests set.
    #[cfg_attr(not(test), allow(dead_code))]
    example: &'static str,
    /// The value is a secret: an error names the variable but never shows the text.
    secret: bool,
    /// Reads the text into the row's field, or says what was expected.
    set: fn(&mut Config, &str) -> Result<(), String>,
}

impl Var {
    /// The same row, its value never echoed.
    const fn secret(self) -> Var {
        Var {
            secret: true,
            ..self
        }
    }

    /// Sets the row's field from `text`; the one error path for every variable.
    fn apply(&self, config: &mut Config, text: &str) -> Result<(), ConfigError> {
        (self.set)(config, text).map_err(|reason| {
            let shown = if self.secret { "(not shown)" } else { text };
            invalid(self.name, shown, reason)
        })
    }
}

// The readers: each takes the variable's text as it came (not blank) and says what it
// expected when the text is not that. Readers of numbers and words trim; readers of free
// text take it as it is.

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{e}; expected a duration like 250ms, 1s or 5m"))
}

fn flag(text: &str) -> Result<bool, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected true or false".to_owned())
}

fn whole_number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected a whole number".to_owned())
}

fn bytes<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected a number of bytes".to_owned())
}

fn jobs_per_second(text: &str) -> Result<f64, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected jobs per second, like 50 or 0.5".to_owned())
}

fn address(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected an address like 127.0.0.1:8080".to_owned())
}

fn text(text: &str) -> Result<String, String> {
    Ok(text.to_owned())
}

fn some_text(text: &str) -> Result<Option<String>, String> {
    Ok(Some(text.to_owned()))
}

fn some_path(text: &str) -> Result<Option<PathBuf>, String> {
    Ok(Some(PathBuf::from(text)))
}

/// Comma-separated; spaces around an origin and empty entries are dropped.
fn origins(text: &str) -> Result<Vec<String>, String> {
    Ok(text
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

fn token_pairs(text: &str) -> Result<Vec<(crate::auth::Role, String)>, String> {
    crate::auth::parse_pairs(text)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// A value no typed reader accepts.
    const BAD: &str = "not-a-value";

    /// The rows whose readers take any text: a bad value for them is found by validation (the
    /// URL's scheme) or when it is used (a folder that cannot be made), not here.
    const FREE_TEXT: [&str; 4] = [
        "JOBCAST_DATABASE_URL",
        "JOBCAST_CORS_ALLOWED_ORIGINS",
        "JOBCAST_UPLOAD_DIR",
        "JOBCAST_AUTH_SECRET",
    ];

    /// The config's settings by key (`stream.poll_interval` -> `250ms`), read from its pretty
    /// `Debug` text: a field of `Config` is a key, and so is a field of a section in it.
    fn settings(config: &Config) -> BTreeMap<String, String> {
        let mut settings = BTreeMap::<String, String>::new();
        let (mut section, mut key) = (String::new(), String::new());
        for line in format!("{config:#?}").lines() {
            let depth = (line.len() - line.trim_start().len()) / 4;
            let line = line.trim();
            let field = line
                .split_once(": ")
                .map(|(field, _)| field)
                .filter(|f| f.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            match (depth, field) {
                (1, Some(name)) if line.ends_with("Config {") => {
                    section = format!("{name}.");
                    key.clear();
                    continue;
                }
                (1, Some(name)) => {
                    section.clear();
                    key = name.to_owned();
                }
                (2, Some(name)) if !section.is_empty() => key = format!("{section}{name}"),
                _ => {}
            }
            if !key.is_empty() {
                settings.entry(key.clone()).or_default().push_str(line);
            }
        }
        settings
    }

    fn only(name: &'static str, text: &'static str) -> impl Fn(&str) -> Option<String> {
        move |key| (key == name).then(|| text.to_owned())
    }

    #[test]
    fn every_variable_sets_its_own_key_from_a_good_value_and_names_itself_for_a_bad_one() {
        let defaults = settings(&Config::default());
        for var in VARIABLES {
            let config = Config::default()
                .with_env(only(var.name, var.example))
                .unwrap_or_else(|e| panic!("{}={:?}: {e}", var.name, var.example));
            let after = settings(&config);
            let changed: Vec<&String> = after
                .keys()
                .filter(|key| defaults.get(*key) != after.get(*key))
                .collect();
            assert_eq!(changed, [var.key], "{}={:?}", var.name, var.example);

            let mut config = Config::default();
            let result = apply(&mut config, only(var.name, BAD));
            if FREE_TEXT.contains(&var.name) {
                result.expect("any text is taken as it is");
                continue;
            }
            let err = result.expect_err(var.name).to_string();
            assert!(err.contains(var.name), "{err}");
            assert_eq!(err.contains(BAD), !var.secret, "{err}");
            assert!(err.contains("expected"), "{err}");
        }
    }

    #[test]
    fn a_blank_value_counts_as_unset() {
        for var in VARIABLES {
            let config = Config::default().with_env(only(var.name, " ")).unwrap();
            assert_eq!(
                settings(&config),
                settings(&Config::default()),
                "{}",
                var.name
            );
        }
    }

    #[test]
    fn every_variable_has_one_row_and_is_named_in_the_shipped_config_file_beside_its_section() {
        let names: BTreeSet<&str> = VARIABLES.iter().map(|var| var.name).collect();
        assert_eq!(names.len(), VARIABLES.len(), "a variable has two rows");

        let file = include_str!("../../config/default.toml");
        let mut documented = BTreeSet::new();
        let mut section = String::new();
        for line in file.lines() {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = format!("{name}.");
            }
            for word in line.split(|c: char| !(c.is_ascii_uppercase() || c == '_')) {
                if word.starts_with("JOBCAST_") {
                    documented.insert((word.to_owned(), section.clone()));
                }
            }
        }
        let expected: BTreeSet<(String, String)> = VARIABLES
            .iter()
            .map(|var| {
                let section = match var.key.split_once('.') {
                    Some((section, _)) => format!("{section}."),
                    None => String::new(),
                };
                (var.name.to_owned(), section)
            })
            .collect();
        assert_eq!(documented, expected);
    }
}
