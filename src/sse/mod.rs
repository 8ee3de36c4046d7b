//! Server-Sent Events: the wire format ([`frame`]), the per-job event stream ([`job`]) and the
//! shared poller that tells streams about changes ([`poller`]).
//!
//! The HTTP layer only picks the job and the resume point, then hands the stream to hyper as
//! the response body.

pub mod events;
pub mod frame;
pub mod job;
pub mod poller;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Counts open streams; a [`StreamGuard`] is held by each stream for as long as it lives, so
/// the count drops the moment a stream's body is dropped (client gone, shutdown, end).
#[derive(Debug, Clone, Default)]
pub struct StreamGauge {
    open: Arc<AtomicUsize>,
    opened: Arc<AtomicUsize>,
    metrics: Metrics,
}

impl StreamGauge {
    /// A gauge that also counts into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        StreamGauge {
            metrics,
            ..StreamGauge::default()
        }
    }

    pub fn open(&self) -> StreamGuard {
        self.open.fetch_add(1, Ordering::Relaxed);
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.metrics.stream_opened();
        StreamGuard(self.open.clone(), self.metrics.clone())
    }

    /// Streams open right now.
    pub fn current(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Streams opened since start.
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }
}

/// Decrements its [`StreamGauge`] when dropped.
#[derive(Debug)]
pub struct StreamGuard(Arc<AtomicUsize>, Metrics);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
        self.1.stream_closed();
    }
}

/// One clock for every stream's heartbeat: a single timer ticks for the whole process instead
/// of one per open stream, and each stream only holds a receiver.
#[derive(Debug, Clone)]
pub struct Heartbeat(watch::Receiver<u64>);

/// The ticking side of a [`Heartbeat`].
#[derive(Debug)]
pub struct HeartbeatClock(watch::Sender<u64>);

impl Heartbeat {
    pub fn new() -> (Heartbeat, HeartbeatClock) {
        let (sender, receiver) = watch::channel(0);
        (Heartbeat(receiver), HeartbeatClock(sender))
    }

    /// A receiver for a new stream: its first beat is the next tick.
    pub fn join(&self) -> Heartbeat {
        let mut receiver = self.0.clone();
        receiver.mark_unchanged();
        Heartbeat(receiver)
    }

    /// Resolves at the next beat; never, once the clock has stopped.
    pub async fn beat(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await
        }
    }
}

impl HeartbeatClock {
    /// Beats every `period` until `shutdown`.
    pub async fn run(self, period: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => self.0.send_modify(|beats| *beats += 1),
                _ = shutdown.cancelled() => return,
            }
        }
    }
}
