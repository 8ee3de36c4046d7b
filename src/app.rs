//! Putting it together: [`Application::build`] opens the store (applying migrations), binds the
//! listener and prepares the runner; [`Application::run_until_stopped`] serves until a
//! shutdown signal, then stops the server, the streams and the runner in order.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::http::cors::Cors;
use crate::http::AppState;
use crate::metrics::Metrics;
use crate::runner::external::ExternalJobs;
use crate::runner::{JobHandler, JobTypes, Runner};
use crate::sse::job::StreamTimings;
use crate::sse::poller::Poller;
use crate::sse::{Heartbeat, HeartbeatClock, StreamGauge};
use crate::store::{database_file, Store, StoreError};
use crate::uploads::Uploads;

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the job store")]
    Store(#[from] StoreError),
    /// A PostgreSQL store has no file to put uploads next to.
    #[error(
        "uploads.dir (JOBCAST_UPLOAD_DIR) must be set when database_url is a PostgreSQL URL: \
         uploads are files, kept in a folder every jobcast process on that database can read"
    )]
    UploadsDirRequired,
    #[error("cannot open the uploads folder {dir}")]
    Uploads {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Exposure(String),
    #[error("cannot read or create the stream-signing secret {path}")]
    Secret {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid API tokens: {0}")]
    Auth(String),
    #[error("invalid job types: {0}")]
    JobTypes(String),
    #[error("invalid value for {0}")]
    Schedules(String),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// An application being built: the config plus Rust handlers registered in code.
pub struct ApplicationBuilder {
    config: Config,
    handlers: BTreeMap<String, Arc<dyn JobHandler>>,
}

impl ApplicationBuilder {
    /// Runs jobs of `job_type` with `handler` in this process. The type takes its settings
    /// (`max_attempts`, `timeout`, `concurrency`) from a `[job_types.NAME]` entry with
    /// `kind = "rust"` if the config has one, else the defaults.
    pub fn handler(mut self, job_type: impl Into<String>, handler: impl JobHandler) -> Self {
        self.handlers.insert(job_type.into(), Arc::new(handler));
        self
    }

    /// Opens the store (applying migrations), binds the listener and prepares the runner.
    pub async fn build(self) -> Result<Application, StartError> {
        Application::assemble(self.config, self.handlers).await
    }
}

/// A built application, bound and migrated, not yet serving.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    runner: Runner,
    heartbeat: HeartbeatClock,
    /// Unused uploads are removed this long after they arrived.
    keep_unused_uploads: std::time::Duration,
    /// Between a shutdown request and the shutdown: `/readyz` says 503, the rest serves.
    drain: std::time::Duration,
    /// Old finished jobs are pruned in the background (None: `retention.enabled = false`).
    retention: Option<crate::retention::Retention>,
    /// How often this process reads the paused types again (other processes pause and resume
    /// too, and streams show it): the stream poll interval.
    refresh_paused: std::time::Duration,
}

/// Live facts about a running application, for tests and benchmarks.
#[derive(Debug, Clone)]
pub struct AppHandle {
    streams: StreamGauge,
    /// Fired to ask for a shutdown; the drain period starts.
    draining: CancellationToken,
}

impl AppHandle {
    /// SSE streams open right now.
    pub fn open_streams(&self) -> usize {
        self.streams.current()
    }

    /// Streams opened since start.
    pub fn streams_opened(&self) -> usize {
        self.streams.opened()
    }

    /// Starts a graceful shutdown, as SIGTERM does.
    pub fn shutdown(&self) {
        self.draining.cancel();
    }
}

/// Connections waiting to be accepted. Thousands of `EventSource`s reconnect at once after a
/// restart; a short queue would drop their SYNs and cost each a one-second retransmit.
const ACCEPT_BACKLOG: u32 = 4096;

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

impl Application {
    /// Builds with the job types of `config` only.
    pub async fn build(config: Config) -> Result<Application, StartError> {
        Self::builder(config).build().await
    }

    /// Starts building; register Rust job handlers with [`ApplicationBuilder::handler`].
    pub fn builder(config: Config) -> ApplicationBuilder {
        ApplicationBuilder {
            config,
            handlers: BTreeMap::new(),
        }
    }

    async fn assemble(
        config: Config,
        handlers: BTreeMap<String, Arc<dyn JobHandler>>,
    ) -> Result<Application, StartError> {
        let types = JobTypes::new(&config.job_types, handlers).map_err(StartError::JobTypes)?;
        let auth = crate::auth::Auth::new(&config.auth.tokens, &config.auth.plain_tokens)
            .map_err(StartError::Auth)?;
        crate::auth::check_exposure(&auth, config.listen, config.auth.insecure_open)
            .map_err(StartError::Exposure)?;
        if auth.is_open() && !config.listen.ip().is_loopback() {
            tracing::warn!(
                listen = %config.listen,
                "running open (--insecure-open): anyone who can reach this address can run and read jobs"
            );
        }
        // Uploads (and the stream-signing secret) live next to a SQLite file by default; a
        // PostgreSQL store has none, so it needs `uploads.dir` and keeps the secret beside it.
        let (uploads_dir, secret_path) =
            match (&config.uploads.dir, database_file(&config.database_url)) {
                (dir, Some(file)) => {
                    let default = crate::uploads::default_dir(&file);
                    let secret = default.with_file_name("secret");
                    (dir.clone().unwrap_or(default), secret)
                }
                (Some(dir), None) => (dir.clone(), dir.with_file_name("secret")),
                (None, None) => return Err(StartError::UploadsDirRequired),
            };
        // One registry for the whole process: the store records attempts and ends into it,
        // the HTTP layer requests and streams.
        let metrics = Metrics::new();
        let store = Store::open(
            &config.database_url,
            crate::store::PoolOptions {
                max_connections: config.database_max_connections,
                acquire_timeout: config.database_acquire_timeout,
            },
            metrics.clone(),
        )
        .await?;
        store.keep_log_lines(config.limits.max_log_lines_per_job);
        // Families a killed process left unsettled (see `Store::settle_all`); a failure is not
        // fatal: the next child's end settles its family anyway.
        if let Err(error) = store.settle_all().await {
            tracing::warn!(error = %crate::telemetry::error_chain(&error), "could not settle families");
        }
        let signer = if auth.is_open() {
            None
        } else {
            let path = secret_path;
            let secret = crate::auth::load_or_create_secret(config.auth.secret.as_deref(), &path)
                .map_err(|source| StartError::Secret {
                path: path.display().to_string(),
                source,
            })?;
            Some(crate::auth::StreamSigner::new(
                secret,
                config.auth.stream_token_ttl,
            ))
        };
        let uploads =
            Uploads::open(uploads_dir.clone(), config.uploads.max_bytes).map_err(|source| {
                StartError::Uploads {
                    dir: uploads_dir.display().to_string(),
                    source,
                }
            })?;
        let listener = bind(config.listen).map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let types = Arc::new(types);
        let runner = Runner::new(
            store.clone(),
            types.clone(),
            config.runner.clone(),
            uploads.clone(),
        );
        if !config.stream.shared_poller {
            // Still read, so that older config files load; the per-stream polling it chose is
            // gone from the product (benches/jobcast.rs measures it on its own).
            tracing::warn!(
                "stream.shared_poller = false is ignored: every stream shares one poller"
            );
        }
        let poller = Poller::new(store.clone());
        let external = ExternalJobs::new(store.clone(), types.clone(), config.runner.clone());
        let (heartbeat, heartbeat_clock) = Heartbeat::new();
        let job_queued = Arc::new(tokio::sync::Notify::new());
        let schedules = {
            let (runner, claims) = (runner.handle(), job_queued.clone());
            crate::schedules::Schedules::new(&config.schedules, store.clone(), types.clone(), {
                move || {
                    runner.wake();
                    claims.notify_waiters();
                }
            })
            .map_err(StartError::Schedules)?
        };
        let state = AppState {
            poller,
            store,
            metrics: metrics.clone(),
            types,
            runner: runner.handle(),
            cors: Arc::new(Cors::new(&config.http.cors_allowed_origins)),
            timings: StreamTimings {
                poll_interval: config.stream.poll_interval,
                heartbeat: config.stream.heartbeat,
                max_duration: config.stream.max_duration,
                close_delay: config.stream.close_delay,
                retry: config.stream.retry,
            },
            max_body_bytes: config.http.max_body_bytes,
            max_bulk_body_bytes: config.http.max_bulk_body_bytes,
            max_bulk_jobs: config.http.max_bulk_jobs,
            shutdown: CancellationToken::new(),
            draining: CancellationToken::new(),
            streams: StreamGauge::new(metrics.clone()),
            heartbeat,
            job_queued,
            external,
            uploads,
            auth: Arc::new(auth),
            signer,
            limits: crate::http::limits::Limits::new(&config.limits),
            public_metrics: config.auth.public_metrics,
            schedules,
        };
        Ok(Application {
            listener,
            addr,
            state,
            runner,
            heartbeat: heartbeat_clock,
            keep_unused_uploads: config.uploads.keep_unused,
            drain: config.http.shutdown_drain,
            retention: config
                .retention
                .enabled
                .then(|| crate::retention::Retention::from_config(&config)),
            refresh_paused: config.stream.poll_interval,
        })
    }

    /// The address actually bound (with the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn handle(&self) -> AppHandle {
        AppHandle {
            streams: self.state.streams.clone(),
            draining: self.state.draining.clone(),
        }
    }

    /// Serves until `signal` resolves (or [`AppHandle::shutdown`] is called): then stops
    /// accepting connections, ends open streams, gives running jobs their grace period and
    /// puts unfinished ones back in the queue.
    pub async fn run_until_stopped(self, signal: impl Future<Output = ()> + Send + 'static) {
        let shutdown = self.state.shutdown.clone();
        let store = self.state.store.clone();
        tracing::info!("listening on http://{}", self.addr);
        // A signal (or `AppHandle::shutdown`) starts the drain: `/readyz` answers 503 so load
        // balancers stop sending traffic, everything else still works; then the shutdown.
        let watcher = {
            let (shutdown, draining) = (shutdown.clone(), self.state.draining.clone());
            let drain = self.drain;
            tokio::spawn(async move {
                tokio::select! {
                    _ = signal => tracing::info!("shutdown signal received"),
                    _ = draining.cancelled() => tracing::info!("shutdown requested"),
                    _ = shutdown.cancelled() => return,
                }
                draining.cancel();
                if !drain.is_zero() {
                    tracing::info!(?drain, "draining: /readyz answers 503 until shutdown");
                    tokio::time::sleep(drain).await;
                }
                shutdown.cancel();
            })
        };
        if let Some(queued) = store.watch_queued() {
            tokio::spawn(wake_on_queued_elsewhere(
                queued,
                self.state.runner.clone(),
                self.state.job_queued.clone(),
                shutdown.clone(),
            ));
        }
        let runner = tokio::spawn(self.runner.run(shutdown.clone()));
        tokio::spawn(sweep_uploads(
            store.clone(),
            self.state.uploads.clone(),
            self.keep_unused_uploads,
            shutdown.clone(),
        ));
        if let Some(retention) = self.retention {
            tokio::spawn(crate::retention::run(
                store.clone(),
                retention,
                shutdown.clone(),
            ));
        }
        tokio::spawn(
            self.heartbeat
                .run(self.state.timings.heartbeat, shutdown.clone()),
        );
        tokio::spawn(self.state.schedules.clone().run(shutdown.clone()));
        tokio::spawn(control_upkeep(
            store.clone(),
            self.refresh_paused,
            shutdown.clone(),
        ));
        let poller = tokio::spawn(
            self.state
                .poller
                .clone()
                .run(self.state.timings.poll_interval, shutdown.clone()),
        );
        crate::http::serve(self.listener, self.state).await;
        if let Err(error) = runner.await {
            tracing::error!(%error, "the runner task failed");
        }
        let _ = poller.await;
        watcher.abort();
        store.close().await;
        tracing::info!("stopped");
    }
}

/// Jobs queued through other processes sharing the database (PostgreSQL's notifications)
/// wake this process's runner and its waiting worker claims at once, instead of at their next
/// poll.
async fn wake_on_queued_elsewhere(
    mut queued: tokio::sync::watch::Receiver<u64>,
    runner: crate::runner::RunnerHandle,
    claims: Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = queued.changed() => {
                if changed.is_err() {
                    return;
                }
                runner.wake();
                claims.notify_waiters();
            }
        }
    }
}

/// How far back the per-second finish counts are kept: the types overview looks an hour back.
const KEEP_FINISHES: std::time::Duration = std::time::Duration::from_secs(2 * 3600);

/// Reads the paused types again every `every` (other processes pause and resume too, and
/// streams show it), and once a minute forgets finish counts the overview no longer reads.
async fn control_upkeep(store: Store, every: std::time::Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut forgot = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(error) = store.refresh_paused().await {
            tracing::debug!(%error, "reading the paused types failed");
        }
        if forgot.elapsed() >= std::time::Duration::from_secs(60) {
            forgot = tokio::time::Instant::now();
            let before = crate::job::Timestamp::from_millis(
                crate::job::Timestamp::now().as_millis() - KEEP_FINISHES.as_millis() as i64,
            );
            if let Err(error) = store.forget_finishes(before).await {
                tracing::warn!(%error, "forgetting old finish counts failed");
            }
        }
    }
}

/// Removes uploads no job refers to once they are `keep` old; looks every minute (or every
/// `keep`, if shorter).
async fn sweep_uploads(
    store: Store,
    uploads: Uploads,
    keep: std::time::Duration,
    shutdown: CancellationToken,
) {
    let period = keep.clamp(
        std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(60),
    );
    let mut ticks = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let before = crate::job::Timestamp::from_millis(
            crate::job::Timestamp::now().as_millis()
                - i64::try_from(keep.as_millis()).unwrap_or(i64::MAX),
        );
        match store.delete_unused_uploads(before).await {
            Ok(ids) => {
                if !ids.is_empty() {
                    tracing::info!(count = ids.len(), "removed unused uploads");
                }
                uploads.remove(&ids);
            }
            Err(error) => tracing::warn!(%error, "sweeping unused uploads failed"),
        }
    }
}
