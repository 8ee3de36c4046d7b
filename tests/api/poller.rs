//! The shared poller: this process's writes reach streams at once, another process's within a
//! poll interval (at once on PostgreSQL, through a notification), many streams of one job all get everything, and a client that does not read
//! holds up no one.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Waits on an open stream for the first event named `name`; returns when it came.
async fn time_until_event(
    response: reqwest::Response,
    name: &str,
    within: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + within;
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, body.next()).await {
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        if parse_frames(&buffer[..buffer.rfind("\n\n").map_or(0, |i| i + 2)])
            .iter()
            .any(|f| f.name() == Some(name) && f.data()["progress"] != 0.0)
        {
            return Some(started.elapsed());
        }
    }
    None
}

#[tokio::test]
async fn a_write_through_this_process_reaches_streams_at_once_not_at_the_next_poll() {
    let app = spawn_app_with(|c| {
        c.stream.poll_interval = Duration::from_secs(10);
        c.stream.max_duration = Duration::from_secs(30);
    })
    .await;
    let id = app.create_external().await;
    let response = app.stream(&id, None).await;
    let waiting = tokio::spawn(time_until_event(
        response,
        "progress",
        Duration::from_secs(5),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let posted = Instant::now();
    app.post_json(
        &format!("/api/jobs/{id}/progress"),
        &json!({"progress": 50}),
    )
    .await;
    let arrived = waiting.await.unwrap().expect("the progress event arrived");
    // The poll interval is 10 s: anything under a second came from the wake-up, not a tick.
    assert!(
        posted.elapsed() < Duration::from_secs(1),
        "delivered after {arrived:?}"
    );
}

#[tokio::test]
async fn a_write_by_another_process_on_the_same_file_is_seen_within_a_poll_interval() {
    let poll = Duration::from_millis(300);
    let a = spawn_app_with(|c| {
        c.stream.poll_interval = poll;
        c.stream.max_duration = Duration::from_secs(30);
    })
    .await;
    // A second server on the same file stands in for another process.
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(&a.db_path), dir, a.db_path.clone()).await;

    let id = a.create_external().await;
    let response = a.stream(&id, None).await;
    let waiting = tokio::spawn(time_until_event(
        response,
        "progress",
        Duration::from_secs(5),
    ));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let posted = Instant::now();
    let (status, _) = b
        .post_json(
            &format!("/api/jobs/{id}/progress"),
            &json!({"progress": 70}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    waiting
        .await
        .unwrap()
        .expect("the change made elsewhere arrived");
    let took = posted.elapsed();
    assert!(
        took < poll + Duration::from_millis(500),
        "took {took:?} with a {poll:?} poll"
    );
}

#[tokio::test]
async fn on_postgres_a_write_by_another_process_reaches_streams_at_once_through_a_notification() {
    if skip_on_sqlite("LISTEN/NOTIFY is PostgreSQL's; SQLite has the poll interval") {
        return;
    }
    let a = spawn_app_with(|c| {
        c.stream.poll_interval = Duration::from_secs(10);
        c.stream.max_duration = Duration::from_secs(30);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(&a.db_path), dir, a.db_path.clone()).await;

    let id = a.create_external().await;
    let response = a.stream(&id, None).await;
    let waiting = tokio::spawn(time_until_event(
        response,
        "progress",
        Duration::from_secs(5),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let posted = Instant::now();
    let (status, _) = b
        .post_json(
            &format!("/api/jobs/{id}/progress"),
            &json!({"progress": 70}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    waiting
        .await
        .unwrap()
        .expect("the change made elsewhere arrived");
    // The poll interval is 10 s: under a second means the notification woke the poller.
    let took = posted.elapsed();
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[tokio::test]
async fn on_postgres_notifications_resume_after_the_listening_connection_is_cut() {
    if skip_on_sqlite("LISTEN/NOTIFY is PostgreSQL's") {
        return;
    }
    use sqlx::Connection;
    let a = spawn_app_with(|c| {
        c.stream.poll_interval = Duration::from_secs(10);
        c.stream.max_duration = Duration::from_secs(30);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let b = start(test_config(&a.db_path), dir, a.db_path.clone()).await;
    // Both servers' listening connections go, as in a network blip or a database restart.
    let mut admin = sqlx::PgConnection::connect(&database_url(&a.db_path))
        .await
        .unwrap();
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(cut, [true, true], "two listeners");
    // The listener connects again within a second or two.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let id = a.create_external().await;
    let response = a.stream(&id, None).await;
    let waiting = tokio::spawn(time_until_event(
        response,
        "progress",
        Duration::from_secs(5),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let posted = Instant::now();
    let (status, _) = b
        .post_json(
            &format!("/api/jobs/{id}/progress"),
            &json!({"progress": 70}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    waiting
        .await
        .unwrap()
        .expect("the change made elsewhere arrived");
    let took = posted.elapsed();
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[tokio::test]
async fn many_streams_of_one_job_all_get_every_event_in_order() {
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(20)).await;
    let id = app.create_external().await;
    let mut readers = Vec::new();
    for _ in 0..50 {
        let response = app.stream(&id, None).await;
        readers.push(tokio::spawn(SseLog::read(
            response,
            Duration::from_secs(15),
        )));
    }
    for i in 1..=20 {
        app.post_json(
            &format!("/api/jobs/{id}/logs"),
            &json!({"message": format!("line {i}")}),
        )
        .await;
        app.post_json(
            &format!("/api/jobs/{id}/progress"),
            &json!({"progress": i * 5}),
        )
        .await;
    }
    app.post_json(
        &format!("/api/jobs/{id}/complete"),
        &json!({"result": "done"}),
    )
    .await;
    for reader in readers {
        let log = reader.await.unwrap();
        assert!(log.ended_at.is_some());
        assert_eq!(log.last_event().name(), Some("completed"));
        let lines: Vec<String> = log
            .events()
            .iter()
            .filter(|e| e.name() == Some("log"))
            .map(|e| e.data()["message"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> = (1..=20).map(|i| format!("line {i}")).collect();
        assert_eq!(lines, expected, "every log line once, in order");
        let ids: Vec<i64> = log.events().iter().filter_map(|e| e.id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }
}

#[tokio::test]
async fn a_client_that_does_not_read_holds_up_no_one_and_later_gets_every_line() {
    let app = spawn_app_with(|c| c.stream.max_duration = Duration::from_secs(30)).await;
    let id = app.create_external().await;
    // This client opens the stream and then does not read while the job writes far more than
    // socket buffers and the in-memory log buffer hold.
    let stalled = app.stream(&id, None).await;
    let prompt = app.stream(&id, None).await;
    let prompt = tokio::spawn(SseLog::read(prompt, Duration::from_secs(20)));
    let text = "x".repeat(2000);
    for i in 1..=600 {
        let (status, _) = app
            .post_json(
                &format!("/api/jobs/{id}/logs"),
                &json!({"message": format!("{i} {text}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let finished = Instant::now();
    app.post_json(&format!("/api/jobs/{id}/complete"), &json!({}))
        .await;
    let prompt = prompt.await.unwrap();
    assert_eq!(prompt.last_event().name(), Some("completed"));
    assert!(
        finished.elapsed() < Duration::from_secs(5),
        "the reading client was held up"
    );

    let stalled = SseLog::read(stalled, Duration::from_secs(20)).await;
    let seqs: Vec<i64> = stalled
        .events()
        .iter()
        .filter(|e| e.name() == Some("log"))
        .map(|e| e.data()["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=600).collect::<Vec<_>>(),
        "the slow client lost or repeated lines"
    );
    assert_eq!(stalled.last_event().name(), Some("completed"));
}

/// A stream that subscribes to a job nobody watches reads the job from the store and starts
/// watching it. A change committed right after that read, and passed over by the poller
/// before the watch was registered, would never reach the stream: it would wait for the job's
/// next change, and for a change that ended the job, until the cap. The hook commits such a
/// change at exactly that point and waits until the poller has looked past it.
#[tokio::test]
async fn a_change_committed_right_after_a_subscribers_read_still_reaches_its_stream() {
    use jobcast::job::NewJob;
    use jobcast::sse::poller::Poller;
    use jobcast::store::{CancelOutcome, Store};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&database_url(&dir.path().join("jobcast.db")))
        .await
        .unwrap();
    let (job, _) = store
        .create_job(NewJob {
            job_type: "external".to_owned(),
            payload: serde_json::Value::Null,
            priority: 0,
            max_attempts: 1,
            timeout: None,
            run_at: None,
            idempotency_key: None,
            upload_id: None,
        })
        .await
        .unwrap();

    let poller = Poller::new(store.clone());
    let stop = tokio_util::sync::CancellationToken::new();
    // A short interval, so that the poller moves past the change soon even when no one
    // watches the job yet.
    let running = tokio::spawn(poller.clone().run(Duration::from_millis(50), stop.clone()));
    let created = store.max_change_seq().await.unwrap();
    while poller.looked_through() < created {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let hook = {
        let (store, poller) = (store.clone(), poller.clone());
        move |id| {
            let (store, poller) = (store.clone(), poller.clone());
            Box::pin(async move {
                let outcome = store.cancel(id, true).await.unwrap();
                assert!(matches!(outcome, CancelOutcome::Cancelled(_)));
                let seq = store.max_change_seq().await.unwrap();
                let deadline = Instant::now() + Duration::from_secs(10);
                while poller.looked_through() < seq {
                    assert!(
                        Instant::now() < deadline,
                        "the poller never looked past {seq}"
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        }
    };
    poller.set_after_read_hook(hook);

    let mut subscription = poller.subscribe(job.id).await.unwrap().expect("the job");
    let seen = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            let snapshot = subscription.latest();
            if snapshot.job.status.is_finished() {
                return snapshot.job.status;
            }
            subscription.changed().await;
        }
    })
    .await;
    stop.cancel();
    running.await.unwrap();
    assert_eq!(
        seen.map(|s| s.as_str()),
        Ok("cancelled"),
        "the stream never heard of the change committed after its read"
    );
}
