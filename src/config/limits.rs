//! The `[limits]` section: what one client, or all of them together, may ask of the server.
//!
//! Only the numbers live here; the HTTP layer enforces them (`http::limits` for rates,
//! streams and queue depth, the request readers for sizes and depth).

use std::time::Duration;

use serde::Deserialize;

use super::{above_zero, invalid, ConfigError};

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

impl LimitsConfig {
    /// A limit of zero would refuse everything, so every count is at least one; a head
    /// smaller than 1 KiB would refuse ordinary browsers.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
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
        above_zero(&[("limits.header_read_timeout", self.header_read_timeout)])
    }
}
