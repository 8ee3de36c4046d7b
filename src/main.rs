//! The `jobcast` binary: parse the command line, load config, start logging, serve until
//! SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    /// Config file to read instead of config/default.toml.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    jobcast::telemetry::init();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
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

/// "outer: inner: innermost", so a start-up failure says why in one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
