//! The built-in `demo` job type: a job that counts steps, for curl testing, demos and
//! benchmarks. Payload `{"steps": 1..=10000 (10), "step_ms": 0..=60000 (200),
//! "fail_at_step": optional}`.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

use super::handler::{BoxFuture, JobContext, JobError, JobHandler, PayloadError};
use crate::job::{whole_number, LogLevel, Progress};

/// The demo handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Demo;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoPayload {
    #[serde(default = "default_steps", deserialize_with = "whole_number::required")]
    steps: i64,
    #[serde(
        default = "default_step_ms",
        deserialize_with = "whole_number::required"
    )]
    step_ms: i64,
    #[serde(default, deserialize_with = "whole_number::optional")]
    fail_at_step: Option<i64>,
}

fn default_steps() -> i64 {
    10
}

fn default_step_ms() -> i64 {
    200
}

impl DemoPayload {
    fn parse(payload: &Value) -> Result<Self, PayloadError> {
        let value = if payload.is_null() {
            json!({})
        } else {
            payload.clone()
        };
        if !value.is_object() {
            return Err(PayloadError::new("payload", "must be a JSON object"));
        }
        let parsed: DemoPayload = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "payload".to_owned()
            } else {
                format!("payload.{path}")
            };
            PayloadError::new(field, e.into_inner().to_string())
        })?;
        if !(1..=10_000).contains(&parsed.steps) {
            return Err(PayloadError::new(
                "payload.steps",
                "must be from 1 to 10000",
            ));
        }
        if !(0..=60_000).contains(&parsed.step_ms) {
            return Err(PayloadError::new(
                "payload.step_ms",
                "must be from 0 to 60000",
            ));
        }
        if let Some(at) = parsed.fail_at_step {
            if !(1..=parsed.steps).contains(&at) {
                return Err(PayloadError::new(
                    "payload.fail_at_step",
                    "must be from 1 to steps",
                ));
            }
        }
        Ok(parsed)
    }
}

impl JobHandler for Demo {
    fn validate(&self, payload: &Value) -> Result<(), PayloadError> {
        DemoPayload::parse(payload).map(|_| ())
    }

    fn run(&self, ctx: JobContext) -> BoxFuture<Result<Value, JobError>> {
        Box::pin(run(ctx))
    }
}

async fn run(ctx: JobContext) -> Result<Value, JobError> {
    let payload = DemoPayload::parse(ctx.payload())
        .map_err(|e| JobError::new(format!("{}: {}", e.field, e.message)))?;
    let started = Instant::now();
    let steps = payload.steps;
    // About five log lines per job, whatever its length.
    let log_every = (steps / 5).max(1);
    ctx.log(
        LogLevel::Info,
        format!("starting {steps} steps (attempt {})", ctx.attempt()),
    )
    .await?;
    for step in 1..=steps {
        if payload.step_ms > 0 {
            tokio::time::sleep(Duration::from_millis(payload.step_ms as u64)).await;
        }
        if payload.fail_at_step == Some(step) {
            ctx.log(LogLevel::Error, format!("step {step} failed"))
                .await?;
            return Err(JobError::new(format!("failed at step {step} of {steps}"))
                .with_details(json!({"step": step, "steps": steps})));
        }
        ctx.report(Progress {
            progress: (step as f64 * 100.0 / steps as f64 * 100.0).round() / 100.0,
            message: Some(format!("step {step}/{steps}")),
            current: Some(step),
            total: Some(steps),
            stage: Some("counting".to_owned()),
        })
        .await?;
        if step % log_every == 0 && step < steps {
            ctx.log(LogLevel::Info, format!("reached step {step} of {steps}"))
                .await?;
        }
    }
    ctx.log(LogLevel::Success, format!("all {steps} steps done"))
        .await?;
    Ok(json!({
        "steps": steps,
        "elapsed_ms": started.elapsed().as_millis() as u64,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_payload_takes_the_defaults() {
        let parsed = DemoPayload::parse(&Value::Null).unwrap();
        assert_eq!(
            (parsed.steps, parsed.step_ms, parsed.fail_at_step),
            (10, 200, None)
        );
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let field = |v: Value| DemoPayload::parse(&v).unwrap_err().field;
        assert_eq!(field(json!({"steps": 0})), "payload.steps");
        assert_eq!(field(json!({"steps": 10001})), "payload.steps");
        assert_eq!(field(json!({"step_ms": -1})), "payload.step_ms");
        assert_eq!(
            field(json!({"steps": 3, "fail_at_step": 4})),
            "payload.fail_at_step"
        );
        assert_eq!(field(json!({"steps": "many"})), "payload.steps");
        assert_eq!(field(json!([1])), "payload");
        assert_eq!(field(json!({"steps": 2.5})), "payload.steps");
    }

    #[test]
    fn whole_numbers_may_be_written_as_floats() {
        let parsed =
            DemoPayload::parse(&json!({"steps": 3.0, "step_ms": 0.0, "fail_at_step": 2.0}))
                .unwrap();
        assert_eq!(
            (parsed.steps, parsed.step_ms, parsed.fail_at_step),
            (3, 0, Some(2))
        );
    }
}
