//! jobcast: a lean job runner whose jobs live in SQLite (or PostgreSQL) and whose progress
//! reaches browsers, terminals and `curl` as Server-Sent Events.
//!
//! # Layout
//!
//! From the bottom up: each module uses only those above it in this list (no module imports
//! one further down), and `docs/architecture.md` draws the layers.
//!
//! - [`job`]: the job, its statuses, log lines, and the state machine: which statuses allow
//!   each action ([`job::Action`]), declared once.
//! - [`uploads`]: files uploaded for jobs, streamed to disk.
//! - [`telemetry`]: logging setup and error chains.
//! - [`auth`]: API tokens and roles; signed stream URLs for browsers.
//! - [`metrics`]: the Prometheus registry served at `/metrics`.
//! - [`config`]: typed settings from `config/default.toml`, a `--config` file and `JOBCAST_*`
//!   environment variables (one table), one file per section, checked in one place.
//! - [`store`]: the storage boundary, written as a contract ([`store::Backend`]) with one
//!   implementation per database (`store/sqlite/`, `store/postgres/`), the group-commit writer
//!   every job write and claim goes through (`store/batch/`), the SQL both share
//!   (`store/sql.rs`), and one conformance suite (`tests/conformance/`). Only this module
//!   speaks SQL.
//! - [`runner`]: claims and runs jobs in-process (leases, retries, timeouts, cancellation); the
//!   [`runner::JobHandler`] trait, the registry of job types and the built-in `demo` and command
//!   types; and who may update a job that outside code runs ([`runner::external`]).
//! - [`schedules`]: periodic jobs from `[[schedules]]`, made exactly once per tick however many
//!   nodes run (a key per schedule and tick), their state in the database.
//! - [`sse`]: the event-stream wire format, the per-job stream, the `/api/events` stream, and
//!   the shared poller that tells every stream about changes with one query per tick.
//! - [`retention`]: pruning old finished jobs in small batches, giving space back, and online
//!   backups (`jobcast prune`, `jobcast backup`).
//! - [`http`]: the hyper server: the route table and dispatch, handlers by concern
//!   (`http/jobs/`: create, queries, control, updates, streams), JSON errors, limits, CORS.
//! - [`cli`]: the command line: its arguments, the terminal client (`jobcast submit`, `watch`,
//!   `jobs`, `cancel`), and `prune` and `backup`.
//! - [`app`]: builds the application (store, metrics, listener, runner, poller) and runs it
//!   until shutdown.
//!
//! # Embedding jobcast with your own Rust handlers
//!
//! Register async handlers on [`Application::builder`]; the application then serves the whole
//! HTTP API (create, stream, cancel, logs) for those job types too. A handler gets a
//! [`JobContext`] with the payload, progress and log calls and a cancellation signal, and
//! returns a JSON result or a [`JobError`] that says whether another attempt could help.
//!
//! ```
//! use jobcast::{handler_fn, Application, Config, JobContext, JobError, LogLevel};
//! use serde_json::{json, Value};
//!
//! #[derive(serde::Deserialize)]
//! struct Resize {
//!     images: i64,
//! }
//!
//! async fn resize(ctx: JobContext) -> Result<Value, JobError> {
//!     let input: Resize = ctx.payload_as()?; // a bad payload fails at once, no retry
//!     ctx.set_total(input.images).await?;
//!     for done in 1..=input.images {
//!         // ... the real work ...
//!         ctx.set_current(done).await?;
//!         let percent = 100.0 * done as f64 / input.images as f64;
//!         ctx.progress(percent, format!("image {done} of {}", input.images)).await?;
//!     }
//!     ctx.log(LogLevel::Success, "all resized").await?;
//!     Ok(json!({ "resized": input.images }))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let config = Config {
//!     listen: "127.0.0.1:0".parse()?,
//!     database_url: format!("sqlite://{}/jobs.db", dir.path().display()),
//!     ..Config::default()
//! };
//! let app = Application::builder(config)
//!     .handler("resize", handler_fn(resize))
//!     .build()
//!     .await?;
//! let base = format!("http://{}", app.local_addr());
//! let handle = app.handle();
//! let server = tokio::spawn(app.run_until_stopped(std::future::pending()));
//!
//! // Any HTTP client (a browser's EventSource, curl) can now start and watch resize jobs.
//! let client = reqwest::Client::new();
//! let job: Value = client
//!     .post(format!("{base}/api/jobs"))
//!     .json(&json!({ "type": "resize", "payload": { "images": 3 } }))
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! # let url = format!("{base}/api/jobs/{}", job["id"].as_str().unwrap());
//! # let job = loop {
//! #     let job: Value = client.get(&url).send().await?.json().await?;
//! #     if job["status"] == "completed" { break job; }
//! #     tokio::time::sleep(std::time::Duration::from_millis(20)).await;
//! # };
//! # assert_eq!(job["result"], json!({ "resized": 3 }));
//! handle.shutdown();
//! server.await?;
//! # Ok(())
//! # }
//! ```
//!
//! `examples/embedded.rs` serves a Rust import-traces handler this way.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub mod job;
pub mod metrics;
pub mod retention;
pub mod runner;
pub mod schedules;
pub mod sse;
pub mod store;
pub mod telemetry;
pub mod uploads;

pub use app::{AppHandle, Application, ApplicationBuilder};
pub use config::Config;
pub use job::{JobId, LogLevel, Progress};
pub use runner::{handler_fn, JobContext, JobError, JobHandler};
