//! The runner's claims: how many jobs to ask for, of which types, and the claims under way.
//!
//! A worker is free as soon as its handler returns, and asks for its next job at once, without
//! waiting for the claims already under way: claims and the ends of the attempts before them
//! meet in the store's next batch, where claims by this runner for the same types are merged
//! into one statement. A claim that comes back short (the queue has no more of those types)
//! is not asked again until there is news: a job created or recovered here, or the next poll.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::JobTypes;
use crate::job::Job;
use crate::store::{Claimant, Store};

/// What a claim asked for and what it got.
pub(super) struct Claimed {
    types: Vec<String>,
    /// One type with a concurrency limit.
    limited: bool,
    asked: usize,
    pub(super) jobs: Vec<Job>,
}

/// The claims of one runner.
pub(super) struct Claims {
    store: Store,
    owner: Arc<str>,
    lease: Duration,
    under_way: FuturesUnordered<BoxFuture<'static, Claimed>>,
    /// Workers the claims under way are for.
    reserved: usize,
    /// The same, for each type with a concurrency limit.
    reserved_of_type: HashMap<String, usize>,
    /// Type lists whose last claim came back short.
    drained: HashSet<Vec<String>>,
}

impl Claims {
    pub(super) fn new(store: Store, owner: Arc<str>, lease: Duration) -> Self {
        Claims {
            store,
            owner,
            lease,
            under_way: FuturesUnordered::new(),
            reserved: 0,
            reserved_of_type: HashMap::new(),
            drained: HashSet::new(),
        }
    }

    /// Workers the claims under way are for.
    pub(super) fn reserved(&self) -> usize {
        self.reserved
    }

    pub(super) fn is_empty(&self) -> bool {
        self.under_way.is_empty()
    }

    /// Jobs may have become claimable: ask for every type again.
    pub(super) fn news(&mut self) {
        self.drained.clear();
    }

    /// Asks for up to `free` jobs of the `in_process` types: types with a concurrency limit
    /// each on their own, up to their room (`running(type)` run now), the others together.
    pub(super) fn ask(
        &mut self,
        types: &JobTypes,
        in_process: &[String],
        mut free: usize,
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
        if free > 0 && !unlimited.is_empty() {
            self.send(unlimited, free, false);
        }
    }

    /// Starts a claim of `limit` jobs of `types` unless they are drained; whether it did.
    fn send(&mut self, types: Vec<String>, limit: usize, limited: bool) -> bool {
        if self.drained.contains(&types) {
            return false;
        }
        self.reserved += limit;
        if limited {
            *self.reserved_of_type.entry(types[0].clone()).or_default() += limit;
        }
        let (store, owner, lease) = (self.store.clone(), self.owner.clone(), self.lease);
        self.under_way.push(Box::pin(async move {
            let claimant = Claimant {
                owner: &owner,
                worker: None,
            };
            let jobs = match store.claim(&types, &claimant, lease, limit).await {
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

    /// The next claim to come back, its workers no longer reserved (the caller runs its jobs).
    /// Pending forever while none is under way.
    pub(super) async fn next(&mut self) -> Claimed {
        let Some(claimed) = self.under_way.next().await else {
            return std::future::pending().await;
        };
        self.reserved -= claimed.asked;
        if claimed.limited {
            if let Some(reserved) = self.reserved_of_type.get_mut(&claimed.types[0]) {
                *reserved = reserved.saturating_sub(claimed.asked);
            }
        }
        if claimed.jobs.len() < claimed.asked {
            self.drained.insert(claimed.types.clone());
        }
        claimed
    }
}
