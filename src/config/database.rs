//! The database settings: which database (`database_url`), and for PostgreSQL the pool's
//! size and how long a request waits for a connection.
//!
//! They are top-level keys of [`super::Config`] rather than a section. Only the settings and
//! their defaults live here; connecting is `store`'s, which this module does not depend on.

use std::time::Duration;

use super::{above_zero, invalid, ConfigError};

/// PostgreSQL connections per process unless configured. Ten, plus the one connection that
/// listens for changes, lets nine nodes share PostgreSQL's default `max_connections` of 100
/// (the README's rule for scaling out: nodes × (pool + 1) below it).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// How long a request waits for a PostgreSQL connection unless configured. Five seconds rides
/// out a busy pool, yet while the database is down or restarting a request gets its 503 (with
/// `Retry-After`) instead of hanging until the client gives up.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The URL schemes that name a PostgreSQL database.
const POSTGRES_SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

/// Checks the database settings: a URL of a backend jobcast has, a pool size PostgreSQL can
/// give, and a wait that is not zero (which would refuse every request).
pub(super) fn validate(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<(), ConfigError> {
    let postgres = POSTGRES_SCHEMES
        .iter()
        .any(|scheme| url.starts_with(scheme));
    if !url.starts_with("sqlite:") && !postgres {
        return Err(invalid(
            "database_url",
            url,
            "expected a sqlite:// or postgres:// URL",
        ));
    }
    if !(1..=1000).contains(&max_connections) {
        return Err(invalid(
            "database_max_connections",
            max_connections,
            "must be from 1 to 1000",
        ));
    }
    above_zero(&[("database_acquire_timeout", acquire_timeout)])
}
