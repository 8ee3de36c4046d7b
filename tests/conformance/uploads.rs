//! Uploads: `insert_upload` ("Records a received upload"), `get_upload`, and
//! `delete_unused_uploads` ("Deletes uploads that arrived before `before` and that no job
//! refers to; returns their ids so their files can go too").

use crate::fixtures::*;

fn upload(created_at: Timestamp, named: bool) -> Upload {
    let id = uuid::Uuid::now_v7().to_string();
    Upload {
        sha256: format!("{:0>64}", id.replace('-', "")),
        size: 1234,
        content_type: named.then(|| "text/csv".to_owned()),
        filename: named.then(|| "données.csv".to_owned()),
        created_at,
        id,
    }
}

fn minutes_ago(minutes: i64) -> Timestamp {
    Timestamp::from_millis(Timestamp::now().as_millis() - minutes * 60_000)
}

conformance!(an_upload_reads_back_as_it_was_inserted);
async fn an_upload_reads_back_as_it_was_inserted(store: Store) {
    for named in [true, false] {
        let made = upload(Timestamp::now(), named);
        store.insert_upload(&made).await.unwrap();
        assert_eq!(store.get_upload(&made.id).await.unwrap(), Some(made));
    }
    assert_eq!(store.get_upload("no-such-upload").await.unwrap(), None);
}

conformance!(unused_uploads_older_than_the_cutoff_go_and_the_others_stay);
async fn unused_uploads_older_than_the_cutoff_go_and_the_others_stay(store: Store) {
    let old_unused = upload(minutes_ago(60), true);
    let old_used = upload(minutes_ago(60), false);
    let old_used_by_finished = upload(minutes_ago(60), false);
    let recent = upload(minutes_ago(0), true);
    for made in [&old_unused, &old_used, &old_used_by_finished, &recent] {
        store.insert_upload(made).await.unwrap();
    }
    let user = create(
        &store,
        NewJob {
            upload_id: Some(old_used.id.clone()),
            ..new_job("import")
        },
    )
    .await;
    assert_eq!(user.upload_id.as_deref(), Some(old_used.id.as_str()));
    let finished = create(
        &store,
        NewJob {
            upload_id: Some(old_used_by_finished.id.clone()),
            ..new_job("import")
        },
    )
    .await;
    store
        .complete(finished.id, Writer::External, None)
        .await
        .unwrap();

    let deleted = store.delete_unused_uploads(minutes_ago(10)).await.unwrap();
    assert_eq!(deleted, std::slice::from_ref(&old_unused.id));
    assert_eq!(store.get_upload(&old_unused.id).await.unwrap(), None);
    for kept in [old_used, old_used_by_finished, recent] {
        assert_eq!(store.get_upload(&kept.id).await.unwrap(), Some(kept));
    }
    assert_eq!(
        store.delete_unused_uploads(minutes_ago(10)).await.unwrap(),
        Vec::<String>::new(),
        "nothing more to delete"
    );
    assert_eq!(get(&store, user.id).await.upload_id, user.upload_id);
}
