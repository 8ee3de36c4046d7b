//! How a client command ends: its [`Outcome`] or a [`ClientError`], and the one place where
//! either becomes an exit code ([`exit_code`]); with the two helpers that word a failure from
//! the server's answer or from a connection's error.
//!
//! It imports no other client module, so the connection, the watch and the output all import
//! it from below.

use std::process::ExitCode;

use serde_json::Value;

/// How a client command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; the watched job completed.
    Ok,
    /// The watched job failed or was cancelled.
    JobFailed,
    /// Bad usage, an unknown job, a refused request, or a server that could not be reached
    /// (`watch`: only before it had answered anything; after that it is waited for).
    Error,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::JobFailed => 1,
            Outcome::Error => 2,
        }
    }
}

/// The exit code of a client command, its error (if any) said on stderr: the one place where
/// outcomes and client errors become exit codes.
pub fn exit_code(result: Result<Outcome, ClientError>) -> ExitCode {
    let outcome = result.unwrap_or_else(|error| {
        eprintln!("error: {error}");
        Outcome::Error
    });
    ExitCode::from(outcome.code())
}

/// A failure of the client itself (not of a job); always exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach jobcast at {url}: {reason} (is the server running? set --url or JOBCAST_URL)"
    )]
    Unreachable { url: String, reason: String },
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Usage(String),
}

/// The innermost cause of `error`, which says what went wrong ("Connection refused (os error
/// 111)") where the outer ones say what was being done.
pub(super) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The `message` of a JSON error body, with the status: "404 Not Found: job not found".
pub(super) async fn refusal(response: reqwest::Response, fallback: &str) -> String {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let message = body["message"].as_str().unwrap_or(fallback);
    format!("{status}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_exit_codes_0_1_and_2() {
        assert_eq!(
            [Outcome::Ok, Outcome::JobFailed, Outcome::Error].map(Outcome::code),
            [0, 1, 2]
        );
    }
}
