//! The `[auth]` section: API tokens, open mode and the key that signs browser stream URLs.
//!
//! Only the settings live here; checking a token, roles and signing are [`crate::auth`]'s.

use std::time::Duration;

use serde::Deserialize;

/// API tokens. Tokens in the file are SHA-256 hashes; `JOBCAST_AUTH_TOKENS` adds plain
/// `role:token` pairs, kept in memory only.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub tokens: Vec<crate::auth::TokenConfig>,
    /// From `JOBCAST_AUTH_TOKENS`; never printed.
    #[serde(skip)]
    pub plain_tokens: Vec<(crate::auth::Role, String)>,
    /// Run without tokens on a non-loopback address (`--insecure-open`).
    pub insecure_open: bool,
    /// The key that signs browser stream URLs (`JOBCAST_AUTH_SECRET`); by default one is made
    /// and kept in `secret` next to the database (with PostgreSQL, next to `uploads.dir`),
    /// readable by its owner only.
    pub secret: Option<String>,
    /// How long a job's signed stream URL keeps working after the job ends (it works for as
    /// long as the job runs), and how long a signed `/api/events` URL works after issue.
    #[serde(with = "humantime_serde")]
    pub stream_token_ttl: Duration,
    /// Serve `/metrics` without a token even when tokens are on (for a scraper on a private
    /// network that cannot send one).
    pub public_metrics: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            tokens: Vec::new(),
            plain_tokens: Vec::new(),
            insecure_open: false,
            secret: None,
            stream_token_ttl: Duration::from_secs(3600),
            public_metrics: false,
        }
    }
}

/// By hand, so that no token or secret reaches a log line: counts and "(set)" only.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("tokens", &self.tokens.len())
            .field("plain_tokens", &self.plain_tokens.len())
            .field("insecure_open", &self.insecure_open)
            .field("secret", &self.secret.as_ref().map(|_| "(set)"))
            .field("stream_token_ttl", &self.stream_token_ttl)
            .field("public_metrics", &self.public_metrics)
            .finish()
    }
}
