//! Real-browser tests: Debian's headless Chromium, driven through chromedriver (WebDriver),
//! against the real server. Screenshots of each state go to `target/screenshots/`.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` these tests say so loudly and pass
//! without running; under CI (`CI` set) a missing browser is a failure (`.ci/run` installs it).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A browser session and the chromedriver behind it.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// chromedriver runs in its own process group, and the browsers it starts stay in it:
    /// killing the group leaves no Chromium behind, even when a test panicked before
    /// closing its session.
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.driver.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver and a headless Chromium session, or `None` (loudly) without them.
pub(crate) async fn browser() -> Option<Browser> {
    browser_with(&[]).await
}

/// As [`browser`], with more Chromium switches (`--force-dark-mode`, a window size).
pub(crate) async fn browser_with(extra: &[&str]) -> Option<Browser> {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser tests: install Debian's chromium and chromium-driver"
        );
        eprintln!("\n*** SKIPPED: no {CHROMIUM} or {CHROMEDRIVER}; `apt-get install chromium chromium-driver` to run the browser tests ***\n");
        return None;
    }
    let port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let webdriver = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while reqwest::get(format!("{webdriver}/status")).await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let profile = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,900",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    args.extend(extra.iter().map(|a| a.to_string()));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": CHROMIUM, "args": args }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&webdriver)
        .await
        .expect("a browser session");
    Some(Browser {
        client,
        driver,
        _profile: profile,
    })
}

pub(crate) fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// Evaluates `script` (which returns a value) until `done` accepts it; panics after `within`.
pub(crate) async fn wait_for(
    client: &Client,
    what: &str,
    script: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let value = client.execute(script, vec![]).await.unwrap_or(Value::Null);
        if done(&value) {
            return value;
        }
        if Instant::now() > deadline {
            let _ = screenshot(client, &format!("timeout-{}", what.replace(' ', "-"))).await;
            panic!("{what}: not reached within {within:?}; last value {value}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_dashboard_lists_a_job_and_its_bar_moves_to_100_with_the_completed_state() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(60)).await;
    let id = app.create_demo(30, 150).await;
    let client = &browser.client;
    client.goto(&app.url("/")).await.unwrap();
    let row = format!(r#"document.querySelector('tr[data-id="{id}"]')"#);
    let running = format!(r#"const r = {row}; return r ? r.querySelector('progress').value : -1;"#);
    wait_for(
        client,
        "bar moving",
        &running,
        Duration::from_secs(10),
        |v| v.as_f64().is_some_and(|p| p > 0.0 && p < 100.0),
    )
    .await;
    screenshot(client, "dashboard-running").await;
    let done = format!(
        r#"const r = {row}; return r ? [r.querySelector('.status').textContent, r.querySelector('progress').value] : null;"#
    );
    wait_for(
        client,
        "completed row",
        &done,
        Duration::from_secs(15),
        |v| *v == json!(["completed", 100]),
    )
    .await;
    let connection = client
        .find(Locator::Id("connection"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(connection, "live");
    screenshot(client, "dashboard-completed").await;
}

#[tokio::test]
async fn the_new_job_modal_submits_a_demo_job_and_shows_its_progress_and_log_lines_live() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(60)).await;
    let client = &browser.client;
    client.goto(&app.url("/")).await.unwrap();
    // The button shows once the page knows the token's role allows creating jobs.
    wait_for(
        client,
        "types loaded",
        "return document.getElementById('new-job').offsetParent === null ? 0 : document.getElementById('job-type').options.length",
        Duration::from_secs(10),
        |v| v.as_u64() > Some(0),
    )
    .await;
    client
        .find(Locator::Id("new-job"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .execute(
            "document.getElementById('job-type').value = 'demo';
             document.getElementById('job-payload').value = '{\"steps\": 20, \"step_ms\": 200}';",
            vec![],
        )
        .await
        .unwrap();
    screenshot(client, "modal-new-job").await;
    client
        .find(Locator::Id("dialog-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let live = "const p = document.querySelector('#dialog-progress progress');
                const logs = document.querySelectorAll('#dialog-progress .logs div').length;
                return p ? [Number(p.value), logs] : null;";
    wait_for(
        client,
        "modal progress",
        live,
        Duration::from_secs(10),
        |v| v[0].as_f64().is_some_and(|p| p > 0.0 && p < 100.0) && v[1].as_u64() > Some(0),
    )
    .await;
    screenshot(client, "modal-progress").await;
    let status = "const s = document.querySelector('#dialog-progress .status'); return s ? s.textContent : null;";
    wait_for(
        client,
        "modal completed",
        status,
        Duration::from_secs(15),
        |v| v == "completed",
    )
    .await;
    screenshot(client, "modal-completed").await;
}

#[tokio::test]
async fn cancel_from_the_job_view_ends_a_running_job() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(60)).await;
    let id = app.create_demo(1000, 50).await;
    app.wait_for_status(&id, &["running"], Duration::from_secs(5))
        .await;
    let client = &browser.client;
    client.goto(&app.url("/")).await.unwrap();
    // The list re-renders on every event, so click the row from inside the page.
    let click_row = format!(
        r#"const r = document.querySelector('tr[data-id="{id}"]'); if (r) r.click(); return !!r;"#
    );
    wait_for(
        client,
        "row clicked",
        &click_row,
        Duration::from_secs(10),
        |v| *v == json!(true),
    )
    .await;
    let cancel = client
        .wait()
        .for_element(Locator::Css("#job-view [data-action=cancel]"))
        .await
        .unwrap();
    screenshot(client, "job-view-running").await;
    cancel.click().await.unwrap();
    // A destructive action asks once.
    client
        .wait()
        .for_element(Locator::Css("#confirm-dialog[open] #confirm-ok"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let status =
        "const s = document.querySelector('#job-view .status'); return s ? s.textContent : null;";
    wait_for(
        client,
        "job view cancelled",
        status,
        Duration::from_secs(10),
        |v| v == "cancelled",
    )
    .await;
    assert_eq!(app.job(&id).await["status"], "cancelled");
    screenshot(client, "job-view-cancelled").await;
}

/// Serves `page` to every request on `listener` (a second origin for the CORS test).
async fn serve_page(listener: tokio::net::TcpListener, page: String) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let page = page.clone();
        tokio::spawn(async move {
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        });
    }
}

#[tokio::test]
async fn a_page_on_another_origin_creates_and_follows_a_job_with_jobcast_js_then_stops_streaming() {
    let Some(browser) = browser().await else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let allowed = page_origin.clone();
    let app = spawn_app_with(move |c| {
        c.stream.max_duration = Duration::from_secs(60);
        c.http.cors_allowed_origins = vec![allowed];
    })
    .await;
    let page = format!(
        r#"<!doctype html><meta charset="utf-8"><title>import</title>
<p id="status">starting</p><progress id="bar" max="100" value="0"></progress><p id="lines">0</p>
<script type="module">
  import {{ createJob, streamJob }} from "{base}/jobcast.js";
  const job = await createJob("demo", {{ steps: 8, step_ms: 100 }});
  window.jobId = job.id;
  let lines = 0;
  const show = (text) => {{ document.getElementById("status").textContent = text; }};
  const bar = document.getElementById("bar");
  streamJob(job.id, {{
    onProgress: (s) => {{ bar.value = s.progress; show(s.status); }},
    onLog: () => {{ lines += 1; document.getElementById("lines").textContent = String(lines); }},
    onCompleted: () => {{ show("completed"); bar.value = 100; }},
    onFailed: (error) => {{ show("failed: " + error); }},
    onError: () => {{ show("error"); }},
  }});
</script>"#,
        base = app.base
    );
    tokio::spawn(serve_page(listener, page));
    let client = &browser.client;
    client.goto(&page_origin).await.unwrap();
    let state = "return [document.getElementById('status').textContent, Number(document.getElementById('lines').textContent)];";
    wait_for(
        client,
        "cross-origin job completed",
        state,
        Duration::from_secs(15),
        |v| v[0] == "completed",
    )
    .await;
    let job_id = client.execute("return window.jobId", vec![]).await.unwrap();
    assert_eq!(
        app.job(job_id.as_str().unwrap()).await["status"],
        "completed"
    );
    screenshot(client, "cross-origin-completed").await;

    // No reconnect loop: the retry delay is 100 ms in tests, so a page that kept its
    // EventSource would have opened several more streams in a second.
    let opened = app.handle.streams_opened();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        app.handle.streams_opened(),
        opened,
        "the page kept streaming after the end"
    );
    assert_eq!(app.handle.open_streams(), 0, "no stream is left open");
}

#[tokio::test]
async fn with_tokens_on_the_dashboard_asks_once_keeps_the_token_in_the_tab_and_streams_signed() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_app_with(|c| {
        c.stream.max_duration = Duration::from_secs(60);
        c.auth.plain_tokens = vec![
            (jobcast::auth::Role::Admin, "admin-secret".to_owned()),
            (jobcast::auth::Role::Read, "reader-secret".to_owned()),
        ];
    })
    .await;
    let created = app
        .client
        .post(app.url("/api/jobs"))
        .bearer_auth("admin-secret")
        .json(&json!({"type": "demo", "payload": {"steps": 30, "step_ms": 150}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = body_json(created).await["id"].as_str().unwrap().to_owned();
    let client = &browser.client;
    client.goto(&app.url("/")).await.unwrap();
    // The first call gets 401: the dashboard asks for a token.
    let deadline = Instant::now() + Duration::from_secs(10);
    let question = loop {
        match client.get_alert_text().await {
            Ok(text) => break text,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(error) => panic!("the dashboard never asked for a token: {error}"),
        }
    };
    assert!(question.contains("token"), "{question}");
    client.send_alert_text("reader-secret").await.unwrap();
    client.accept_alert().await.unwrap();
    // With the token the list loads, and the bar moves over the signed event stream (an
    // EventSource cannot send the token as a header).
    let row = format!(r#"document.querySelector('tr[data-id="{id}"]')"#);
    let done = format!(
        r#"const r = {row}; return r ? [r.querySelector('.status').textContent, r.querySelector('progress').value] : null;"#
    );
    wait_for(
        client,
        "completed row with tokens",
        &done,
        Duration::from_secs(20),
        |v| *v == json!(["completed", 100]),
    )
    .await;
    let connection = client
        .find(Locator::Id("connection"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(connection, "live");
    // Kept for this tab only: in session storage, nowhere else the page can write.
    let stored = client
        .execute(
            "return [sessionStorage.getItem('jobcast-token'), localStorage.length, document.cookie];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(stored, json!(["reader-secret", 0, ""]));
    screenshot(client, "dashboard-with-token").await;
}

/// With tokens on, a page follows a job with nothing but `new EventSource(job.stream_url)`:
/// the job runs several times the stream-token TTL and the stream is capped at 1 s, so the
/// browser reconnects to the same signed URL again and again, long after the TTL, and still
/// gets every log line once and the terminal event.
#[tokio::test]
async fn with_tokens_on_a_plain_eventsource_follows_a_job_running_several_ttls_to_its_end() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_app_with(|c| {
        c.auth.plain_tokens = vec![(jobcast::auth::Role::Submit, "submit-secret".to_owned())];
        c.auth.stream_token_ttl = Duration::from_secs(2);
        c.stream.max_duration = Duration::from_secs(1);
        // The browser comes back at once after each cap: the token opens a finished job's
        // stream for the TTL after its end, and a reconnect 2 s (the default) after a cap
        // just before the end would fall outside it.
        c.stream.retry = Duration::from_millis(100);
    })
    .await;
    let soon = (time::OffsetDateTime::now_utc() + Duration::from_millis(1500))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let created = app
        .client
        .post(app.url("/api/jobs"))
        .bearer_auth("submit-secret")
        // Starting a moment later, so the page is listening before the first log line.
        .json(&json!({"type": "demo", "payload": {"steps": 80, "step_ms": 100}, "run_at": soon}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let job = body_json(created).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let stream_url = app.url(job["stream_url"].as_str().unwrap());

    let client = &browser.client;
    // Any page of the server's origin will do; this one is public and asks for nothing.
    client.goto(&app.url("/openapi.json")).await.unwrap();
    client
        .execute(
            r#"const [url] = arguments;
            window.seen = [];
            const source = new EventSource(url);
            for (const name of ["progress", "log", "completed", "failed"]) {
              source.addEventListener(name, (event) => {
                window.seen.push([name, event.lastEventId, event.data]);
                if (name === "completed" || name === "failed") source.close();
              });
            }
            source.addEventListener("error", () =>
              window.seen.push(["error", source.readyState === EventSource.CLOSED ? "closed" : "reconnecting", ""]));"#,
            vec![json!(stream_url)],
        )
        .await
        .unwrap();
    let seen = wait_for(
        client,
        "eventsource reached the end",
        "return window.seen;",
        Duration::from_secs(40),
        |v| {
            v.as_array().is_some_and(|events| {
                events
                    .iter()
                    .any(|e| e[0] == "completed" || e[0] == "failed" || e[1] == "closed")
            })
        },
    )
    .await;
    let events = seen.as_array().unwrap();
    let gave_up: Vec<&Value> = events
        .iter()
        .filter(|e| e[0] == "error" && e[1] == "closed")
        .collect();
    assert!(
        gave_up.is_empty(),
        "the browser gave up on the stream: {events:?}"
    );
    assert_eq!(events.iter().filter(|e| e[0] == "completed").count(), 1);
    let reconnects = events.iter().filter(|e| e[0] == "error").count();
    assert!(
        reconnects >= 3,
        "the stream was capped and reopened: {reconnects} reconnects"
    );

    // Every log line once, the same as the job's log.
    let lines: Vec<i64> = events
        .iter()
        .filter(|e| e[0] == "log")
        .map(|e| {
            serde_json::from_str::<Value>(e[2].as_str().unwrap()).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let logs = app
        .client
        .get(app.url(&format!("/api/jobs/{id}/logs")))
        .bearer_auth("submit-secret")
        .send()
        .await
        .unwrap();
    let stored: Vec<i64> = body_json(logs).await["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["seq"].as_i64().unwrap())
        .collect();
    assert!(!stored.is_empty());
    assert_eq!(lines, stored, "every log line once, in order");
    let ids: Vec<i64> = events
        .iter()
        .filter(|e| e[0] != "error")
        .map(|e| e[1].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids only grow: {ids:?}"
    );
}

/// The dashboard's `/api/events` URL is signed for the TTL only: when a reconnect is refused
/// the page asks for a fresh URL and resumes, so it stays live for as long as it is open.
#[tokio::test]
async fn with_tokens_on_the_dashboard_stays_live_long_after_its_events_url_expired() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_app_with(|c| {
        c.auth.plain_tokens = vec![(jobcast::auth::Role::Admin, "admin-secret".to_owned())];
        c.auth.stream_token_ttl = Duration::from_secs(1);
        c.stream.max_duration = Duration::from_secs(1);
    })
    .await;
    let client = &browser.client;
    client.goto(&app.url("/")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get_alert_text().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the dashboard never asked for a token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.send_alert_text("admin-secret").await.unwrap();
    client.accept_alert().await.unwrap();
    let connection = "return document.getElementById('connection').textContent;";
    wait_for(
        client,
        "dashboard live",
        connection,
        Duration::from_secs(10),
        |v| v == "live",
    )
    .await;
    // Several TTLs later, with the stream capped every second meanwhile, a new job still
    // shows up and moves without a reload.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let created = app
        .client
        .post(app.url("/api/jobs"))
        .bearer_auth("admin-secret")
        .json(&json!({"type": "demo", "payload": {"steps": 5, "step_ms": 100}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = body_json(created).await["id"].as_str().unwrap().to_owned();
    let row = format!(
        r#"const r = document.querySelector('tr[data-id="{id}"]'); return r ? r.querySelector('.status').textContent : null;"#
    );
    wait_for(
        client,
        "new job completed in the list",
        &row,
        Duration::from_secs(15),
        |v| v == "completed",
    )
    .await;
    wait_for(
        client,
        "dashboard live again",
        connection,
        Duration::from_secs(10),
        |v| v == "live",
    )
    .await;
    screenshot(client, "dashboard-after-token-expiry").await;
}

/// The built example app (`examples/react-import-modal/dist`, made by `npm run build` there,
/// which `.ci/clients.sh` runs): `None`, loudly, when it is not built, unless
/// `JOBCAST_REQUIRE_EXAMPLES` says it must be.
fn import_modal_app() -> Option<PathBuf> {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/react-import-modal/dist");
    if dist.join("index.html").exists() {
        return Some(dist);
    }
    assert!(
        std::env::var_os("JOBCAST_REQUIRE_EXAMPLES").is_none(),
        "JOBCAST_REQUIRE_EXAMPLES is set but {} is not built",
        dist.display()
    );
    eprintln!(
        "\n*** SKIPPED: examples/react-import-modal is not built (npm ci && npm run build there, as .ci/clients.sh does) ***\n"
    );
    None
}

/// Serves the files of `root` (a built static app) on `listener`: GET only, no `..`.
async fn serve_dir(listener: tokio::net::TcpListener, root: PathBuf) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let root = root.clone();
        tokio::spawn(async move {
            let mut request = vec![0u8; 8192];
            let n = socket.read(&mut request).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&request[..n]);
            let target = head.split_whitespace().nth(1).unwrap_or("/");
            let path = target.split(['?', '#']).next().unwrap_or("/");
            let relative = if path == "/" {
                "index.html"
            } else {
                path.trim_start_matches('/')
            };
            let file = root.join(relative);
            let (status, kind, body) = match std::fs::read(&file) {
                Ok(body) if !relative.contains("..") => {
                    let kind = match file.extension().and_then(|e| e.to_str()) {
                        Some("html") => "text/html; charset=utf-8",
                        Some("js") => "text/javascript; charset=utf-8",
                        Some("css") => "text/css; charset=utf-8",
                        Some("svg") => "image/svg+xml",
                        _ => "application/octet-stream",
                    };
                    ("200 OK", kind, body)
                }
                _ => ("404 Not Found", "text/plain", b"not found".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&body).await;
        });
    }
}

/// The React import modal of `examples/react-import-modal`, built against the `jobcast`
/// package, served from its own origin and talking to a real jobcast with tokens on through
/// CORS: a real upload of the sample with its bar, the import job with one live bar and its
/// log lines, the result; then a second import cancelled from the modal and retried to its
/// end. The import's output is slowed (20 ms a line) so the bar is seen moving and the cancel
/// lands while it runs.
#[tokio::test]
async fn the_react_import_modal_uploads_a_file_follows_the_import_live_and_retries_a_cancelled_one()
{
    let Some(dist) = import_modal_app() else {
        return;
    };
    let Some(browser) = browser().await else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let allowed = page_origin.clone();
    let mut import = jobcast::config::JobTypeConfig::command(
        "sh",
        &[
            "-c",
            "python3 examples/import_traces.py | while IFS= read -r line; do printf '%s\\n' \"$line\"; sleep 0.02; done",
        ],
    );
    import.max_attempts = 1;
    import.file_input = true;
    let app = spawn_app_with(move |c| {
        c.stream.max_duration = Duration::from_secs(60);
        c.http.cors_allowed_origins = vec![allowed];
        c.auth.plain_tokens = vec![(jobcast::auth::Role::Submit, "submit-secret".to_owned())];
        c.job_types.insert("import-traces".into(), import);
    })
    .await;
    tokio::spawn(serve_dir(listener, dist));
    let client = &browser.client;
    client
        .goto(&format!(
            "{page_origin}/?server={}&token=submit-secret",
            app.base
        ))
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Id("open-import"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/traces-1000.jsonl");
    let file = client
        .wait()
        .for_element(Locator::Id("file"))
        .await
        .unwrap();
    file.send_keys(sample.to_str().unwrap()).await.unwrap();
    client
        .find(Locator::Id("start"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    let state = "const t = (id) => { const e = document.getElementById(id); return e ? e.textContent : null; };
                 const bar = document.getElementById('job-bar');
                 return { upload: t('upload-percent'), status: t('job-status'), bar: bar ? Number(bar.value) : null,
                          logs: document.querySelectorAll('#logs li').length, result: t('result'), error: t('error') };";
    wait_for(
        client,
        "modal import running",
        state,
        Duration::from_secs(20),
        |v| {
            v["upload"] == "100%"
                && v["status"] == "running"
                && v["bar"].as_f64().is_some_and(|p| p > 5.0 && p < 95.0)
                && v["logs"].as_u64() > Some(0)
        },
    )
    .await;
    screenshot(client, "react-import-modal-running").await;
    let done = wait_for(
        client,
        "modal import completed",
        state,
        Duration::from_secs(30),
        |v| v["status"] == "completed",
    )
    .await;
    assert_eq!(
        done["result"], "Imported 1000 spans in 213 traces (211 with errors, 25 lines skipped).",
        "{done}"
    );
    assert_eq!(done["bar"], 100.0, "{done}");
    assert_eq!(done["error"], Value::Null, "{done}");
    screenshot(client, "react-import-modal-completed").await;

    // Again, cancelled while it runs, then retried from the modal.
    client
        .find(Locator::Id("start"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(
        client,
        "second import running",
        state,
        Duration::from_secs(20),
        |v| v["status"] == "running" && v["logs"].as_u64() > Some(0),
    )
    .await;
    client
        .find(Locator::Id("cancel"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let cancelled = wait_for(
        client,
        "second import cancelled",
        state,
        Duration::from_secs(20),
        |v| v["status"] == "cancelled",
    )
    .await;
    assert_eq!(cancelled["error"], "Cancelled.", "{cancelled}");
    screenshot(client, "react-import-modal-cancelled").await;
    client
        .find(Locator::Id("retry"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let retried = wait_for(
        client,
        "retried import completed",
        state,
        Duration::from_secs(30),
        |v| v["status"] == "completed",
    )
    .await;
    assert_eq!(
        retried["result"], "Imported 1000 spans in 213 traces (211 with errors, 25 lines skipped).",
        "{retried}"
    );
    let jobs = app
        .client
        .get(app.url("/api/jobs?type=import-traces"))
        .bearer_auth("submit-secret")
        .send()
        .await
        .unwrap();
    let jobs = body_json(jobs).await;
    let statuses: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["completed", "completed"], "{jobs}");

    // Closing the modal stops following: no stream is left open.
    client
        .find(Locator::Id("close"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.handle.open_streams() > 0 {
        assert!(Instant::now() < deadline, "a stream was left open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let imported = client
        .find(Locator::Id("imports"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        imported.contains("traces-1000.jsonl: 213 traces, 1000 spans"),
        "{imported}"
    );
}
