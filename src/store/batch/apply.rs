//! The statements of one batch, by kind, written once for both databases: creates, progress
//! reports (merged per job and author), log lines (their seqs and versions reserved on the job
//! in one UPDATE, then inserted), the ends of attempts, and claims. Each is a multi-row
//! statement over a `VALUES` table `u`, fed to the same SET clauses and guards (`sql.rs`) the
//! single-row writes use; each row of `u` carries its ordinal `ord`, so the rows a statement
//! changes get change numbers of their own ([`Dialect::change`]).

use std::collections::HashMap;
use std::time::Duration;

use super::{Author, Batch, Creates, Dialect, End, Reply, Run, Statement};
use crate::job::{Action, Job, JobId, JobStatus, LogLevel, LogLine, NewJob, Progress, Timestamp};
use crate::store::rows::{duration_ms, refusal};
use crate::store::{sql, StoreError};

/// Rows per multi-row statement (each binds up to 11 values: far below either database's
/// limit on placeholders).
const ROWS_PER_STATEMENT: usize = 256;

/// The batch's time, as the shared clauses of `sql.rs` read it: from the `c` table.
const NOW: &str = "(SELECT now FROM c)";
/// A row's author, from the `u` table.
const OWNER: &str = "u.owner";

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
}

/// Runs every statement of `batch` on `run` (inside the backend's transaction). Refusals are
/// answers; any other error fails the whole batch.
pub(crate) async fn apply(
    run: &mut dyn Run,
    d: &Dialect,
    batch: &Batch,
    keep_log_lines: i64,
) -> Result<Results, StoreError> {
    let now = Timestamp::now();
    Ok(Results {
        creates: creates(run, d, now, &batch.creates).await?,
        progress: progress(run, d, now, &batch.progress).await?,
        logs: logs(run, d, now, &batch.logs, keep_log_lines).await?,
        ends: ends(run, d, now, &batch.ends).await?,
        claims: claims(run, d, now, &batch.claims).await?,
    })
}

/// Starts `WITH c (now, ...) AS (...), u (columns) AS (VALUES `.
fn with_values(d: &Dialect, now: Timestamp, columns: &str) -> Statement {
    let mut statement = Statement::default();
    (d.with_now)(&mut statement, now);
    statement.push(format!(", u ({columns}) AS (VALUES "));
    statement
}

/// Why a guarded write left job `id` out: missing, or in a state that refuses the change.
async fn why_not(run: &mut dyn Run, id: JobId) -> Result<StoreError, StoreError> {
    Ok(refusal(id, run.status_of(id).await?))
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

async fn creates(
    run: &mut dyn Run,
    d: &Dialect,
    now: Timestamp,
    creates: &[Creates],
) -> Result<Vec<Result<Vec<(Job, bool)>, StoreError>>, StoreError> {
    let all: Vec<&NewJob> = creates.iter().flat_map(|(jobs, _)| jobs).collect();
    let mut made: Vec<Result<(Job, bool), StoreError>> = Vec::with_capacity(all.len());
    for chunk in all.chunks(ROWS_PER_STATEMENT) {
        // Ids are made here, in commit order, so they sort the way jobs were stored.
        let ids: Vec<JobId> = chunk.iter().map(|_| JobId::new()).collect();
        let mut statement = with_values(
            d,
            now,
            "ord, id, type, payload, priority, max_attempts, timeout_ms, idempotency_key, \
             run_at, upload_id",
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
            ") INSERT INTO jobs ({columns}) \
             SELECT u.id, u.type, {queued}, u.payload, u.priority, u.max_attempts, u.timeout_ms, \
                 u.idempotency_key, u.run_at, {NOW}, {NOW}, {change}, u.upload_id \
             FROM u WHERE TRUE {on_key_taken} {returning}",
            columns = sql::NEW_JOB_COLUMNS,
            queued = sql::quoted(JobStatus::Queued),
            change = d.change,
            on_key_taken = sql::ON_KEY_TAKEN,
            returning = d.returning,
        ));
        let mut inserted = by_id(run.jobs(&statement).await?);
        for (new, id) in chunk.iter().zip(ids) {
            made.push(match inserted.remove(&id) {
                Some(job) => Ok((job, true)),
                None => existing(run, d, new).await?.map(|job| (job, false)),
            });
        }
    }
    // Each write's jobs together: one refused job fails its whole write.
    let mut made = made.into_iter();
    Ok(creates
        .iter()
        .map(|(jobs, _)| made.by_ref().take(jobs.len()).collect())
        .collect())
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

async fn progress(
    run: &mut dyn Run,
    d: &Dialect,
    now: Timestamp,
    reports: &[(JobId, Author, Progress, Reply<Job>)],
) -> Result<Vec<Result<Job, StoreError>>, StoreError> {
    // One row per (job, author); every report merged into it gets the same answer.
    let mut merged: Vec<(JobId, &Author, Progress, Vec<usize>)> = Vec::new();
    let mut index: HashMap<(JobId, &Author), usize> = HashMap::new();
    for (i, (id, author, report, _)) in reports.iter().enumerate() {
        match index.get(&(*id, author)) {
            Some(&m) => {
                merged[m].2.merge(report.clone());
                merged[m].3.push(i);
            }
            None => {
                index.insert((*id, author), merged.len());
                merged.push((*id, author, report.clone(), vec![i]));
            }
        }
    }
    let mut answers: Vec<Option<Result<Job, StoreError>>> = std::iter::repeat_with(|| None)
        .take(reports.len())
        .collect();
    let set = sql::progress_set(&sql::ProgressInputs {
        now: NOW,
        owner: OWNER,
        progress: "u.progress",
        message: "u.message",
        current: "u.current",
        total: "u.total",
        stage: "u.stage",
    });
    for round in rounds(merged, |row| row.0) {
        let mut statement = with_values(
            d,
            now,
            "ord, id, owner, progress, message, current, total, stage",
        );
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
            returning = d.returning,
        ));
        let mut updated = by_id(run.jobs(&statement).await?);
        for (id, _, _, writes) in round {
            let result = match updated.remove(&id) {
                Some(job) => Ok(job),
                None => Err(why_not(run, id).await?),
            };
            for i in writes {
                answers[i] = Some(clone_result(&result));
            }
        }
    }
    Ok(answers.into_iter().flatten().collect())
}

/// The lines of one job by one author in a batch, by their place in the batch.
type LogGroup<'b> = (JobId, &'b Author, Vec<usize>);

async fn logs(
    run: &mut dyn Run,
    d: &Dialect,
    now: Timestamp,
    lines: &[(JobId, Author, LogLevel, String, Reply<LogLine>)],
    keep: i64,
) -> Result<Vec<Result<LogLine, StoreError>>, StoreError> {
    // Per (job, author), which lines; the UPDATE reserves that many seqs and versions.
    let mut groups: Vec<LogGroup<'_>> = Vec::new();
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
    let mut answers: Vec<Option<Result<LogLine, StoreError>>> =
        std::iter::repeat_with(|| None).take(lines.len()).collect();
    for round in rounds(groups, |group| group.0) {
        let mut statement = with_values(d, now, "ord, id, owner, n");
        statement.values((1_i64..).zip(&round), |row, (ord, (id, author, lines))| {
            row.bind(ord)
                .bind(id.to_string())
                .bind(author.owner().map(d.text))
                .bind(lines.len() as i64);
        });
        statement.push(format!(
            ") UPDATE jobs SET {set}, change_seq = {change} FROM u \
             WHERE jobs.id = u.id AND {guard} {returning}",
            set = sql::reserve_log_lines(NOW, OWNER, "u.n"),
            change = d.change,
            guard = sql::writer_guard(OWNER),
            returning = d.returning_reserved,
        ));
        let reserved: HashMap<JobId, (i64, i64)> = run
            .reserved(&statement)
            .await?
            .into_iter()
            .map(|(id, seq, version)| (id, (seq, version)))
            .collect();
        let mut new_lines: Vec<(JobId, LogLine)> = Vec::new();
        for (id, _, group) in &round {
            let Some(&(last_seq, last_version)) = reserved.get(id) else {
                let error = why_not(run, *id).await?;
                for &i in group {
                    answers[i] = Some(Err(clone_error(&error)));
                }
                continue;
            };
            let n = group.len() as i64;
            for (k, &i) in (1..).zip(group) {
                let (_, _, level, message, _) = &lines[i];
                let line = LogLine {
                    seq: last_seq - n + k,
                    version: last_version - n + k,
                    ts: now,
                    level: *level,
                    message: (d.text)(message),
                };
                new_lines.push((*id, line.clone()));
                answers[i] = Some(Ok(line));
            }
        }
        for chunk in new_lines.chunks(ROWS_PER_STATEMENT) {
            let mut insert =
                Statement::new(format!("INSERT INTO {} VALUES ", sql::INSERT_LOG_COLUMNS));
            insert.values(chunk, |row, (id, line)| {
                row.bind(id.to_string())
                    .bind(line.seq)
                    .bind(line.version)
                    .bind(line.ts.as_millis())
                    .bind(line.level.as_str())
                    .bind(line.message.clone());
            });
            run.execute(&insert).await?;
        }
        // Past the retention limit, each new line pushes out the oldest: one indexed range
        // delete per job, and only for jobs over the limit.
        for (id, (last_seq, _)) in &reserved {
            if *last_seq > keep {
                let mut trim = Statement::new(sql::TRIM_LOG);
                trim.args = vec![id.to_string().into(), (last_seq - keep).into()];
                run.execute(&trim).await?;
            }
        }
    }
    Ok(answers.into_iter().flatten().collect())
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
            EndKind::Complete => sql::complete_set(NOW, "u.result"),
            EndKind::Fail => sql::fail_set(NOW, "u.error", "u.details", "u.retry_at"),
            EndKind::Cancelled => sql::cancelled_set(NOW),
            EndKind::Requeue => sql::requeue_set(NOW),
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

async fn ends(
    run: &mut dyn Run,
    d: &Dialect,
    now: Timestamp,
    ends: &[(JobId, Author, End, Reply<Job>)],
) -> Result<Vec<Result<Job, StoreError>>, StoreError> {
    let mut answers: Vec<Option<Result<Job, StoreError>>> =
        std::iter::repeat_with(|| None).take(ends.len()).collect();
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
            let mut statement = with_values(d, now, &format!("ord, id, owner{}", kind.columns()));
            statement.values((1_i64..).zip(&round), |row, (ord, &i)| {
                let (id, author, end, _) = &ends[i];
                row.bind(ord)
                    .bind(id.to_string())
                    .bind(author.owner().map(d.text));
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
            });
            statement.push(format!(
                ") UPDATE jobs SET {set}, change_seq = {change} FROM u \
                 WHERE jobs.id = u.id AND {guard} {returning}",
                set = kind.set(),
                change = d.change,
                guard = kind.guard(),
                returning = d.returning,
            ));
            let mut updated = by_id(run.jobs(&statement).await?);
            for i in round {
                let id = ends[i].0;
                answers[i] = Some(match updated.remove(&id) {
                    Some(job) => Ok(job),
                    None => Err(why_not(run, id).await?),
                });
            }
        }
    }
    Ok(answers.into_iter().flatten().collect())
}

/// Claims by the same claimant for the same types are merged into one statement (workers
/// freed one by one each ask for one job; their claims meet in the batch), and its jobs handed
/// out in claim order, each claim taking up to its limit.
async fn claims(
    run: &mut dyn Run,
    d: &Dialect,
    now: Timestamp,
    claims: &[(ClaimRequest, Reply<Vec<Job>>)],
) -> Result<Vec<Result<Vec<Job>, StoreError>>, StoreError> {
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
    let mut answers: Vec<Option<Result<Vec<Job>, StoreError>>> =
        std::iter::repeat_with(|| None).take(claims.len()).collect();
    for (_, members) in groups {
        let merged = ClaimRequest {
            limit: members.iter().map(|&i| claims[i].0.limit).sum(),
            ..claims[members[0]].0.clone()
        };
        let mut jobs = run.jobs(&(d.claim)(&merged, now)).await?;
        jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
        let mut jobs = jobs.into_iter();
        for i in members {
            answers[i] = Some(Ok(jobs.by_ref().take(claims[i].0.limit).collect()));
        }
    }
    Ok(answers.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_keep_each_job_once_per_statement_and_in_order() {
        let id = |n: u128| {
            uuid::Uuid::from_u128(n)
                .to_string()
                .parse::<JobId>()
                .unwrap()
        };
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
        let sizes: Vec<usize> = rounds((0..600u128).collect(), |&n| {
            uuid::Uuid::from_u128(n)
                .to_string()
                .parse::<JobId>()
                .unwrap()
        })
        .iter()
        .map(Vec::len)
        .collect();
        assert_eq!(sizes, [256, 256, 88]);
    }
}
