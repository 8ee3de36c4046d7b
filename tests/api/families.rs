//! Parent and child jobs through the real server (issue 18): a command job that splits its
//! work into children run by several workers and merges their results; external parents that
//! make children over `POST /api/jobs/{id}/children`; the policies, the cancel cascade, cursor
//! paging, and hostile input on the new routes.

use std::time::Duration;

use jobcast::config::JobTypeConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::binary::{db_env, send_signal, Server};
use crate::helpers::*;

/// The `part` child: logs its number once, reports half way, and returns its number.
const PART: &str = r#"read payload
n=$(printf '%s' "$payload" | sed 's/.*"n":\([0-9]*\).*/\1/')
echo "part $n"
echo "{\"progress\": 50}"
sleep "${SLOW_PART:-0}"
echo "{\"result\": $n}""#;

/// The `split` parent: on its first run makes `$PARTS` children; on the run after they ended
/// (its stdin's second line lists their outcomes) returns their sum and how many completed.
const SPLIT: &str = r#"read payload
if read children; then
  sum=$(printf '%s' "$children" | grep -o '"result":[0-9]*' | cut -d: -f2 | awk '{s+=$1} END {print s+0}')
  done=$(printf '%s' "$children" | grep -o '"status":"completed"' | wc -l)
  echo "{\"result\": {\"sum\": $sum, \"completed\": $done}}"
else
  i=0
  while [ $i -lt $PARTS ]; do
    echo "{\"child\": {\"type\": \"part\", \"payload\": {\"n\": $i}}}"
    sleep "${SLOW_SPLIT:-0}"
    i=$((i + 1))
  done
  echo "made $PARTS parts"
fi"#;

async fn family_app(parts: usize, workers: usize) -> TestApp {
    spawn_app_with(move |c| {
        c.runner.workers = workers;
        let mut split = JobTypeConfig::command("sh", &["-c", SPLIT]);
        split.env.insert("PARTS".to_owned(), parts.to_string());
        // Slow enough that the family takes several of `follow`'s reconnections.
        let mut part = JobTypeConfig::command("sh", &["-c", PART]);
        part.env.insert("SLOW_PART".to_owned(), "0.05".to_owned());
        c.job_types.insert("split".to_owned(), split);
        c.job_types.insert("part".to_owned(), part);
    })
    .await
}

/// Every child of `id`, through the paged listing, `limit` at a time.
async fn all_children(app: &TestApp, id: &str, limit: usize) -> Vec<Value> {
    let mut children = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = app
            .get(&format!(
                "/api/jobs/{id}/children?limit={limit}&cursor={cursor}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["children"].as_array().unwrap();
        assert!(items.len() <= limit);
        children.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return children,
        }
    }
}

/// Follows a job's stream to its terminal event, hanging up every 150 ms and reconnecting
/// with `Last-Event-ID` (and whenever the server ends it: `stream.max_duration` is short in
/// tests); returns every event, and the ids each reconnection resumed from.
async fn follow(
    app: &TestApp,
    id: &str,
    within: Duration,
) -> (Vec<(String, i64, Value)>, Vec<i64>) {
    let deadline = std::time::Instant::now() + within;
    let (mut events, mut resumed_from) = (Vec::new(), Vec::new());
    let mut last: Option<i64> = None;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no end within {within:?}: {events:?}"
        );
        if let Some(last) = last {
            resumed_from.push(last);
        }
        let log = app
            .read_stream(
                id,
                last.map(|l| l.to_string()).as_deref(),
                Duration::from_millis(150),
            )
            .await;
        for frame in log.events() {
            let (Some(name), Some(event_id)) = (frame.name(), frame.id()) else {
                continue;
            };
            events.push((name.to_owned(), event_id, frame.data()));
            last = Some(event_id);
            if name == "completed" || name == "failed" {
                return (events, resumed_from);
            }
        }
    }
}

#[tokio::test]
async fn a_family_of_fifty_children_across_four_workers_completes_with_the_merged_result() {
    let app = family_app(50, 4).await;
    let parent = app.create(json!({"type": "split"})).await;
    let id = parent["id"].as_str().unwrap();
    let (events, resumed_from) = follow(&app, id, Duration::from_secs(60)).await;
    // The parent's one bar: its progress events carry the family's, which never goes back,
    // across every reconnection, and no event comes twice.
    let ids: Vec<i64> = events.iter().map(|e| e.1).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids only grow: {ids:?}"
    );
    let progress: Vec<f64> = events
        .iter()
        .filter(|e| e.0 == "progress" || e.0 == "completed")
        .map(|e| e.2["progress"].as_f64().unwrap())
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back: {progress:?}"
    );
    assert!(
        events.iter().any(|e| e.2["message"]
            .as_str()
            .is_some_and(|m| m.contains("of 50 children ended"))),
        "the family's counts: {events:?}"
    );
    // The bar moves as the children report, not only as they end: with 50 equal children, a
    // child's end moves it by 2, a child's report of 50 % by 1.
    assert!(
        progress
            .iter()
            .any(|p| p.fract() == 0.0 && (*p as i64) % 2 == 1),
        "the children's own reports move the parent's bar: {progress:?}"
    );
    // The counts come as fields, and end with every child completed.
    let counts: Vec<&Value> = events
        .iter()
        .filter(|e| e.0 == "progress")
        .filter_map(|e| e.2.get("family"))
        .collect();
    assert_eq!(
        counts.last().copied(),
        Some(&json!({"queued": 0, "running": 0, "completed": 50, "failed": 0, "cancelled": 0})),
        "{counts:?}"
    );
    // Every child's log line exactly once on the parent's stream, tagged with the child, across
    // every reconnection; and each child's changes as `child` events, ending completed.
    let mut lines: Vec<(String, String)> = events
        .iter()
        .filter(|e| {
            e.0 == "log"
                && e.2["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("part "))
        })
        .map(|e| {
            (
                e.2["child_id"]
                    .as_str()
                    .expect("a child's line names it")
                    .to_owned(),
                e.2["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    lines.sort();
    let mut numbers: Vec<String> = lines.iter().map(|l| l.1.clone()).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!((lines.len(), numbers.len()), (50, 50), "{lines:?}");
    let mut last_child_status = std::collections::HashMap::new();
    for e in events.iter().filter(|e| e.0 == "child") {
        let child = e.2["child_id"].as_str().unwrap().to_owned();
        last_child_status.insert(child, e.2["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(last_child_status.len(), 50, "a child event for each child");
    assert!(
        last_child_status.values().all(|s| s == "completed"),
        "{last_child_status:?}"
    );
    for (child, _) in &lines {
        assert!(
            last_child_status.contains_key(child),
            "a line of a child of this parent"
        );
    }
    let last = events.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.2["progress"].as_f64()),
        ("completed", Some(100.0))
    );
    assert!(
        !resumed_from.is_empty(),
        "the stream was resumed at least once: {events:?}"
    );
    let done = app
        .wait_for_status(id, &["completed", "failed"], Duration::from_secs(60))
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"], json!({"sum": 1225, "completed": 50}));
    assert_eq!(done["children"], 50);
    assert_eq!(done["progress"], 100.0);

    let children = all_children(&app, id, 7).await;
    assert_eq!(children.len(), 50, "paging neither skips nor repeats");
    let mut ids: Vec<&str> = children.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let listed = ids.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50);
    assert_eq!(listed, ids, "oldest first");
    let mut numbers: Vec<i64> = Vec::new();
    for child in &children {
        assert_eq!(child["status"], "completed");
        assert_eq!(child["parent_id"], id);
        assert_eq!(child["attempt"], 1, "each child ran once");
        numbers.push(child["result"].as_i64().unwrap());
        let (_, logs) = app
            .get(&format!("/api/jobs/{}/logs", child["id"].as_str().unwrap()))
            .await;
        let lines: Vec<&str> = logs["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["message"].as_str().unwrap())
            .filter(|m| m.starts_with("part "))
            .collect();
        assert_eq!(lines.len(), 1, "one log line per child: {lines:?}");
    }
    numbers.sort();
    assert_eq!(numbers, (0..50).collect::<Vec<i64>>());
}

/// An external parent (driven by outside code, no lease) and its external children.
async fn external_family(app: &TestApp, n: usize, policy: &str) -> (String, Vec<String>) {
    let parent = app.create_external().await;
    let children: Vec<Value> = (0..n)
        .map(|i| json!({"type": "external", "payload": {"part": i}}))
        .collect();
    let (status, made) = app
        .post_json(
            &format!("/api/jobs/{parent}/children"),
            &json!({"children": children, "policy": policy}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let ids = made["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["created"], true);
            assert_eq!(c["job"]["parent_id"], parent.as_str());
            c["job"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let (status, job) = app
        .post_json(&format!("/api/jobs/{parent}/complete"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(job["status"], "waiting", "{job}");
    (parent, ids)
}

#[tokio::test]
async fn a_failed_child_fails_a_fail_fast_parent_and_cancels_its_siblings() {
    let app = spawn_app().await;
    let (parent, children) = external_family(&app, 3, "fail_fast").await;
    let (status, _) = app
        .post_json(&format!("/api/jobs/{}/complete", children[0]), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.job(&parent).await["status"], "waiting");
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{}/fail", children[1]),
            &json!({"error": "bad part"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let failed = app.job(&parent).await;
    assert_eq!(failed["status"], "failed");
    assert!(failed["error"].as_str().unwrap().contains(&children[1]));
    assert_eq!(app.job(&children[0]).await["status"], "completed");
    assert_eq!(app.job(&children[2]).await["status"], "cancelled");
}

#[tokio::test]
async fn a_wait_for_all_parent_is_queued_again_once_every_child_has_ended() {
    let app = spawn_app().await;
    let (parent, children) = external_family(&app, 2, "wait_for_all").await;
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{}/fail", children[0]),
            &json!({"error": "bad part"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.job(&parent).await["status"], "waiting");
    let (status, _) = app
        .post_json(
            &format!("/api/jobs/{}/complete", children[1]),
            &json!({"result": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.job(&parent).await["status"], "queued");
    let outcomes = all_children(&app, &parent, 50).await;
    let statuses: Vec<&str> = outcomes
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "completed"]);
}

#[tokio::test]
async fn cancelling_a_waiting_parent_cancels_its_children() {
    let app = spawn_app().await;
    let (parent, children) = external_family(&app, 3, "fail_fast").await;
    let (status, job) = app
        .post_json(&format!("/api/jobs/{parent}/cancel"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(app.job(&parent).await["status"], "cancelled");
    for child in &children {
        assert_eq!(app.job(child).await["status"], "cancelled");
    }
}

#[tokio::test]
async fn a_bulk_cancel_takes_waiting_parents_and_their_children() {
    let app = spawn_app().await;
    let (parent, children) = external_family(&app, 3, "fail_fast").await;
    assert_eq!(app.job(&parent).await["status"], "waiting");
    let (status, answer) = app
        .post_json(
            "/api/jobs/cancel",
            &json!({"status": "waiting", "dry_run": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["affected"], 1, "{answer}");
    assert_eq!(app.job(&parent).await["status"], "waiting", "a dry run");
    // Without a status, every one a cancel applies to: the waiting parent too.
    let (status, answer) = app
        .post_json("/api/jobs/cancel", &json!({"ids": [parent]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["affected"], 1, "{answer}");
    assert_eq!(app.job(&parent).await["status"], "cancelled");
    for child in &children {
        assert_eq!(app.job(child).await["status"], "cancelled", "{child}");
    }
}

#[tokio::test]
async fn hostile_input_on_the_children_routes_gets_a_json_4xx_and_changes_nothing() {
    let app = spawn_app_with(|c| c.runner.max_children = 2).await;
    let parent = app.create_external().await;
    let path = format!("/api/jobs/{parent}/children");
    let one = json!({"type": "external"});
    let cases: Vec<(&str, String, StatusCode)> = vec![
        ("not json", "{".to_owned(), StatusCode::BAD_REQUEST),
        (
            "an array",
            "[]".to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "no children",
            json!({"children": []}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "an unknown type",
            json!({"children": [one, {"type": "nope"}]}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a bad policy",
            json!({"children": [one], "policy": "sometimes"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "an unknown field",
            json!({"children": [one], "parent": "x"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "past the children limit",
            json!({"children": [one, one, one]}).to_string(),
            StatusCode::CONFLICT,
        ),
        (
            "a child that is not an object",
            json!({"children": [1]}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (what, body, expected) in cases {
        let (status, answer) = app.post_raw(&path, body).await;
        assert_eq!(status, expected, "{what}: {answer}");
        assert!(answer["error"].is_string(), "{what}: {answer}");
    }
    let (status, answer) = app
        .post_json(
            &format!("/api/jobs/{}/children", uuid::Uuid::now_v7()),
            &json!({"children": [one]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = app
        .post_json("/api/jobs/not-an-id/children", &json!({"children": [one]}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let response = app
        .client
        .post(app.url(&path))
        .header("Jobcast-Lease", "not-the-lease")
        .json(&json!({"children": [one]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    for query in [
        "cursor=nope",
        "limit=0",
        "limit=501",
        "limit=x",
        "limit=1&limit=2",
    ] {
        let (status, answer) = app.get(&format!("{path}?{query}")).await;
        assert!(status.is_client_error(), "{query}: {status} {answer}");
        assert!(answer["error"].is_string(), "{query}: {answer}");
    }

    // Nothing was made, and the parent is as it was.
    assert_eq!(all_children(&app, &parent, 50).await.len(), 0);
    let job = app.job(&parent).await;
    assert_eq!(job["status"], "queued");
    assert_eq!(job["version"], 1);
    assert!(job.get("children").is_none(), "{job}");
    assert_eq!(app.count_jobs().await, 1);

    // A finished job makes none.
    let (status, _) = app
        .post_json(&format!("/api/jobs/{parent}/complete"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = app.post_json(&path, &json!({"children": [one]})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
}

/// A config file for the binary: `split` making `parts` children of type `part`, slowed down
/// so a kill lands where a test wants it.
fn family_config(
    dir: &std::path::Path,
    parts: usize,
    slow_split: &str,
    slow_part: &str,
) -> std::path::PathBuf {
    let config = format!(
        "[runner]\nworkers = 2\n\n\
         [job_types.split]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", '''{SPLIT}''']\n\
         max_attempts = 3\nenv = {{ PARTS = \"{parts}\", SLOW_SPLIT = \"{slow_split}\" }}\n\n\
         [job_types.part]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", '''{PART}''']\n\
         max_attempts = 3\nenv = {{ SLOW_PART = \"{slow_part}\" }}\n"
    );
    let path = dir.join("families.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// The family of `id` finished after a restart: completed, each of its `parts` children made
/// once and counted once in the merged result.
async fn assert_family_completed(server: &Server, id: &str, parts: i64) {
    let done = server
        .wait_until(id, Duration::from_secs(60), |j| {
            ["completed", "failed", "cancelled"].contains(&j["status"].as_str().unwrap_or(""))
        })
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["children"], parts, "no child made twice: {done}");
    assert_eq!(
        done["result"],
        json!({"sum": parts * (parts - 1) / 2, "completed": parts}),
        "each child counted once"
    );
    let page: Value = reqwest::get(server.url(&format!("/api/jobs/{id}/children?limit=500")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut numbers: Vec<i64> = page["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["status"], "completed", "{c}");
            c["result"].as_i64().unwrap()
        })
        .collect();
    numbers.sort();
    assert_eq!(numbers, (0..parts).collect::<Vec<i64>>());
}

#[tokio::test]
async fn kill_9_while_the_parent_waits_and_its_children_run_and_the_family_still_completes() {
    let dir = tempfile::tempdir().unwrap();
    let env = db_env(dir.path());
    let config = family_config(dir.path(), 6, "0", "0.5");
    let server = Server::start_with_config(dir.path(), &config, &env);
    let parent = server.create(json!({"type": "split"})).await;
    let id = parent["id"].as_str().unwrap().to_owned();
    server
        .wait_until(&id, Duration::from_secs(20), |j| j["status"] == "waiting")
        .await;
    send_signal("-KILL", &server.pid());
    drop(server);

    // Another process: the children's leases expire, they run again, and the last one's end
    // queues the parent, which this process has never seen run.
    let server = Server::start_with_config(dir.path(), &config, &env);
    assert_family_completed(&server, &id, 6).await;
}

#[tokio::test]
async fn kill_9_while_the_parent_makes_its_children_makes_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let env = db_env(dir.path());
    let config = family_config(dir.path(), 6, "0.3", "0");
    let server = Server::start_with_config(dir.path(), &config, &env);
    let parent = server.create(json!({"type": "split"})).await;
    let id = parent["id"].as_str().unwrap().to_owned();
    server
        .wait_until(&id, Duration::from_secs(20), |j| {
            j["status"] == "running" && j["children"].as_i64().unwrap_or(0) >= 2
        })
        .await;
    send_signal("-KILL", &server.pid());
    drop(server);

    // The parent's next attempt asks for the same children again: it gets those it made.
    let server = Server::start_with_config(dir.path(), &config, &env);
    assert_family_completed(&server, &id, 6).await;
}

#[tokio::test]
async fn a_bulk_cancel_of_a_parent_cancels_its_children() {
    let app = spawn_app().await;
    let parent = app.create_external().await;
    let (status, made) = app
        .post_json(
            &format!("/api/jobs/{parent}/children"),
            &json!({"children": [{"type": "external"}, {"type": "external"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (status, answer) = app
        .post_json(
            "/api/jobs/cancel",
            &json!({"ids": [parent], "status": "queued"}),
        )
        .await;
    assert!(status.is_success(), "{answer}");
    assert_eq!(app.job(&parent).await["status"], "cancelled");
    for child in made["children"].as_array().unwrap() {
        let id = child["job"]["id"].as_str().unwrap();
        assert_eq!(app.job(id).await["status"], "cancelled", "{id}");
    }
}
