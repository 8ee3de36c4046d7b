//! Log lines: `append_log` ("Adds a log line, bumping the job's version"; `LogLine::seq` is
//! "1, 2, 3... per job"), `logs_after_seq` ("Log lines with `seq > after`, oldest first, at
//! most `limit`"), `logs_between_versions` ("Log lines added after version `after` up to and
//! including version `upto`, oldest first"), `keep_log_lines` ("Each job keeps at most its
//! `lines` newest log lines from now on"), and the queued writes: `queue_progress` /
//! `queue_log` ("The job's end (and `flush`) waits for every report before it"), `flush`
//! ("Waits until every write queued before this call has been applied").

use crate::fixtures::*;

const LEVELS: [LogLevel; 4] = [
    LogLevel::Info,
    LogLevel::Warning,
    LogLevel::Error,
    LogLevel::Success,
];

conformance!(log_lines_are_numbered_from_one_and_each_takes_the_jobs_next_version);
async fn log_lines_are_numbered_from_one_and_each_takes_the_jobs_next_version(store: Store) {
    let job = running_job(&store, OWNER, LEASE).await;
    let other = running_job(&store, OWNER, LEASE).await;
    let mut written = Vec::new();
    let mut version = job.version;
    for (n, level) in (1..=8).zip(LEVELS.iter().cycle()) {
        let line = store
            .append_log(job.id, Writer::Lease(OWNER), *level, &format!("line {n} ✓"))
            .await
            .unwrap();
        assert_eq!(line.seq, n, "seq");
        assert_eq!(line.version, version + 1, "version of line {n}");
        assert_eq!(
            (line.level, line.message.as_str()),
            (*level, format!("line {n} ✓").as_str())
        );
        version = line.version;
        written.push(line);
    }
    // Another job's lines are numbered on their own.
    let line = store
        .append_log(other.id, Writer::Lease(OWNER), LogLevel::Info, "mine")
        .await
        .unwrap();
    assert_eq!(line.seq, 1);

    let now = get(&store, job.id).await;
    assert_eq!((now.log_seq, now.version), (8, version));
    assert_eq!(
        all_logs(&store, job.id).await,
        written,
        "read back as written"
    );
    assert_eq!(all_logs(&store, other.id).await, [line]);
}

conformance!(logs_after_seq_returns_the_lines_after_a_seq_oldest_first_up_to_a_limit);
async fn logs_after_seq_returns_the_lines_after_a_seq_oldest_first_up_to_a_limit(store: Store) {
    let job = create_of(&store, "external").await;
    let mut written = Vec::new();
    for n in 1..=6 {
        written.push(
            store
                .append_log(job.id, Writer::External, LogLevel::Info, &format!("{n}"))
                .await
                .unwrap(),
        );
    }
    let read = |after, limit| {
        let store = store.clone();
        async move { store.logs_after_seq(job.id, after, limit).await.unwrap() }
    };
    assert_eq!(read(0, 100).await, written);
    assert_eq!(read(0, 2).await, written[..2]);
    assert_eq!(read(2, 3).await, written[2..5]);
    assert_eq!(read(4, 100).await, written[4..]);
    assert_eq!(read(6, 100).await, []);
    assert_eq!(read(0, 0).await, []);
}

conformance!(logs_between_versions_returns_exactly_the_lines_written_in_that_range);
async fn logs_between_versions_returns_exactly_the_lines_written_in_that_range(store: Store) {
    let job = running_job(&store, OWNER, LEASE).await;
    let owner = Writer::Lease(OWNER);
    let log = |message: &'static str| {
        let store = store.clone();
        async move {
            store
                .append_log(job.id, owner, LogLevel::Info, message)
                .await
                .unwrap()
        }
    };
    let progress = |p: f64| {
        let store = store.clone();
        async move {
            store
                .report_progress(job.id, owner, &report(p, "p"))
                .await
                .unwrap()
                .version
        }
    };
    let l1 = log("one").await;
    let p1 = progress(10.0).await;
    let l2 = log("two").await;
    let l3 = log("three").await;
    let p2 = progress(20.0).await;
    let l4 = log("four").await;
    let between = |after, upto| {
        let store = store.clone();
        async move {
            store
                .logs_between_versions(job.id, after, upto)
                .await
                .unwrap()
        }
    };
    let everything = [l1.clone(), l2.clone(), l3.clone(), l4.clone()];
    assert_eq!(between(0, l4.version).await, everything);
    let [l1, l2, l3, l4] = everything;
    assert_eq!(
        between(l1.version - 1, l1.version).await,
        std::slice::from_ref(&l1),
        "upto is included"
    );
    assert_eq!(
        between(l1.version, l3.version).await,
        [l2.clone(), l3.clone()],
        "after is not"
    );
    assert_eq!(between(p1, p2).await, [l2.clone(), l3.clone()]);
    assert_eq!(
        between(l3.version, p2).await,
        [],
        "only a progress report in between"
    );
    assert_eq!(between(p2, i64::MAX).await, std::slice::from_ref(&l4));
    assert_eq!(between(l4.version, i64::MAX).await, []);
    assert_eq!(between(l3.version, l2.version).await, [], "an empty range");
}

conformance!(keep_log_lines_keeps_the_newest_lines_of_each_job);
async fn keep_log_lines_keeps_the_newest_lines_of_each_job(store: Store) {
    store.keep_log_lines(3);
    let a = create_of(&store, "external").await;
    let b = running_job(&store, OWNER, LEASE).await;
    for n in 1..=5 {
        store
            .append_log(a.id, Writer::External, LogLevel::Info, &format!("a{n}"))
            .await
            .unwrap();
    }
    for n in 1..=2 {
        store
            .append_log(b.id, Writer::Lease(OWNER), LogLevel::Info, &format!("b{n}"))
            .await
            .unwrap();
    }
    // Queued lines are trimmed the same way.
    for n in 3..=10 {
        store
            .queue_log(b.id, OWNER, LogLevel::Info, format!("b{n}"), None)
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    let seqs = |lines: Vec<LogLine>| -> Vec<(i64, String)> {
        lines.into_iter().map(|l| (l.seq, l.message)).collect()
    };
    assert_eq!(
        seqs(all_logs(&store, a.id).await),
        [(3, "a3".into()), (4, "a4".into()), (5, "a5".into())]
    );
    assert_eq!(
        seqs(all_logs(&store, b.id).await),
        [(8, "b8".into()), (9, "b9".into()), (10, "b10".into())]
    );
    assert_eq!(get(&store, a.id).await.log_seq, 5, "seqs go on counting");
    assert_eq!(get(&store, b.id).await.log_seq, 10);
}

conformance!(queued_progress_and_lines_are_applied_in_order_by_a_flush);
async fn queued_progress_and_lines_are_applied_in_order_by_a_flush(store: Store) {
    let job = running_job(&store, OWNER, LEASE).await;
    for n in 1..=40 {
        store
            .queue_progress(
                job.id,
                OWNER,
                Progress {
                    progress: f64::from(n),
                    message: Some(format!("step {n}")),
                    stage: (n == 1).then(|| "first stage".to_owned()),
                    total: (n == 1).then_some(40),
                    current: Some(i64::from(n)),
                },
                None,
            )
            .await
            .unwrap();
        store
            .queue_log(job.id, OWNER, LogLevel::Info, format!("line {n}"), None)
            .await
            .unwrap();
    }
    store.flush().await.unwrap();
    let now = get(&store, job.id).await;
    assert_eq!(now.status, JobStatus::Running);
    assert_eq!(now.progress, 40.0);
    assert_eq!(now.message.as_deref(), Some("step 40"), "the last report");
    assert_eq!(now.current, Some(40));
    assert_eq!(
        (now.stage.as_deref(), now.total),
        (Some("first stage"), Some(40)),
        "fields later reports left out keep the earlier value"
    );
    assert_eq!(now.log_seq, 40);
    let lines = all_logs(&store, job.id).await;
    let messages: Vec<String> = lines.iter().map(|l| l.message.clone()).collect();
    assert_eq!(
        messages,
        (1..=40).map(|n| format!("line {n}")).collect::<Vec<_>>()
    );
    assert_eq!(
        lines.iter().map(|l| l.seq).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
    assert!(lines.windows(2).all(|w| w[0].version < w[1].version));
    assert!(lines.last().unwrap().version <= now.version);
}

conformance!(a_jobs_end_comes_after_its_queued_progress_and_lines);
async fn a_jobs_end_comes_after_its_queued_progress_and_lines(store: Store) {
    let job = running_job(&store, OWNER, LEASE).await;
    for n in 1..=25 {
        store
            .queue_progress(
                job.id,
                OWNER,
                report(f64::from(n), &format!("step {n}")),
                None,
            )
            .await
            .unwrap();
        store
            .queue_log(job.id, OWNER, LogLevel::Info, format!("line {n}"), None)
            .await
            .unwrap();
    }
    // No flush: completing waits for them itself.
    let done = store
        .complete(job.id, Writer::Lease(OWNER), Some(&json!("ok")))
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.log_seq, 25, "every queued line landed before the end");
    assert_eq!(
        done.message.as_deref(),
        Some("step 25"),
        "and the last report"
    );
    let lines = all_logs(&store, job.id).await;
    assert_eq!(lines.len(), 25);
    assert!(
        lines.iter().all(|l| l.version < done.version),
        "the end's version is after every line's"
    );

    // `fail`, `finish_cancelled` and `requeue` promise no such wait (the runner flushes before
    // them): after a flush, their end still comes after the lines.
    let job = running_job(&store, OWNER, LEASE).await;
    store
        .queue_log(
            job.id,
            OWNER,
            LogLevel::Error,
            "about to fail".to_owned(),
            None,
        )
        .await
        .unwrap();
    store.flush().await.unwrap();
    let failed = store
        .fail(job.id, Writer::Lease(OWNER), "broke", None, None)
        .await
        .unwrap();
    let lines = all_logs(&store, job.id).await;
    assert_eq!(lines.len(), 1, "the queued line landed: {lines:?}");
    assert!(lines[0].version < failed.version);
}

conformance!(every_end_of_a_job_comes_after_its_queued_progress_and_lines);
async fn every_end_of_a_job_comes_after_its_queued_progress_and_lines(store: Store) {
    for end in ["fail", "finish_cancelled", "requeue"] {
        let job = running_job(&store, OWNER, LEASE).await;
        for n in 1..=10 {
            store
                .queue_progress(
                    job.id,
                    OWNER,
                    report(f64::from(n), &format!("step {n}")),
                    None,
                )
                .await
                .unwrap();
            store
                .queue_log(job.id, OWNER, LogLevel::Info, format!("line {n}"), None)
                .await
                .unwrap();
        }
        // No flush: "The job's end (and `flush`) waits for every report before it."
        let ended = match end {
            "fail" => {
                store
                    .fail(job.id, Writer::Lease(OWNER), "broke", None, None)
                    .await
            }
            "requeue" => store.requeue(job.id, OWNER).await,
            _ => store.finish_cancelled(job.id, OWNER).await,
        }
        .unwrap();
        assert!(ended.status.is_finished() || end == "requeue");
        assert_eq!(
            ended.log_seq, 10,
            "{end}: every queued line landed before the end"
        );
        if end != "requeue" {
            // A requeued job starts its next attempt with its progress cleared.
            assert_eq!(
                ended.message.as_deref(),
                Some("step 10"),
                "{end}: and the last report"
            );
        }
    }
}
