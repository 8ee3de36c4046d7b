//! The command line, as clap reads it: the global options and one [`Command`] per subcommand.
//!
//! What each command does is elsewhere: serving in `src/main.rs`, the client commands in
//! [`super::Client::run`], `prune` and `backup` in `maintenance`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "jobcast",
    version,
    about = "A lean job runner with SSE progress streams"
)]
pub struct Args {
    /// Config file to read instead of config/default.toml (serve, prune, backup).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The server the client commands talk to.
    #[arg(
        long,
        global = true,
        env = "JOBCAST_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// The API token the client commands send (when the server requires one).
    #[arg(long, global = true, env = "JOBCAST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// None means `serve`.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Every subcommand: the server, the client commands, and the two that work on the database.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve {
        /// Allow running without API tokens on a non-loopback address.
        #[arg(long)]
        insecure_open: bool,
    },
    /// `submit`, `watch`, `jobs`, `cancel`, `types`, `pause`, `resume` and `schedules`, which
    /// talk to a running server.
    #[command(flatten)]
    Client(ClientCommand),
    /// Delete finished jobs and their log lines from the database (--config or
    /// JOBCAST_DATABASE_URL), beside a running server if there is one.
    Prune(PruneArgs),
    /// Copy the database (--config or JOBCAST_DATABASE_URL) to a new FILE, consistently, while
    /// a server may be using it.
    Backup(BackupArgs),
}

/// With no subcommand, jobcast serves.
impl Default for Command {
    fn default() -> Self {
        Command::Serve {
            insecure_open: false,
        }
    }
}

/// The commands that talk to a running server (`--url`, `--token`).
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create a job; with --watch, follow it to its end.
    Submit {
        /// The job type.
        #[arg(value_name = "TYPE")]
        job_type: String,
        /// The payload as JSON.
        #[arg(long, value_name = "JSON")]
        payload: Option<String>,
        /// Read the payload from a file.
        #[arg(long, value_name = "FILE")]
        payload_file: Option<PathBuf>,
        /// Follow the job with a progress bar; exit 0 if it completes, 1 if not.
        #[arg(long)]
        watch: bool,
        /// With --watch: print the raw events as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Follow a job with a progress bar, reconnecting after a dropped connection; exit 0 if it
    /// completes, 1 if it fails or is cancelled, 2 if it is unknown or the token is refused.
    Watch {
        id: String,
        /// Print the raw events as JSON lines instead.
        #[arg(long)]
        json: bool,
    },
    /// List recent jobs.
    Jobs {
        #[arg(long)]
        status: Option<String>,
        #[arg(long = "type", value_name = "TYPE")]
        job_type: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Cancel a job.
    Cancel { id: String },
    /// The job types: kind, paused or not, jobs by status, the oldest queued job's wait and
    /// the jobs finished in the last minute and hour.
    Types,
    /// Pause a job type (admin token): its queued jobs wait, claimed by nobody on any node,
    /// until it is resumed; running jobs go on and new jobs are still accepted.
    Pause {
        /// The job type.
        #[arg(value_name = "TYPE")]
        job_type: String,
    },
    /// Resume a paused job type (admin token): its queued jobs are claimed at once.
    Resume {
        /// The job type.
        #[arg(value_name = "TYPE")]
        job_type: String,
    },
    /// The schedules (periodic jobs from [[schedules]] in the config): next and last run,
    /// run count, paused or not.
    Schedules,
}

// `jobcast prune` (no doc comment: clap would take it for the subcommand's about).
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Jobs that finished longer ago than this (30m, 12h, 7d); default: the configured
    /// retention.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub older_than: Option<Duration>,
    /// Only jobs of this type.
    #[arg(long = "type", value_name = "TYPE")]
    pub job_type: Option<String>,
    /// Count what would be pruned; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

// `jobcast backup` (likewise).
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The new file to write; an existing file is never overwritten.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}
