//! The multiplexed stream of every job's changes: `GET /api/events?type=&status=`.
//!
//! A page that lists jobs cannot open a stream per job (browsers allow six HTTP/1.1
//! connections per origin), so this one stream carries the state of each job that changes,
//! with its job id. It is built like the job stream: it looks for changes every poll interval
//! and at once after this process writes, sends heartbeats, ends at the cap and at shutdown.
//!
//! Event ids are the global change sequence: `Last-Event-ID: N` resumes with every job that
//! changed after change N, each in its current state. A new connection starts at the current
//! change with a `ready` event whose id to resume from.

use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;
use serde_json::Value;
use tokio::time::{interval_at, sleep_until, Instant, MissedTickBehavior};

use super::frame::{self, Event};
use super::job::StreamContext;
use crate::job::{Job, JobId, JobStatus, ProgressFields, Timestamp};
use crate::store::{Store, StoreError};

/// Changes read per query while catching up.
const CHANGES_PER_QUERY: i64 = 500;

/// Which jobs a stream carries. A job is sent when its state after the change matches.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub job_type: Option<String>,
    pub status: Option<JobStatus>,
}

impl EventFilter {
    fn matches(&self, job: &Job) -> bool {
        self.job_type.as_ref().is_none_or(|t| *t == job.job_type)
            && self.status.is_none_or(|s| s == job.status)
    }
}

/// One job's state, as the multiplexed stream sends it.
#[derive(Debug, Serialize)]
struct JobEvent<'a> {
    job_id: JobId,
    #[serde(rename = "type")]
    job_type: &'a str,
    status: JobStatus,
    #[serde(flatten)]
    bar: ProgressFields<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Value>,
    attempt: i64,
    version: i64,
    updated_at: Timestamp,
}

fn job_event(job: &Job, seq: i64) -> Bytes {
    let name = match job.status {
        JobStatus::Completed => "completed",
        JobStatus::Failed | JobStatus::Cancelled => "failed",
        JobStatus::Queued | JobStatus::Running | JobStatus::Waiting => "progress",
    };
    let data = JobEvent {
        job_id: job.id,
        job_type: &job.job_type,
        status: job.status,
        bar: job.progress_fields(),
        result: job
            .result
            .as_ref()
            .filter(|_| job.status == JobStatus::Completed),
        error: job.error.as_deref().filter(|_| job.status.is_finished()),
        details: job.details.as_ref().filter(|_| job.status.is_finished()),
        attempt: job.attempt,
        version: job.version,
        updated_at: job.updated_at,
    };
    Event::json(&data)
        .name(name)
        .and_then(|e| e.id(&seq.to_string()))
        .map(|e| e.encode())
        .unwrap_or_default()
}

/// The events for every change after `seen` that `filter` lets through, and the new mark.
async fn catch_up(
    store: &Store,
    filter: &EventFilter,
    mut seen: i64,
) -> Result<(Vec<Bytes>, i64), StoreError> {
    let mut frames = Vec::new();
    loop {
        let changes = store.changes_since(seen, CHANGES_PER_QUERY).await?;
        let ids: Vec<JobId> = changes.iter().map(|(id, _, _)| *id).collect();
        let jobs = store.get_jobs(&ids).await?;
        for (id, _, seq) in &changes {
            if let Some(job) = jobs.iter().find(|j| j.id == *id) {
                if filter.matches(job) {
                    frames.push(job_event(job, *seq));
                }
            }
            seen = *seq;
        }
        if (changes.len() as i64) < CHANGES_PER_QUERY {
            return Ok((frames, seen));
        }
    }
}

/// The body of `GET /api/events`.
pub fn events_stream(
    context: StreamContext,
    filter: EventFilter,
    last_seen: Option<i64>,
) -> impl Stream<Item = Bytes> + Send + 'static {
    let StreamContext {
        store,
        timings,
        shutdown,
        mut heartbeat,
        guard,
    } = context;
    async_stream::stream! {
        let _guard = guard;
        let now = Instant::now();
        let deadline = now + timings.max_duration;
        let mut ticks = interval_at(now + timings.poll_interval, timings.poll_interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut changes = store.watch_changes();
        yield frame::retry(timings.retry);
        let newest = match store.max_change_seq().await {
            Ok(seq) => seq,
            Err(error) => {
                tracing::warn!(%error, "events stream could not start");
                return;
            }
        };
        let mut seen = match last_seen.filter(|v| *v <= newest) {
            Some(resume) => resume,
            None => {
                yield ready_event(newest);
                newest
            }
        };
        loop {
            match catch_up(&store, &filter, seen).await {
                Ok((frames, mark)) => {
                    seen = mark;
                    for f in frames {
                        yield f;
                    }
                }
                Err(error) => tracing::warn!(%error, "events stream poll failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = sleep_until(deadline) => break,
                _ = heartbeat.beat() => yield frame::comment("heartbeat"),
                _ = changes.changed() => {}
                _ = ticks.tick() => {}
            }
        }
    }
}

/// `event: ready`: where a new connection starts, as an id to resume from.
fn ready_event(seq: i64) -> Bytes {
    Event::json(&serde_json::json!({ "seq": seq }))
        .name("ready")
        .and_then(|e| e.id(&seq.to_string()))
        .map(|e| e.encode())
        .unwrap_or_default()
}
