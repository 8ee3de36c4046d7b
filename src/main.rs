//! The `jobcast` binary: parse the command line, then either serve (the default) until SIGINT
//! or SIGTERM, run `prune` or `backup` on the database, or run a client command against a
//! running server. Serve, prune and backup start logging and load the config first (exit 2 if
//! either fails); the client commands need neither. The commands themselves live in
//! `jobcast::cli`; the server in `jobcast::Application`.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use jobcast::cli::{self, Args, Client, Command};
use jobcast::telemetry::error_chain;
use jobcast::{Application, Config};

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = args.config.as_deref();
    match args.command.unwrap_or_default() {
        Command::Serve { insecure_open } => {
            with_config(config, |mut config| async move {
                config.auth.insecure_open |= insecure_open;
                serve(config).await
            })
            .await
        }
        Command::Prune(prune) => {
            with_config(
                config,
                |config| async move { cli::prune(&config, prune).await },
            )
            .await
        }
        Command::Backup(backup) => {
            with_config(config, |config| async move {
                cli::backup(&config, backup).await
            })
            .await
        }
        Command::Client(command) => {
            let client = Client::new(&args.url, args.token.as_deref());
            cli::exit_code(client.run(command).await)
        }
    }
}

/// Starts logging and loads the config (`path`, or the default file, then the environment),
/// then runs `command` with it; exit 2 if either fails.
async fn with_config<F>(path: Option<&Path>, command: impl FnOnce(Config) -> F) -> ExitCode
where
    F: Future<Output = ExitCode>,
{
    if let Err(message) = jobcast::telemetry::init() {
        eprintln!("jobcast: {message}");
        return ExitCode::from(2);
    }
    match Config::load(path) {
        Ok(config) => command(config).await,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// Runs the server until SIGINT or SIGTERM; exit 1 if it cannot start.
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
