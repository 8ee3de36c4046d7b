//! Logging setup: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), as text or, with
//! `JOBCAST_LOG_FORMAT=json`, one JSON object per line for log collectors.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, coloured on a terminal.
    Text,
    /// One JSON object per line: timestamp, level, target, fields and the request span.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format {other:?}; expected text or json"
            )),
        }
    }
}

/// Installs the global subscriber; call once, from `main`. The format comes from
/// `JOBCAST_LOG_FORMAT`; an unknown value is an error, so a typo is not silently ignored.
pub fn init() -> Result<(), String> {
    let format: LogFormat = std::env::var("JOBCAST_LOG_FORMAT")
        .unwrap_or_default()
        .parse()
        .map_err(|e| format!("invalid value for JOBCAST_LOG_FORMAT: {e}"))?;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    Ok(())
}

/// An error and its causes in one line, "outer: inner: innermost": logs and start-up failures
/// say why without a reader following `source()` by hand.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_a_typo_is_an_error() {
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert_eq!(" JSON ".parse(), Ok(LogFormat::Json));
        assert_eq!("".parse(), Ok(LogFormat::Text));
        assert!("jsno".parse::<LogFormat>().is_err());
    }
}
