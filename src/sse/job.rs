//! The event stream of one job: `GET /api/jobs/{id}/stream`.
//!
//! Each stream hears of changes to its job from the shared [`super::poller`] (at once for this
//! process's writes, within a poll interval for anyone else's). Event ids are job versions, so a client
//! that reconnects with `Last-Event-ID: N` gets exactly what changed after version N:
//! log lines carry the version they were written at, progress and terminal events the version
//! at which the status or progress last changed. Without `Last-Event-ID` a stream starts at the
//! job's current state (a `progress` event, or the terminal event of a finished job).
//!
//! A queued job of a paused type says so: its `progress` events carry `"paused": true`. A pause
//! or resume is not a change of the job (no version), so when one happens while the stream is
//! open, the stream sends a `progress` event without an id: the client's resume point stays
//! where it was. A client that reconnects to a paused job gets one such event too.
//!
//! Rules (see `docs/stream.md`): heartbeat comments every `heartbeat`; the body ends
//! `close_delay` after the terminal event, at `max_duration`, or at shutdown; a dropped client
//! drops the stream, and with it its timers and queries.

use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;
use serde_json::Value;
use tokio::time::{sleep, sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use tokio::sync::watch;

use super::frame::{self, Event};
use super::poller::{Snapshot, Subscription};
use super::{Heartbeat, StreamGuard};
use crate::job::{FamilyCounts, Job, JobId, JobStatus, LogLine, ProgressFields};
use crate::store::{PausedTypes, Store};

/// Timings of a stream; see `[stream]` in the config.
#[derive(Debug, Clone, Copy)]
pub struct StreamTimings {
    pub poll_interval: Duration,
    pub heartbeat: Duration,
    pub max_duration: Duration,
    pub close_delay: Duration,
    pub retry: Duration,
}

/// Data of a `progress` event.
#[derive(Debug, Serialize)]
struct ProgressData<'a> {
    status: JobStatus,
    #[serde(flatten)]
    bar: ProgressFields<'a>,
    /// Queued, and its type is paused: nobody will claim it until the type is resumed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    paused: bool,
    /// A parent's children by status.
    #[serde(skip_serializing_if = "Option::is_none")]
    family: Option<FamilyCounts>,
}

/// Data of a `child` event on a parent's stream: one child's status and progress as they
/// last changed.
#[derive(Debug, Serialize)]
struct ChildData<'a> {
    child_id: JobId,
    #[serde(rename = "type")]
    job_type: &'a str,
    status: JobStatus,
    #[serde(flatten)]
    bar: ProgressFields<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// Data of a `completed` event.
#[derive(Debug, Serialize)]
struct CompletedData<'a> {
    status: JobStatus,
    progress: f64,
    result: &'a Value,
}

/// Data of a `failed` event (also sent for a cancelled job).
#[derive(Debug, Serialize)]
struct FailedData<'a> {
    status: JobStatus,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Value>,
}

fn event(name: &str, id: i64, data: &impl Serialize) -> Bytes {
    Event::json(data)
        .name(name)
        .and_then(|e| e.id(&id.to_string()))
        .map(|e| e.encode())
        .unwrap_or_default()
}

/// The job's state as one event, tagged with `id`: `progress` while it is unfinished (saying
/// so when it is queued and `paused`), else its terminal event.
pub fn state_event(job: &Job, id: i64, paused: bool) -> Bytes {
    match job.status {
        JobStatus::Completed => event(
            "completed",
            id,
            &CompletedData {
                status: job.status,
                progress: 100.0,
                result: job.result.as_ref().unwrap_or(&Value::Null),
            },
        ),
        JobStatus::Failed | JobStatus::Cancelled => event(
            "failed",
            id,
            &FailedData {
                status: job.status,
                error: job.error.as_deref().unwrap_or(job.status.as_str()),
                details: job.details.as_ref(),
            },
        ),
        JobStatus::Queued | JobStatus::Running | JobStatus::Waiting => event(
            "progress",
            id,
            &ProgressData {
                status: job.status,
                bar: job.progress_fields(),
                paused: paused && job.status == JobStatus::Queued,
                family: job.family,
            },
        ),
    }
}

/// A queued job's `progress` event without an id: its type was paused or resumed, which is not
/// a change of the job, so the client's resume point stays where it was.
pub fn pause_notice(job: &Job, paused: bool) -> Bytes {
    let data = ProgressData {
        status: job.status,
        bar: job.progress_fields(),
        paused,
        family: job.family,
    };
    Event::json(&data)
        .name("progress")
        .map(|e| e.encode())
        .unwrap_or_default()
}

/// A `log` event for one line (a child's, on its parent's stream, names the child).
pub fn log_event(line: &LogLine) -> Bytes {
    event("log", line.version, line)
}

/// A `child` event on a parent's stream, at the parent's version at which `child` last changed.
pub fn child_event(child: &Job) -> Bytes {
    let finished_badly = matches!(child.status, JobStatus::Failed | JobStatus::Cancelled);
    event(
        "child",
        child.family_version,
        &ChildData {
            child_id: child.id,
            job_type: &child.job_type,
            status: child.status,
            bar: ProgressFields {
                // As its own stream's `completed` event says.
                progress: if child.status == JobStatus::Completed {
                    100.0
                } else {
                    child.progress
                },
                ..child.progress_fields()
            },
            error: child.error.as_deref().filter(|_| finished_badly),
        },
    )
}

/// Whether a client that last saw version `last_seen` has already had everything, the terminal
/// event included: then the right answer is 204, so `EventSource` stops reconnecting.
pub fn already_seen_the_end(job: &Job, last_seen: Option<i64>) -> bool {
    matches!(last_seen, Some(v) if job.status.is_finished() && v >= job.state_version && v <= job.version)
}

/// The events that take a client from version `after` to `job`'s current version, in order:
/// its log lines, its `children`'s changes (for a parent) and its state (`paused`: whether the
/// job's type is paused).
pub fn events_after(
    job: &Job,
    after: i64,
    logs: &[LogLine],
    children: &[Job],
    paused: bool,
) -> Vec<Bytes> {
    let mut events: Vec<(i64, u8, Bytes)> = logs
        .iter()
        .filter(|line| line.version > after)
        .map(|line| (line.version, 1, log_event(line)))
        .chain(
            children
                .iter()
                .filter(|child| child.family_version > after)
                .map(|child| (child.family_version, 1, child_event(child))),
        )
        .collect();
    if job.state_version > after {
        // A terminal event goes last whatever its version; a progress event before a log line
        // of the same version (an external job's first log line starts it).
        let rank = if job.status.is_finished() { 2 } else { 0 };
        let id = if job.status.is_finished() {
            job.version
        } else {
            job.state_version
        };
        events.push((id, rank, state_event(job, id, paused)));
    }
    events.sort_by_key(|(version, rank, _)| (*version, *rank));
    events.into_iter().map(|(_, _, bytes)| bytes).collect()
}

/// What a stream does next.
enum Step {
    Send(Vec<Bytes>),
    /// Send these, then end the body after the close delay.
    Finish(Vec<Bytes>),
    End,
}

/// The moving parts of one stream, kept out of the `stream!` body so rustfmt sees them.
struct JobStream {
    store: Store,
    job_id: JobId,
    /// The shared poller's news of the job: no query of its own unless it fell behind.
    subscription: Subscription,
    /// Highest version the client has been sent.
    seen: i64,
    timings: StreamTimings,
    shutdown: CancellationToken,
    deadline: Instant,
    heartbeat: Heartbeat,
    /// The paused types as this process knows them.
    paused: watch::Receiver<PausedTypes>,
    /// The job as last sent, and whether the client was last told it is paused.
    job: std::sync::Arc<Job>,
    told_paused: bool,
}

impl JobStream {
    /// Whether `job` is queued and its type paused, as this process knows now.
    fn is_paused(&self, job: &Job) -> bool {
        job.status == JobStatus::Queued && self.paused.borrow().contains_key(&job.job_type)
    }

    /// The log lines after version `after` up to the snapshot's: from memory when the
    /// snapshot holds them all, else from the store.
    async fn logs_since(&self, snapshot: &Snapshot, after: i64) -> Result<Vec<LogLine>, ()> {
        if let Some(lines) = snapshot.logs_since(after) {
            return Ok(lines);
        }
        if snapshot.job.log_seq == 0 {
            return Ok(Vec::new());
        }
        // Boxed: this fallback is rare, and its query future would otherwise make every idle
        // stream's state as large as itself.
        Box::pin(
            self.store
                .logs_between_versions(self.job_id, after, snapshot.job.version),
        )
        .await
        .map_err(|error| tracing::warn!(job_id = %self.job_id, %error, "stream could not read log lines"))
    }

    /// The children of a parent that changed after version `after` up to the snapshot's.
    async fn children_since(&self, snapshot: &Snapshot, after: i64) -> Result<Vec<Job>, ()> {
        let job = &snapshot.job;
        if job.children == 0 || job.version <= after {
            return Ok(Vec::new());
        }
        // Boxed for the same reason as the log fallback: only parents' streams run it.
        Box::pin(self.store.children_changed(job.id, after, job.version))
            .await
            .map_err(|error| tracing::warn!(job_id = %self.job_id, %error, "stream could not read children"))
    }

    /// The first events: the current state for a new client, or what it missed for a
    /// reconnecting one.
    async fn first(&mut self, snapshot: &Snapshot, last_seen: Option<i64>) -> Step {
        let job = &snapshot.job;
        let resume = last_seen.filter(|v| *v <= job.version);
        self.paused.mark_unchanged();
        let paused = self.is_paused(job);
        let mut events = match resume {
            None => vec![state_event(job, job.version, paused)],
            Some(after) => {
                let (Ok(logs), Ok(children)) = (
                    self.logs_since(snapshot, after).await,
                    self.children_since(snapshot, after).await,
                ) else {
                    return Step::End;
                };
                events_after(job, after, &logs, &children, paused)
            }
        };
        if paused && resume.is_some_and(|after| job.state_version <= after) {
            // The client saw the job's state already, but maybe not the pause.
            events.push(pause_notice(job, true));
        }
        self.seen = job.version;
        self.job = job.clone();
        self.told_paused = paused;
        if job.status.is_finished() {
            Step::Finish(events)
        } else {
            Step::Send(events)
        }
    }

    /// Waits for the next thing to send: news, a heartbeat, or the end.
    async fn next(&mut self) -> Step {
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return Step::End,
                _ = sleep_until(self.deadline) => return Step::End,
                _ = self.heartbeat.beat() => return Step::Send(vec![frame::comment("heartbeat")]),
                _ = self.subscription.changed() => {
                    let snapshot = self.subscription.latest();
                    if let Some(step) = self.catch_up(&snapshot).await {
                        return step;
                    }
                }
                Ok(()) = self.paused.changed() => {
                    let job = self.job.clone();
                    let paused = self.is_paused(&job);
                    if job.status == JobStatus::Queued && paused != self.told_paused {
                        self.told_paused = paused;
                        return Step::Send(vec![pause_notice(&job, paused)]);
                    }
                }
            }
        }
    }

    /// The events between what the client has seen and `snapshot`; `None` if nothing is new.
    async fn catch_up(&mut self, snapshot: &Snapshot) -> Option<Step> {
        let job = &snapshot.job;
        if job.version <= self.seen {
            return None;
        }
        let logs = self.logs_since(snapshot, self.seen).await.ok()?;
        let children = self.children_since(snapshot, self.seen).await.ok()?;
        let paused = self.is_paused(job);
        let mut events = events_after(job, self.seen, &logs, &children, paused);
        if job.status == JobStatus::Queued
            && paused != self.told_paused
            && job.state_version <= self.seen
        {
            events.push(pause_notice(job, paused));
        }
        self.told_paused = paused;
        self.seen = job.version;
        self.job = job.clone();
        Some(if job.status.is_finished() {
            Step::Finish(events)
        } else {
            Step::Send(events)
        })
    }

    /// Holds the body open for the close delay after the terminal event, unless shutting down.
    async fn linger(&self) {
        tokio::select! {
            _ = sleep(self.timings.close_delay) => {}
            _ = self.shutdown.cancelled() => {}
        }
    }
}

/// What every stream gets from the server besides its job.
pub struct StreamContext {
    pub store: Store,
    pub timings: StreamTimings,
    /// Ends the stream at shutdown.
    pub shutdown: CancellationToken,
    pub heartbeat: Heartbeat,
    /// Counts the stream as open while it lives.
    pub guard: StreamGuard,
}

/// The SSE body for the job in `snapshot`: frames until the terminal event (plus the close
/// delay), the duration cap, shutdown, or the client going away.
pub fn job_stream(
    context: StreamContext,
    snapshot: Snapshot,
    subscription: Subscription,
    last_seen: Option<i64>,
) -> impl Stream<Item = Bytes> + Send + 'static {
    let StreamContext {
        store,
        timings,
        shutdown,
        heartbeat,
        guard,
    } = context;
    async_stream::stream! {
        let _guard = guard;
        let now = Instant::now();
        let mut stream = JobStream {
            paused: store.watch_paused(),
            job: snapshot.job.clone(),
            told_paused: false,
            store,
            job_id: snapshot.job.id,
            subscription,
            seen: 0,
            timings,
            shutdown,
            deadline: now + timings.max_duration,
            heartbeat,
        };
        yield frame::retry(timings.retry);
        let mut step = stream.first(&snapshot, last_seen).await;
        loop {
            match step {
                Step::Send(frames) => {
                    for f in frames {
                        yield f;
                    }
                }
                Step::Finish(frames) => {
                    for f in frames {
                        yield f;
                    }
                    stream.linger().await;
                    break;
                }
                Step::End => break,
            }
            step = stream.next().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{LogLevel, Timestamp};

    fn job(status: JobStatus, version: i64, state_version: i64) -> Job {
        let now = Timestamp::now();
        Job {
            id: JobId::new(),
            job_type: "demo".into(),
            status,
            progress: 40.0,
            message: Some("step 4/10".into()),
            current: Some(4),
            total: Some(10),
            stage: None,
            payload: Value::Null,
            result: Some(serde_json::json!({"ok": true})),
            error: Some("boom".into()),
            details: None,
            priority: 0,
            attempt: 1,
            max_attempts: 1,
            timeout: None,
            idempotency_key: None,
            run_at: now,
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
            version,
            state_version,
            log_seq: 0,
            lease_owner: None,
            lease_expires_at: None,
            cancel_requested: false,
            worker: None,
            upload_id: None,
            parent_id: None,
            depth: 0,
            children: 0,
            child_policy: Default::default(),
            awaiting_children: false,
            family: None,
            family_version: 0,
            echoed_version: 0,
            told: None,
        }
    }

    fn line(seq: i64, version: i64) -> LogLine {
        LogLine {
            seq,
            ts: Timestamp::now(),
            level: LogLevel::Info,
            message: format!("line {seq}"),
            version,
            child_id: None,
        }
    }

    fn text(frames: &[Bytes]) -> String {
        frames
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect()
    }

    #[test]
    fn news_comes_in_version_order_with_versions_as_ids() {
        let job = job(JobStatus::Running, 6, 5);
        let out = text(&events_after(
            &job,
            3,
            &[line(1, 4), line(2, 6)],
            &[],
            false,
        ));
        let ids: Vec<&str> = out.lines().filter(|l| l.starts_with("id: ")).collect();
        assert_eq!(ids, ["id: 4", "id: 5", "id: 6"]);
        assert!(out.contains("event: progress\nid: 5\ndata: {\"status\":\"running\",\"progress\":40.0,\"message\":\"step 4/10\",\"current\":4,\"total\":10}"));
    }

    #[test]
    fn nothing_already_seen_is_sent_again() {
        let job = job(JobStatus::Running, 6, 5);
        assert!(events_after(&job, 6, &[line(1, 4), line(2, 6)], &[], false).is_empty());
        let out = text(&events_after(
            &job,
            5,
            &[line(1, 4), line(2, 6)],
            &[],
            false,
        ));
        assert_eq!(out.matches("event: ").count(), 1);
        assert!(out.contains("event: log\nid: 6"));
    }

    #[test]
    fn the_terminal_event_comes_last() {
        let job = job(JobStatus::Completed, 9, 9);
        let out = text(&events_after(&job, 0, &[line(1, 8)], &[], false));
        assert!(out.find("event: log").unwrap() < out.find("event: completed").unwrap());
        assert!(out.contains("event: completed\nid: 9\ndata: {\"status\":\"completed\",\"progress\":100.0,\"result\":{\"ok\":true}}"));
    }

    #[test]
    fn a_parents_stream_weaves_its_childrens_lines_and_changes_in_by_its_own_versions() {
        let parent = Job {
            children: 2,
            family: Some(FamilyCounts {
                running: 1,
                completed: 1,
                ..FamilyCounts::default()
            }),
            ..job(JobStatus::Waiting, 9, 9)
        };
        let child_line = LogLine {
            child_id: Some(JobId::new()),
            ..line(3, 5)
        };
        let done = Job {
            family_version: 6,
            progress: 100.0,
            ..job(JobStatus::Completed, 4, 4)
        };
        let halfway = Job {
            family_version: 8,
            ..job(JobStatus::Running, 3, 3)
        };
        let out = text(&events_after(
            &parent,
            5,
            &[line(2, 4), child_line],
            &[done.clone(), halfway],
            false,
        ));
        let names: Vec<&str> = out.lines().filter(|l| l.starts_with("event: ")).collect();
        assert_eq!(names, ["event: child", "event: child", "event: progress"]);
        let ids: Vec<&str> = out.lines().filter(|l| l.starts_with("id: ")).collect();
        assert_eq!(ids, ["id: 6", "id: 8", "id: 9"]);
        assert!(out.contains(&format!(
            "event: child\nid: 6\ndata: {{\"child_id\":\"{}\",\"type\":\"demo\",\"status\":\"completed\",\"progress\":100.0",
            done.id
        )));
        assert!(out.contains(
            "\"family\":{\"queued\":0,\"running\":1,\"completed\":1,\"failed\":0,\"cancelled\":0}"
        ));
        // From further back, the child's line comes, tagged.
        let all = text(&events_after(
            &parent,
            0,
            &[
                line(2, 4),
                LogLine {
                    child_id: Some(done.id),
                    ..line(3, 5)
                },
            ],
            &[],
            false,
        ));
        assert!(all.contains("event: log\nid: 5\ndata: {\"seq\":3,"));
        assert!(all.contains(&format!("\"child_id\":\"{}\"", done.id)));
    }

    #[test]
    fn a_cancelled_job_ends_with_a_failed_event() {
        let out =
            String::from_utf8(state_event(&job(JobStatus::Cancelled, 3, 3), 3, false).to_vec())
                .unwrap();
        assert!(out.starts_with("event: failed\nid: 3\ndata: {\"status\":\"cancelled\""));
    }

    #[test]
    fn a_client_that_saw_the_terminal_event_is_done() {
        let finished = job(JobStatus::Failed, 7, 7);
        assert!(already_seen_the_end(&finished, Some(7)));
        assert!(!already_seen_the_end(&finished, Some(6)));
        assert!(!already_seen_the_end(&finished, None));
        assert!(!already_seen_the_end(
            &job(JobStatus::Running, 7, 7),
            Some(7)
        ));
    }
}
