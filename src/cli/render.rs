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

/// Prints a job's id and status, as `cancel` answers: "ID cancelled".
pub(super) fn print_status(job: &Value) {
    println!(
        "{} {}",
        job["id"].as_str().unwrap_or(""),
        job["status"].as_str().unwrap_or("")
    );
}
