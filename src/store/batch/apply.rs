//! The statements of one batch, written once for both databases, in three steps:
//!
//! 1. **plan**: every statement of the batch, by kind: creates, progress reports (merged per
//!    job and author), log lines (inserted numbered from the job's row, then reserved on it),
//!    the ends of attempts, and claims. Each is a multi-row statement over a `VALUES` table
//!    `u`, fed to the same SET clauses and guards (`sql.rs`) the single-row writes use; each
//!    row of `u` carries its ordinal `ord`, so the rows a statement changes get change numbers
//!    of their own ([`Dialect::change`]). No statement needs another's answer, so a backend
//!    may send them all in one round trip ([`Run::script`]).
//! 2. **run**: the backend runs the plan in its transaction.
//! 3. **answer**: the rows back become each write's answer; a write a guard left out is asked
//!    why (its job's status), a create whose idempotency key was taken gets the job that has
//!    it. Writes nobody waits for (a runner's queued reports and lines) return no rows.

use std::collections::HashMap;
use std::time::Duration;

use super::{
    family, new_job_rows, Arg, Author, Batch, Dialect, End, Output, Rows, Run, Statement,
    NEW_JOB_ROWS, ROWS_PER_STATEMENT,
};
use crate::job::{Action, Job, JobId, JobStatus, LogLine, NewJob, Progress, Timestamp};
use crate::store::rows::{duration_ms, refusal};
use crate::store::{sql, StoreError};

/// The batch's time, as the shared clauses of `sql.rs` read it: from the `c` table.
const NOW: &str = "(SELECT now FROM c)";
/// A row's author, from the `u` table.
const OWNER: &str = "u.owner";
/// When an attempt ended, and when it started (NULL: when it was claimed), from the `u` table
/// of the ends: the runner's own times, so they order as its work did.
const AT: &str = "CAST(u.at AS BIGINT)";
const STARTED: &str = "CAST(u.started AS BIGINT)";

/// A claim: up to `limit` due jobs of `types` for `owner` (and an external `worker`).
#[derive(Debug, Clone)]
pub(crate) struct ClaimRequest {
    pub(crate) types: Vec<String>,
    pub(crate) owner: String,
    pub(crate) worker: Option<String>,
    pub(crate) lease: Duration,
    pub(crate) limit: usize,
}

impl ClaimRequest {
    /// The lease's expiry for a claim made at `now`.
    pub(crate) fn expires(&self, now: Timestamp) -> i64 {
        now.saturating_add(self.lease).as_millis()
    }

    /// An external worker's lease length, which each accepted update extends it by.
    pub(crate) fn worker_lease_ms(&self) -> Option<i64> {
        self.worker.as_ref().map(|_| duration_ms(self.lease))
    }

    pub(crate) fn limit(&self) -> i64 {
        i64::try_from(self.limit).unwrap_or(i64::MAX)
    }
}

/// The answers of a batch, in the order of its writes, kind by kind; sent once it committed.
#[derive(Default)]
pub(crate) struct Results {
    pub(crate) creates: Vec<Result<Vec<(Job, bool)>, StoreError>>,
    pub(crate) progress: Vec<Result<Job, StoreError>>,
    pub(crate) logs: Vec<Result<LogLine, StoreError>>,
    pub(crate) ends: Vec<Result<Job, StoreError>>,
    pub(crate) claims: Vec<Result<Vec<Job>, StoreError>>,
    pub(crate) spawns: Vec<Result<Vec<(Job, bool)>, StoreError>>,
    /// Why the family step failed after the batch committed (SQLite): the settles' answer.
    pub(crate) family_failed: Option<String>,
    /// The parents of the children that awaited lines were written for (their rows say).
    pub(crate) parents: Vec<JobId>,
}

/// Plans `batch`, runs it on `run` (inside the backend's transaction) and answers it.
/// Refusals are answers; any other error fails the whole batch.
pub(crate) async fn apply(
    run: &mut dyn Run,
    d: &Dialect,
    batch: &Batch,
    keep_log_lines: i64,
) -> Result<Results, StoreError> {
    let plan = Plan::new(d, batch, keep_log_lines);
    let now = plan.now;
    let outputs = run.script(&plan.statements, plan.independent()).await?;
    let mut results = plan.answer(run, outputs).await?;
    // Children made, then every family a change of this batch touched, settled: on PostgreSQL
    // in the batch's transaction, so a child's end and its parent's wake-up commit together;
    // on SQLite in one right after it on the same connection (see `family/`).
    // A child's report or line is news for its parent's stream too: a runner's queued one
    // names the parent (`Write::Tell`); an awaited one's row does.
    let mut seeds: Vec<JobId> = batch.tells.clone();
    seeds.append(&mut results.parents);
    for changed in results.ends.iter().chain(&results.progress).flatten() {
        seeds.extend(family::seeds([changed]));
    }
    let mut sweep = false;
    for (ids, _) in &batch.settles {
        seeds.extend(ids.iter().copied());
        sweep |= ids.is_empty();
    }
    if batch.spawns.is_empty() && seeds.is_empty() && !sweep {
        return Ok(results);
    }
    let own = run.reopen().await?;
    let step = async {
        let mut made = Vec::with_capacity(batch.spawns.len());
        for (request, _) in &batch.spawns {
            made.push(family::spawn(run, d, now, request).await?);
            seeds.push(request.parent);
        }
        if sweep {
            seeds.extend(family::unsettled(run).await?);
        }
        family::settle(run, d, now, keep_log_lines, seeds).await?;
        if own {
            run.commit().await?;
        }
        Ok::<_, StoreError>(made)
    }
    .await;
    match step {
        Ok(made) => results.spawns = made,
        // The batch's own writes are committed (SQLite): they keep their answers, and only the
        // family step's writes are refused. Families left unsettled are settled by the next
        // sweep (`Store::settle_all`).
        Err(error) if own => {
            run.rollback().await;
            tracing::error!(error = ?error, "making children or settling families failed");
            results.spawns = batch
                .spawns
                .iter()
                .map(|_| {
                    Err(StoreError::Batch {
                        message: error.to_string(),
                        transient: error.is_transient(),
                    })
                })
                .collect();
            results.family_failed = Some(error.to_string());
        }
        Err(error) => return Err(error),
    }
    Ok(results)
}

/// What a planned statement is for: how its rows answer the batch's writes.
enum Part {
    /// Jobs created: the new ids, by the global index of their `NewJob` in the batch.
    Creates(Vec<(usize, JobId)>),
    /// Merged progress rows: a job and the writes merged into its row.
    Progress(Vec<(JobId, Vec<usize>)>),
    /// Lines reserved on their jobs (inserted by the statement before): a job and its lines.
    Lines(Vec<(JobId, Vec<usize>)>),
    /// Ends of one kind, by their place in the batch.
    Ends(Vec<usize>),
    /// A claim statement and the claims merged into it.
    Claim(Vec<usize>),
    /// No answers (inserting or trimming log lines).
    Silent,
}

/// Every statement of a batch, and what each is for.
struct Plan<'b> {
    d: &'b Dialect,
    batch: &'b Batch,
    now: Timestamp,
    statements: Vec<(Statement, Rows)>,
    parts: Vec<Part>,
    /// Jobs whose end is in the batch with its author's queued reports and lines: those are
    /// written by the end's own UPDATE (see [`merged`]). By job, the end's place.
    merged: HashMap<JobId, usize>,
    /// By end, the reports merged into it.
    end_progress: HashMap<usize, Progress>,
    /// By end, how many lines were inserted for it (and are reserved by it).
    end_lines: HashMap<usize, i64>,
}

/// The jobs whose end can carry their other writes in the batch: ended once, by a lease
/// holder, and every report and line of theirs in the batch by that holder and awaited by
/// nobody (a runner's queued writes). A tiny job's claim, reports, lines and end then cost two
/// row updates (the claim, the end) and an insert of its lines, not five row updates: the
/// end's row takes the merged report's fields and reserves the lines' seqs and versions below
/// its own, as if they had been written one after another just before it.
fn merged(batch: &Batch) -> HashMap<JobId, usize> {
    let mut ends: HashMap<JobId, Option<usize>> = HashMap::new();
    for (i, (id, author, ..)) in batch.ends.iter().enumerate() {
        let lease = matches!(author, Author::Lease(_));
        ends.entry(*id)
            .and_modify(|end| *end = None)
            .or_insert(lease.then_some(i));
    }
    let mut merged: HashMap<JobId, usize> = ends
        .into_iter()
        .filter_map(|(id, end)| end.map(|i| (id, i)))
        .collect();
    let writes = batch
        .progress
        .iter()
        .map(|(id, author, _, reply)| (id, author, reply.is_closed()))
        .chain(
            batch
                .logs
                .iter()
                .map(|(id, author, _, reply)| (id, author, reply.is_closed())),
        );
    for (id, author, unawaited) in writes {
        if let Some(&i) = merged.get(id) {
            if *author != batch.ends[i].1 || !unawaited {
                merged.remove(id);
            }
        }
    }
    merged
}

impl<'b> Plan<'b> {
    fn new(d: &'b Dialect, batch: &'b Batch, keep: i64) -> Self {
        let mut plan = Plan {
            d,
            batch,
            now: Timestamp::now(),
            statements: Vec::new(),
            parts: Vec::new(),
            merged: merged(batch),
            end_progress: HashMap::new(),
            end_lines: HashMap::new(),
        };
        plan.creates();
        plan.progress();
        plan.logs(keep);
        plan.ends();
        plan.claims();
        plan
    }

    /// How many of the statements, from the first, may run as one: all but the claims when no
    /// job's row is changed by two statements (a report, a reservation of lines, an end), else
    /// none. Each reads the database as it was before the batch then: the lines inserted read
    /// the row their reservation changes, and nothing else.
    fn independent(&self) -> usize {
        let mut changes: HashMap<JobId, usize> = HashMap::new();
        for part in &self.parts {
            let jobs: Vec<JobId> = match part {
                Part::Progress(rows) => rows.iter().map(|(id, _)| *id).collect(),
                Part::Lines(groups) => groups.iter().map(|(id, _)| *id).collect(),
                Part::Ends(round) => round.iter().map(|&i| self.batch.ends[i].0).collect(),
                Part::Creates(_) | Part::Claim(_) | Part::Silent => Vec::new(),
            };
            for id in jobs {
                *changes.entry(id).or_default() += 1;
            }
        }
        if changes.values().any(|&n| n > 1) {
            return 0;
        }
        let claims = self
            .parts
            .iter()
            .filter(|part| matches!(part, Part::Claim(_)))
            .count();
        self.statements.len() - claims
    }

    fn add(&mut self, statement: Statement, rows: Rows, part: Part) {
        self.statements.push((statement, rows));
        self.parts.push(part);
    }

    /// Starts `WITH c (now, ...) AS (...), u (columns) AS (VALUES `.
    fn with_values(&self, columns: &str) -> Statement {
        let mut statement = Statement::default();
        (self.d.with_now)(&mut statement, self.now);
        statement.push(format!(", u ({columns}) AS (VALUES "));
        statement
    }

    fn creates(&mut self) {
        let d = self.d;
        let all: Vec<&NewJob> = self
            .batch
            .creates
            .iter()
            .flat_map(|(jobs, _)| jobs)
            .collect();
        for (first, chunk) in (0..)
            .step_by(ROWS_PER_STATEMENT)
            .zip(all.chunks(ROWS_PER_STATEMENT))
        {
            // Ids are made here, in commit order, so they sort the way jobs were stored.
            let ids: Vec<(usize, JobId)> =
                (first..).zip(chunk.iter().map(|_| JobId::new())).collect();
            let mut statement = self.with_values(NEW_JOB_ROWS);
            new_job_rows(
                &mut statement,
                d,
                self.now,
                chunk.iter().copied().zip(ids.iter().map(|(_, id)| *id)),
            );
            statement.push(format!(
                ") INSERT INTO jobs ({columns}) \
                 SELECT u.id, u.type, {queued}, u.payload, u.priority, u.max_attempts, \
                     u.timeout_ms, u.idempotency_key, u.run_at, {NOW}, {NOW}, {change}, \
                     u.upload_id \
                 FROM u WHERE u.id IS NOT NULL {on_key_taken} {returning}",
                columns = sql::NEW_JOB_COLUMNS,
                queued = sql::quoted(JobStatus::Queued),
                change = d.change,
                on_key_taken = sql::ON_KEY_TAKEN,
                returning = d.returning,
            ));
            self.add(statement, Rows::Jobs, Part::Creates(ids));
        }
    }

    fn progress(&mut self) {
        let (d, reports) = (self.d, &self.batch.progress);
        // One row per (job, author); every report merged into it gets the same answer.
        let mut rows: Vec<(JobId, &Author, Progress, Vec<usize>)> = Vec::new();
        let mut index: HashMap<(JobId, &Author), usize> = HashMap::new();
        for (i, (id, author, report, _)) in reports.iter().enumerate() {
            if let Some(&end) = self.merged.get(id) {
                match self.end_progress.get_mut(&end) {
                    Some(earlier) => earlier.merge(report.clone()),
                    None => {
                        self.end_progress.insert(end, report.clone());
                    }
                }
                continue;
            }
            match index.get(&(*id, author)) {
                Some(&m) => {
                    rows[m].2.merge(report.clone());
                    rows[m].3.push(i);
                }
                None => {
                    index.insert((*id, author), rows.len());
                    rows.push((*id, author, report.clone(), vec![i]));
                }
            }
        }
        let set = sql::progress_set(&sql::ProgressInputs {
            now: NOW,
            owner: OWNER,
            progress: "u.progress",
            message: "u.message",
            current: "u.current",
            total: "u.total",
            stage: "u.stage",
        });
        for round in rounds(rows, |row| row.0) {
            let awaited = round
                .iter()
                .any(|(.., writes)| writes.iter().any(|&i| !reports[i].3.is_closed()));
            let mut statement =
                self.with_values("ord, id, owner, progress, message, current, total, stage");
            statement.values((1_i64..).zip(&round), |row, (ord, (id, author, p, _))| {
                row.bind(ord)
                    .bind(id.to_string())
                    .bind(author.owner().map(d.text))
                    .bind(p.progress)
                    .bind(p.message.as_deref().map(d.text))
                    .bind(p.current)
                    .bind(p.total)
                    .bind(p.stage.as_deref().map(d.text));
            });
            statement.push(format!(
                ") UPDATE jobs SET {set}, change_seq = {change} FROM u \
                 WHERE jobs.id = u.id AND {guard} {returning}",
                change = d.change,
                guard = sql::writer_guard(OWNER),
                returning = if awaited { d.returning } else { "" },
            ));
            let part = Part::Progress(round.into_iter().map(|r| (r.0, r.3)).collect());
            let rows = if awaited { Rows::Jobs } else { Rows::None };
            self.add(statement, rows, part);
        }
    }

    /// Per (job, author) in a round: the lines are inserted first, numbered from the job's row
    /// as it is (the next seqs and versions; one version more when the first line starts a
    /// queued external job, as [`sql::reserve_log_lines`] counts), where the writer's guard
    /// allows; then the same guard reserves them on the job. Lines past the retention limit
    /// are not inserted, and the job's older lines past it are deleted.
    fn logs(&mut self, keep: i64) {
        let (d, lines) = (self.d, &self.batch.logs);
        let mut groups: Vec<(JobId, &Author, Vec<usize>)> = Vec::new();
        let mut index: HashMap<(JobId, &Author), usize> = HashMap::new();
        for (i, (id, author, ..)) in lines.iter().enumerate() {
            match index.get(&(*id, author)) {
                Some(&g) => groups[g].2.push(i),
                None => {
                    index.insert((*id, author), groups.len());
                    groups.push((*id, author, vec![i]));
                }
            }
        }
        let starts = format!(
            "CASE WHEN u.owner IS NULL AND jobs.status = {} THEN 1 ELSE 0 END",
            sql::quoted(JobStatus::Queued)
        );
        for round in rounds(groups, |group| group.0) {
            // Past the retention limit, each new line pushes out the oldest: an indexed range
            // per job, empty until the job has that many lines. Counted from the job's row as
            // it is plus the lines this round adds, where the writer's guard lets them in, so
            // it may run first, and with the statements after it as one.
            let mut trim = self.with_values("id, owner, n");
            trim.values(&round, |row, (id, author, group)| {
                row.bind(id.to_string())
                    .bind(author.owner().map(d.text))
                    .bind(group.len() as i64);
            });
            trim.push(
                ") DELETE FROM job_logs WHERE (job_id, seq) IN (SELECT l.job_id, l.seq \
                 FROM u JOIN jobs ON jobs.id = u.id \
                 JOIN job_logs l ON l.job_id = jobs.id AND l.seq <= jobs.log_seq + u.n - ",
            )
            .bind(keep)
            .push(" WHERE jobs.log_seq + u.n > ")
            .bind(keep)
            .push(format!(" AND {})", sql::writer_guard(OWNER)));
            self.add(trim, Rows::None, Part::Silent);
            for chunk in round
                .iter()
                .flat_map(|(id, author, group)| {
                    let n = group.len() as i64;
                    (1_i64..)
                        .zip(group)
                        .map(move |(k, &i)| (*id, *author, k, n, i))
                })
                .collect::<Vec<_>>()
                .chunks(ROWS_PER_STATEMENT)
            {
                let mut insert = self.with_values("id, owner, k, n, ts, level, message");
                insert.values(chunk, |row, &(id, author, k, n, i)| {
                    let line = &lines[i].2;
                    row.bind(id.to_string())
                        .bind(author.owner().map(d.text))
                        .bind(k)
                        .bind(n)
                        .bind(line.ts.as_millis())
                        .bind(line.level.as_str())
                        .bind((d.text)(&line.message));
                });
                insert.push(format!(
                    ") INSERT INTO {columns} \
                     SELECT u.id, jobs.log_seq + u.k, jobs.version + u.k + {starts}, \
                         CAST(u.ts AS BIGINT), u.level, u.message \
                     FROM u JOIN jobs ON jobs.id = u.id WHERE {guard} AND u.k > u.n - ",
                    columns = sql::INSERT_LOG_COLUMNS,
                    guard = sql::writer_guard(OWNER),
                ));
                insert.bind(keep);
                self.add(insert, Rows::None, Part::Silent);
            }
            // Lines of a job whose end is in the batch are reserved by that end.
            let (ended, reserved): (Vec<_>, Vec<_>) = round
                .iter()
                .partition(|(id, ..)| self.merged.contains_key(id));
            for (id, _, group) in ended {
                self.end_lines.insert(self.merged[id], group.len() as i64);
            }
            if reserved.is_empty() {
                continue;
            }
            let awaited = reserved
                .iter()
                .any(|(.., group)| group.iter().any(|&i| !lines[i].3.is_closed()));
            let mut reserve = self.with_values("ord, id, owner, n");
            reserve.values(
                (1_i64..).zip(&reserved),
                |row, (ord, (id, author, group))| {
                    row.bind(ord)
                        .bind(id.to_string())
                        .bind(author.owner().map(d.text))
                        .bind(group.len() as i64);
                },
            );
            reserve.push(format!(
                ") UPDATE jobs SET {set}, change_seq = {change} FROM u \
                 WHERE jobs.id = u.id AND {guard} {returning}",
                set = sql::reserve_log_lines(NOW, OWNER, "u.n"),
                change = d.change,
                guard = sql::writer_guard(OWNER),
                returning = if awaited { d.returning_reserved } else { "" },
            ));
            let rows = if awaited { Rows::Reserved } else { Rows::None };
            let part = Part::Lines(reserved.iter().map(|(id, _, g)| (*id, g.clone())).collect());
            self.add(reserve, rows, part);
        }
    }

    fn ends(&mut self) {
        let (d, ends) = (self.d, &self.batch.ends);
        for kind in [
            EndKind::Complete,
            EndKind::Fail,
            EndKind::Cancelled,
            EndKind::Requeue,
        ] {
            let of_kind: Vec<usize> = (0..ends.len())
                .filter(|&i| EndKind::of(&ends[i].2) == kind)
                .collect();
            // A job ended twice in one batch: the first wins, the later ones find it ended.
            for round in rounds(of_kind, |&i| ends[i].0) {
                let mut statement = self.with_values(&format!(
                    "ord, id, owner, at, started{}, progress, message, current, total, stage, n",
                    kind.columns()
                ));
                let (merged, lines) = (&self.end_progress, &self.end_lines);
                statement.values((1_i64..).zip(&round), |row, (ord, &i)| {
                    let (id, author, end, times, _) = &ends[i];
                    row.bind(ord)
                        .bind(id.to_string())
                        .bind(author.owner().map(d.text))
                        .bind(times.ended.unwrap_or(self.now).as_millis())
                        .bind(times.started.map(|t| t.as_millis()));
                    match end {
                        End::Complete(result) => {
                            row.bind(result.as_ref().map(|r| r.to_string()));
                        }
                        End::Fail {
                            error,
                            details,
                            retry,
                        } => {
                            row.bind((d.text)(error))
                                .bind(details.as_ref().map(|v| v.to_string()))
                                .bind(retry.map(|r| r.retry_at.as_millis()));
                        }
                        End::Cancelled | End::Requeue => {}
                    }
                    let p = merged.get(&i);
                    row.bind(Arg::Real(p.map(|p| p.progress)))
                        .bind(p.and_then(|p| p.message.as_deref()).map(d.text))
                        .bind(p.and_then(|p| p.current))
                        .bind(p.and_then(|p| p.total))
                        .bind(p.and_then(|p| p.stage.as_deref()).map(d.text))
                        .bind(lines.get(&i).copied().unwrap_or(0));
                });
                statement.push(format!(
                    ") UPDATE jobs SET {set}, {merged}{version}, change_seq = {change} FROM u \
                     WHERE jobs.id = u.id AND {guard} {returning}",
                    set = kind.set(),
                    merged = kind.merged_progress(),
                    version = sql::end_version("u.n"),
                    change = d.change,
                    guard = kind.guard(),
                    returning = d.returning,
                ));
                self.add(statement, Rows::Jobs, Part::Ends(round));
            }
        }
    }

    /// Claims by the same claimant for the same types are merged into one statement (workers
    /// freed one by one each ask for one job; their claims meet in the batch), and its jobs
    /// handed out in claim order, each claim taking up to its limit.
    fn claims(&mut self) {
        let claims = &self.batch.claims;
        type Key<'a> = (&'a [String], &'a str, Option<&'a str>, Duration);
        let mut groups: Vec<(Key<'_>, Vec<usize>)> = Vec::new();
        for (i, (request, _)) in claims.iter().enumerate() {
            let key = (
                request.types.as_slice(),
                request.owner.as_str(),
                request.worker.as_deref(),
                request.lease,
            );
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        for (_, members) in groups {
            let merged = ClaimRequest {
                limit: members.iter().map(|&i| claims[i].0.limit).sum(),
                ..claims[members[0]].0.clone()
            };
            self.add(
                (self.d.claim)(&merged, self.now),
                Rows::Jobs,
                Part::Claim(members),
            );
        }
    }

    /// Turns the rows back into the writes' answers.
    async fn answer(self, run: &mut dyn Run, outputs: Vec<Output>) -> Result<Results, StoreError> {
        let batch = self.batch;
        let mut made: Vec<Option<Result<(Job, bool), StoreError>>> = Vec::new();
        let mut progress = answers(batch.progress.len());
        let mut logs = answers(batch.logs.len());
        let mut ends = answers(batch.ends.len());
        let mut claims = answers(batch.claims.len());
        let mut parents = Vec::new();
        let all_new: Vec<&NewJob> = batch.creates.iter().flat_map(|(jobs, _)| jobs).collect();
        made.resize_with(all_new.len(), || None);
        for (part, output) in self.parts.into_iter().zip(outputs) {
            match (part, output) {
                (Part::Creates(ids), Output::Jobs(jobs)) => {
                    let mut inserted = by_id(jobs);
                    for (i, id) in ids {
                        made[i] = Some(match inserted.remove(&id) {
                            Some(job) => Ok((job, true)),
                            None => existing(run, self.d, all_new[i]).await?.map(|j| (j, false)),
                        });
                    }
                }
                (Part::Progress(rows), Output::Jobs(jobs)) => {
                    let mut updated = by_id(jobs);
                    for (id, writes) in rows {
                        let result = match updated.remove(&id) {
                            Some(job) => Ok(job),
                            None => Err(why_not(run, id).await?),
                        };
                        for i in writes {
                            progress[i] = Some(clone_result(&result));
                        }
                    }
                }
                (Part::Lines(groups), Output::Reserved(reserved)) => {
                    parents.extend(reserved.iter().filter_map(|row| row.3));
                    let reserved: HashMap<JobId, (i64, i64)> = reserved
                        .into_iter()
                        .map(|(id, seq, version, _)| (id, (seq, version)))
                        .collect();
                    for (id, group) in groups {
                        let Some(&(last_seq, last_version)) = reserved.get(&id) else {
                            let error = why_not(run, id).await?;
                            for i in group {
                                logs[i] = Some(Err(clone_error(&error)));
                            }
                            continue;
                        };
                        let n = group.len() as i64;
                        for (k, i) in (1..).zip(group) {
                            let line = &batch.logs[i].2;
                            logs[i] = Some(Ok(LogLine {
                                seq: last_seq - n + k,
                                version: last_version - n + k,
                                ts: line.ts,
                                level: line.level,
                                message: (self.d.text)(&line.message),
                                child_id: None,
                            }));
                        }
                    }
                }
                (Part::Ends(round), Output::Jobs(jobs)) => {
                    let mut updated = by_id(jobs);
                    for i in round {
                        let id = batch.ends[i].0;
                        ends[i] = Some(match updated.remove(&id) {
                            Some(job) => Ok(job),
                            None => Err(why_not(run, id).await?),
                        });
                    }
                }
                (Part::Claim(members), Output::Jobs(mut jobs)) => {
                    jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
                    let mut jobs = jobs.into_iter();
                    for i in members {
                        let limit = batch.claims[i].0.limit;
                        claims[i] = Some(Ok(jobs.by_ref().take(limit).collect()));
                    }
                }
                // Statements nobody waits for.
                (_, Output::Done) => {}
                _ => {
                    return Err(StoreError::Corrupt(
                        "a batch statement returned rows of the wrong kind".to_owned(),
                    ))
                }
            }
        }
        // Each create write's jobs together: one refused job fails its whole write.
        let mut made = made
            .into_iter()
            .map(|m| m.unwrap_or(Err(StoreError::NotFound)));
        let creates = batch
            .creates
            .iter()
            .map(|(jobs, _)| made.by_ref().take(jobs.len()).collect())
            .collect();
        Ok(Results {
            creates,
            progress: unanswered(progress),
            logs: unanswered(logs),
            ends: unanswered(ends),
            claims: unanswered(claims),
            spawns: Vec::new(),
            family_failed: None,
            parents,
        })
    }
}

/// One empty answer per write.
fn answers<T>(n: usize) -> Vec<Option<Result<T, StoreError>>> {
    std::iter::repeat_with(|| None).take(n).collect()
}

/// The answers, a write left unanswered (nobody waits for it: no rows came back) as refused.
fn unanswered<T>(answers: Vec<Option<Result<T, StoreError>>>) -> Vec<Result<T, StoreError>> {
    answers
        .into_iter()
        .map(|a| a.unwrap_or(Err(StoreError::NotFound)))
        .collect()
}

/// Why a guarded write left job `id` out: missing, or in a state that refuses the change.
async fn why_not(run: &mut dyn Run, id: JobId) -> Result<StoreError, StoreError> {
    Ok(refusal(id, run.status_of(id).await?))
}

/// The job already stored under `new`'s idempotency key (a create found it taken).
async fn existing(
    run: &mut dyn Run,
    d: &Dialect,
    new: &NewJob,
) -> Result<Result<Job, StoreError>, StoreError> {
    let mut statement = Statement::new(sql::BY_IDEMPOTENCY_KEY);
    statement.args = vec![
        (d.text)(&new.job_type).into(),
        new.idempotency_key.as_deref().map(d.text).into(),
    ];
    Ok(run
        .jobs(&statement)
        .await?
        .pop()
        .ok_or(StoreError::NotFound))
}

/// Splits rows into statements of at most [`ROWS_PER_STATEMENT`] rows in which no job appears
/// twice (an UPDATE ... FROM applies only one source row per target row). Rows keep their
/// order within each job.
fn rounds<T>(rows: Vec<T>, job: impl Fn(&T) -> JobId) -> Vec<Vec<T>> {
    let mut rounds: Vec<Vec<T>> = Vec::new();
    // The round after the last one each job appears in.
    let mut next: HashMap<JobId, usize> = HashMap::new();
    for row in rows {
        let id = job(&row);
        let from = next.get(&id).copied().unwrap_or(0);
        let round = (from..rounds.len()).find(|&r| rounds[r].len() < ROWS_PER_STATEMENT);
        let r = match round {
            Some(r) => r,
            None => {
                rounds.push(Vec::new());
                rounds.len() - 1
            }
        };
        rounds[r].push(row);
        next.insert(id, r + 1);
    }
    rounds
}

fn by_id(jobs: Vec<Job>) -> HashMap<JobId, Job> {
    jobs.into_iter().map(|job| (job.id, job)).collect()
}

fn clone_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict { job_id, status } => StoreError::Conflict {
            job_id: *job_id,
            status: *status,
        },
        other => StoreError::Batch {
            message: other.to_string(),
            transient: other.is_transient(),
        },
    }
}

fn clone_result(result: &Result<Job, StoreError>) -> Result<Job, StoreError> {
    match result {
        Ok(job) => Ok(job.clone()),
        Err(error) => Err(clone_error(error)),
    }
}

/// The kinds of end, each one statement per round: its extra columns, SET clause and guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum EndKind {
    Complete,
    Fail,
    Cancelled,
    Requeue,
}

impl EndKind {
    fn of(end: &End) -> EndKind {
        match end {
            End::Complete(_) => EndKind::Complete,
            End::Fail { .. } => EndKind::Fail,
            End::Cancelled => EndKind::Cancelled,
            End::Requeue => EndKind::Requeue,
        }
    }

    /// The columns of `u` past `ord, id, owner`.
    fn columns(self) -> &'static str {
        match self {
            EndKind::Complete => ", result",
            EndKind::Fail => ", error, details, retry_at",
            EndKind::Cancelled | EndKind::Requeue => "",
        }
    }

    fn set(self) -> String {
        match self {
            EndKind::Complete => sql::complete_set(AT, STARTED, "u.result"),
            EndKind::Fail => sql::fail_set(AT, STARTED, "u.error", "u.details", "u.retry_at"),
            EndKind::Cancelled => sql::cancelled_set(AT),
            EndKind::Requeue => sql::requeue_set(AT),
        }
    }

    /// The SET items of a report merged into the end (`u.progress` ... NULL when none was):
    /// the fields the end itself leaves as they are. A requeue clears them all.
    fn merged_progress(self) -> &'static str {
        match self {
            EndKind::Complete => {
                "message = COALESCE(u.message, jobs.message), \
                 current = COALESCE(u.current, jobs.current), \
                 total = COALESCE(u.total, jobs.total), stage = COALESCE(u.stage, jobs.stage), "
            }
            EndKind::Fail | EndKind::Cancelled => {
                "progress = COALESCE(u.progress, jobs.progress), \
                 message = COALESCE(u.message, jobs.message), \
                 current = COALESCE(u.current, jobs.current), \
                 total = COALESCE(u.total, jobs.total), stage = COALESCE(u.stage, jobs.stage), "
            }
            EndKind::Requeue => "",
        }
    }

    fn guard(self) -> String {
        match self {
            EndKind::Complete | EndKind::Fail => sql::writer_guard(OWNER),
            EndKind::Cancelled => sql::leased_guard(Action::FinishCancelled, OWNER),
            EndKind::Requeue => sql::leased_guard(Action::Requeue, OWNER),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> JobId {
        uuid::Uuid::from_u128(n).to_string().parse().unwrap()
    }

    #[test]
    fn rounds_keep_each_job_once_per_statement_and_in_order() {
        let rows = vec![
            (id(1), 'a'),
            (id(2), 'b'),
            (id(1), 'c'),
            (id(1), 'd'),
            (id(3), 'e'),
        ];
        let rounds = rounds(rows, |row| row.0);
        let letters: Vec<String> = rounds
            .iter()
            .map(|round| round.iter().map(|row| row.1).collect())
            .collect();
        assert_eq!(letters, ["abe", "c", "d"]);
    }

    #[test]
    fn rounds_split_at_the_statement_size() {
        let sizes: Vec<usize> = rounds((0..600u128).collect(), |&n| id(n))
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [256, 256, 88]);
    }
}
