//! `jobcast prune` and `jobcast backup`: work on the configured database directly, beside a
//! running server if there is one, and say what was done. Exit 0 when done, 1 when the work
//! failed (the error and its causes on stderr).
//!
//! The work itself is [`crate::retention`]'s; loading the config (exit 2 when it is bad) is
//! the binary's.

use std::process::ExitCode;

use super::args::{BackupArgs, PruneArgs};
use crate::config::Config;
use crate::telemetry::error_chain;

/// Deletes (or, with `--dry-run`, counts) the finished jobs `args` selects.
pub async fn prune(config: &Config, args: PruneArgs) -> ExitCode {
    let PruneArgs {
        older_than,
        job_type,
        dry_run,
    } = args;
    match crate::retention::prune_database(config, older_than, job_type, dry_run).await {
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
    }
}

/// Copies the database to `args.file` and prints the copy's path and size.
pub async fn backup(config: &Config, args: BackupArgs) -> ExitCode {
    let BackupArgs { file } = args;
    match crate::retention::backup_database(config, &file).await {
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
    }
}
