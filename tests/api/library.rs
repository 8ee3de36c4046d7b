//! jobcast as a library: handlers registered in code, and the import-traces example in both
//! its forms (the Python command and the Rust handler of `examples/embedded.rs`).

use std::time::Duration;

use jobcast::config::{JobKind, JobTypeConfig};
use jobcast::{handler_fn, Application, JobContext, JobError, LogLevel};
use serde_json::{json, Value};

use crate::helpers::*;

#[allow(dead_code)]
#[path = "../../examples/embedded.rs"]
mod embedded;

async fn spawn_with_handler(
    name: &str,
    handler: impl jobcast::JobHandler,
    tweak: impl FnOnce(&mut jobcast::Config),
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("jobcast.db");
    let mut config = test_config(&db_path);
    config.stream.max_duration = Duration::from_secs(20);
    tweak(&mut config);
    let app = Application::builder(config)
        .handler(name, handler)
        .build()
        .await
        .unwrap();
    from_application(app, dir, db_path)
}

async fn count_to(ctx: JobContext) -> Result<Value, JobError> {
    let n = ctx.payload()["n"].as_i64().unwrap_or(3);
    ctx.stage("counting").await?;
    ctx.set_total(n).await?;
    for i in 1..=n {
        tokio::time::sleep(Duration::from_millis(30)).await;
        ctx.set_current(i).await?;
        ctx.progress(100.0 * i as f64 / n as f64, format!("{i} of {n}"))
            .await?;
        ctx.log(LogLevel::Info, format!("counted {i}")).await?;
    }
    Ok(json!({"counted": n}))
}

#[tokio::test]
async fn a_handler_registered_in_code_runs_and_streams() {
    let app = spawn_with_handler("count", handler_fn(count_to), |_| {}).await;
    let id = app
        .create(json!({"type": "count", "payload": {"n": 4}}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let log = app.read_stream(&id, None, Duration::from_secs(10)).await;
    assert_eq!(log.last_event().name(), Some("completed"));
    assert_eq!(log.last_event().data()["result"], json!({"counted": 4}));
    assert!(log.names().contains(&"log"));
    let job = app.job(&id).await;
    assert_eq!(
        (job["current"].as_i64(), job["total"].as_i64()),
        (Some(4), Some(4))
    );
    assert_eq!(
        (job["stage"].as_str(), job["message"].as_str()),
        (Some("counting"), Some("4 of 4"))
    );
}

#[tokio::test]
async fn a_permanent_error_is_not_retried_and_a_plain_one_is() {
    let handler = handler_fn(|ctx: JobContext| async move {
        match ctx.payload()["kind"].as_str() {
            Some("permanent") => Err(JobError::permanent("bad input")),
            _ => Err(JobError::new("try again")),
        }
    });
    let app = spawn_with_handler("fails", handler, |_| {}).await;
    let permanent = app
        .create(json!({"type": "fails", "payload": {"kind": "permanent"}, "max_attempts": 3}))
        .await;
    let plain = app
        .create(json!({"type": "fails", "payload": {"kind": "plain"}, "max_attempts": 3}))
        .await;
    let permanent = app
        .wait_for_status(
            permanent["id"].as_str().unwrap(),
            &["failed"],
            Duration::from_secs(10),
        )
        .await;
    let plain = app
        .wait_for_status(
            plain["id"].as_str().unwrap(),
            &["failed"],
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(
        (permanent["attempt"].as_i64(), permanent["error"].as_str()),
        (Some(1), Some("bad input"))
    );
    assert_eq!(
        (plain["attempt"].as_i64(), plain["error"].as_str()),
        (Some(3), Some("try again"))
    );
}

#[tokio::test]
async fn a_rust_type_declared_in_config_without_a_handler_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir.path().join("j.db"));
    config
        .job_types
        .insert("orphan".into(), JobTypeConfig::new(JobKind::Rust));
    let error = Application::build(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("orphan"), "{error}");
}

fn expected_sample_counts() -> Value {
    let text = std::fs::read_to_string("examples/data/traces-1000.expected.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Imports the sample through `job_type` and checks the counts and the warnings; then asks for
/// a path outside the import folder and returns that (failed) job.
async fn import_the_sample_then_a_path_outside(app: &TestApp, job_type: &str) -> Value {
    let body = json!({"type": job_type, "payload": {"path": "traces-1000.jsonl"}});
    let id = app.create(body).await["id"].as_str().unwrap().to_owned();
    let log = app.read_stream(&id, None, Duration::from_secs(20)).await;
    assert_eq!(
        log.last_event().name(),
        Some("completed"),
        "{:?}",
        log.names()
    );
    assert_eq!(log.last_event().data()["result"], expected_sample_counts());
    let warnings = log
        .events()
        .iter()
        .filter(|e| e.name() == Some("log") && e.data()["level"] == "warning")
        .count();
    assert!(warnings > 0, "malformed lines are reported");
    let outside = json!({"type": job_type, "payload": {"path": "../../Cargo.toml"}});
    let refused = app.create(outside).await;
    let id = refused["id"].as_str().unwrap();
    app.wait_for_status(id, &["failed"], Duration::from_secs(10))
        .await
}

#[tokio::test]
async fn the_rust_import_handler_imports_the_sample_with_the_right_counts() {
    let handler = handler_fn(embedded::import_traces);
    let app = spawn_with_handler("import-traces-rs", handler, |_| {}).await;
    let refused = import_the_sample_then_a_path_outside(&app, "import-traces-rs").await;
    let error = refused["error"].as_str().unwrap();
    assert!(error.contains("outside the import folder"), "{refused}");
    assert_eq!(refused["attempt"], 1, "a refused path is not retried");
}

#[tokio::test]
async fn the_python_import_command_imports_the_sample_with_the_right_counts() {
    let mut job_type = JobTypeConfig::command("python3", &["examples/import_traces.py"]);
    job_type.max_attempts = 1;
    job_type
        .env
        .insert("IMPORT_DIR".into(), "examples/data".into());
    let app = spawn_app_with(move |c| {
        c.stream.max_duration = Duration::from_secs(20);
        c.job_types.insert("import-traces".into(), job_type);
    })
    .await;
    let refused = import_the_sample_then_a_path_outside(&app, "import-traces").await;
    let stderr = refused["details"]["stderr"].to_string();
    assert!(stderr.contains("outside the import folder"), "{refused}");
}

/// A parent that makes `n` children of type `square` on its first run and sums their results
/// on the run after it waited for them.
async fn sum_of_squares(ctx: JobContext) -> Result<Value, JobError> {
    if let Some(children) = ctx.finished_children().await? {
        let sum: i64 = children
            .iter()
            .map(|child| child.result.as_ref().and_then(Value::as_i64).unwrap_or(0))
            .sum();
        return Ok(json!({"sum": sum, "children": children.len()}));
    }
    if ctx.payload()["wait_for_all"] == true {
        ctx.set_child_policy(jobcast::job::ChildPolicy::WaitForAll);
    }
    let n = ctx.payload()["n"].as_i64().unwrap_or(3);
    for i in 1..=n {
        ctx.spawn_child("square", json!({"i": i})).await?;
    }
    Ok(json!("split"))
}

async fn square(ctx: JobContext) -> Result<Value, JobError> {
    let i = ctx.payload()["i"].as_i64().unwrap_or(0);
    if i == 13 {
        return Err(JobError::permanent("unlucky"));
    }
    Ok(json!(i * i))
}

async fn spawn_family_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("jobcast.db");
    let config = test_config(&db_path);
    let app = Application::builder(config)
        .handler("sum", handler_fn(sum_of_squares))
        .handler("square", handler_fn(square))
        .build()
        .await
        .unwrap();
    from_application(app, dir, db_path)
}

/// Creates a job and waits for its end.
async fn run_to_end(app: &TestApp, body: Value) -> Value {
    let id = app.create(body).await["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&id, &["completed", "failed"], Duration::from_secs(20))
        .await
}

#[tokio::test]
async fn a_rust_handler_makes_children_waits_for_them_and_merges_their_results() {
    let app = spawn_family_app().await;
    let job = run_to_end(&app, json!({"type": "sum", "payload": {"n": 10}})).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["result"], json!({"sum": 385, "children": 10}));
    assert_eq!(job["children"], 10);

    // A failed child: fail-fast fails the parent; wait-for-all lets it merge what there is.
    let job = run_to_end(&app, json!({"type": "sum", "payload": {"n": 13}})).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("unlucky"), "{job}");
    let job = run_to_end(
        &app,
        json!({"type": "sum", "payload": {"n": 13, "wait_for_all": true}}),
    )
    .await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["result"], json!({"sum": 650, "children": 13}));
}

#[tokio::test]
async fn a_child_of_an_unknown_type_fails_the_parent_and_makes_nothing() {
    let handler = handler_fn(|ctx: JobContext| async move {
        ctx.spawn_child("nope", json!({})).await?;
        Ok(json!("made"))
    });
    let app = spawn_with_handler("bad-parent", handler, |_| {}).await;
    let id = app.create(json!({"type": "bad-parent"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = app
        .wait_for_status(&id, &["completed", "failed"], Duration::from_secs(10))
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"]
        .as_str()
        .unwrap()
        .contains("unknown child job type"));
    assert!(job.get("children").is_none());
}
