//! `command` job types: a program run once per attempt, in any language.
//!
//! The protocol, as the program sees it:
//! - stdin: the job's payload as one line of JSON; on the run after a job waited for its
//!   children (`JobContext::finished_children`), a second line
//!   `{"children": [{"id", "type", "status", "result", "error"}, ...]}` (their outcomes,
//!   oldest first); then end of input;
//! - environment: `JOBCAST_JOB_ID`, `JOBCAST_ATTEMPT`, plus the type's `env`;
//! - stdout: each line that is a JSON object is a message: `{"progress": 45.5, "message",
//!   "current", "total", "stage"}`, `{"log": "text", "level": "info"}`, `{"result": ...}`,
//!   `{"child": {"type", "payload", "key"}}` (makes a child job, see `JobContext::spawn_child`;
//!   with `"child_policy": "wait_for_all"` beside it, the job waits for every child);
//!   any other line is an `info` log line;
//! - stderr: each line is a `warning` log line; the last ones go in a failure's `details`;
//! - exit 0 completes the job with the last `result` (or null); anything else fails the
//!   attempt with `exited with status N` or `killed by signal S`.
//!
//! The program runs in its own process group. A timeout, a shutdown past its grace period or
//! a dropped attempt kills the whole group with SIGKILL; a cancel sends SIGTERM to the group
//! first and SIGKILL after `cancel_grace`. Output lines are bounded in length and number, and
//! reading them waits on the store's write queue, so a flood of output cannot exhaust memory.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use tokio_util::codec::{Decoder, FramedRead, LinesCodec, LinesCodecError};

use super::handler::{BoxFuture, ChildSpec, JobContext, JobError, JobHandler};
use crate::config::JobTypeConfig;
use crate::job::{ChildPolicy, LogLevel, Progress};

/// Longest output line read; longer ones are dropped with a warning.
const MAX_LINE_BYTES: usize = 64 * 1024;
/// Longest log line stored (the API's limit for log messages too).
const MAX_LOG_BYTES: usize = 16 * 1024;
/// Output lines stored as log lines per attempt; the rest are counted, not kept.
const MAX_LOG_LINES: usize = 10_000;
/// Last stderr lines kept for a failure's `details`.
const STDERR_TAIL: usize = 20;
/// After the program exits, its output is read to the end; if the pipes stay open this long
/// with nothing coming (something it started holds them), the rest of its process group is
/// killed.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

/// One line of output, or the news that one was too long (and was skipped).
enum Line {
    Text(String),
    TooLong,
}

/// [`LinesCodec`] with a length limit that reports an overlong line as an item instead of an
/// error: a `FramedRead` ends after an error, which would close the pipe on the program.
struct BoundedLines(LinesCodec);

impl BoundedLines {
    fn new() -> Self {
        BoundedLines(LinesCodec::new_with_max_length(MAX_LINE_BYTES))
    }

    fn map(
        result: Result<Option<String>, LinesCodecError>,
    ) -> Result<Option<Line>, LinesCodecError> {
        match result {
            Ok(line) => Ok(line.map(Line::Text)),
            Err(LinesCodecError::MaxLineLengthExceeded) => Ok(Some(Line::TooLong)),
            Err(error) => Err(error),
        }
    }
}

impl Decoder for BoundedLines {
    type Item = Line;
    type Error = LinesCodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, LinesCodecError> {
        Self::map(self.0.decode(buf))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, LinesCodecError> {
        Self::map(self.0.decode_eof(buf))
    }
}

/// What a `command` type runs.
#[derive(Debug, Clone)]
pub struct CommandHandler {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    working_dir: Option<std::path::PathBuf>,
    cancel_grace: Duration,
}

impl CommandHandler {
    pub fn new(config: &JobTypeConfig) -> Self {
        let (program, args) = config
            .command
            .split_first()
            .map(|(p, a)| (p.clone(), a.to_vec()))
            .unwrap_or_default();
        CommandHandler {
            program,
            args,
            env: config.env.clone().into_iter().collect(),
            working_dir: config.working_dir.clone(),
            cancel_grace: config.cancel_grace,
        }
    }
}

impl JobHandler for CommandHandler {
    fn run(&self, ctx: JobContext) -> BoxFuture<Result<Value, JobError>> {
        Box::pin(run(Arc::new(self.clone()), ctx))
    }

    /// SIGTERM, the grace period, SIGKILL, and a moment to reap.
    fn cancel_grace(&self) -> Duration {
        self.cancel_grace + Duration::from_secs(1)
    }
}

/// The program's process group; dropping it kills every process still in the group.
struct ProcessGroup {
    id: Option<Pid>,
}

impl ProcessGroup {
    fn signal(&self, signal: Signal) {
        if let Some(id) = self.id {
            // ESRCH (the group is gone) is the expected answer once everything exited.
            let _ = killpg(id, signal);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// A started program. Field order matters: the group is killed before the child handle is
/// dropped (which would only kill the program itself).
struct Running {
    group: ProcessGroup,
    child: Child,
}

/// One stdout line that is a JSON object.
#[derive(Debug, Default, Deserialize)]
struct Message {
    progress: Option<f64>,
    message: Option<String>,
    current: Option<i64>,
    total: Option<i64>,
    stage: Option<String>,
    log: Option<String>,
    level: Option<LogLevel>,
    #[serde(default, deserialize_with = "present")]
    result: Option<Value>,
    child: Option<ChildLine>,
    child_policy: Option<ChildPolicy>,
}

/// A child job asked for on stdout.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChildLine {
    #[serde(rename = "type")]
    job_type: String,
    #[serde(default)]
    payload: Value,
    key: Option<String>,
}

/// Tells `{"result": null}` (a result of null) from a missing `result`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// What reading the output has gathered so far.
struct Output {
    ctx: JobContext,
    result: Option<Value>,
    last_progress: f64,
    stderr_tail: VecDeque<String>,
    lines_logged: usize,
    lines_dropped: usize,
}

impl Output {
    async fn log(&mut self, level: LogLevel, text: &str) -> Result<(), JobError> {
        if self.lines_logged >= MAX_LOG_LINES {
            self.lines_dropped += 1;
            return Ok(());
        }
        self.lines_logged += 1;
        self.ctx.log(level, truncate(text, MAX_LOG_BYTES)).await
    }

    async fn stdout(&mut self, line: &str) -> Result<(), JobError> {
        let message = if line.trim_start().starts_with('{') {
            serde_json::from_str::<Message>(line).ok()
        } else {
            None
        };
        let Some(message) = message else {
            return self.log(LogLevel::Info, line).await;
        };
        let mut understood = false;
        if let Some(policy) = message.child_policy {
            self.ctx.set_child_policy(policy);
            understood = true;
        }
        if let Some(child) = message.child {
            let spec = ChildSpec {
                job_type: child.job_type,
                payload: child.payload,
                key: child.key,
            };
            self.ctx.spawn_children(vec![spec]).await?;
            understood = true;
        }
        if let Some(value) = message.result {
            self.result = Some(value);
            understood = true;
        }
        if let Some(text) = &message.log {
            self.log(message.level.unwrap_or(LogLevel::Info), text)
                .await?;
            understood = true;
        }
        let reports_progress = message.progress.is_some()
            || message.message.is_some()
            || message.current.is_some()
            || message.total.is_some()
            || message.stage.is_some();
        if reports_progress && message.log.is_none() {
            understood = true;
            let progress = message.progress.unwrap_or(self.last_progress);
            if !progress.is_finite() || !(0.0..=100.0).contains(&progress) {
                return self
                    .log(
                        LogLevel::Warning,
                        &format!("ignored progress {progress}: must be 0 to 100"),
                    )
                    .await;
            }
            self.last_progress = progress;
            self.ctx
                .report(Progress {
                    progress,
                    message: message
                        .message
                        .map(|m| truncate(&m, MAX_LOG_BYTES).to_owned()),
                    current: message.current,
                    total: message.total,
                    stage: message.stage.map(|s| truncate(&s, 1024).to_owned()),
                })
                .await?;
        }
        if !understood {
            self.log(LogLevel::Info, line).await?;
        }
        Ok(())
    }

    async fn stderr(&mut self, line: &str) -> Result<(), JobError> {
        if self.stderr_tail.len() == STDERR_TAIL {
            self.stderr_tail.pop_front();
        }
        self.stderr_tail.push_back(truncate(line, 1024).to_owned());
        self.log(LogLevel::Warning, line).await
    }

    async fn too_long(&mut self, stream: &str) -> Result<(), JobError> {
        self.log(
            LogLevel::Warning,
            &format!("a {stream} line over {MAX_LINE_BYTES} bytes was dropped"),
        )
        .await
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn start(spec: &CommandHandler, ctx: &JobContext) -> Result<Running, JobError> {
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env("JOBCAST_JOB_ID", ctx.id().to_string())
        .env("JOBCAST_ATTEMPT", ctx.attempt().to_string())
        .envs(ctx.input_file().map(|path| ("JOBCAST_INPUT_FILE", path)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &spec.working_dir {
        command.current_dir(dir);
    }
    let child = command
        .spawn()
        .map_err(|e| JobError::new(format!("could not start {}: {e}", spec.program)))?;
    let group = ProcessGroup {
        id: child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    };
    Ok(Running { group, child })
}

async fn run(spec: Arc<CommandHandler>, ctx: JobContext) -> Result<Value, JobError> {
    let mut running = start(&spec, &ctx)?;
    // The payload goes in from its own task: a program that never reads stdin must not block
    // us on a full pipe.
    if let Some(mut stdin) = running.child.stdin.take() {
        let mut input = serde_json::to_vec(ctx.payload()).unwrap_or_default();
        input.push(b'\n');
        if let Some(children) = ctx.finished_children().await? {
            let outcomes: Vec<Value> = children
                .iter()
                .map(|c| {
                    json!({"id": c.id, "type": c.job_type, "status": c.status,
                           "result": c.result, "error": c.error})
                })
                .collect();
            let line = json!({ "children": outcomes });
            input.extend(serde_json::to_vec(&line).unwrap_or_default());
            input.push(b'\n');
        }
        tokio::spawn(async move {
            let _ = stdin.write_all(&input).await;
        });
    }
    let mut stdout = running
        .child
        .stdout
        .take()
        .map(|s| FramedRead::new(s, BoundedLines::new()));
    let mut stderr = running
        .child
        .stderr
        .take()
        .map(|s| FramedRead::new(s, BoundedLines::new()));
    let mut output = Output {
        ctx: ctx.clone(),
        result: None,
        last_progress: 0.0,
        stderr_tail: VecDeque::new(),
        lines_logged: 0,
        lines_dropped: 0,
    };
    let mut exit: Option<ExitStatus> = None;
    let mut drain_deadline = None;
    loop {
        if stdout.is_none() && stderr.is_none() && exit.is_some() {
            break;
        }
        if exit.is_some() {
            drain_deadline = Some(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
        }
        tokio::select! {
            line = next_line(&mut stdout) => match line {
                Some(Ok(Line::Text(line))) => output.stdout(&line).await?,
                Some(Ok(Line::TooLong)) => output.too_long("stdout").await?,
                Some(Err(_)) | None => stdout = None,
            },
            line = next_line(&mut stderr) => match line {
                Some(Ok(Line::Text(line))) => output.stderr(&line).await?,
                Some(Ok(Line::TooLong)) => output.too_long("stderr").await?,
                Some(Err(_)) | None => stderr = None,
            },
            status = running.child.wait(), if exit.is_none() => {
                let status = status.map_err(|e| JobError::new(format!("could not wait for the program: {e}")))?;
                exit = Some(status);
            }
            _ = sleep_until(drain_deadline) => {
                // The program exited, and something it started holds its output open silently.
                running.group.signal(Signal::SIGKILL);
                break;
            }
            _ = ctx.cancelled() => return Err(stop(running, spec.cancel_grace).await),
        }
    }
    if output.lines_dropped > 0 {
        let note = format!("{} more output lines were not kept", output.lines_dropped);
        output.lines_logged = 0;
        output.log(LogLevel::Warning, &note).await?;
    }
    // Everything it started has ended; nothing left to kill.
    running.group.id = None;
    match exit {
        Some(status) if status.success() => Ok(output.result.unwrap_or(Value::Null)),
        Some(status) => Err(failure(status, &output.stderr_tail)),
        None => Err(JobError::new("the program's exit status was lost")),
    }
}

async fn next_line(
    lines: &mut Option<FramedRead<impl tokio::io::AsyncRead + Unpin, BoundedLines>>,
) -> Option<Result<Line, LinesCodecError>> {
    match lines {
        Some(lines) => lines.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Cancel: SIGTERM to the group, SIGKILL if it is still there after the grace period.
async fn stop(mut running: Running, grace: Duration) -> JobError {
    running.group.signal(Signal::SIGTERM);
    if tokio::time::timeout(grace, running.child.wait())
        .await
        .is_err()
    {
        running.group.signal(Signal::SIGKILL);
        let _ = running.child.wait().await;
    }
    // Dropping `running` kills whatever the program left in its group.
    JobError::new("cancelled")
}

fn failure(status: ExitStatus, stderr_tail: &VecDeque<String>) -> JobError {
    let error = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => match Signal::try_from(signal) {
            Ok(name) => format!("killed by signal {}", name.as_str()),
            Err(_) => format!("killed by signal {signal}"),
        },
        (None, None) => format!("ended with {status}"),
    };
    JobError::new(error).with_details(json!({ "stderr": stderr_tail }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn a_result_of_null_is_still_a_result() {
        let message: Message = serde_json::from_str(r#"{"result": null}"#).unwrap();
        assert_eq!(message.result, Some(Value::Null));
        let message: Message = serde_json::from_str(r#"{"progress": 5}"#).unwrap();
        assert_eq!(message.result, None);
    }

    #[test]
    fn failures_name_the_status_or_the_signal() {
        let tail = VecDeque::from(vec!["boom".to_owned()]);
        let failed = failure(ExitStatus::from_raw(3 << 8), &tail);
        assert_eq!(failed.error, "exited with status 3");
        assert_eq!(failed.details, Some(json!({"stderr": ["boom"]})));
        assert_eq!(
            failure(ExitStatus::from_raw(9), &tail).error,
            "killed by signal SIGKILL"
        );
    }
}
