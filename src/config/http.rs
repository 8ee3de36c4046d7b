//! The `[http]` section: request bodies, CORS origins and the drain before shutdown.
//!
//! Only the settings live here; serving is `http`'s.

use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ConfigError};

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

impl HttpConfig {
    /// A zero body limit would refuse every create. No origins at all is fine: browsers on
    /// other origins are simply refused.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes == 0 {
            return Err(invalid("http.max_body_bytes", 0, "must be above zero"));
        }
        Ok(())
    }
}
