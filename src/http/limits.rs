//! Limits on what clients may hold and ask for: event streams (in total, per client address,
//! per job), the job creation rate (a token bucket per API token or address) and the depth of
//! each type's queue. The request-shape limits (body, headers, JSON depth) are checked where
//! requests are read, in [`super::body`] and [`super`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http::HeaderMap;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::config::LimitsConfig;
use crate::job::JobId;
use crate::store::Store;

/// How long a client refused a stream is told to wait before trying again.
const STREAM_RETRY_AFTER: Duration = Duration::from_secs(5);
/// How long a full queue asks submitters to wait.
const QUEUE_FULL_RETRY_AFTER: Duration = Duration::from_secs(10);
/// A queue's depth is counted again after this long; in between, accepted jobs are added to
/// the last count, so a burst cannot slip far past the limit.
const QUEUE_COUNT_TTL: Duration = Duration::from_millis(250);
/// Rate-limiter keys are forgotten once idle long enough to be full again; the sweep runs when
/// the table holds more than this many keys.
const RATE_KEYS_BEFORE_SWEEP: usize = 10_000;

/// The client address of a request, put in its extensions by the accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client address the accept loop recorded (loopback if none was, as in unit tests).
pub fn client_of(extensions: &http::Extensions) -> IpAddr {
    extensions
        .get::<ClientAddr>()
        .map(|c| c.0)
        .unwrap_or(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST))
}

/// The address per-client limits count against: the peer, or, behind a trusted proxy, the last
/// address the proxy appended to `X-Forwarded-For`.
pub fn client_addr(headers: &HeaderMap, peer: IpAddr, trust_forwarded_for: bool) -> IpAddr {
    if !trust_forwarded_for {
        return peer;
    }
    // The proxy appends the address it saw: the last entry of the last header. Anything
    // before it came from the client and proves nothing.
    let last = headers.get_all("x-forwarded-for").iter().next_back();
    last.and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .and_then(|entry| entry.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer)
}

/// Every limit the handlers check, shared by all connections.
#[derive(Debug, Clone)]
pub struct Limits {
    pub config: LimitsConfig,
    pub streams: StreamLimits,
    pub creates: Arc<CreateLimiter>,
    pub queues: Arc<QueueDepth>,
}

impl Limits {
    pub fn new(config: &LimitsConfig) -> Limits {
        Limits {
            config: config.clone(),
            streams: StreamLimits::new(config),
            creates: Arc::new(CreateLimiter::new(config.create_rate, config.create_burst)),
            queues: Arc::new(QueueDepth::new(config.max_queued_per_type)),
        }
    }
}

/// Counts of open streams by client and by job, and the caps on them.
#[derive(Debug, Clone)]
pub struct StreamLimits {
    counts: Arc<Mutex<StreamCounts>>,
    max_total: usize,
    max_per_client: usize,
    max_per_job: usize,
}

#[derive(Debug, Default)]
struct StreamCounts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
    per_job: HashMap<JobId, usize>,
}

/// A stream's place under the limits; given back when the stream ends (dropped).
#[derive(Debug)]
pub struct StreamPermit {
    counts: Arc<Mutex<StreamCounts>>,
    client: IpAddr,
    job: Option<JobId>,
}

impl StreamLimits {
    fn new(config: &LimitsConfig) -> StreamLimits {
        StreamLimits {
            counts: Arc::default(),
            max_total: config.max_streams,
            max_per_client: config.max_streams_per_client,
            max_per_job: config.max_streams_per_job,
        }
    }

    /// A permit for one more stream from `client` (on `job`, for a job's stream), or 429.
    pub fn admit(&self, client: IpAddr, job: Option<JobId>) -> Result<StreamPermit, ApiError> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let refuse = |message: String| ApiError::TooManyRequests {
            message,
            retry_after: STREAM_RETRY_AFTER,
        };
        if counts.total >= self.max_total {
            return Err(refuse(format!(
                "the server has {} streams open, its limit; try again shortly",
                self.max_total
            )));
        }
        if counts.per_client.get(&client).copied().unwrap_or(0) >= self.max_per_client {
            return Err(refuse(format!(
                "this client already has {} streams open, the most allowed; close one first",
                self.max_per_client
            )));
        }
        if let Some(job) = job {
            if counts.per_job.get(&job).copied().unwrap_or(0) >= self.max_per_job {
                return Err(refuse(format!(
                    "this job already has {} streams open, the most allowed",
                    self.max_per_job
                )));
            }
            *counts.per_job.entry(job).or_default() += 1;
        }
        counts.total += 1;
        *counts.per_client.entry(client).or_default() += 1;
        Ok(StreamPermit {
            counts: self.counts.clone(),
            client,
            job,
        })
    }

    /// Streams holding a permit right now.
    pub fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

/// Takes one from `map[key]`, removing the entry at zero so the map only holds live keys.
fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = map.get_mut(key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            map.remove(key);
        }
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        release(&mut counts.per_client, &self.client);
        if let Some(job) = &self.job {
            release(&mut counts.per_job, job);
        }
    }
}

/// A token bucket per submitter for job creation.
///
/// On the operating system's monotonic clock rather than governor's default TSC clock: on
/// virtual machines the TSC clock was seen to step back between threads, and with a high rate
/// (little tolerance) that refused requests that were well within it.
#[derive(Debug)]
pub struct CreateLimiter {
    limiter: RateLimiter<
        String,
        DefaultKeyedStateStore<String>,
        MonotonicClock,
        NoOpMiddleware<std::time::Instant>,
    >,
    clock: MonotonicClock,
    capacity: u32,
}

impl CreateLimiter {
    pub fn new(per_second: f64, burst: u32) -> CreateLimiter {
        let period = Duration::from_secs_f64(1.0 / per_second.max(1e-6));
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        CreateLimiter {
            limiter: RateLimiter::dashmap_with_clock(quota, MonotonicClock),
            clock: MonotonicClock,
            capacity: burst.max(1),
        }
    }

    /// The most creations the bucket holds: `limits.create_burst`. A bulk create of more jobs
    /// could never be let through.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Takes one creation from the bucket of whoever sent `headers` from `client`: their API
    /// token (hashed; never kept as sent), or their address when they sent none.
    pub fn check(&self, headers: &HeaderMap, client: IpAddr) -> Result<(), ApiError> {
        self.check_n(headers, client, NonZeroU32::MIN)
    }

    /// Takes `n` creations at once from the same bucket as [`CreateLimiter::check`] (a bulk
    /// create's jobs), or none when fewer are there: 429, with how long until `n` are. More
    /// than the bucket holds ([`CreateLimiter::capacity`]) could never be taken: 422 on `jobs`,
    /// which waiting does not change (callers refuse such a bulk before asking).
    pub fn check_n(
        &self,
        headers: &HeaderMap,
        client: IpAddr,
        n: NonZeroU32,
    ) -> Result<(), ApiError> {
        if self.limiter.len() > RATE_KEYS_BEFORE_SWEEP {
            self.limiter.retain_recent();
        }
        let key = match bearer(headers) {
            Some(token) => format!("token:{}", hex::encode(&Sha256::digest(token)[..16])),
            None => format!("addr:{client}"),
        };
        // governor reads the clock before it looks at the bucket: a thread preempted in
        // between judges with a stale time, and with a high rate (a bucket that refills in
        // microseconds) a few milliseconds of preemption look like a burst. A refusal whose
        // wait is already over when looked at again is such a case: ask once more.
        let mut retried = false;
        loop {
            let checked = self.limiter.check_key_n(&key, n).map_err(|capacity| {
                ApiError::invalid(
                    "jobs",
                    format!(
                        "at most {} jobs per request: limits.create_burst",
                        capacity.0
                    ),
                )
            })?;
            match checked {
                Ok(()) => return Ok(()),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    if wait.is_zero() && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(ApiError::TooManyRequests {
                        message: "too many jobs created too fast; slow down".to_owned(),
                        retry_after: wait,
                    });
                }
            }
        }
    }
}

/// The bearer token of `headers`, if any.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(http::header::AUTHORIZATION)?.as_bytes();
    let token = value.strip_prefix(b"Bearer ")?;
    (!token.is_empty()).then_some(token)
}

/// Queue depth per type, counted in the store and cached briefly.
#[derive(Debug)]
pub struct QueueDepth {
    max: i64,
    counts: Mutex<HashMap<String, (i64, Instant)>>,
}

impl QueueDepth {
    pub fn new(max: i64) -> QueueDepth {
        QueueDepth {
            max,
            counts: Mutex::default(),
        }
    }

    /// Ok while `job_type`'s queue has room; 503 `queue_full` when it is full.
    pub async fn check(&self, store: &Store, job_type: &str) -> Result<(), ApiError> {
        self.check_n(store, job_type, 1).await
    }

    /// Ok while `job_type`'s queue has room for `n` more jobs (a bulk create's jobs of that
    /// type); 503 `queue_full` when it has not. More than the queue may ever hold is 422 on
    /// `jobs`: waiting would not help.
    pub async fn check_n(&self, store: &Store, job_type: &str, n: i64) -> Result<(), ApiError> {
        if n > self.max {
            return Err(ApiError::invalid(
                "jobs",
                format!(
                    "{n} jobs of type {job_type:?}; a type's queue holds at most {} \
                     (limits.max_queued_per_type)",
                    self.max
                ),
            ));
        }
        let cached = {
            let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            counts
                .get(job_type)
                .filter(|(_, at)| at.elapsed() < QUEUE_COUNT_TTL)
                .map(|(count, _)| *count)
        };
        let count = match cached {
            Some(count) => count,
            None => {
                let count = store.count_queued(job_type).await?;
                self.counts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(job_type.to_owned(), (count, Instant::now()));
                count
            }
        };
        if count + n > self.max {
            let message = if count >= self.max || n == 1 {
                format!(
                    "the queue of type {job_type:?} is full ({} jobs waiting); try again later",
                    self.max
                )
            } else {
                format!(
                    "the queue of type {job_type:?} has room for {} more jobs, not {n} \
                     (at most {} wait); try again later",
                    self.max - count,
                    self.max
                )
            };
            return Err(ApiError::QueueFull {
                message,
                retry_after: QUEUE_FULL_RETRY_AFTER,
            });
        }
        Ok(())
    }

    /// Counts a job just queued until the next real count.
    pub fn accepted(&self, job_type: &str) {
        self.accepted_n(job_type, 1);
    }

    /// Counts `n` jobs of `job_type` just queued until the next real count.
    pub fn accepted_n(&self, job_type: &str, n: i64) {
        if let Some((count, _)) = self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(job_type)
        {
            *count += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_client: usize, per_job: usize) -> StreamLimits {
        StreamLimits::new(&LimitsConfig {
            max_streams: total,
            max_streams_per_client: per_client,
            max_streams_per_job: per_job,
            ..LimitsConfig::default()
        })
    }

    #[test]
    fn stream_permits_count_per_client_and_job_and_are_given_back() {
        let limits = limits(3, 2, 1);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let job = JobId::new();
        let first = limits.admit(a, Some(job)).unwrap();
        assert!(limits.admit(b, Some(job)).is_err(), "per job");
        let _second = limits.admit(a, None).unwrap();
        assert!(limits.admit(a, None).is_err(), "per client");
        let _third = limits.admit(b, None).unwrap();
        assert!(limits.admit(b, None).is_err(), "in total");
        drop(first);
        assert_eq!(limits.open(), 2);
        assert!(limits.admit(b, Some(job)).is_ok());
        assert_eq!(limits.open(), 2, "the permit was dropped at once");
    }

    #[test]
    fn the_bucket_refuses_past_the_burst_and_says_how_long_to_wait() {
        let limiter = CreateLimiter::new(1.0, 2);
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        let none = HeaderMap::new();
        assert!(limiter.check(&none, addr).is_ok());
        assert!(limiter.check(&none, addr).is_ok());
        match limiter.check(&none, addr) {
            Err(ApiError::TooManyRequests { retry_after, .. }) => {
                assert!(retry_after <= Duration::from_secs(1), "{retry_after:?}")
            }
            other => panic!("expected 429, got {other:?}"),
        }
        let mut token = HeaderMap::new();
        token.insert("authorization", "Bearer abc".parse().unwrap());
        assert!(
            limiter.check(&token, addr).is_ok(),
            "a token has its own bucket"
        );
    }

    #[test]
    fn many_creations_are_taken_all_at_once_or_not_at_all() {
        let limiter = CreateLimiter::new(0.001, 5);
        assert_eq!(limiter.capacity(), 5);
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        let none = HeaderMap::new();
        let n = |n: u32| NonZeroU32::new(n).unwrap();
        assert!(limiter.check_n(&none, addr, n(3)).is_ok());
        match limiter.check_n(&none, addr, n(3)) {
            Err(ApiError::TooManyRequests { retry_after, .. }) => {
                assert!(retry_after > Duration::from_secs(100), "{retry_after:?}")
            }
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(
            limiter.check_n(&none, addr, n(2)).is_ok(),
            "none taken by the refusal"
        );
        assert!(limiter.check(&none, addr).is_err(), "and now none are left");
        // More than the bucket holds is refused whatever is left: waiting would not help.
        let fresh = CreateLimiter::new(1000.0, 5);
        match fresh.check_n(&none, addr, n(6)) {
            Err(ApiError::InvalidField { field, .. }) => assert_eq!(field, "jobs"),
            other => panic!("expected 422, got {other:?}"),
        }
        assert!(
            fresh.check_n(&none, addr, n(5)).is_ok(),
            "nothing was taken"
        );
    }

    #[test]
    fn forwarded_for_is_only_believed_when_trusted() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 10.1.2.3".parse().unwrap());
        assert_eq!(client_addr(&headers, peer, false), peer);
        assert_eq!(
            client_addr(&headers, peer, true),
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_addr(&headers, peer, true), peer);
    }
}
