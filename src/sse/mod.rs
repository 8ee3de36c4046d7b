//! Server-Sent Events: the wire format ([`frame`]), the per-job event stream ([`job`]) and the
//! shared poller that tells streams about changes ([`poller`]).
//!
//! The HTTP layer only picks the job and the resume point, then hands the stream to hyper as
//! the response body.

pub mod frame;
pub mod job;
pub mod poller;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts open streams; a [`StreamGuard`] is held by each stream for as long as it lives, so
/// the count drops the moment a stream's body is dropped (client gone, shutdown, end).
#[derive(Debug, Clone, Default)]
pub struct StreamGauge(Arc<AtomicUsize>);

impl StreamGauge {
    pub fn open(&self) -> StreamGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        StreamGuard(self.0.clone())
    }

    /// Streams open right now.
    pub fn current(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Decrements its [`StreamGauge`] when dropped.
#[derive(Debug)]
pub struct StreamGuard(Arc<AtomicUsize>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
