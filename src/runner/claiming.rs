//! The runner's claims: how many jobs to ask for, of which types, the claims under way, and
//! the jobs claimed ahead.
//!
//! - A worker is free as soon as its handler returns, and asks for its next job at once,
//!   without waiting for the claims already under way: claims and the ends of the attempts
//!   before them meet in the store's next batch, where claims by this runner for the same types
//!   are merged into one statement.
//! - Types with a concurrency limit are asked for first, each on its own, up to its room; the
//!   others together.
//! - **Claiming ahead**: while the jobs this runner runs are short (their handlers take less
//!   than `runner.claim_ahead` on average), it also keeps up to one job per worker claimed
//!   ahead, so a worker that frees starts its next job at once instead of waiting for a round
//!   trip to the database, and each batch carries twice the claims. A job claimed ahead is
//!   `running` (its lease held, its attempt counted, `started_at` its claim time) while it
//!   waits; one not started within a poll interval (a long job came along) goes back to the
//!   queue, its attempt not counted, so other nodes can take it. Only types without a
//!   concurrency limit are claimed ahead.
//! - A claim that comes back short (the queue has no more of those types) is not asked again
//!   until there is news: a job created or recovered here, or the next poll.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{JobTypes, Registered, Registry};
use crate::job::Job;
use crate::store::{Claimant, Store};

/// A claimed job ready to start: its cancel token and its place in the registry (cancels find
/// it there from the moment it is claimed).
pub(super) struct Ready {
    pub(super) job: Job,
    pub(super) cancel: CancellationToken,
    pub(super) registered: Registered,
}

/// What a claim asked for and what it got.
struct Claimed {
    types: Vec<String>,
    /// One type with a concurrency limit: its jobs start at once, in the workers reserved.
    limited: bool,
    asked: usize,
    jobs: Vec<Job>,
}

/// The claims of one runner, and its jobs claimed ahead.
pub(super) struct Claims {
    store: Store,
    owner: Arc<str>,
    lease: Duration,
    registry: Registry,
    under_way: FuturesUnordered<BoxFuture<'static, Claimed>>,
    /// Workers the claims under way for limited types are for.
    reserved: usize,
    /// The same, for each type with a concurrency limit.
    reserved_of_type: HashMap<String, usize>,
    /// Jobs asked for by the claims under way for the other types.
    asked_unlimited: usize,
    /// Jobs of types without a limit, claimed and not started yet, oldest first.
    ready: VecDeque<(Ready, Instant)>,
    /// Type lists whose last claim came back short.
    drained: HashSet<Vec<String>>,
}

impl Claims {
    pub(super) fn new(store: Store, owner: Arc<str>, lease: Duration, registry: Registry) -> Self {
        Claims {
            store,
            owner,
            lease,
            registry,
            under_way: FuturesUnordered::new(),
            reserved: 0,
            reserved_of_type: HashMap::new(),
            asked_unlimited: 0,
            ready: VecDeque::new(),
            drained: HashSet::new(),
        }
    }

    /// Workers the claims under way for limited types are for.
    pub(super) fn reserved(&self) -> usize {
        self.reserved
    }

    /// Whether claims are under way.
    pub(super) fn is_empty(&self) -> bool {
        self.under_way.is_empty()
    }

    /// Whether jobs wait to start.
    pub(super) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Jobs may have become claimable: ask for every type again.
    pub(super) fn news(&mut self) {
        self.drained.clear();
    }

    /// The next job claimed ahead, oldest first.
    pub(super) fn take_ready(&mut self) -> Option<Ready> {
        self.ready.pop_front().map(|(ready, _)| ready)
    }

    /// Jobs claimed ahead that have waited longer than `wait`: to go back to the queue.
    pub(super) fn stale(&mut self, wait: Duration) -> Vec<Ready> {
        let mut stale = Vec::new();
        while let Some((_, since)) = self.ready.front() {
            if since.elapsed() < wait {
                break;
            }
            stale.extend(self.ready.pop_front().map(|(ready, _)| ready));
        }
        stale
    }

    /// Asks for jobs for `free` workers of the `in_process` types: types with a concurrency
    /// limit each on their own, up to their room (`running(type)` run now); the others
    /// together, for the workers left and `ahead` more, less those already claimed ahead.
    pub(super) fn ask(
        &mut self,
        types: &JobTypes,
        in_process: &[String],
        mut free: usize,
        ahead: usize,
        running: impl Fn(&str) -> usize,
    ) {
        let mut unlimited = Vec::new();
        for job_type in in_process {
            match types.get(job_type).and_then(|t| t.config.concurrency) {
                None => unlimited.push(job_type.clone()),
                Some(limit) => {
                    let taken = running(job_type)
                        + self.reserved_of_type.get(job_type).copied().unwrap_or(0);
                    let room = limit.saturating_sub(taken).min(free);
                    if room > 0 && self.send(vec![job_type.clone()], room, true) {
                        free -= room;
                    }
                }
            }
        }
        let wanted = (free + ahead).saturating_sub(self.ready.len() + self.asked_unlimited);
        if wanted > 0 && !unlimited.is_empty() {
            self.send(unlimited, wanted, false);
        }
    }

    /// Starts a claim of `limit` jobs of `types` unless they are drained; whether it did.
    fn send(&mut self, types: Vec<String>, limit: usize, limited: bool) -> bool {
        if self.drained.contains(&types) {
            return false;
        }
        if limited {
            self.reserved += limit;
            *self.reserved_of_type.entry(types[0].clone()).or_default() += limit;
        } else {
            self.asked_unlimited += limit;
        }
        let (store, owner, lease) = (self.store.clone(), self.owner.clone(), self.lease);
        self.under_way.push(Box::pin(async move {
            let claimant = Claimant {
                owner: &owner,
                worker: None,
            };
            let jobs = match store
                .claim_unrecorded(&types, &claimant, lease, limit)
                .await
            {
                Ok(jobs) => jobs,
                Err(error) => {
                    store.metrics().store_error();
                    tracing::warn!(%error, "claiming jobs failed");
                    Vec::new()
                }
            };
            Claimed {
                types,
                limited,
                asked: limit,
                jobs,
            }
        }));
        true
    }

    /// Waits for the next claim to come back: its jobs of limited types are returned, to
    /// start at once in the workers reserved for them; the others join the jobs claimed
    /// ahead. Pending forever while no claim is under way.
    pub(super) async fn next(&mut self) -> Vec<Ready> {
        let Some(claimed) = self.under_way.next().await else {
            return std::future::pending().await;
        };
        if claimed.jobs.len() < claimed.asked {
            self.drained.insert(claimed.types.clone());
        }
        let ready = claimed.jobs.into_iter().map(|job| {
            let cancel = CancellationToken::new();
            Ready {
                registered: self.registry.register(&job, cancel.clone()),
                cancel,
                job,
            }
        });
        if claimed.limited {
            self.reserved -= claimed.asked;
            if let Some(reserved) = self.reserved_of_type.get_mut(&claimed.types[0]) {
                *reserved = reserved.saturating_sub(claimed.asked);
            }
            ready.collect()
        } else {
            self.asked_unlimited -= claimed.asked;
            let now = Instant::now();
            self.ready.extend(ready.map(|ready| (ready, now)));
            Vec::new()
        }
    }
}
