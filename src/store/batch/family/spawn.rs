//! Children made for a parent, atomically with the check on it.

use super::super::{
    new_job_rows, Author, Dialect, Run, Statement, NEW_JOB_ROWS, ROWS_PER_STATEMENT,
};
use super::*;
use crate::job::{ChildPolicy, Job, JobId, JobStatus, NewJob, Timestamp};
use crate::store::{sql, StoreError};

/// Children to make for `parent`, as `author` (who must be allowed to report on it).
#[derive(Debug, Clone)]
pub(crate) struct SpawnRequest {
    pub(crate) parent: JobId,
    pub(crate) author: Author,
    pub(crate) children: Vec<NewJob>,
    /// The parent's policy from now on.
    pub(crate) policy: ChildPolicy,
    pub(crate) limits: FamilyLimits,
}
/// Makes the children of each request, in order. A refused request (its parent missing, not
/// the author's to report on, or a limit reached) changes nothing and answers why.
pub(crate) async fn spawn(
    run: &mut dyn Run,
    d: &Dialect,
    now: Timestamp,
    request: &SpawnRequest,
) -> Result<Result<Vec<(Job, bool)>, StoreError>, StoreError> {
    let Some(parent) = job(run, request.parent).await? else {
        return Ok(Err(StoreError::NotFound));
    };
    let allowed = match &request.author {
        Author::External => {
            parent.lease_owner.is_none() && crate::job::Action::ReportExternal.allows(parent.status)
        }
        Author::Lease(owner) => {
            parent.status == JobStatus::Running && parent.lease_owner.as_deref() == Some(owner)
        }
    };
    if !allowed {
        return Ok(Err(StoreError::Conflict {
            job_id: parent.id,
            status: parent.status,
        }));
    }
    if parent.depth + 1 > request.limits.max_depth {
        return Ok(Err(StoreError::Family(format!(
            "children may be made at most {} levels deep; this job is at depth {}",
            request.limits.max_depth, parent.depth
        ))));
    }
    // Children already made under their idempotency key (a retried parent making them again)
    // are answered as they are, not made twice.
    let mut answers: Vec<Option<(Job, bool)>> = Vec::with_capacity(request.children.len());
    let mut new = Vec::new();
    for child in &request.children {
        let existing = match &child.idempotency_key {
            Some(key) => {
                let mut statement = Statement::new(sql::BY_IDEMPOTENCY_KEY);
                statement.args = vec![(d.text)(&child.job_type).into(), (d.text)(key).into()];
                run.jobs(&statement).await?.pop()
            }
            None => None,
        };
        match existing {
            Some(job) if job.parent_id == Some(parent.id) => answers.push(Some((job, false))),
            Some(_) => {
                return Ok(Err(StoreError::Family(
                    "a child's idempotency key is taken by a job of another parent".to_owned(),
                )))
            }
            None => {
                answers.push(None);
                new.push(child);
            }
        }
    }
    let count = i64::try_from(new.len()).unwrap_or(i64::MAX);
    if parent.children.saturating_add(count) > request.limits.max_children {
        return Ok(Err(StoreError::Family(format!(
            "a job may make at most {} children; this one has made {} and asked for {count} more",
            request.limits.max_children, parent.children
        ))));
    }
    let mut update = Statement::new(format!(
        "UPDATE jobs SET children = jobs.children + {count}, awaiting_children = TRUE, \
         fail_fast = {fail_fast}, version = jobs.version + 1, updated_at = ",
        fail_fast = if request.policy == ChildPolicy::FailFast {
            "TRUE"
        } else {
            "FALSE"
        },
    ));
    update
        .bind(now.as_millis())
        .push(format!(", {} WHERE jobs.id = ", d.next_change))
        .bind(parent.id.to_string())
        .push(" AND ")
        .push(sql::writer_guard("$3"))
        .push(" ")
        .push(d.returning);
    update.args.push(request.author.owner().map(d.text).into());
    if run.jobs(&update).await?.is_empty() {
        return Ok(Err(StoreError::Conflict {
            job_id: parent.id,
            status: parent.status,
        }));
    }
    let mut made = insert_children(run, d, now, &parent, &new)
        .await?
        .into_iter();
    Ok(Ok(answers
        .into_iter()
        .map(|answer| answer.or_else(|| made.next().map(|job| (job, true))))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            StoreError::Corrupt("a child was not inserted".to_owned())
        })?))
}

/// Inserts `children` of `parent` (none of whose keys is taken), in order.
async fn insert_children(
    run: &mut dyn Run,
    d: &Dialect,
    now: Timestamp,
    parent: &Job,
    children: &[&NewJob],
) -> Result<Vec<Job>, StoreError> {
    let mut made = Vec::with_capacity(children.len());
    for chunk in children.chunks(ROWS_PER_STATEMENT) {
        let ids: Vec<JobId> = chunk.iter().map(|_| JobId::new()).collect();
        let mut statement = Statement::default();
        (d.with_now)(&mut statement, now);
        statement.push(format!(", u ({NEW_JOB_ROWS}) AS (VALUES "));
        new_job_rows(
            &mut statement,
            d,
            now,
            chunk.iter().copied().zip(ids.iter().copied()),
        );
        statement.push(format!(
            ") INSERT INTO jobs ({columns}, parent_id, depth) \
             SELECT u.id, u.type, {queued}, u.payload, u.priority, u.max_attempts, \
                 u.timeout_ms, u.idempotency_key, u.run_at, (SELECT now FROM c), \
                 (SELECT now FROM c), {change}, u.upload_id, ",
            columns = sql::NEW_JOB_COLUMNS,
            queued = sql::quoted(JobStatus::Queued),
            change = d.change,
        ));
        statement
            .bind(parent.id.to_string())
            .push(", ")
            .bind(parent.depth + 1)
            .push(format!(" FROM u WHERE u.id IS NOT NULL {}", d.returning));
        let mut rows = run.jobs(&statement).await?;
        rows.sort_by_key(|job| job.id);
        made.extend(rows);
    }
    Ok(made)
}
