//! The `[stream]` section: how a job's event stream polls, beats and ends.
//!
//! Only the timings live here; the stream itself is `sse`'s.

use std::time::Duration;

use serde::Deserialize;

use super::{above_zero, ConfigError};

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

impl StreamConfig {
    /// A zero poll interval or heartbeat would spin; a zero cap would end every stream at
    /// once. A zero close delay or retry is fine: the body ends (or the client comes back)
    /// at once.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        above_zero(&[
            ("stream.poll_interval", self.poll_interval),
            ("stream.heartbeat", self.heartbeat),
            ("stream.max_duration", self.max_duration),
        ])
    }
}
