//! Prometheus metrics, served at `GET /metrics` in the text format.
//!
//! One [`Metrics`] per application, made with its store: the store records what happens to
//! jobs (attempts, retries, ends, run and wait times), the HTTP layer requests and streams,
//! the poller its ticks. Job counts by type and status are read from the store at scrape time,
//! so they are right even for jobs changed by other processes.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::job::{Job, JobStatus, Timestamp};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabels {
    pub r#type: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeStatusLabels {
    pub r#type: String,
    pub status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub r#type: String,
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub event: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's template (`/api/jobs/{id}`), never the raw path: ids would make every
    /// request a new series.
    pub route: String,
    pub method: String,
    pub status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScheduleLabels {
    pub schedule: String,
}

/// What the database says about pauses and schedules, set at each scrape (shared by every
/// node, so not to be added up across nodes).
#[derive(Debug, Clone, Default)]
pub struct ControlState {
    /// Every declared type and whether it is paused.
    pub types: Vec<(String, bool)>,
    /// Every declared schedule: its name, whether it is paused, its last run and its run
    /// count.
    pub schedules: Vec<(String, bool, Option<Timestamp>, i64)>,
}

/// Every metric jobcast exports. Cheap to clone: all handles share their values.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    jobs: Family<TypeStatusLabels, Gauge>,
    finished: Family<OutcomeLabels, Counter>,
    run_seconds: Family<TypeLabels, Histogram>,
    queue_wait_seconds: Family<TypeLabels, Histogram>,
    attempts: Family<TypeLabels, Counter>,
    retries: Family<TypeLabels, Counter>,
    streams_open: Gauge,
    streams_opened: Counter,
    streams_closed: Counter,
    events_sent: Family<EventLabels, Counter>,
    poll_seconds: Histogram,
    poll_rows: Histogram,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram>,
    store_errors: Counter,
    store_commits: Counter,
    type_paused: Family<TypeLabels, Gauge>,
    schedule_paused: Family<ScheduleLabels, Gauge>,
    schedule_runs: Family<ScheduleLabels, Gauge>,
    schedule_last_run: Family<ScheduleLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// The store's commit count at the last scrape, so the counter moves by the difference.
    commits_seen: std::sync::atomic::AtomicU64,
}

/// Seconds from 1 ms to about 36 minutes, for request and poll durations.
fn fast_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 22))
}

/// Seconds from 10 ms to about 12 days, for job run and queue wait times.
fn slow_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 4.0, 14))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("jobcast");
        let jobs = Family::<TypeStatusLabels, Gauge>::default();
        registry.register("jobs", "Jobs in the store by type and status", jobs.clone());
        let finished = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "jobs_finished",
            "Jobs ended by this process, by type and outcome (completed, failed, cancelled)",
            finished.clone(),
        );
        let run_seconds = Family::<TypeLabels, Histogram>::new_with_constructor(slow_buckets as _);
        registry.register(
            "job_run_seconds",
            "Time from a job's start to its end, by type",
            run_seconds.clone(),
        );
        let queue_wait_seconds =
            Family::<TypeLabels, Histogram>::new_with_constructor(slow_buckets as _);
        registry.register(
            "job_queue_wait_seconds",
            "Time an attempt waited in the queue after it was due, by type",
            queue_wait_seconds.clone(),
        );
        let attempts = Family::<TypeLabels, Counter>::default();
        registry.register(
            "job_attempts",
            "Attempts started, by type",
            attempts.clone(),
        );
        let retries = Family::<TypeLabels, Counter>::default();
        registry.register(
            "job_retries",
            "Failed attempts queued again for a retry, by type",
            retries.clone(),
        );
        let streams_open = Gauge::default();
        registry.register(
            "streams_open",
            "Event streams open now",
            streams_open.clone(),
        );
        let streams_opened = Counter::default();
        registry.register(
            "streams_opened",
            "Event streams opened",
            streams_opened.clone(),
        );
        let streams_closed = Counter::default();
        registry.register(
            "streams_closed",
            "Event streams ended (job end, cap, shutdown or client gone)",
            streams_closed.clone(),
        );
        let events_sent = Family::<EventLabels, Counter>::default();
        registry.register(
            "sse_events_sent",
            "Server-sent events by name (heartbeat comments too)",
            events_sent.clone(),
        );
        let poll_seconds = fast_buckets();
        registry.register(
            "poll_duration_seconds",
            "Duration of one tick of the shared stream poller",
            poll_seconds.clone(),
        );
        let poll_rows = Histogram::new(exponential_buckets(1.0, 4.0, 10));
        registry.register(
            "poll_rows",
            "Changed job rows read by one tick of the shared stream poller",
            poll_rows.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route template, method and status",
            requests.clone(),
        );
        let request_seconds =
            Family::<RouteLabels, Histogram>::new_with_constructor(fast_buckets as _);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request (to the response head for streams), by route template",
            request_seconds.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "store_errors",
            "Database errors met by requests, the runner and the poller",
            store_errors.clone(),
        );
        let store_commits = Counter::default();
        registry.register(
            "store_commits",
            "Write transactions the store committed (a batch of writes, or one statement)",
            store_commits.clone(),
        );
        let type_paused = Family::<TypeLabels, Gauge>::default();
        registry.register(
            "type_paused",
            "1 while the job type is paused (no job of it is claimed), else 0",
            type_paused.clone(),
        );
        let schedule_paused = Family::<ScheduleLabels, Gauge>::default();
        registry.register(
            "schedule_paused",
            "1 while the schedule is paused, else 0",
            schedule_paused.clone(),
        );
        let schedule_runs = Family::<ScheduleLabels, Gauge>::default();
        registry.register(
            "schedule_runs",
            "Runs the schedule has made, triggers included, as the database records them",
            schedule_runs.clone(),
        );
        let schedule_last_run =
            Family::<ScheduleLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "schedule_last_run_timestamp_seconds",
            "When the schedule last ran (its tick, or a trigger's time), Unix seconds",
            schedule_last_run.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                jobs,
                finished,
                run_seconds,
                queue_wait_seconds,
                attempts,
                retries,
                streams_open,
                streams_opened,
                streams_closed,
                events_sent,
                poll_seconds,
                poll_rows,
                requests,
                request_seconds,
                store_errors,
                store_commits,
                type_paused,
                schedule_paused,
                schedule_runs,
                schedule_last_run,
                commits_seen: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// The text exposition, after setting the job counts to `counts` (type, status, count) and
    /// the store's commits to `commits` (its running total).
    pub fn render(&self, counts: &[(String, String, i64)], commits: u64) -> String {
        let seen = self
            .inner
            .commits_seen
            .fetch_max(commits, std::sync::atomic::Ordering::Relaxed);
        self.inner
            .store_commits
            .inc_by(commits.saturating_sub(seen));
        let jobs = &self.inner.jobs;
        jobs.clear();
        for (job_type, status, count) in counts {
            jobs.get_or_create(&TypeStatusLabels {
                r#type: job_type.clone(),
                status: status.clone(),
            })
            .set(*count);
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }

    /// Sets the pause and schedule gauges to `state` (read from the store at a scrape).
    pub fn set_control(&self, state: &ControlState) {
        let inner = &self.inner;
        inner.type_paused.clear();
        for (job_type, paused) in &state.types {
            inner
                .type_paused
                .get_or_create(&TypeLabels {
                    r#type: job_type.clone(),
                })
                .set(i64::from(*paused));
        }
        inner.schedule_paused.clear();
        inner.schedule_runs.clear();
        inner.schedule_last_run.clear();
        for (name, paused, last_run, runs) in &state.schedules {
            let labels = ScheduleLabels {
                schedule: name.clone(),
            };
            inner
                .schedule_paused
                .get_or_create(&labels)
                .set(i64::from(*paused));
            inner.schedule_runs.get_or_create(&labels).set(*runs);
            if let Some(at) = last_run {
                inner
                    .schedule_last_run
                    .get_or_create(&labels)
                    .set(at.as_millis() as f64 / 1000.0);
            }
        }
    }

    fn of_type(job: &Job) -> TypeLabels {
        TypeLabels {
            r#type: job.job_type.clone(),
        }
    }

    /// An attempt of `job` started (a claim by the runner or a worker, or an external job's
    /// first update).
    pub fn attempt_started(&self, job: &Job) {
        let labels = Self::of_type(job);
        self.inner.attempts.get_or_create(&labels).inc();
        let started = job.started_at.unwrap_or_else(Timestamp::now);
        let due = job.run_at.max(job.created_at);
        self.inner
            .queue_wait_seconds
            .get_or_create(&labels)
            .observe(seconds_between(due, started));
    }

    /// `job` is back in the queue for another attempt.
    pub fn retried(&self, job: &Job) {
        self.inner.retries.get_or_create(&Self::of_type(job)).inc();
    }

    /// `job` has ended; records its outcome and run time.
    pub fn finished(&self, job: &Job) {
        let outcome = match job.status {
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Queued | JobStatus::Running | JobStatus::Waiting => return,
        };
        self.inner
            .finished
            .get_or_create(&OutcomeLabels {
                r#type: job.job_type.clone(),
                outcome: outcome.to_owned(),
            })
            .inc();
        if let (Some(started), Some(finished)) = (job.started_at, job.finished_at) {
            self.inner
                .run_seconds
                .get_or_create(&Self::of_type(job))
                .observe(seconds_between(started, finished));
        }
    }

    pub fn stream_opened(&self) {
        self.inner.streams_open.inc();
        self.inner.streams_opened.inc();
    }

    pub fn stream_closed(&self) {
        self.inner.streams_open.dec();
        self.inner.streams_closed.inc();
    }

    /// One event (or heartbeat comment) went out on a stream.
    pub fn event_sent(&self, name: &str) {
        self.inner
            .events_sent
            .get_or_create(&EventLabels {
                event: name.to_owned(),
            })
            .inc();
    }

    /// One poller tick took `took` and read `rows` changed rows.
    pub fn polled(&self, took: Duration, rows: usize) {
        self.inner.poll_seconds.observe(took.as_secs_f64());
        self.inner.poll_rows.observe(rows as f64);
    }

    /// A request to `route` (a template) was answered with `status` after `took`.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.inner
            .request_seconds
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn store_error(&self) {
        self.inner.store_errors.inc();
    }
}

fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    (to.as_millis() - from.as_millis()).max(0) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_family_and_sets_job_counts() {
        let metrics = Metrics::new();
        metrics.stream_opened();
        metrics.event_sent("progress");
        metrics.request("/api/jobs/{id}", "GET", 200, Duration::from_millis(3));
        let text = metrics.render(&[("demo".into(), "queued".into(), 4)], 7);
        assert!(
            text.contains("jobcast_jobs{type=\"demo\",status=\"queued\"} 4"),
            "{text}"
        );
        assert!(text.contains("jobcast_streams_open 1"), "{text}");
        assert!(
            text.contains("jobcast_sse_events_sent_total{event=\"progress\"} 1"),
            "{text}"
        );
        assert!(text.contains(
            "jobcast_http_requests_total{route=\"/api/jobs/{id}\",method=\"GET\",status=\"200\"} 1"
        ));
        assert!(text.contains("jobcast_store_commits_total 7"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        // Counts are replaced at each scrape, not added up; the commits counter follows the
        // store's running total.
        let text = metrics.render(&[], 12);
        assert!(!text.contains("jobcast_jobs{"), "{text}");
        assert!(text.contains("jobcast_store_commits_total 12"), "{text}");
    }
}
