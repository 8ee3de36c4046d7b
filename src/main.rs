//! The `jobcast` binary: `serve` (the default) runs the server until SIGINT or SIGTERM; `prune`
//! and `backup` work on the database file directly; the other subcommands are a terminal client
//! for a running server.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use jobcast::cli::{self, Client, ClientError, Outcome};
use jobcast::telemetry::error_chain;
use jobcast::{Application, Config};

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "jobcast",
    version,
    about = "A lean job runner with SSE progress streams"
)]
struct Cli {
    /// Config file to read instead of config/default.toml (serve, prune, backup).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The server the client commands talk to.
    #[arg(
        long,
        global = true,
        env = "JOBCAST_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// The API token the client commands send (when the server requires one).
    #[arg(long, global = true, env = "JOBCAST_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve {
        /// Allow running without API tokens on a non-loopback address.
        #[arg(long)]
        insecure_open: bool,
    },
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
    /// Delete finished jobs and their log lines from the database (--config or
    /// JOBCAST_DATABASE_URL), beside a running server if there is one.
    Prune {
        /// Jobs that finished longer ago than this (30m, 12h, 7d); default: the configured
        /// retention.
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
        older_than: Option<std::time::Duration>,
        /// Only jobs of this type.
        #[arg(long = "type", value_name = "TYPE")]
        job_type: Option<String>,
        /// Count what would be pruned; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy the database (--config or JOBCAST_DATABASE_URL) to a new FILE, consistently, while
    /// a server may be using it.
    Backup {
        /// The new file to write; an existing file is never overwritten.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve {
        insecure_open: false,
    });
    if let Command::Serve { insecure_open } = command {
        if let Err(message) = jobcast::telemetry::init() {
            eprintln!("jobcast: {message}");
            return ExitCode::from(2);
        }
        return match Config::load(cli.config.as_deref()) {
            Ok(mut config) => {
                config.auth.insecure_open |= insecure_open;
                serve(config).await
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(2)
            }
        };
    }
    if matches!(command, Command::Prune { .. } | Command::Backup { .. }) {
        return operate(cli.config.as_deref(), command).await;
    }
    let client = Client::new(&cli.url, cli.token.as_deref());
    cli::exit_code(run_client(&client, command).await)
}

async fn run_client(client: &Client, command: Command) -> Result<Outcome, ClientError> {
    match command {
        Command::Serve { .. } | Command::Prune { .. } | Command::Backup { .. } => {
            unreachable!("handled in main")
        }
        Command::Submit {
            job_type,
            payload,
            payload_file,
            watch,
            json,
        } => {
            let payload = cli::read_payload(payload.as_deref(), payload_file.as_deref())?;
            let job = client.submit(&job_type, payload).await?;
            let id = job["id"].as_str().unwrap_or_default().to_owned();
            if !watch {
                println!("{id}");
                return Ok(Outcome::Ok);
            }
            if !json {
                eprintln!("job {id}");
            }
            client.watch(&id, json).await
        }
        Command::Watch { id, json } => client.watch(&id, json).await,
        Command::Jobs {
            status,
            job_type,
            limit,
        } => {
            let page = client
                .jobs(status.as_deref(), job_type.as_deref(), limit)
                .await?;
            cli::print_jobs(&page);
            Ok(Outcome::Ok)
        }
        Command::Cancel { id } => {
            let job = client.cancel(&id).await?;
            println!(
                "{} {}",
                job["id"].as_str().unwrap_or(""),
                job["status"].as_str().unwrap_or("")
            );
            Ok(Outcome::Ok)
        }
    }
}

async fn serve(config: Config) -> ExitCode {
    // Each open stream is a socket: ask for as many descriptors as the OS allows.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "could not raise the open-file limit"),
    }
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            return ExitCode::FAILURE;
        }
    };
    app.run_until_stopped(shutdown_signal()).await;
    ExitCode::SUCCESS
}

/// `prune` and `backup`: work on the configured database directly. Exit 0 when done, 1 when
/// the work failed, 2 for a bad config.
async fn operate(config: Option<&std::path::Path>, command: Command) -> ExitCode {
    if let Err(message) = jobcast::telemetry::init() {
        eprintln!("jobcast: {message}");
        return ExitCode::from(2);
    }
    let config = match Config::load(config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Prune {
            older_than,
            job_type,
            dry_run,
        } => match jobcast::retention::prune_database(&config, older_than, job_type, dry_run).await
        {
            Ok(report) if report.dry_run => {
                println!(
                    "would prune {} jobs ({} log lines)",
                    report.jobs, report.log_lines
                );
                ExitCode::SUCCESS
            }
            Ok(report) => {
                println!(
                    "pruned {} jobs ({} log lines); {} free pages returned to the file system",
                    report.jobs, report.log_lines, report.pages_reclaimed
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {}", error_chain(&error));
                ExitCode::FAILURE
            }
        },
        Command::Backup { file } => match jobcast::retention::backup_database(&config, &file).await
        {
            Ok(bytes) => {
                let path = std::fs::canonicalize(&file).unwrap_or(file);
                println!(
                    "{} ({bytes} bytes, {:.1} MiB)",
                    path.display(),
                    bytes as f64 / (1024.0 * 1024.0)
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {}", error_chain(&error));
                ExitCode::FAILURE
            }
        },
        _ => unreachable!("only prune and backup come here"),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
