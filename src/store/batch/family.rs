//! Parent and child jobs in the batch's transaction: children made atomically with the check
//! on their parent ([`spawn`]), and the consequences of a family member's change ([`settle`]):
//! a waiting parent queued again once its last child ended, failed when a child failed under
//! the fail-fast policy, the unfinished children of a failed or cancelled parent cancelled.
//!
//! Both run after the batch's planned statements, one row per statement (each changed row
//! takes the next change number, [`Dialect::next_change`]): on PostgreSQL in the batch's
//! transaction; on SQLite, whose batch commits in the same round trip as its statements, in a
//! transaction of its own right after, on the one writer connection. A family's state lives
//! in its rows, not in messages: settling is driven by what the rows say, so it holds
//! whichever process ended the child. The one window SQLite leaves (its process killed
//! between the two commits: a child ended, its parent not yet woken) is closed by the sweep
//! ([`unsettled`]) the application runs when it starts; SQLite has one process, so that is
//! the process that would have settled it.

use std::collections::{HashMap, HashSet, VecDeque};

use super::{Arg, Author, Dialect, Run, Statement};
use crate::job::{ChildPolicy, FamilyCounts, Job, JobId, JobStatus, LogLine, NewJob, Timestamp};
use crate::store::rows::duration_ms;
use crate::store::{sql, StoreError};

/// How far families may grow: set by the caller (the configuration's `[families]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyLimits {
    /// A top-level job is at depth 0; a child may be made at most at this depth.
    pub max_depth: i64,
    /// Children one parent may make in all.
    pub max_children: i64,
}

impl Default for FamilyLimits {
    fn default() -> Self {
        FamilyLimits {
            max_depth: 3,
            max_children: 10_000,
        }
    }
}

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

/// The statuses of a job that has not ended.
const UNFINISHED: [JobStatus; 3] = [JobStatus::Queued, JobStatus::Running, JobStatus::Waiting];

fn unfinished_list() -> String {
    let list: Vec<String> = UNFINISHED.iter().map(|s| sql::quoted(*s)).collect();
    list.join(", ")
}

/// The expression of a completing job's next status: `waiting` when it made children in this
/// run or has unfinished ones, else `completed` (for [`sql::complete_set`]).
pub(crate) fn completes_to() -> String {
    format!(
        "CASE WHEN jobs.awaiting_children OR (jobs.children > 0 AND EXISTS (SELECT 1 FROM jobs \
             kid WHERE kid.parent_id = jobs.id AND kid.status IN ({unfinished}))) \
         THEN {waiting} ELSE {completed} END",
        unfinished = unfinished_list(),
        waiting = sql::quoted(JobStatus::Waiting),
        completed = sql::quoted(JobStatus::Completed),
    )
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
    for chunk in children.chunks(super::apply::ROWS_PER_STATEMENT) {
        let ids: Vec<JobId> = chunk.iter().map(|_| JobId::new()).collect();
        let mut statement = Statement::default();
        (d.with_now)(&mut statement, now);
        statement.push(
            ", u (ord, id, type, payload, priority, max_attempts, timeout_ms, idempotency_key, \
             run_at, upload_id) AS (VALUES ",
        );
        statement.values(
            (1_i64..).zip(chunk.iter().zip(&ids)),
            |row, (ord, (new, id))| {
                row.bind(ord)
                    .bind(id.to_string())
                    .bind((d.text)(&new.job_type))
                    .bind(new.payload.to_string())
                    .bind(new.priority)
                    .bind(new.max_attempts)
                    .bind(new.timeout.map(duration_ms))
                    .bind(new.idempotency_key.as_deref().map(d.text))
                    .bind(new.run_at.unwrap_or(now).as_millis())
                    .bind(new.upload_id.as_deref().map(d.text));
            },
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

/// The jobs a batch's changes may have moved on: each changed job's parent, and each changed
/// job that is a parent itself (its children follow a failure or a cancel).
pub(crate) fn seeds<'j>(changed: impl IntoIterator<Item = &'j Job>) -> Vec<JobId> {
    let mut seeds = Vec::new();
    for job in changed {
        if let Some(parent) = job.parent_id {
            seeds.push(parent);
        }
        if job.children > 0 {
            seeds.push(job.id);
        }
    }
    seeds
}

/// Settles the families of `seeds`: each parent among them first hears of its children's news
/// ([`echo`]), then follows its policy, following every consequence (a cancelled child that is a
/// parent cancels its own children; a failed parent may fail its parent) until nothing moves.
pub(crate) async fn settle(
    run: &mut dyn Run,
    d: &Dialect,
    now: Timestamp,
    keep: i64,
    from: Vec<JobId>,
) -> Result<(), StoreError> {
    let mut queue: VecDeque<JobId> = from.into();
    // A job is looked at again only after it changed, so this ends.
    let mut settled: HashSet<JobId> = HashSet::new();
    while let Some(id) = queue.pop_front() {
        if !settled.insert(id) {
            continue;
        }
        let Some(mut job) = job(run, id).await? else {
            continue;
        };
        if job.children > 0 {
            if let Some(told) = echo(run, d, now, keep, &job).await? {
                job = told;
            }
        }
        let changed = match job.status {
            JobStatus::Waiting => settle_waiting(run, d, now, &job).await?,
            JobStatus::Failed | JobStatus::Cancelled if job.children > 0 => {
                for child in cancel_children(run, d, now, &job).await? {
                    queue.extend(seeds([&child]));
                    settled.remove(&child.id);
                }
                // The cancelled children's changes, on their (finished) parent's record.
                echo(run, d, now, keep, &job).await?;
                None
            }
            _ => None,
        };
        if let Some(changed) = changed {
            settled.remove(&changed.id);
            queue.extend(seeds([&changed]));
        }
    }
    Ok(())
}

/// A waiting parent: failed if a child failed and it fails fast, queued again once no child
/// is unfinished; else as it is.
async fn settle_waiting(
    run: &mut dyn Run,
    d: &Dialect,
    now: Timestamp,
    parent: &Job,
) -> Result<Option<Job>, StoreError> {
    let failed = {
        let mut statement = Statement::new(format!(
            "SELECT * FROM jobs WHERE parent_id = $1 AND status = {} ORDER BY id LIMIT 1",
            sql::quoted(JobStatus::Failed)
        ));
        statement.args = vec![parent.id.to_string().into()];
        run.jobs(&statement).await?.pop()
    };
    let set = match failed {
        Some(child) if parent.child_policy == ChildPolicy::FailFast => {
            let error = format!(
                "child {} failed: {}",
                child.id,
                child.error.as_deref().unwrap_or("no error given")
            );
            let mut set = Statement::new(format!(
                "UPDATE jobs SET status = {failed}, error = ",
                failed = sql::quoted(JobStatus::Failed)
            ));
            set.bind((d.text)(&error)).push(", finished_at = ");
            set
        }
        _ => {
            let mut unfinished = Statement::new(format!(
                "SELECT * FROM jobs WHERE parent_id = $1 AND status IN ({}) LIMIT 1",
                unfinished_list()
            ));
            unfinished.args = vec![parent.id.to_string().into()];
            if !run.jobs(&unfinished).await?.is_empty() {
                return Ok(None);
            }
            // Its next run reads the children's outcomes; the attempt that made them is not
            // counted twice.
            Statement::new(format!(
                "UPDATE jobs SET status = {queued}, awaiting_children = FALSE, \
                 attempt = CASE WHEN jobs.attempt > 0 THEN jobs.attempt - 1 ELSE 0 END, \
                 finished_at = NULL, run_at = ",
                queued = sql::quoted(JobStatus::Queued)
            ))
        }
    };
    let mut update = set;
    let at = update.args.len() + 1;
    update.bind(now.as_millis()).push(format!(
        ", updated_at = ${at}, version = jobs.version + 1, state_version = jobs.version + 1, {} \
         WHERE jobs.id = ",
        d.next_change
    ));
    update.bind(parent.id.to_string()).push(format!(
        " AND {} {}",
        sql::status_allows("jobs.status", crate::job::Action::Settle),
        d.returning
    ));
    Ok(run.jobs(&update).await?.pop())
}

/// Copies what `parent`'s children did since it last heard onto its record, so its stream is
/// the family's: each child's new log lines (tagged with the child) and, when its status or
/// progress changed, one `child` event (the child's `family_version`), each at a version of the
/// parent's own; then the family's counts by status and its progress rolled up from the
/// children's (see [`Family`]; while it waits, a message and `current`/`total` saying
/// how many ended) as one more version. A finished
/// parent's stream has ended: its children are only marked as told. Returns the parent as
/// changed, if it was.
async fn echo(
    run: &mut dyn Run,
    d: &Dialect,
    now: Timestamp,
    keep: i64,
    parent: &Job,
) -> Result<Option<Job>, StoreError> {
    let mut news = Statement::new(
        "SELECT * FROM jobs WHERE parent_id = $1 AND parent_id IS NOT NULL \
         AND version > echoed_version ORDER BY id",
    );
    news.args = vec![parent.id.to_string().into()];
    let children = run.jobs(&news).await?;
    if children.is_empty() {
        return Ok(None);
    }
    if parent.status.is_finished() {
        let mut told = Statement::new(
            "UPDATE jobs SET echoed_version = version WHERE parent_id = $1 \
             AND parent_id IS NOT NULL AND version > echoed_version",
        );
        told.args = vec![parent.id.to_string().into()];
        run.jobs(&told).await?;
        return Ok(None);
    }
    // Every child's new lines in one read, in the children's order, then each child's lines
    // and its change at the next versions of the parent's.
    let mut lines = Statement::new(
        "SELECT l.* FROM job_logs l JOIN jobs kid ON kid.id = l.job_id \
         WHERE kid.parent_id = $1 AND kid.parent_id IS NOT NULL \
             AND kid.version > kid.echoed_version AND l.version > kid.echoed_version \
             AND l.child_id IS NULL \
         ORDER BY l.job_id, l.seq",
    );
    lines.args = vec![parent.id.to_string().into()];
    let mut by_child: HashMap<JobId, Vec<LogLine>> = HashMap::new();
    for (child, line) in run.lines(&lines).await? {
        by_child.entry(child).or_default().push(line);
    }
    let (mut version, mut seq) = (parent.version, parent.log_seq);
    let mut copies: Vec<(i64, i64, LogLine, JobId)> = Vec::new();
    let mut family = match parent.family {
        Some(counts) => Some(Family::read(run, parent.id, counts).await?),
        None => None,
    };
    let mut told: Vec<(&Job, i64)> = Vec::with_capacity(children.len());
    let mut state_changed = false;
    for child in &children {
        for line in by_child.remove(&child.id).unwrap_or_default() {
            (version, seq) = (version + 1, seq + 1);
            copies.push((seq, version, line, child.id));
        }
        let moved = child.state_version > child.echoed_version;
        if moved {
            version += 1;
            state_changed = true;
            if let Some(family) = &mut family {
                if let Some((status, progress, total)) = child.told {
                    family.add(-1, status, progress, total);
                }
                family.add(1, child.status, child.progress, child.total);
            }
        }
        told.push((child, if moved { version } else { 0 }));
    }
    for chunk in told.chunks(super::apply::ROWS_PER_STATEMENT) {
        // A moved child's part in its parent's sums is what was just added for it.
        let mut update = Statement::new("WITH u (id, v, fv, st, pr, tt) AS (VALUES ");
        update.values(chunk, |row, (child, fv)| {
            row.bind(child.id.to_string())
                .bind(child.version)
                .bind(*fv)
                .bind(child.status.as_str())
                .bind(Arg::Real(Some(child.progress)))
                .bind(child.total);
        });
        update.push(
            ") UPDATE jobs SET echoed_version = CAST(u.v AS BIGINT), \
                 family_version = CASE WHEN CAST(u.fv AS BIGINT) > 0 THEN CAST(u.fv AS BIGINT) \
                     ELSE jobs.family_version END, \
                 told_status = CASE WHEN CAST(u.fv AS BIGINT) > 0 THEN u.st \
                     ELSE jobs.told_status END, \
                 told_progress = CASE WHEN CAST(u.fv AS BIGINT) > 0 \
                     THEN CAST(u.pr AS DOUBLE PRECISION) ELSE jobs.told_progress END, \
                 told_total = CASE WHEN CAST(u.fv AS BIGINT) > 0 THEN CAST(u.tt AS BIGINT) \
                     ELSE jobs.told_total END \
             FROM u WHERE jobs.id = u.id",
        );
        run.jobs(&update).await?;
    }
    for chunk in copies.chunks(super::apply::ROWS_PER_STATEMENT) {
        // `values` pads the list with rows of NULLs (so statements are re-used): left out here.
        let mut insert = Statement::new(
            "WITH u (job_id, seq, version, ts, level, message, child_id) AS (VALUES ",
        );
        insert.values(chunk, |row, (seq, version, line, child)| {
            row.bind(parent.id.to_string())
                .bind(*seq)
                .bind(*version)
                .bind(line.ts.as_millis())
                .bind(line.level.as_str())
                .bind((d.text)(&line.message))
                .bind(child.to_string());
        });
        insert.push(
            ") INSERT INTO job_logs (job_id, seq, version, ts, level, message, child_id) \
             SELECT u.job_id, CAST(u.seq AS BIGINT), CAST(u.version AS BIGINT), \
                 CAST(u.ts AS BIGINT), u.level, u.message, u.child_id \
             FROM u WHERE u.job_id IS NOT NULL",
        );
        run.jobs(&insert).await?;
    }
    if seq > keep && seq > parent.log_seq {
        // The parent keeps its newest `keep` lines, as every job does.
        let mut trim = Statement::new("DELETE FROM job_logs WHERE job_id = $1 AND seq <= $2");
        trim.args = vec![parent.id.to_string().into(), (seq - keep).into()];
        run.jobs(&trim).await?;
    }
    let mut update = Statement::new("UPDATE jobs SET version = $1, log_seq = $2, updated_at = $3");
    update.args = vec![version.into(), seq.into(), now.as_millis().into()];
    if state_changed || family.is_none() {
        let family = match family {
            Some(family) => family,
            // The first time (or for a parent made before the sums were kept): every child
            // read once, and each one's part recorded.
            None => Family::recount(run, parent.id).await?,
        };
        let (counts, progress) = (family.counts, family.progress());
        version += 1;
        update.args[0] = version.into();
        update.push(", state_version = ").bind(version);
        update
            .push(", family = ")
            .bind((d.text)(
                &serde_json::to_string(&counts).unwrap_or_default(),
            ))
            .push(", family_plain = ")
            .bind(Arg::Real(Some(family.plain)))
            .push(", family_weight = ")
            .bind(Arg::Real(Some(family.weight)))
            .push(", family_weighted = ")
            .bind(Arg::Real(Some(family.weighted)))
            .push(", family_untotalled = ")
            .bind(family.untotalled);
        // The family's bar is the parent's; its own reports while it runs only move it on
        // (see `sql::progress_set`).
        update
            .push(", progress = ")
            .bind(Arg::Real(Some(progress.max(parent.progress))));
        if parent.status == JobStatus::Waiting {
            let n = counts.queued
                + counts.running
                + counts.completed
                + counts.failed
                + counts.cancelled;
            let ended = counts.completed + counts.failed + counts.cancelled;
            let message = format!(
                "{ended} of {n} children ended: {} completed, {} failed, {} running, {} queued",
                counts.completed,
                counts.failed + counts.cancelled,
                counts.running,
                counts.queued,
            );
            update
                .push(", message = ")
                .bind((d.text)(&message))
                .push(", current = ")
                .bind(ended)
                .push(", total = ")
                .bind(n)
                .push(", stage = 'children'");
        }
    }
    update
        .push(format!(", {} WHERE jobs.id = ", d.next_change))
        .bind(parent.id.to_string())
        .push(format!(" {}", d.returning));
    Ok(run.jobs(&update).await?.pop())
}

/// What a parent's progress is rolled up from: its children by status, and the sums of their
/// progress (a finished child's as 100), their totals, their progress weighted by their
/// totals, and how many report no total. Kept on the parent and changed by each child's
/// change (its old part taken away, its new part added), so a change costs the same with ten
/// children or ten thousand.
#[derive(Debug, Clone, Copy, Default)]
struct Family {
    counts: FamilyCounts,
    plain: f64,
    weight: f64,
    weighted: f64,
    untotalled: i64,
}

impl Family {
    /// The sums kept on `parent`, with its `counts`.
    async fn read(
        run: &mut dyn Run,
        parent: JobId,
        counts: FamilyCounts,
    ) -> Result<Family, StoreError> {
        let mut statement = Statement::new(
            "SELECT family_plain AS plain, family_weight AS weight, \
                 family_weighted AS weighted, \
                 CAST(family_untotalled AS DOUBLE PRECISION) AS untotalled \
             FROM jobs WHERE id = $1",
        );
        statement.args = vec![parent.to_string().into()];
        let columns = ["plain", "weight", "weighted", "untotalled"];
        let Some([plain, weight, weighted, untotalled]) = run
            .numbers(&statement, &columns)
            .await?
            .and_then(|v| <[f64; 4]>::try_from(v).ok())
        else {
            return Err(StoreError::NotFound);
        };
        Ok(Family {
            counts,
            plain,
            weight,
            weighted,
            untotalled: untotalled as i64,
        })
    }

    /// Every child of `parent` read and counted, each one's part recorded on it as told.
    async fn recount(run: &mut dyn Run, parent: JobId) -> Result<Family, StoreError> {
        let mut record = Statement::new(
            "UPDATE jobs SET told_status = status, told_progress = progress, told_total = total \
             WHERE parent_id = $1",
        );
        record.args = vec![parent.to_string().into()];
        run.jobs(&record).await?;
        let finished = format!(
            "{}, {}, {}",
            sql::quoted(JobStatus::Completed),
            sql::quoted(JobStatus::Failed),
            sql::quoted(JobStatus::Cancelled)
        );
        let real = |expression: String| format!("CAST({expression} AS DOUBLE PRECISION)");
        let count =
            |condition: String| real(format!("SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"));
        let done = format!("CASE WHEN status IN ({finished}) THEN 100.0 ELSE progress END");
        let mut all = Statement::new(format!(
            "SELECT {queued} AS queued, {running} AS running, {completed} AS completed, \
                 {failed} AS failed, {cancelled} AS cancelled, {untotalled} AS untotalled, \
                 {plain} AS plain, {weight} AS weight, {weighted} AS weighted \
             FROM jobs WHERE parent_id = $1",
            queued = count(format!("status = {}", sql::quoted(JobStatus::Queued))),
            running = count(format!(
                "status IN ({}, {})",
                sql::quoted(JobStatus::Running),
                sql::quoted(JobStatus::Waiting)
            )),
            completed = count(format!("status = {}", sql::quoted(JobStatus::Completed))),
            failed = count(format!("status = {}", sql::quoted(JobStatus::Failed))),
            cancelled = count(format!("status = {}", sql::quoted(JobStatus::Cancelled))),
            untotalled = count("total IS NULL OR total <= 0".to_owned()),
            plain = real(format!("SUM({done})")),
            weight = real("SUM(CASE WHEN total > 0 THEN total ELSE 0 END)".to_owned()),
            weighted = real(format!(
                "SUM(CASE WHEN total > 0 THEN total * ({done}) ELSE 0 END)"
            )),
        ));
        all.args = vec![parent.to_string().into()];
        let columns = [
            "queued",
            "running",
            "completed",
            "failed",
            "cancelled",
            "untotalled",
            "plain",
            "weight",
            "weighted",
        ];
        let v = run.numbers(&all, &columns).await?.unwrap_or_default();
        let [queued, running, completed, failed, cancelled, untotalled, plain, weight, weighted] =
            <[f64; 9]>::try_from(v).unwrap_or_default();
        Ok(Family {
            counts: FamilyCounts {
                queued: queued as i64,
                running: running as i64,
                completed: completed as i64,
                failed: failed as i64,
                cancelled: cancelled as i64,
            },
            plain,
            weight,
            weighted,
            untotalled: untotalled as i64,
        })
    }

    /// Adds (`sign` 1) or takes away (-1) one child's part.
    fn add(&mut self, sign: i64, status: JobStatus, progress: f64, total: Option<i64>) {
        *self.bucket(status) += sign;
        let progress = if status.is_finished() {
            100.0
        } else {
            progress
        };
        let s = sign as f64;
        self.plain += s * progress;
        match total.filter(|t| *t > 0) {
            Some(total) => {
                self.weight += s * total as f64;
                self.weighted += s * total as f64 * progress;
            }
            None => self.untotalled += sign,
        }
    }

    fn bucket(&mut self, status: JobStatus) -> &mut i64 {
        match status {
            JobStatus::Queued => &mut self.counts.queued,
            JobStatus::Running | JobStatus::Waiting => &mut self.counts.running,
            JobStatus::Completed => &mut self.counts.completed,
            JobStatus::Failed => &mut self.counts.failed,
            JobStatus::Cancelled => &mut self.counts.cancelled,
        }
    }

    /// The family's progress: the children's, each weighted by its `total` when every one
    /// reports a total, equally otherwise.
    fn progress(&self) -> f64 {
        let c = &self.counts;
        let n = c.queued + c.running + c.completed + c.failed + c.cancelled;
        let progress = if n < 1 {
            0.0
        } else if self.untotalled == 0 && self.weight > 0.0 {
            self.weighted / self.weight
        } else {
            self.plain / n as f64
        };
        progress.clamp(0.0, 100.0)
    }
}

/// Cancels the unfinished children of a failed or cancelled parent: queued and waiting ones,
/// and running external ones, at once (each its own version and change number); running ones
/// a runner holds are asked to stop, as a cancel request asks (no version). Returns those
/// cancelled at once.
async fn cancel_children(
    run: &mut dyn Run,
    d: &Dialect,
    now: Timestamp,
    parent: &Job,
) -> Result<Vec<Job>, StoreError> {
    let mut request = Statement::new(format!(
        "UPDATE jobs SET cancel_requested = TRUE WHERE parent_id = $1 AND status = {} \
         AND lease_owner IS NOT NULL AND NOT cancel_requested {}",
        sql::quoted(JobStatus::Running),
        d.returning
    ));
    request.args = vec![parent.id.to_string().into()];
    run.jobs(&request).await?;
    let mut open = Statement::new(format!(
        "SELECT * FROM jobs WHERE parent_id = $1 AND (status IN ({}, {}) \
         OR (status = {} AND lease_owner IS NULL)) ORDER BY id",
        sql::quoted(JobStatus::Queued),
        sql::quoted(JobStatus::Waiting),
        sql::quoted(JobStatus::Running),
    ));
    open.args = vec![parent.id.to_string().into()];
    let mut cancelled = Vec::new();
    for child in run.jobs(&open).await? {
        let mut update = Statement::new(format!(
            "UPDATE jobs SET {set}, version = jobs.version + 1, \
             state_version = jobs.version + 1, {change} WHERE jobs.id = $2 \
             AND jobs.status = $3 {returning}",
            set = sql::cancelled_set("$1"),
            change = d.next_change,
            returning = d.returning,
        ));
        update.args = vec![
            now.as_millis().into(),
            child.id.to_string().into(),
            child.status.as_str().into(),
        ];
        cancelled.extend(run.jobs(&update).await?);
    }
    Ok(cancelled)
}

/// Every job a sweep settles: waiting parents, failed or cancelled parents that still have
/// unfinished children, and parents whose children have news they did not hear (SQLite's
/// process killed between a batch and its family step), found from those children (unfinished jobs are few; finished ones may
/// be millions), so a start-up's sweep costs what the unfinished jobs cost.
pub(crate) async fn unsettled(run: &mut dyn Run) -> Result<Vec<JobId>, StoreError> {
    let statement = Statement::new(format!(
        "SELECT * FROM jobs WHERE status = {waiting} \
         UNION ALL SELECT * FROM jobs p WHERE p.status IN ({failed}, {cancelled}) \
             AND p.id IN (SELECT kid.parent_id FROM jobs kid \
                 WHERE kid.status IN ({unfinished}) AND kid.parent_id IS NOT NULL) \
         UNION ALL SELECT * FROM jobs p WHERE p.id IN (SELECT kid.parent_id FROM jobs kid \
             WHERE kid.parent_id IS NOT NULL AND kid.version > kid.echoed_version)",
        waiting = sql::quoted(JobStatus::Waiting),
        failed = sql::quoted(JobStatus::Failed),
        cancelled = sql::quoted(JobStatus::Cancelled),
        unfinished = unfinished_list(),
    ));
    Ok(run
        .jobs(&statement)
        .await?
        .iter()
        .map(|job| job.id)
        .collect())
}

async fn job(run: &mut dyn Run, id: JobId) -> Result<Option<Job>, StoreError> {
    let mut statement = Statement::new(sql::GET_JOB);
    statement.args = vec![id.to_string().into()];
    Ok(run.jobs(&statement).await?.pop())
}
