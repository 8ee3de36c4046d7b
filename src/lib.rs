//! jobcast: a lean job runner whose jobs live in SQLite and whose progress reaches browsers,
//! terminals and `curl` as Server-Sent Events.
//!
//! # Layout
//!
//! - [`config`]: typed settings from `config/default.toml`, a `--config` file and `JOBCAST_*`
//!   environment variables.
//! - [`app`]: builds the application (store, listener, runner) and runs it until shutdown.
//! - [`job`]: the job, its statuses and the transitions between them, log lines.
//! - [`store`]: the storage boundary; SQLite behind it, with group commit for the hot writes.
//!   Only this module speaks SQL.
//! - [`runner`]: claims and runs jobs in-process: leases, retries, timeouts, cancellation;
//!   the [`runner::JobHandler`] trait and the built-in `demo` type.
//! - [`http`]: the hyper server: routing, handlers, JSON errors, CORS.
//! - [`sse`]: the event-stream wire format, the per-job stream, and the shared poller that
//!   tells every stream about changes with one query per tick.
//! - [`telemetry`]: logging setup.

pub mod app;
pub mod config;
pub mod http;
pub mod job;
pub mod runner;
pub mod sse;
pub mod store;
pub mod telemetry;

pub use app::{AppHandle, Application};
pub use config::Config;
