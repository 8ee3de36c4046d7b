//! Mapping rows to jobs and log lines, shared by every backend: both schemas store the same
//! columns with the same meaning (times as epoch milliseconds, JSON as text, ids as hyphenated
//! UUID text), so one function per type reads either.

use std::time::Duration;

use serde_json::Value;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::StoreError;
use crate::job::{ChildPolicy, Job, JobId, LogLine, Timestamp};

pub(super) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(super) fn parse_id(s: &str) -> Result<JobId, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad job id {s:?}")))
}

fn parse_json(column: &str, text: Option<String>) -> Result<Option<Value>, StoreError> {
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
    })
    .transpose()
}

pub(super) fn job_from_row<'r, R>(row: &'r R) -> Result<Job, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    f64: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
{
    let ts = |col: &'static str| -> Result<Option<Timestamp>, StoreError> {
        Ok(row
            .try_get::<Option<i64>, _>(col)?
            .map(Timestamp::from_millis))
    };
    let status: String = row.try_get("status")?;
    Ok(Job {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        job_type: row.try_get("type")?,
        status: status.parse().map_err(StoreError::Corrupt)?,
        progress: row.try_get("progress")?,
        message: row.try_get("message")?,
        current: row.try_get("current")?,
        total: row.try_get("total")?,
        stage: row.try_get("stage")?,
        payload: parse_json("payload", row.try_get("payload")?)?.unwrap_or(Value::Null),
        result: parse_json("result", row.try_get("result")?)?,
        error: row.try_get("error")?,
        details: parse_json("details", row.try_get("details")?)?,
        priority: row.try_get("priority")?,
        attempt: row.try_get("attempt")?,
        max_attempts: row.try_get("max_attempts")?,
        timeout: row
            .try_get::<Option<i64>, _>("timeout_ms")?
            .map(|ms| Duration::from_millis(ms.max(0) as u64)),
        idempotency_key: row.try_get("idempotency_key")?,
        run_at: Timestamp::from_millis(row.try_get("run_at")?),
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        started_at: ts("started_at")?,
        finished_at: ts("finished_at")?,
        updated_at: Timestamp::from_millis(row.try_get("updated_at")?),
        version: row.try_get("version")?,
        state_version: row.try_get("state_version")?,
        log_seq: row.try_get("log_seq")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_expires_at: ts("lease_expires_at")?,
        cancel_requested: row.try_get("cancel_requested")?,
        worker: row.try_get("worker")?,
        upload_id: row.try_get("upload_id")?,
        parent_id: row
            .try_get::<Option<String>, _>("parent_id")?
            .map(|id| parse_id(&id))
            .transpose()?,
        depth: row.try_get("depth")?,
        children: row.try_get("children")?,
        child_policy: if row.try_get::<bool, _>("fail_fast")? {
            ChildPolicy::FailFast
        } else {
            ChildPolicy::WaitForAll
        },
        awaiting_children: row.try_get("awaiting_children")?,
        family: parse_json("family", row.try_get("family")?)?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("family: {e}")))?,
        family_version: row.try_get("family_version")?,
        echoed_version: row.try_get("echoed_version")?,
        told: match row.try_get::<Option<String>, _>("told_status")? {
            None => None,
            Some(status) => Some((
                status.parse().map_err(StoreError::Corrupt)?,
                row.try_get("told_progress")?,
                row.try_get("told_total")?,
            )),
        },
    })
}

pub(super) fn log_from_row<'r, R>(row: &'r R) -> Result<LogLine, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let level: String = row.try_get("level")?;
    Ok(LogLine {
        seq: row.try_get("seq")?,
        version: row.try_get("version")?,
        ts: Timestamp::from_millis(row.try_get("ts")?),
        level: level.parse().map_err(StoreError::Corrupt)?,
        message: row.try_get("message")?,
        child_id: row
            .try_get::<Option<String>, _>("child_id")?
            .map(|id| parse_id(&id))
            .transpose()?,
    })
}

/// The ids among renewed leases (`id`, `cancel_requested` rows) whose cancel was requested.
pub(super) fn cancel_requested<R>(rows: &[R]) -> Result<Vec<JobId>, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut cancel = Vec::new();
    for row in rows {
        if row.try_get::<bool, _>("cancel_requested")? {
            cancel.push(parse_id(&row.try_get::<String, _>("id")?)?);
        }
    }
    Ok(cancel)
}

/// Why a guarded write matched nothing, from the job's status as read after it: the job is
/// missing, or its status refused the write.
pub(super) fn refusal(id: JobId, status: Option<String>) -> StoreError {
    match status.map(|s| s.parse()) {
        None => StoreError::NotFound,
        Some(Ok(status)) => StoreError::Conflict { job_id: id, status },
        Some(Err(e)) => StoreError::Corrupt(e),
    }
}
