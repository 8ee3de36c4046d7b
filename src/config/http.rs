//! The `[http]` section: request bodies, bulk creates, CORS origins and the drain before
//! shutdown.
//!
//! Only the settings live here; serving is `http`'s.

use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ConfigError};

/// `max_bulk_jobs` by default, and the most it may be: past ten thousand, one request holds
/// the writer (and a client's answer) too long.
const DEFAULT_MAX_BULK_JOBS: usize = 1000;
const MAX_BULK_JOBS: usize = 10_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes (413 above).
    pub max_body_bytes: usize,
    /// Most jobs one `POST /api/jobs/bulk` may create (422 above).
    pub max_bulk_jobs: usize,
    /// Largest `POST /api/jobs/bulk` body, in bytes (413 above); `max_body_bytes` is for the
    /// other requests.
    pub max_bulk_body_bytes: usize,
    /// Origins allowed by CORS: exact origins, `scheme://host:*` for any port, or `*`.
    pub cors_allowed_origins: Vec<String>,
    /// On SIGTERM, serve this long with `/readyz` at 503 before shutting down, so a load
    /// balancer stops sending traffic first. Zero (the default) shuts down at once.
    #[serde(with = "humantime_serde")]
    pub shutdown_drain: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 1024 * 1024,
            max_bulk_jobs: DEFAULT_MAX_BULK_JOBS,
            max_bulk_body_bytes: 16 * 1024 * 1024,
            cors_allowed_origins: vec![
                "http://localhost:*".to_owned(),
                "http://127.0.0.1:*".to_owned(),
            ],
            shutdown_drain: Duration::ZERO,
        }
    }
}

impl HttpConfig {
    /// A zero body limit would refuse every create, and so would a bulk limit of zero jobs;
    /// past [`MAX_BULK_JOBS`], one request holds the writer too long. No origins at all is
    /// fine: browsers on other origins are simply refused.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("http.max_body_bytes", self.max_body_bytes),
            ("http.max_bulk_body_bytes", self.max_bulk_body_bytes),
        ] {
            if value == 0 {
                return Err(invalid(key, 0, "must be above zero"));
            }
        }
        if !(1..=MAX_BULK_JOBS).contains(&self.max_bulk_jobs) {
            return Err(invalid(
                "http.max_bulk_jobs",
                self.max_bulk_jobs,
                format!("must be from 1 to {MAX_BULK_JOBS}"),
            ));
        }
        Ok(())
    }
}
