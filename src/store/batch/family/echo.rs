//! A child's news copied onto its parent's record and stream, and the family's progress
//! rolled up.

use std::collections::HashMap;

use super::super::{Arg, Dialect, Run, Statement, ROWS_PER_STATEMENT};
use crate::job::{FamilyCounts, Job, JobId, JobStatus, LogLine, Timestamp};
use crate::store::{sql, StoreError};

/// Copies what `parent`'s children did since it last heard onto its record, so its stream is
/// the family's: each child's new log lines (tagged with the child) and, when its status or
/// progress changed, one `child` event (the child's `family_version`), each at a version of the
/// parent's own; then the family's counts by status and its progress rolled up from the
/// children's (see [`Family`]; while it waits, a message and `current`/`total` saying
/// how many ended) as one more version. A finished
/// parent's stream has ended: its children are only marked as told. Returns the parent as
/// changed, if it was.
pub(super) async fn echo(
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
    // and its change at the next versions of the parent's. A child's lines include those its
    // own children's copied onto it, so a grandchild's line reaches the top of the family,
    // tagged with the grandchild.
    let mut lines = Statement::new(
        "SELECT l.* FROM job_logs l JOIN jobs kid ON kid.id = l.job_id \
         WHERE kid.parent_id = $1 AND kid.parent_id IS NOT NULL \
             AND kid.version > kid.echoed_version AND l.version > kid.echoed_version \
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
            let from = line.child_id.unwrap_or(child.id);
            copies.push((seq, version, line, from));
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
    for chunk in told.chunks(ROWS_PER_STATEMENT) {
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
    for chunk in copies.chunks(ROWS_PER_STATEMENT) {
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
