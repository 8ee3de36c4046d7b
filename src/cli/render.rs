//! What the client prints: a watch's progress bar with log lines and notes above it (or its
//! events as JSON lines with `--json`), the jobs table, and a cancelled job's status.
//!
//! Progress bar and notes go to stderr, so stdout carries only what a script reads: a job's
//! id, its result, the JSON lines, the table.

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use super::events::SseEvent;
use super::outcome::Outcome;

/// Where a watch prints: JSON lines on stdout (`--json`), or a progress bar on stderr with
/// log lines and notes above it.
pub(super) struct Output {
    /// `None` with `--json`. Hidden when stderr is not a terminal, but its lines still print.
    bar: Option<ProgressBar>,
}

impl Output {
    pub(super) fn new(raw_json: bool) -> Self {
        Output {
            bar: (!raw_json).then(new_bar),
        }
    }

    /// A line on stderr, above the bar.
    pub(super) fn note(&self, text: &str) {
        match &self.bar {
            // `println` would print nothing while the bar is hidden (stderr not a terminal).
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    /// Prints one event; returns how the watch ends if the event was terminal.
    pub(super) fn show(&self, event: &SseEvent) -> Option<Outcome> {
        let data = &event.data;
        if self.bar.is_none() {
            // Line-buffered even into a pipe: each event reaches a script as it comes.
            println!(
                "{}",
                json!({ "event": event.name, "id": event.id, "data": data })
            );
        }
        let text = |key: &str| data[key].as_str().unwrap_or_default().to_owned();
        match event.name.as_str() {
            "progress" => {
                if let Some(bar) = &self.bar {
                    bar.set_position(data["progress"].as_f64().unwrap_or(0.0).round() as u64);
                    let counts = match (data["current"].as_i64(), data["total"].as_i64()) {
                        (Some(c), Some(t)) => format!(" ({c}/{t})"),
                        _ => String::new(),
                    };
                    let stage = data["stage"]
                        .as_str()
                        .map(|s| format!("[{s}] "))
                        .unwrap_or_default();
                    bar.set_message(format!(
                        "{stage}{}{counts} {}",
                        text("message"),
                        text("status")
                    ));
                }
                None
            }
            "log" => {
                if self.bar.is_some() {
                    self.note(&format!("{:>7} {}", text("level"), text("message")));
                }
                None
            }
            "completed" => {
                if let Some(bar) = &self.bar {
                    bar.set_position(100);
                    bar.finish_with_message("completed");
                    println!("result: {}", data["result"]);
                }
                Some(Outcome::Ok)
            }
            "failed" => {
                if let Some(bar) = &self.bar {
                    bar.abandon_with_message(text("status"));
                }
                eprintln!("{}: {}", text("status"), text("error"));
                if !data["details"].is_null() {
                    eprintln!("details: {}", data["details"]);
                }
                Some(Outcome::JobFailed)
            }
            _ => None,
        }
    }
}

fn new_bar() -> ProgressBar {
    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{bar:40.cyan/blue} {pos:>3}% {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Prints jobs as a table.
pub(super) fn print_jobs(page: &Value) {
    println!(
        "{:<36}  {:<14} {:<9} {:>5}  MESSAGE",
        "ID", "TYPE", "STATUS", "%"
    );
    for job in page["jobs"].as_array().into_iter().flatten() {
        let message = job["error"]
            .as_str()
            .or(job["message"].as_str())
            .unwrap_or("");
        println!(
            "{:<36}  {:<14} {:<9} {:>5.0}  {}",
            job["id"].as_str().unwrap_or(""),
            job["type"].as_str().unwrap_or(""),
            job["status"].as_str().unwrap_or(""),
            job["progress"].as_f64().unwrap_or(0.0),
            message
        );
    }
}

/// Prints the types overview as a table: counts by status, the oldest due queued job's wait,
/// throughput.
pub(super) fn print_types(types: &Value) {
    println!(
        "{:<20} {:<8} {:<7} {:>7} {:>7} {:>9} {:>7} {:>9} {:>9} {:>6} {:>6}",
        "TYPE",
        "KIND",
        "STATE",
        "QUEUED",
        "RUNNING",
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "OLDEST",
        "1M",
        "1H"
    );
    for t in types.as_array().into_iter().flatten() {
        let count = |status: &str| t["counts"][status].as_i64().unwrap_or(0);
        let oldest = t["oldest_queued_age_ms"]
            .as_i64()
            .map(|ms| {
                humantime::format_duration(std::time::Duration::from_secs(
                    u64::try_from(ms / 1000).unwrap_or(0),
                ))
                .to_string()
            })
            .unwrap_or_else(|| "-".to_owned());
        println!(
            "{:<20} {:<8} {:<7} {:>7} {:>7} {:>9} {:>7} {:>9} {:>9} {:>6} {:>6}",
            t["name"].as_str().unwrap_or(""),
            t["kind"].as_str().unwrap_or(""),
            if t["paused"] == true {
                "paused"
            } else {
                "active"
            },
            count("queued"),
            count("running"),
            count("completed"),
            count("failed"),
            count("cancelled"),
            oldest,
            t["finished_last_minute"].as_i64().unwrap_or(0),
            t["finished_last_hour"].as_i64().unwrap_or(0),
        );
    }
}

/// Prints a type after a pause or resume: "TYPE paused since ..." or "TYPE active".
pub(super) fn print_type_state(t: &Value) {
    let name = t["name"].as_str().unwrap_or("");
    match t["paused_at"].as_str() {
        Some(at) if t["paused"] == true => println!(
            "{name} paused since {at} ({} queued)",
            t["counts"]["queued"].as_i64().unwrap_or(0)
        ),
        _ => println!("{name} active"),
    }
}

/// Prints the schedules as a table.
pub(super) fn print_schedules(page: &Value) {
    println!(
        "{:<24} {:<16} {:<20} {:<7} {:<25} {:<25} {:>6}",
        "NAME", "TYPE", "CRON", "STATE", "NEXT RUN", "LAST RUN", "RUNS"
    );
    for s in page["schedules"].as_array().into_iter().flatten() {
        let cron = format!(
            "{} {}",
            s["cron"].as_str().unwrap_or(""),
            match s["timezone"].as_str() {
                Some("UTC") | None => String::new(),
                Some(zone) => format!("({zone})"),
            }
        );
        println!(
            "{:<24} {:<16} {:<20} {:<7} {:<25} {:<25} {:>6}",
            s["name"].as_str().unwrap_or(""),
            s["type"].as_str().unwrap_or(""),
            cron.trim(),
            if s["paused"] == true {
                "paused"
            } else {
                "active"
            },
            s["next_run_at"].as_str().unwrap_or("-"),
            s["last_run_at"].as_str().unwrap_or("-"),
            s["run_count"].as_i64().unwrap_or(0),
        );
    }
}

/// Prints a job's id and status, as `cancel` answers: "ID cancelled".
pub(super) fn print_status(job: &Value) {
    println!(
        "{} {}",
        job["id"].as_str().unwrap_or(""),
        job["status"].as_str().unwrap_or("")
    );
}
