//! The `JOBCAST_*` environment variables, applied over the file's values.

use std::path::PathBuf;
use std::time::Duration;

use super::{invalid, Config, ConfigError};

/// Applies the variables read through `lookup` to `config`; a blank value counts as unset.
pub(super) fn apply(
    config: &mut Config,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
    if let Some(v) = get("JOBCAST_LISTEN") {
        config.listen = v.trim().parse().map_err(|_| {
            invalid(
                "JOBCAST_LISTEN",
                &v,
                "expected an address like 127.0.0.1:8080",
            )
        })?;
    }
    if let Some(v) = get("JOBCAST_DATABASE_URL") {
        config.database_url = v;
    }
    if let Some(v) = get("JOBCAST_DATABASE_MAX_CONNECTIONS") {
        config.database_max_connections = v.trim().parse().map_err(|_| {
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
            &mut config.database_acquire_timeout,
        ),
        ("JOBCAST_SHUTDOWN_DRAIN", &mut config.http.shutdown_drain),
        (
            "JOBCAST_HEADER_READ_TIMEOUT",
            &mut config.limits.header_read_timeout,
        ),
        (
            "JOBCAST_UPLOAD_KEEP_UNUSED",
            &mut config.uploads.keep_unused,
        ),
        (
            "JOBCAST_STREAM_POLL_INTERVAL",
            &mut config.stream.poll_interval,
        ),
        ("JOBCAST_STREAM_HEARTBEAT", &mut config.stream.heartbeat),
        (
            "JOBCAST_STREAM_MAX_DURATION",
            &mut config.stream.max_duration,
        ),
        ("JOBCAST_STREAM_CLOSE_DELAY", &mut config.stream.close_delay),
        ("JOBCAST_STREAM_RETRY", &mut config.stream.retry),
        ("JOBCAST_LEASE", &mut config.runner.lease),
        (
            "JOBCAST_RUNNER_POLL_INTERVAL",
            &mut config.runner.poll_interval,
        ),
        ("JOBCAST_SHUTDOWN_GRACE", &mut config.runner.grace_period),
        ("JOBCAST_RETRY_BASE", &mut config.runner.retry_base),
        ("JOBCAST_RETRY_MAX", &mut config.runner.retry_max),
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
        config.stream.shared_poller = v
            .trim()
            .parse()
            .map_err(|_| invalid("JOBCAST_STREAM_SHARED_POLLER", &v, "expected true or false"))?;
    }
    let counts: [(&str, &mut usize); 4] = [
        ("JOBCAST_MAX_STREAMS", &mut config.limits.max_streams),
        (
            "JOBCAST_MAX_STREAMS_PER_CLIENT",
            &mut config.limits.max_streams_per_client,
        ),
        (
            "JOBCAST_MAX_STREAMS_PER_JOB",
            &mut config.limits.max_streams_per_job,
        ),
        (
            "JOBCAST_MAX_PAYLOAD_BYTES",
            &mut config.limits.max_payload_bytes,
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
        config.limits.max_queued_per_type = v
            .trim()
            .parse()
            .map_err(|_| invalid("JOBCAST_MAX_QUEUED_PER_TYPE", &v, "expected a whole number"))?;
    }
    if let Some(v) = get("JOBCAST_CREATE_RATE") {
        config.limits.create_rate = v.trim().parse().map_err(|_| {
            invalid(
                "JOBCAST_CREATE_RATE",
                &v,
                "expected jobs per second, like 50 or 0.5",
            )
        })?;
    }
    if let Some(v) = get("JOBCAST_TRUST_FORWARDED_FOR") {
        config.limits.trust_forwarded_for = v
            .trim()
            .parse()
            .map_err(|_| invalid("JOBCAST_TRUST_FORWARDED_FOR", &v, "expected true or false"))?;
    }
    if let Some(v) = get("JOBCAST_WORKERS") {
        config.runner.workers = v
            .trim()
            .parse()
            .map_err(|_| invalid("JOBCAST_WORKERS", &v, "expected a whole number"))?;
    }
    if let Some(v) = get("JOBCAST_AUTH_TOKENS") {
        // The value holds secrets: name the key, never echo it.
        config.auth.plain_tokens = crate::auth::parse_pairs(&v)
            .map_err(|reason| invalid("JOBCAST_AUTH_TOKENS", "(not shown)", reason))?;
    }
    if let Some(v) = get("JOBCAST_AUTH_SECRET") {
        config.auth.secret = Some(v);
    }
    if let Some(v) = get("JOBCAST_UPLOAD_DIR") {
        config.uploads.dir = Some(PathBuf::from(v));
    }
    if let Some(v) = get("JOBCAST_UPLOAD_MAX_BYTES") {
        config.uploads.max_bytes = v
            .trim()
            .parse()
            .map_err(|_| invalid("JOBCAST_UPLOAD_MAX_BYTES", &v, "expected a number of bytes"))?;
    }
    if let Some(v) = get("JOBCAST_MAX_BODY_BYTES") {
        config.http.max_body_bytes = v
            .trim()
            .parse()
            .map_err(|_| invalid("JOBCAST_MAX_BODY_BYTES", &v, "expected a number of bytes"))?;
    }
    if let Some(v) = get("JOBCAST_CORS_ALLOWED_ORIGINS") {
        config.http.cors_allowed_origins = v
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
    }
    Ok(())
}
