//! Periodic jobs: exactly one job per tick however many nodes run, missed ticks skipped or run
//! once after downtime (never replayed in a burst), pausing and triggering, bad declarations
//! refused at start-up with the key named, and the terminal client's view.

use std::collections::BTreeMap;
use std::time::Duration;

use jobcast::config::{Missed, ScheduleConfig};
use jobcast::job::Timestamp;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::binary::{db_env, jobcast, send_signal, Server};
use crate::helpers::*;

/// Every job a schedule made, as listed by `GET /api/jobs?schedule=NAME`, by tick (the key's
/// last part; manual runs under `manual`).
async fn jobs_by_tick(base: &str, schedule: &str) -> BTreeMap<String, Vec<Value>> {
    let client = reqwest::Client::new();
    let mut by_tick: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/jobs?schedule={schedule}&limit=500");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        for job in page["jobs"].as_array().unwrap() {
            assert_eq!(job["schedule"], schedule, "{job}");
            let key = job["idempotency_key"].as_str().unwrap();
            let tick = key
                .strip_prefix(&format!("schedule:{schedule}:"))
                .unwrap_or_else(|| panic!("{key}"));
            by_tick
                .entry(tick.to_owned())
                .or_default()
                .push(job.clone());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return by_tick,
        }
    }
}

/// The ticks of a schedule's jobs, as times, every tick with exactly one job.
#[track_caller]
fn one_job_per_tick(by_tick: &BTreeMap<String, Vec<Value>>) -> Vec<Timestamp> {
    by_tick
        .iter()
        .filter(|(tick, _)| !tick.starts_with("manual:"))
        .map(|(tick, jobs)| {
            assert_eq!(jobs.len(), 1, "tick {tick} made {} jobs", jobs.len());
            Timestamp::parse_rfc3339(tick).unwrap_or_else(|e| panic!("{tick}: {e}"))
        })
        .collect()
}

/// The schedule `name` as `GET /api/schedules` shows it.
async fn schedule(base: &str, name: &str) -> Value {
    let page: Value = reqwest::get(format!("{base}/api/schedules"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no schedule {name}: {page}"))
}

const EVERY_SECOND: &str = r#"
[job_types.external]
kind = "external"

[[schedules]]
name = "every-second"
type = "external"
cron = "* * * * * *"
payload = { source = "two nodes" }
"#;

#[tokio::test]
async fn a_schedule_every_second_runs_once_per_tick_with_two_nodes_on_one_database_for_10_s() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("jobcast.toml");
    std::fs::write(&config, EVERY_SECOND).unwrap();
    let env = db_env(dir.path());
    let a = Server::start_with_config(dir.path(), &config, &env);
    let b = Server::start_with_config(dir.path(), &config, &env);
    tokio::time::sleep(Duration::from_secs(10)).await;
    // A stops; B's schedule is paused, so the count no longer moves while it is read.
    send_signal("-TERM", &a.pid());
    let (status, a_log) = a.wait(Duration::from_secs(10));
    assert!(status.success());
    let paused = reqwest::Client::new()
        .post(b.url("/api/schedules/every-second/pause"))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), StatusCode::OK);
    // A tick B was running as the pause came is recorded by now.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let by_tick = jobs_by_tick(&b.base, "every-second").await;
    let ticks = one_job_per_tick(&by_tick);
    assert!(ticks.len() >= 9, "{} ticks in 10 s: {ticks:?}", ticks.len());
    // One job for every second, none missed while both ran.
    for pair in ticks.windows(2) {
        assert_eq!(
            pair[1].as_millis() - pair[0].as_millis(),
            1000,
            "a tick between {} and {} made no job",
            pair[0].to_rfc3339(),
            pair[1].to_rfc3339()
        );
    }
    let state = schedule(&b.base, "every-second").await;
    assert_eq!(
        state["run_count"],
        ticks.len(),
        "every tick recorded once: {state}"
    );
    let last = ticks.last().unwrap().to_rfc3339();
    assert_eq!(state["last_job_id"], by_tick[&last][0]["id"], "{state}");
    assert_eq!(by_tick[&last][0]["payload"], json!({"source": "two nodes"}));
    // Both nodes ran the schedule; between them each tick's job was made once.
    let b_log: Vec<String> = b.lines.try_iter().collect();
    for (node, log) in [("A", &a_log), ("B", &b_log)] {
        assert!(
            log.iter().any(|line| line.contains("schedules started")),
            "node {node} did not run the schedules"
        );
    }
    let made = a_log
        .iter()
        .chain(&b_log)
        .filter(|line| line.contains("schedule ran"))
        .count();
    assert_eq!(made, ticks.len(), "jobs made by the two nodes");
}

/// Waits until the wall clock's millisecond within the second is in `from..to`.
async fn at_millisecond(from: i64, to: i64) {
    loop {
        let ms = Timestamp::now().as_millis().rem_euclid(1000);
        if (from..to).contains(&ms) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn ticks_missed_while_down_are_skipped_by_default_and_run_once_with_run_once() {
    let schedules = |config: &mut jobcast::Config| {
        let mut catcher = ScheduleConfig::new("catcher", "external", "* * * * * *");
        catcher.missed = Missed::RunOnce;
        config.schedules = vec![
            ScheduleConfig::new("skipper", "external", "* * * * * *"),
            catcher,
        ];
    };
    let app = spawn_app_with(&schedules).await;
    // Both have run.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    for name in ["skipper", "catcher"] {
        while schedule(&app.base, name).await["run_count"] == 0 {
            assert!(std::time::Instant::now() < deadline, "{name} never ran");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (dir, db) = app.stop().await;
    let stopped = Timestamp::now();
    // Down for three ticks or more; back early in a second, so no tick comes while starting.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    at_millisecond(50, 300).await;
    let restarted = Timestamp::now();
    let mut config = test_config(&db);
    schedules(&mut config);
    let app = start(config, dir, db).await;
    // The first tick after the restart.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let missed = |ticks: &[Timestamp]| -> Vec<Timestamp> {
        ticks
            .iter()
            .copied()
            .filter(|t| *t > stopped && *t <= restarted)
            .collect()
    };
    let skipper = one_job_per_tick(&jobs_by_tick(&app.base, "skipper").await);
    let catcher = one_job_per_tick(&jobs_by_tick(&app.base, "catcher").await);
    assert_eq!(missed(&skipper), [], "skipped: {skipper:?}");
    // One run for the three missed ticks: the latest one, at once.
    let latest = Timestamp::from_millis(restarted.as_millis() / 1000 * 1000);
    assert_eq!(missed(&catcher), [latest], "run once: {catcher:?}");
    // Both go on with the ticks after the restart.
    for ticks in [&skipper, &catcher] {
        assert!(ticks.iter().any(|t| *t > restarted), "{ticks:?}");
    }
    let state = schedule(&app.base, "catcher").await;
    assert_eq!(state["run_count"], catcher.len(), "{state}");
}

#[tokio::test]
async fn a_paused_schedule_makes_no_job_and_a_trigger_runs_it_at_once() {
    let app = spawn_app_with(|c| {
        let mut every = ScheduleConfig::new("every-second", "demo", "* * * * * *");
        every.payload = json!({"steps": 1, "step_ms": 0});
        let mut nightly = ScheduleConfig::new("nightly", "demo", "0 2 * * *");
        nightly.timezone = "Europe/Berlin".into();
        c.schedules = vec![every, nightly];
    })
    .await;
    let (status, paused) = app
        .post_json("/api/schedules/every-second/pause", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paused["paused"], true);
    assert_eq!(paused["next_run_at"], Value::Null);
    let runs = paused["run_count"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(schedule(&app.base, "every-second").await["run_count"], runs);

    let (status, triggered) = app
        .post_json("/api/schedules/every-second/trigger", &json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{triggered}");
    let job = &triggered["job"];
    assert_eq!(job["schedule"], "every-second");
    assert!(job["idempotency_key"]
        .as_str()
        .unwrap()
        .starts_with("schedule:every-second:manual:"));
    assert_eq!(triggered["schedule"]["run_count"], runs + 1);
    assert_eq!(triggered["schedule"]["last_job_id"], job["id"]);
    let id = job["id"].as_str().unwrap();
    app.wait_for_status(id, &["completed"], Duration::from_secs(5))
        .await;

    let (status, resumed) = app
        .post_json("/api/schedules/every-second/resume", &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(resumed["next_run_at"].is_string());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(schedule(&app.base, "every-second").await["run_count"].as_i64() > Some(runs + 1));

    // The nightly one: its next tick at 02:00 in Berlin, as UTC.
    let nightly = schedule(&app.base, "nightly").await;
    let next = nightly["next_run_at"].as_str().unwrap();
    assert!(
        next.ends_with("T01:00:00Z") || next.ends_with("T00:00:00Z"),
        "{nightly}"
    );
    assert_eq!(nightly["last_run_at"], Value::Null);
    // The jobs of another type made by no schedule are not listed by one.
    let (status, answer) = app.get("/api/jobs?schedule=nightly&type=external").await;
    assert_eq!(
        (status, answer["jobs"].clone()),
        (StatusCode::OK, json!([]))
    );
    // A schedule nobody declared matches no job, as an unknown type does.
    let (status, answer) = app.get("/api/jobs?schedule=weekly").await;
    assert_eq!(
        (status, answer["jobs"].clone()),
        (StatusCode::OK, json!([]))
    );
}

#[tokio::test]
async fn a_bad_schedule_stops_start_up_and_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let env = db_env(dir.path());
    for (text, key) in [
        (
            "[[schedules]]\nname = \"n\"\ntype = \"demo\"\ncron = \"0 25 * * *\"\n",
            "schedules.n.cron",
        ),
        (
            "[[schedules]]\nname = \"n\"\ntype = \"demo\"\ncron = \"0 2 * * *\"\ntimezone = \"Europe/Atlantis\"\n",
            "schedules.n.timezone",
        ),
        (
            "[[schedules]]\nname = \"n\"\ntype = \"nope\"\ncron = \"0 2 * * *\"\n",
            "schedules.n.type",
        ),
        (
            "[[schedules]]\nname = \"n\"\ntype = \"demo\"\ncron = \"0 2 * * *\"\npayload = { steps = -1 }\n",
            "schedules.n.payload",
        ),
        (
            "[[schedules]]\nname = \"n\"\ntype = \"demo\"\ncron = \"0 2 * * *\"\nmissed = \"all\"\n",
            "missed",
        ),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, text).unwrap();
        let mut command = jobcast(dir.path(), &env);
        command.arg("--config").arg(&config);
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{text}: started");
        assert!(stderr.contains(key), "{text}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test]
async fn the_terminal_client_lists_types_and_schedules_and_pauses_and_resumes_a_type() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("jobcast.toml");
    std::fs::write(
        &config,
        "[job_types.demo]\nkind = \"demo\"\n\n[[schedules]]\nname = \"nightly\"\ntype = \"demo\"\n\
         cron = \"0 2 * * *\"\ntimezone = \"Europe/Berlin\"\n",
    )
    .unwrap();
    let server = Server::start_with_config(dir.path(), &config, &db_env(dir.path()));
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_jobcast"))
            .arg("--url")
            .arg(&server.base)
            .args(args)
            .env_remove("JOBCAST_URL")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, out) = run(&["pause", "demo"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("demo paused since "), "{out}");
    let (code, out) = run(&["types"]);
    assert_eq!(code, Some(0));
    let demo = out.lines().find(|l| l.starts_with("demo ")).unwrap();
    assert!(demo.contains("paused"), "{out}");
    let (code, out) = run(&["resume", "demo"]);
    assert_eq!((code, out.trim()), (Some(0), "demo active"));
    let (code, out) = run(&["schedules"]);
    assert_eq!(code, Some(0));
    let nightly = out.lines().find(|l| l.starts_with("nightly ")).unwrap();
    assert!(nightly.contains("0 2 * * * (Europe/Berlin)"), "{out}");
    assert!(nightly.contains("active"), "{out}");
    let (code, _) = run(&["pause", "nope"]);
    assert_eq!(
        code,
        Some(2),
        "an unknown type is a 404, which trying again will not fix"
    );
}
