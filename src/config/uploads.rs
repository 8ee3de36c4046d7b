//! The `[uploads]` section: where uploaded files go, how large they may be, and how long an
//! unused one is kept.
//!
//! Only the settings live here; storing files is [`crate::uploads`]'s. Whether a folder is
//! needed at all (it is with PostgreSQL, which has no file to sit beside) is decided when the
//! application is built, which knows the database.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

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
