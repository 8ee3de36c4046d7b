//! The `jobcast` command line: its arguments, the terminal client for a running server
//! (`submit`, `watch`, `jobs`, `cancel`; `--url` or `JOBCAST_URL`), and the maintenance
//! commands that work on the database directly (`prune`, `backup`). Serving is the binary's
//! own (`src/main.rs`, through [`crate::Application`]).
//!
//! `watch` follows the job's event stream with a live progress bar (log lines printed above
//! it) and exits 0 when the job completed, 1 when it failed or was cancelled, and 2 for usage
//! errors, an unknown job or a refused token; `--json` prints the raw events, one JSON object
//! per line, instead. Like a browser's `EventSource` it outlives dropped connections: see
//! [`Client::watch`].
//!
//! - `args`: the clap types, one [`Command`] per subcommand.
//! - `commands`: one client command run to its end ([`Client::run`]).
//! - `client`: the HTTP connection and its requests.
//! - `watch`: following a stream across reconnects; `events`: the events it reads.
//! - `render`: the progress bar, the jobs table and other output.
//! - `outcome`: how a command ends ([`Outcome`], [`ClientError`]) and its exit code
//!   ([`exit_code`]); the modules above import it, it imports none of them.
//! - `maintenance`: `prune` and `backup`.

mod args;
mod client;
mod commands;
mod events;
mod maintenance;
mod outcome;
mod render;
mod watch;

pub use args::{Args, BackupArgs, ClientCommand, Command, PruneArgs};
pub use client::Client;
pub use maintenance::{backup, prune};
pub use outcome::{exit_code, ClientError, Outcome};
