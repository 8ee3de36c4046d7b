//! `list_jobs`: "Filters for listing jobs, newest first"; `before` is "Only jobs older than this
//! one (the previous page's last id)", and "pages never skip or repeat under concurrent
//! inserts because new jobs always sort before the cursor".

use std::collections::HashSet;

use crate::fixtures::*;

fn filter(limit: i64) -> ListFilter {
    ListFilter {
        limit,
        ..ListFilter::default()
    }
}

async fn list(store: &Store, filter: &ListFilter) -> Vec<JobId> {
    ids(&store.list_jobs(filter).await.unwrap())
}

/// Every page of `filter` (its `before` moved along), `limit` at a time.
async fn pages(store: &Store, mut filter: ListFilter) -> Vec<Vec<JobId>> {
    let mut pages = Vec::new();
    loop {
        let page = list(store, &filter).await;
        assert!(page.len() <= filter.limit as usize, "a page over its limit");
        let Some(&last) = page.last() else {
            return pages;
        };
        filter.before = Some(last);
        pages.push(page);
    }
}

conformance!(jobs_are_listed_newest_first_up_to_the_limit);
async fn jobs_are_listed_newest_first_up_to_the_limit(store: Store) {
    let mut made = Vec::new();
    for n in 0..7 {
        made.push(
            create_of(&store, if n % 2 == 0 { "even" } else { "odd" })
                .await
                .id,
        );
    }
    let newest_first: Vec<JobId> = made.iter().rev().copied().collect();
    assert_eq!(list(&store, &filter(100)).await, newest_first);
    assert_eq!(list(&store, &filter(3)).await, newest_first[..3]);
    assert_eq!(list(&store, &filter(0)).await, []);
    let full = store.list_jobs(&filter(100)).await.unwrap();
    for job in &full {
        assert_eq!(job, &get(&store, job.id).await, "listed as stored");
    }
}

conformance!(listing_filters_by_status_and_by_type);
async fn listing_filters_by_status_and_by_type(store: Store) {
    let a_running = create_of(&store, "a").await;
    let a_done = create_of(&store, "a").await;
    let b_done = create_of(&store, "b").await;
    let b_running = create_of(&store, "b").await;
    let a_queued = create_of(&store, "a").await;
    for job in [&a_done, &b_done] {
        store
            .complete(job.id, Writer::External, None)
            .await
            .unwrap();
    }
    claim_job(&store, &b_running, OWNER, LEASE).await;
    // The oldest queued job of type a.
    claim_job(&store, &a_running, OWNER, LEASE).await;

    let by = |status: Option<JobStatus>, job_type: Option<&str>| ListFilter {
        status,
        job_type: job_type.map(str::to_owned),
        ..filter(100)
    };
    assert_eq!(
        list(&store, &by(Some(JobStatus::Completed), None)).await,
        [b_done.id, a_done.id]
    );
    assert_eq!(
        list(&store, &by(Some(JobStatus::Running), None)).await,
        [b_running.id, a_running.id]
    );
    assert_eq!(
        list(&store, &by(Some(JobStatus::Queued), None)).await,
        [a_queued.id]
    );
    assert_eq!(
        list(&store, &by(None, Some("b"))).await,
        [b_running.id, b_done.id]
    );
    assert_eq!(
        list(&store, &by(Some(JobStatus::Completed), Some("a"))).await,
        [a_done.id]
    );
    assert_eq!(list(&store, &by(Some(JobStatus::Failed), None)).await, []);
    assert_eq!(list(&store, &by(None, Some("nothing"))).await, []);
    // The cursor with a filter.
    let older_than_the_newest_a = ListFilter {
        before: Some(a_queued.id),
        ..by(None, Some("a"))
    };
    assert_eq!(
        list(&store, &older_than_the_newest_a).await,
        [a_done.id, a_running.id]
    );
}

conformance!(paging_with_the_cursor_never_skips_or_repeats);
async fn paging_with_the_cursor_never_skips_or_repeats(store: Store) {
    let mut made = Vec::new();
    for n in 0..11 {
        made.push(
            create_of(&store, if n % 3 == 0 { "x" } else { "y" })
                .await
                .id,
        );
    }
    let pages = pages(&store, filter(3)).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3, 2]);
    let read: Vec<JobId> = pages.concat();
    assert_eq!(read, made.iter().rev().copied().collect::<Vec<_>>());
    let of_y: Vec<JobId> = pages_of_type(&store, "y").await;
    let expected: Vec<JobId> = made
        .iter()
        .enumerate()
        .rev()
        .filter(|(n, _)| n % 3 != 0)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(of_y, expected);
}

async fn pages_of_type(store: &Store, job_type: &str) -> Vec<JobId> {
    pages(
        store,
        ListFilter {
            job_type: Some(job_type.to_owned()),
            ..filter(2)
        },
    )
    .await
    .concat()
}

conformance!(multi_thread paging_while_jobs_are_created_never_skips_or_repeats);
async fn paging_while_jobs_are_created_never_skips_or_repeats(store: Store) {
    let mut before = Vec::new();
    for _ in 0..30 {
        before.push(create_of(&store, "work").await.id);
    }
    let creator = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut made = Vec::new();
            for _ in 0..60 {
                made.push(create_of(&store, "work").await.id);
            }
            made
        })
    };
    let mut read = Vec::new();
    let mut filter = filter(4);
    loop {
        let page = list(&store, &filter).await;
        let Some(&last) = page.last() else { break };
        read.extend(page);
        filter.before = Some(last);
        tokio::task::yield_now().await;
    }
    let during = creator.await.unwrap();
    assert!(
        read.windows(2).all(|w| w[0] > w[1]),
        "strictly newest first, so nothing twice"
    );
    let seen: HashSet<JobId> = read.iter().copied().collect();
    let missed: Vec<&JobId> = before.iter().filter(|id| !seen.contains(id)).collect();
    assert!(
        missed.is_empty(),
        "jobs there before paging began were skipped: {missed:?}"
    );
    assert!(
        read.iter()
            .all(|id| before.contains(id) || during.contains(id)),
        "only jobs that exist"
    );
}

// `q`: "Only jobs this text finds: a prefix of the id (so the whole id too), or a part of the
// idempotency key or of the error message, ignoring case ... `%`, `_` and `\` are matched as
// themselves."
conformance!(text_search_finds_ids_by_prefix_and_keys_and_errors_by_part);
async fn text_search_finds_ids_by_prefix_and_keys_and_errors_by_part(store: Store) {
    let keyed = |key: &str| NewJob {
        idempotency_key: Some(key.to_owned()),
        ..new_job("search")
    };
    let invoice = create(&store, keyed("Invoice-2024-0042")).await;
    let percent = create(&store, keyed("discount_100%_off")).await;
    let plain = create_of(&store, "search").await;
    let broken = create_of(&store, "other").await;
    store
        .fail(
            broken.id,
            Writer::External,
            "Connection REFUSED by db-1",
            None,
            None,
        )
        .await
        .unwrap();
    let search = |q: &str| ListFilter {
        q: Some(q.to_owned()),
        ..filter(100)
    };

    // The id: whole, or a prefix; not a part from its middle.
    let id = plain.id.to_string();
    assert_eq!(list(&store, &search(&id)).await, [plain.id]);
    assert_eq!(list(&store, &search(&id.to_uppercase())).await, [plain.id]);
    let prefix_matches: Vec<JobId> = [broken.id, plain.id, percent.id, invoice.id]
        .into_iter()
        .filter(|job| job.to_string().starts_with(&id[..30]))
        .collect();
    assert_eq!(list(&store, &search(&id[..30])).await, prefix_matches);
    assert_eq!(list(&store, &search(&id[30..])).await, []);

    // Keys and errors: any part, any case.
    assert_eq!(list(&store, &search("invoice-2024")).await, [invoice.id]);
    assert_eq!(list(&store, &search("0042")).await, [invoice.id]);
    assert_eq!(list(&store, &search("refused BY")).await, [broken.id]);

    // Wildcards are text: `%` and `_` match only themselves.
    assert_eq!(list(&store, &search("100%")).await, [percent.id]);
    assert_eq!(list(&store, &search("t_1")).await, [percent.id]);
    assert_eq!(list(&store, &search("%")).await, [percent.id]);
    assert_eq!(list(&store, &search("_")).await, [percent.id]);
    assert_eq!(list(&store, &search("Invoice%2024")).await, []);
    assert_eq!(list(&store, &search("\\")).await, []);
    assert_eq!(list(&store, &search("nothing like it")).await, []);

    // Combined with the other filters and with paging.
    let failed = ListFilter {
        status: Some(JobStatus::Failed),
        ..search("db-1")
    };
    assert_eq!(list(&store, &failed).await, [broken.id]);
    let queued = ListFilter {
        status: Some(JobStatus::Queued),
        ..search("db-1")
    };
    assert_eq!(list(&store, &queued).await, []);
    let of_type = ListFilter {
        job_type: Some("other".to_owned()),
        ..search("0")
    };
    assert_eq!(list(&store, &of_type).await, [broken.id]);
    let mut many = Vec::new();
    for n in 0..5 {
        many.push(create(&store, keyed(&format!("batch-{n}"))).await.id);
    }
    many.reverse();
    let paged: Vec<JobId> = pages(
        &store,
        ListFilter {
            limit: 2,
            ..search("BATCH-")
        },
    )
    .await
    .concat();
    assert_eq!(paged, many);
}
