//! Idempotency keys, `create_job`: "Inserts a job. With an idempotency key already used for
//! this type, returns the existing job and `false`."

use crate::fixtures::*;

fn keyed(job_type: &str, key: &str, payload: Value) -> NewJob {
    NewJob {
        idempotency_key: Some(key.to_owned()),
        payload,
        ..new_job(job_type)
    }
}

conformance!(the_same_type_and_key_return_the_existing_job_and_false);
async fn the_same_type_and_key_return_the_existing_job_and_false(store: Store) {
    let (first, created) = store
        .create_job(keyed("import", "order-1", json!({"try": 1})))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(first.idempotency_key.as_deref(), Some("order-1"));
    let (again, created) = store
        .create_job(keyed("import", "order-1", json!({"try": 2})))
        .await
        .unwrap();
    assert!(!created, "the key is used");
    assert_eq!(again, first, "the existing job, as stored");
    assert_eq!(
        again.payload,
        json!({"try": 1}),
        "the second request's payload is not taken"
    );

    // The key stays used once the job has finished, and the answer is the job as it is now.
    let done = store
        .complete(first.id, Writer::External, Some(&json!("done")))
        .await
        .unwrap();
    let (later, created) = store
        .create_job(keyed("import", "order-1", json!({"try": 3})))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(later, done);
    let listed = store
        .list_jobs(&ListFilter {
            job_type: Some("import".to_owned()),
            limit: 100,
            ..ListFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&listed), [first.id], "one job");
}

conformance!(the_same_key_under_another_type_or_no_key_at_all_is_a_new_job);
async fn the_same_key_under_another_type_or_no_key_at_all_is_a_new_job(store: Store) {
    let (a, created_a) = store
        .create_job(keyed("import", "k", Value::Null))
        .await
        .unwrap();
    let (b, created_b) = store
        .create_job(keyed("export", "k", Value::Null))
        .await
        .unwrap();
    assert!(created_a && created_b, "a key is per type");
    assert_ne!(a.id, b.id);
    let other_key = store
        .create_job(keyed("import", "k2", Value::Null))
        .await
        .unwrap();
    assert!(other_key.1);
    let unkeyed = [
        create_of(&store, "import").await,
        create_of(&store, "import").await,
    ];
    assert_ne!(
        unkeyed[0].id, unkeyed[1].id,
        "jobs without a key are never merged"
    );
    assert_eq!(unkeyed[0].idempotency_key, None);
    assert_eq!(store.count_queued("import").await.unwrap(), 4);
}

conformance!(multi_thread concurrent_creates_with_one_key_make_one_job);
async fn concurrent_creates_with_one_key_make_one_job(store: Store) {
    const CREATES: usize = 24;
    let creates: Vec<_> = (0..CREATES)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                // Some keyed requests of another type race along; they make one job too.
                let job_type = if n % 4 == 3 { "export" } else { "import" };
                store
                    .create_job(keyed(job_type, "the-key", json!({"request": n})))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for create in creates {
        answers.push(create.await.unwrap());
    }
    for job_type in ["import", "export"] {
        let of_type: Vec<&(Job, bool)> = answers
            .iter()
            .filter(|(job, _)| job.job_type == job_type)
            .collect();
        let created = of_type.iter().filter(|(_, created)| *created).count();
        assert_eq!(created, 1, "{job_type}: exactly one request made the job");
        let first = &of_type[0].0;
        assert!(
            of_type.iter().all(|(job, _)| job.id == first.id),
            "{job_type}: every request got the one job"
        );
        assert_eq!(store.count_queued(job_type).await.unwrap(), 1);
    }
}
