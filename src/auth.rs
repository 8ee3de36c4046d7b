//! Who may do what: API tokens with roles, checked on every request.
//!
//! Tokens come from the config file (as SHA-256 hashes) or from `JOBCAST_AUTH_TOKENS` (as
//! `role:token` pairs). A request presents one as `Authorization: Bearer TOKEN`; it is hashed
//! and compared with every stored hash in constant time. Tokens are never logged.
//!
//! With no tokens configured jobcast runs open, and then only on a loopback address (see
//! [`check_exposure`]).

use std::net::SocketAddr;

use http::HeaderMap;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Create, read, cancel, retry and stream jobs; upload files.
    Submit,
    /// Claim jobs and send their progress, logs, completion and failure.
    Worker,
    /// Read and stream jobs.
    Read,
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Submit,
    Work,
    /// Control over everyone's jobs: pausing types, schedules, bulk cancel and retry.
    Admin,
}

impl Role {
    pub fn allows(self, permission: Permission) -> bool {
        matches!(
            (self, permission),
            (Role::Admin, _)
                | (Role::Submit, Permission::Read | Permission::Submit)
                | (Role::Worker, Permission::Work)
                | (Role::Read, Permission::Read)
        )
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "submit" => Ok(Role::Submit),
            "worker" => Ok(Role::Worker),
            "read" => Ok(Role::Read),
            other => Err(format!(
                "unknown role {other:?}; roles are admin, submit, worker, read"
            )),
        }
    }
}

/// A token as configured: its role and the SHA-256 of the token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub role: Role,
    /// Hex SHA-256 of the token (`printf %s TOKEN | sha256sum`).
    pub sha256: String,
}

/// Why a request may not go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No token, or not one we know: 401.
    Unauthenticated,
    /// A known token whose role does not allow this: 403.
    Forbidden,
}

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: Vec<(Role, [u8; 32])>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Auth {
    /// From hashed tokens (config file) and plain `role:token` pairs (environment).
    pub fn new(hashed: &[TokenConfig], plain: &[(Role, String)]) -> Result<Auth, String> {
        let mut tokens = Vec::new();
        for token in hashed {
            let bytes = hex::decode(token.sha256.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| "auth.tokens: sha256 must be 64 hex digits".to_owned())?;
            tokens.push((token.role, bytes));
        }
        for (role, token) in plain {
            tokens.push((*role, digest(token)));
        }
        Ok(Auth { tokens })
    }

    /// No tokens: everyone may do everything.
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The role of a presented token, if it is one of ours. Every stored hash is compared,
    /// in constant time, whatever matched.
    pub fn role_of(&self, token: &str) -> Option<Role> {
        let presented = digest(token);
        let mut found = None;
        for (role, stored) in &self.tokens {
            if bool::from(presented.ct_eq(stored)) && found.is_none() {
                found = Some(*role);
            }
        }
        found
    }

    /// Checks a request's `Authorization` header for `permission`.
    pub fn check(&self, headers: &HeaderMap, permission: Permission) -> Result<(), Denied> {
        if self.is_open() {
            return Ok(());
        }
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(Denied::Unauthenticated)?;
        match self.role_of(token) {
            None => Err(Denied::Unauthenticated),
            Some(role) if role.allows(permission) => Ok(()),
            Some(_) => Err(Denied::Forbidden),
        }
    }
}

/// Signs and checks stream URLs for browsers, which cannot send an `Authorization` header on
/// an `EventSource`. Two kinds of token, both HMAC-SHA256 under the server's secret:
///
/// - a job's `stream_url` carries `live.HMAC`, over the job's id alone. It does not expire by
///   the clock: it opens that job's stream for as long as the job can still change and for
///   the TTL after it ends (checked against the job by [`StreamSigner::job_token_open`]), so
///   a browser following a job of any length keeps reconnecting with the same URL.
/// - an `/api/events` URL carries `EXPIRY.HMAC`, over its filter and the expiry: it opens the
///   stream until the TTL from issue runs out; the page then asks for a fresh URL.
///
/// Rotating the secret revokes every token at once.
#[derive(Clone)]
pub struct StreamSigner {
    secret: Vec<u8>,
    ttl: std::time::Duration,
}

impl std::fmt::Debug for StreamSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSigner")
            .field("ttl", &self.ttl)
            .finish()
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What a valid stream token opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamGrant {
    /// The scope until a time already checked.
    UntilExpiry,
    /// A job's stream while the job is unfinished or ended less than the TTL ago: the caller
    /// checks that with [`StreamSigner::job_token_open`] once it has the job.
    WhileJobIsLive,
}

/// The prefix of job tokens, where timed tokens have their expiry.
const LIVE: &str = "live";

impl StreamSigner {
    pub fn new(secret: Vec<u8>, ttl: std::time::Duration) -> Self {
        StreamSigner { secret, ttl }
    }

    fn mac(&self, scope: &str, expiry: &str) -> Vec<u8> {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.secret)
            .expect("HMAC takes keys of any length");
        mac.update(scope.as_bytes());
        mac.update(b"\n");
        mac.update(expiry.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// How long a timed token lasts, and a job token after its job ends.
    pub fn ttl(&self) -> std::time::Duration {
        self.ttl
    }

    /// A token for `scope` (such as `events::failed`), valid for the configured time.
    pub fn sign(&self, scope: &str) -> String {
        let expiry = (now_secs() + self.ttl.as_secs()).to_string();
        format!("{expiry}.{}", hex::encode(self.mac(scope, &expiry)))
    }

    /// A token for one job's stream, good while the job lives (see [`StreamGrant`]).
    pub fn sign_job(&self, job: &str) -> String {
        format!("{LIVE}.{}", hex::encode(self.mac(&job_scope(job), LIVE)))
    }

    /// What `token` opens of `scope` now, if anything: a timed token that has not expired,
    /// or (for a job's scope) a job token, which the caller still checks against the job.
    pub fn verify(&self, scope: &str, token: &str) -> Option<StreamGrant> {
        let (expiry, mac) = token.split_once('.')?;
        let mac = hex::decode(mac).ok()?;
        let grant = if expiry == LIVE {
            scope
                .starts_with("job:")
                .then_some(StreamGrant::WhileJobIsLive)?
        } else {
            let at = expiry.parse::<u64>().ok()?;
            (at >= now_secs()).then_some(StreamGrant::UntilExpiry)?
        };
        bool::from(self.mac(scope, expiry).ct_eq(&mac)).then_some(grant)
    }

    /// Whether a job token still opens the stream of a job in `status` that ended at
    /// `finished_at` (if it has): always while it is unfinished, for the TTL after its end.
    pub fn job_token_open(
        &self,
        status: crate::job::JobStatus,
        finished_at: Option<crate::job::Timestamp>,
    ) -> bool {
        if !status.is_finished() {
            return true;
        }
        let Some(ended) = finished_at else {
            return true;
        };
        let open_until = ended
            .as_millis()
            .saturating_add(i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX));
        open_until >= crate::job::Timestamp::now().as_millis()
    }
}

/// The scope a job's stream token is signed for.
pub fn job_scope(job: &str) -> String {
    format!("job:{job}")
}

/// The server's secret for signing stream URLs: the configured one, else the one in
/// `path`, made (32 random bytes, readable by its owner only) on first start.
pub fn load_or_create_secret(
    configured: Option<&str>,
    path: &std::path::Path,
) -> std::io::Result<Vec<u8>> {
    if let Some(secret) = configured.filter(|s| !s.is_empty()) {
        return Ok(secret.as_bytes().to_vec());
    }
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => {
            return hex::decode(text.trim())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let secret: [u8; 32] = rand::random();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    std::io::Write::write_all(&mut file, hex::encode(secret).as_bytes())?;
    Ok(secret.to_vec())
}

/// Parses `JOBCAST_AUTH_TOKENS`: comma-separated `role:token` pairs.
pub fn parse_pairs(text: &str) -> Result<Vec<(Role, String)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (role, token) = pair
                .split_once(':')
                .ok_or_else(|| "expected role:token pairs separated by commas".to_owned())?;
            if token.len() < 8 {
                return Err("tokens must be at least 8 characters".to_owned());
            }
            Ok((role.trim().parse()?, token.to_owned()))
        })
        .collect()
}

/// Open mode is for loopback only: listening elsewhere without tokens needs an explicit
/// `--insecure-open`.
pub fn check_exposure(auth: &Auth, listen: SocketAddr, insecure_open: bool) -> Result<(), String> {
    if auth.is_open() && !listen.ip().is_loopback() && !insecure_open {
        return Err(format!(
            "refusing to listen on {listen} with no API tokens: anyone who can reach it could \
             run and read jobs. Set tokens with JOBCAST_AUTH_TOKENS=admin:SECRET,read:SECRET \
             (or [auth] tokens in the config file), listen on 127.0.0.1, or start with \
             --insecure-open if something in front of jobcast already checks access"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn roles_allow_what_they_should_and_nothing_more() {
        let auth = Auth::new(
            &[],
            &parse_pairs("admin:adminadmin,read:readread,worker:workwork,submit:subsubsub")
                .unwrap(),
        )
        .unwrap();
        let can = |token: &str, p| auth.check(&bearer(token), p);
        assert_eq!(can("readread", Permission::Read), Ok(()));
        assert_eq!(can("readread", Permission::Submit), Err(Denied::Forbidden));
        assert_eq!(can("subsubsub", Permission::Submit), Ok(()));
        assert_eq!(can("subsubsub", Permission::Work), Err(Denied::Forbidden));
        assert_eq!(can("workwork", Permission::Work), Ok(()));
        assert_eq!(can("workwork", Permission::Read), Err(Denied::Forbidden));
        assert_eq!(can("adminadmin", Permission::Work), Ok(()));
        assert_eq!(
            can("nope-nope", Permission::Read),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            auth.check(&HeaderMap::new(), Permission::Read),
            Err(Denied::Unauthenticated)
        );
    }

    #[test]
    fn hashed_tokens_from_the_file_work() {
        let hashed = TokenConfig {
            role: Role::Read,
            sha256: hex::encode(Sha256::digest(b"from-the-file")),
        };
        let auth = Auth::new(&[hashed], &[]).unwrap();
        assert_eq!(auth.role_of("from-the-file"), Some(Role::Read));
        assert_eq!(auth.role_of("from-the-filE"), None);
    }

    #[test]
    fn timed_stream_tokens_open_their_scope_only_until_they_expire() {
        let signer = StreamSigner::new(b"secret".to_vec(), std::time::Duration::from_secs(60));
        let token = signer.sign("events::");
        assert_eq!(
            signer.verify("events::", &token),
            Some(StreamGrant::UntilExpiry)
        );
        assert_eq!(
            signer.verify("events:demo:", &token),
            None,
            "a token for one filter never opens another"
        );
        let (expiry, mac) = token.split_once('.').unwrap();
        let later = format!("{}.{mac}", expiry.parse::<u64>().unwrap() + 1000);
        assert_eq!(
            signer.verify("events::", &later),
            None,
            "an altered expiry is refused"
        );
        let old = format!("1.{}", hex::encode(signer.mac("events::", "1")));
        assert_eq!(
            signer.verify("events::", &old),
            None,
            "an expired token is refused"
        );
        for garbage in ["garbage", "", ".", "live.", "1.zz", "live.zz"] {
            assert_eq!(signer.verify("events::", garbage), None, "{garbage:?}");
        }
        let other = StreamSigner::new(b"other".to_vec(), std::time::Duration::from_secs(60));
        assert_eq!(
            other.verify("events::", &token),
            None,
            "another server's secret does not match"
        );
    }

    #[test]
    fn a_job_token_opens_that_job_only_and_lives_until_the_ttl_after_the_job_ends() {
        use crate::job::{JobStatus, Timestamp};
        let signer = StreamSigner::new(b"secret".to_vec(), std::time::Duration::from_secs(60));
        let token = signer.sign_job("a");
        assert!(token.starts_with("live."), "{token}");
        assert_eq!(
            signer.verify("job:a", &token),
            Some(StreamGrant::WhileJobIsLive)
        );
        assert_eq!(signer.verify("job:b", &token), None, "never another job");
        assert_eq!(
            signer.verify(
                "events::",
                &format!("live.{}", hex::encode(signer.mac("events::", "live")))
            ),
            None,
            "an events URL has no token that lives forever"
        );
        let other = StreamSigner::new(b"rotated".to_vec(), std::time::Duration::from_secs(60));
        assert_eq!(
            other.verify("job:a", &token),
            None,
            "rotating the secret revokes it"
        );

        let now = Timestamp::now();
        assert!(signer.job_token_open(JobStatus::Running, None));
        assert!(signer.job_token_open(JobStatus::Queued, Some(Timestamp::from_millis(0))));
        assert!(signer.job_token_open(JobStatus::Completed, Some(now)));
        let long_ago = Timestamp::from_millis(now.as_millis() - 61_000);
        assert!(!signer.job_token_open(JobStatus::Failed, Some(long_ago)));
        assert!(!signer.job_token_open(JobStatus::Cancelled, Some(long_ago)));
        // To the millisecond, not the whole second: a TTL of 60 s is not 60.9 s.
        let just_within = Timestamp::from_millis(now.as_millis() - 59_000);
        let just_past = Timestamp::from_millis(now.as_millis() - 60_500);
        assert!(signer.job_token_open(JobStatus::Completed, Some(just_within)));
        assert!(!signer.job_token_open(JobStatus::Completed, Some(just_past)));
    }

    #[test]
    fn the_secret_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let first = load_or_create_secret(None, &path).unwrap();
        assert_eq!(load_or_create_secret(None, &path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(
            load_or_create_secret(Some("configured"), &path).unwrap(),
            b"configured"
        );
    }

    #[test]
    fn open_mode_is_for_loopback_unless_insisted() {
        let open = Auth::default();
        assert!(check_exposure(&open, "127.0.0.1:8080".parse().unwrap(), false).is_ok());
        assert!(check_exposure(&open, "[::1]:8080".parse().unwrap(), false).is_ok());
        let refused = check_exposure(&open, "0.0.0.0:8080".parse().unwrap(), false).unwrap_err();
        assert!(refused.contains("JOBCAST_AUTH_TOKENS"), "{refused}");
        assert!(check_exposure(&open, "0.0.0.0:8080".parse().unwrap(), true).is_ok());
        assert!(parse_pairs("boss:longenough").is_err());
        assert!(parse_pairs("read:short").is_err());
    }
}
