//! jobcast embedded in a Rust program: the import-traces handler written in Rust, served with
//! the full HTTP API (streams, cancel, logs) by the same process.
//!
//! ```sh
//! cargo run --release --example embedded
//! curl -s -X POST localhost:8080/api/jobs -H 'Content-Type: application/json' \
//!   -d '{"type": "import-traces-rs", "payload": {"path": "traces-1000.jsonl"}}'
//! ```
//!
//! Files are read from the import folder, `IMPORT_DIR` (default `examples/data`); paths that
//! leave it (`..`, absolute paths, symlinks pointing out) are refused. The logic matches
//! `examples/import_traces.py`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use jobcast::{handler_fn, Application, Config, JobContext, JobError, LogLevel, Progress};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Malformed lines logged one by one; the rest are counted.
const MAX_WARNINGS: usize = 20;

#[derive(Deserialize)]
struct ImportRequest {
    /// A file inside the import folder; left out when the job names an upload instead.
    path: Option<String>,
}

/// The file `relative` inside `folder`, refusing anything that resolves outside it.
fn inside(folder: &Path, relative: &str) -> Result<PathBuf, JobError> {
    let folder = folder
        .canonicalize()
        .map_err(|e| JobError::permanent(format!("import folder {}: {e}", folder.display())))?;
    let target = folder.join(relative).canonicalize().map_err(|_| {
        JobError::permanent(format!("no such file in the import folder: {relative:?}"))
    })?;
    if !target.starts_with(&folder) {
        return Err(JobError::permanent(format!(
            "refused: {relative:?} is outside the import folder"
        )));
    }
    Ok(target)
}

fn is_hex(value: Option<&Value>, digits: usize) -> bool {
    value.and_then(Value::as_str).is_some_and(|s| {
        s.len() == digits && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn nanos(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// Why a span is malformed, or `None`: the same rules as `examples/import_traces.py`.
fn check(span: &Value) -> Option<&'static str> {
    let Some(fields) = span.as_object() else {
        return Some("not a JSON object");
    };
    if !is_hex(fields.get("trace_id"), 32) {
        return Some("trace_id must be 32 lowercase hex digits");
    }
    if !is_hex(fields.get("span_id"), 16) {
        return Some("span_id must be 16 lowercase hex digits");
    }
    if fields
        .get("parent_span_id")
        .is_some_and(|p| !p.is_null() && !is_hex(Some(p), 16))
    {
        return Some("parent_span_id must be 16 lowercase hex digits");
    }
    if fields
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Some("name must be a non-empty string");
    }
    let (Some(start), Some(end)) = (
        nanos(fields.get("start_time_unix_nano")),
        nanos(fields.get("end_time_unix_nano")),
    ) else {
        return Some("start_time_unix_nano and end_time_unix_nano must be whole numbers");
    };
    if end < start {
        return Some("end_time_unix_nano is before start_time_unix_nano");
    }
    if !matches!(
        fields.get("status").and_then(Value::as_str),
        Some("ok" | "error" | "unset")
    ) {
        return Some("status must be ok, error or unset");
    }
    if fields.get("attributes").is_some_and(|a| !a.is_object()) {
        return Some("attributes must be an object");
    }
    None
}

/// The import handler: reads the file, validates and groups spans, reports progress by bytes.
pub async fn import_traces(ctx: JobContext) -> Result<Value, JobError> {
    let request: ImportRequest = ctx.payload_as()?;
    let path = match (ctx.input_file(), &request.path) {
        (Some(upload), _) => upload.to_path_buf(),
        (None, Some(relative)) => {
            let folder = std::env::var_os("IMPORT_DIR")
                .map_or_else(|| PathBuf::from("examples/data"), PathBuf::from);
            inside(&folder, relative)?
        }
        (None, None) => {
            return Err(JobError::permanent(
                "the payload needs a \"path\" in the import folder or an \"upload_id\"",
            ))
        }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let size = tokio::fs::metadata(&path)
        .await
        .map_err(|e| JobError::new(format!("cannot read {}: {e}", name)))?
        .len()
        .max(1);
    ctx.stage("import").await?;
    ctx.set_total(size as i64).await?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| JobError::new(format!("cannot open {}: {e}", name)))?;
    let mut lines = BufReader::new(file);
    let (mut traces, mut spans, mut error_spans, mut skipped, mut warned) =
        (HashSet::new(), 0u64, 0u64, 0u64, 0usize);
    let (mut read, mut next_report, mut number) = (0u64, 0.0f64, 0u64);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        let n = lines
            .read_until(b'\n', &mut raw)
            .await
            .map_err(|e| JobError::new(format!("reading {}: {e}", name)))?;
        if n == 0 {
            break;
        }
        number += 1;
        read += n as u64;
        let text = String::from_utf8_lossy(&raw);
        let text = text.trim();
        if !text.is_empty() {
            let problem = match serde_json::from_str::<Value>(text) {
                Ok(span) => match check(&span) {
                    Some(problem) => Some(problem),
                    None => {
                        spans += 1;
                        traces.insert(span["trace_id"].as_str().unwrap_or_default().to_owned());
                        error_spans += u64::from(span["status"] == "error");
                        None
                    }
                },
                Err(_) => Some("not valid JSON"),
            };
            if let Some(problem) = problem {
                skipped += 1;
                if warned < MAX_WARNINGS {
                    warned += 1;
                    ctx.log(
                        LogLevel::Warning,
                        format!("line {number} skipped: {problem}"),
                    )
                    .await?;
                }
            }
        }
        let percent = 100.0 * read as f64 / size as f64;
        if percent >= next_report {
            ctx.report(Progress {
                progress: (percent * 10.0).round() / 10.0,
                message: Some(format!("{spans} spans read")),
                current: Some(read as i64),
                total: Some(size as i64),
                stage: None,
            })
            .await?;
            next_report = percent + 1.0;
        }
    }
    if skipped > warned as u64 {
        let more = skipped - warned as u64;
        ctx.log(
            LogLevel::Warning,
            format!("{more} more malformed lines skipped"),
        )
        .await?;
    }
    ctx.log(
        LogLevel::Success,
        format!("imported {spans} spans in {} traces", traces.len()),
    )
    .await?;
    Ok(json!({
        "traces": traces.len(),
        "spans": spans,
        "error_spans": error_spans,
        "skipped_lines": skipped,
    }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter("info,sqlx=warn")
        .init();
    let config = Config::load(None)?;
    let app = Application::builder(config)
        .handler("import-traces-rs", handler_fn(import_traces))
        .build()
        .await?;
    let handle = app.handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        handle.shutdown();
    });
    app.run_until_stopped(std::future::pending()).await;
    Ok(())
}
