//! The SQL both backends run, written once. sqlx binds SQLite's `$N` parameters by their number,
//! as PostgreSQL does, so one spelling serves both; the expressions here keep to what both
//! databases read alike (`CAST(.. AS ..)` rather than `::`, `CASE` rather than `MAX(a, b)` or
//! `GREATEST`, `TRUE`/`FALSE`). What truly differs stays with its backend: how a write takes its
//! change number (SQLite's `MAX + 1` under its one writer, PostgreSQL's sequence under a lock),
//! PostgreSQL's notifications and `SKIP LOCKED` claims, the JSON functions of the prune rules,
//! and SQLite's batched statements, which feed these same clauses from a `VALUES` table.
//!
//! Which statuses allow a write comes from [`Action`], never from a status spelled here.

use crate::job::{Action, JobStatus};

/// `column IN ('failed', ...)`: the statuses from which `action` applies. One status is
/// written `column = 'queued'`, the form the partial indexes name (`WHERE status = 'queued'`):
/// SQLite uses such an index only for a query that says the same, and would otherwise sort
/// every queued job of a type on each claim.
pub(super) fn status_allows(column: &str, action: Action) -> String {
    match action.allowed_from() {
        [one] => format!("{column} = {}", quoted(*one)),
        many => {
            let list: Vec<String> = many.iter().map(|status| quoted(*status)).collect();
            format!("{column} IN ({})", list.join(", "))
        }
    }
}

/// A status as an SQL string literal.
pub(super) fn quoted(status: JobStatus) -> String {
    format!("'{}'", status.as_str())
}

/// Who may write, for a write whose author is the expression `owner` (the runner's lease
/// owner, or NULL for outside code): outside code may change an unclaimed job as
/// [`Action::ReportExternal`] allows, a runner only a job it leases, as
/// [`Action::ReportLeased`] allows.
pub(super) fn writer_guard(owner: &str) -> String {
    format!(
        "(({owner} IS NULL AND {external} AND jobs.lease_owner IS NULL) \
          OR ({owner} IS NOT NULL AND {leased} AND jobs.lease_owner = {owner}))",
        external = status_allows("jobs.status", Action::ReportExternal),
        leased = status_allows("jobs.status", Action::ReportLeased),
    )
}

/// The SET items with which outside code's first report starts a queued job: `running`, the
/// attempt counted, `started_at` = `now`. A runner's report leaves them as they are.
pub(super) fn start_external(now: &str, owner: &str) -> String {
    let (queued, running) = (quoted(JobStatus::Queued), quoted(JobStatus::Running));
    format!(
        "status = CASE WHEN {owner} IS NULL THEN {running} ELSE jobs.status END, \
         started_at = CASE WHEN {owner} IS NULL AND jobs.status = {queued} \
             THEN {now} ELSE jobs.started_at END, \
         attempt = CASE WHEN {owner} IS NULL AND jobs.status = {queued} \
             THEN jobs.attempt + 1 ELSE jobs.attempt END"
    )
}

/// The SET item with which an accepted report by an external worker extends its lease by the
/// lease's length (`lease_ms`, set at claim; NULL for the runner, which renews its own).
pub(super) fn extend_worker_lease(now: &str, owner: &str) -> String {
    format!(
        "lease_expires_at = CASE WHEN {owner} IS NOT NULL AND jobs.lease_ms IS NOT NULL \
             THEN {now} + jobs.lease_ms ELSE jobs.lease_expires_at END"
    )
}

/// The SET items of a progress report; fields given as NULL keep their value. A parent's
/// progress (its family's, rolled up as its children move) does not go back.
pub(super) struct ProgressInputs<'a> {
    pub now: &'a str,
    pub owner: &'a str,
    pub progress: &'a str,
    pub message: &'a str,
    pub current: &'a str,
    pub total: &'a str,
    pub stage: &'a str,
}

pub(super) fn progress_set(i: &ProgressInputs<'_>) -> String {
    format!(
        "{start}, progress = CASE WHEN jobs.children > 0 AND jobs.progress > {progress} \
             THEN jobs.progress ELSE {progress} END, \
         message = COALESCE({message}, jobs.message), \
         current = COALESCE({current}, jobs.current), total = COALESCE({total}, jobs.total), \
         stage = COALESCE({stage}, jobs.stage), updated_at = {now}, {lease}, \
         version = jobs.version + 1, state_version = jobs.version + 1",
        start = start_external(i.now, i.owner),
        lease = extend_worker_lease(i.now, i.owner),
        progress = i.progress,
        message = i.message,
        current = i.current,
        total = i.total,
        stage = i.stage,
        now = i.now,
    )
}

/// The SET items that reserve `n` log lines on a job: `n` seqs and `n` versions (one more when
/// the first line starts a queued external job: the start takes its own version, one below the
/// first line's, so every stream event has a distinct id).
pub(super) fn reserve_log_lines(now: &str, owner: &str, n: &str) -> String {
    let queued = quoted(JobStatus::Queued);
    format!(
        "state_version = CASE WHEN {owner} IS NULL AND jobs.status = {queued} \
             THEN jobs.version + 1 ELSE jobs.state_version END, \
         version = jobs.version + {n} \
             + CASE WHEN {owner} IS NULL AND jobs.status = {queued} THEN 1 ELSE 0 END, \
         {start}, log_seq = jobs.log_seq + {n}, updated_at = {now}, {lease}",
        start = start_external(now, owner),
        lease = extend_worker_lease(now, owner),
    )
}

/// The SET items that give an ending attempt its version: one for the end, above `lines` log
/// lines written with it (their seqs reserved here too; see [`reserve_log_lines`]). The ends'
/// SET items below leave the version to this.
pub(super) fn end_version(lines: &str) -> String {
    format!(
        "log_seq = jobs.log_seq + {lines}, version = jobs.version + {lines} + 1, \
         state_version = jobs.version + {lines} + 1"
    )
}

/// The statuses of a job that has not ended.
const UNFINISHED: [JobStatus; 3] = [JobStatus::Queued, JobStatus::Running, JobStatus::Waiting];

/// [`UNFINISHED`], as a list of SQL literals.
pub(super) fn unfinished_list() -> String {
    let list: Vec<String> = UNFINISHED.iter().map(|s| quoted(*s)).collect();
    list.join(", ")
}

/// The expression of a completing job's next status: `waiting` when it made children in this
/// run or has unfinished ones, else `completed` (for [`complete_set`]).
fn completes_to() -> String {
    format!(
        "CASE WHEN jobs.awaiting_children OR (jobs.children > 0 AND EXISTS (SELECT 1 FROM jobs \
             kid WHERE kid.parent_id = jobs.id AND kid.status IN ({unfinished}))) \
         THEN {waiting} ELSE {completed} END",
        unfinished = unfinished_list(),
        waiting = quoted(JobStatus::Waiting),
        completed = quoted(JobStatus::Completed),
    )
}

/// The SET items that complete a job with `result` at `now` (or, for a parent whose children
/// are unfinished or were made in this run, make it `waiting`: see `batch/family/`), its
/// attempt having started at `started` (NULL: when it was claimed). The runner that held the
/// lease is kept in `runner`: a completed attempt's history is its row (see [`ATTEMPTS`]).
pub(super) fn complete_set(now: &str, started: &str, result: &str) -> String {
    format!(
        "status = {completes_to}, \
         progress = CASE WHEN {completes_to} = {completed} THEN 100 ELSE jobs.progress END, \
         result = {result}, error = NULL, details = NULL, \
         started_at = COALESCE({started}, jobs.started_at, {now}), {attempt_counted}, \
         finished_at = CASE WHEN {completes_to} = {completed} THEN {now} ELSE NULL END, \
         awaiting_children = FALSE, runner = CASE WHEN jobs.worker IS NULL \
             THEN jobs.lease_owner END, \
         updated_at = {now}, lease_owner = NULL, lease_expires_at = NULL",
        completes_to = completes_to(),
        completed = quoted(JobStatus::Completed),
        attempt_counted = ATTEMPT_COUNTED,
    )
}

/// A job ended without a claim (outside code completing or failing it at once) still counts
/// one attempt.
const ATTEMPT_COUNTED: &str = "attempt = CASE WHEN jobs.attempt > 1 THEN jobs.attempt ELSE 1 END";

/// The SET items of an attempt started at `started` (NULL: when it was claimed) that failed at
/// `now` with `error` and `details`, to be tried again at `retry_at` (NULL for never): queued
/// again while attempts remain, else failed.
pub(super) fn fail_set(
    now: &str,
    started: &str,
    error: &str,
    details: &str,
    retry_at: &str,
) -> String {
    let (queued, failed) = (quoted(JobStatus::Queued), quoted(JobStatus::Failed));
    let retry_at = format!("CAST({retry_at} AS BIGINT)");
    format!(
        "status = CASE WHEN {retry_at} IS NOT NULL AND jobs.attempt < jobs.max_attempts \
             THEN {queued} ELSE {failed} END, \
         finished_at = CASE WHEN {retry_at} IS NOT NULL \
             AND jobs.attempt < jobs.max_attempts THEN NULL ELSE {now} END, \
         run_at = COALESCE({retry_at}, jobs.run_at), \
         started_at = COALESCE({started}, jobs.started_at, {now}), {ATTEMPT_COUNTED}, \
         error = {error}, details = {details}, updated_at = {now}, lease_owner = NULL, \
         lease_expires_at = NULL"
    )
}

/// The SET items of a job cancelled at once, or stopped by its runner.
pub(super) fn cancelled_set(now: &str) -> String {
    format!(
        "status = {cancelled}, error = 'cancelled', finished_at = {now}, updated_at = {now}, \
         lease_owner = NULL, lease_expires_at = NULL",
        cancelled = quoted(JobStatus::Cancelled)
    )
}

/// A cancel that ends the job at once: a queued job, or with `$3` an unfinished external one.
pub(super) fn cancel_guard() -> String {
    format!(
        "({} OR ($3 AND {}))",
        status_allows("jobs.status", Action::Cancel),
        status_allows("jobs.status", Action::CancelExternal)
    )
}

/// Asks the runner to stop a running in-process job (`$1` = id). Not a change of the job's
/// state, so no version: the runner's stop is the change.
pub(super) fn request_cancel() -> String {
    format!(
        "UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND {} RETURNING *",
        status_allows("status", Action::RequestCancel)
    )
}

/// The SET items that put a job the lease holder could not finish back in the queue; the
/// interrupted attempt is not counted.
pub(super) fn requeue_set(now: &str) -> String {
    format!(
        "status = {queued}, attempt = CASE WHEN jobs.attempt > 0 THEN jobs.attempt - 1 ELSE 0 END, \
         run_at = {now}, progress = 0, message = NULL, current = NULL, total = NULL, \
         stage = NULL, updated_at = {now}, lease_owner = NULL, lease_expires_at = NULL",
        queued = quoted(JobStatus::Queued)
    )
}

/// The guard of the lease holder `owner`'s own writes to a running job.
pub(super) fn leased_guard(action: Action, owner: &str) -> String {
    format!(
        "{} AND jobs.lease_owner = {owner}",
        status_allows("jobs.status", action)
    )
}

/// The SET items of a retry with a fresh attempt budget (`$1` = now): everything of the last
/// attempt cleared, and one log line reserved for the note saying so (a version above the
/// state change's).
pub(super) fn retry_set() -> String {
    retry_set_at("$1")
}

/// [`retry_set`] at the time `now`.
pub(super) fn retry_set_at(now: &str) -> String {
    format!(
        "status = {queued}, attempt = 0, run_at = {now}, progress = 0, message = NULL, \
         current = NULL, total = NULL, stage = NULL, result = NULL, error = NULL, \
         details = NULL, started_at = NULL, finished_at = NULL, cancel_requested = FALSE, \
         lease_owner = NULL, lease_expires_at = NULL, worker = NULL, updated_at = {now}, \
         log_seq = jobs.log_seq + 1, version = jobs.version + 2, state_version = jobs.version + 1",
        queued = quoted(JobStatus::Queued)
    )
}

/// The log line a retry leaves in the job's log.
pub(super) const RETRY_NOTE: &str = "retried on request with a fresh attempt budget";

/// The inputs of a claim, as expressions: when, for whom, until when, and for an external
/// worker its name and lease length in ms (both NULL for the runner).
pub(super) struct ClaimInputs<'a> {
    pub now: &'a str,
    pub owner: &'a str,
    pub expires: &'a str,
    pub worker: &'a str,
    pub lease_ms: &'a str,
}

/// The SET items of a claim.
pub(super) fn claim_set(i: &ClaimInputs<'_>) -> String {
    format!(
        "status = {running}, attempt = jobs.attempt + 1, started_at = {now}, error = NULL, \
         details = NULL, updated_at = {now}, lease_owner = {owner}, lease_expires_at = {expires}, \
         worker = {worker}, lease_ms = {lease_ms}, \
         version = jobs.version + 1, state_version = jobs.version + 1",
        running = quoted(JobStatus::Running),
        now = i.now,
        owner = i.owner,
        expires = i.expires,
        worker = i.worker,
        lease_ms = i.lease_ms,
    )
}

/// The jobs a claim made at `now` may take, before the type filter and the order.
pub(super) fn claimable(table: &str, now: &str) -> String {
    format!(
        "{} AND {table}.run_at <= {now}",
        status_allows(&format!("{table}.status"), Action::Claim)
    )
}

/// True while the job type `type_expr` names is not paused: a claim leaves a paused type's
/// queued jobs where they are. Each claim checks it once per type, not once per job (see the
/// claim statements), so a paused type with a long queue costs a claim nothing.
pub(super) fn not_paused(type_expr: &str) -> String {
    format!("NOT EXISTS (SELECT 1 FROM paused_types WHERE paused_types.type = {type_expr})")
}

/// The order claims take jobs in: highest priority first, then oldest.
pub(super) const CLAIM_ORDER: &str = "priority DESC, id";

/// Attempts whose lease expired before `$1` (= now).
pub(super) fn lease_expired(table: &str) -> String {
    format!(
        "{} AND {table}.lease_expires_at IS NOT NULL AND {table}.lease_expires_at < $1",
        status_allows(&format!("{table}.status"), Action::Recover)
    )
}

/// The SET items that end an expired attempt (`$1` = now): cancelled if a cancel was pending,
/// queued again while attempts remain, failed as interrupted once they are used up.
pub(super) fn recover_set() -> String {
    let (queued, failed, cancelled) = (
        quoted(JobStatus::Queued),
        quoted(JobStatus::Failed),
        quoted(JobStatus::Cancelled),
    );
    format!(
        "status = CASE WHEN jobs.cancel_requested THEN {cancelled} \
             WHEN jobs.attempt < jobs.max_attempts THEN {queued} ELSE {failed} END, \
         error = CASE WHEN jobs.cancel_requested THEN 'cancelled' \
             ELSE 'interrupted: the worker running this job stopped and its lease expired' END, \
         finished_at = CASE WHEN NOT jobs.cancel_requested \
             AND jobs.attempt < jobs.max_attempts THEN NULL ELSE $1 END, \
         run_at = $1, progress = CASE WHEN jobs.cancel_requested THEN jobs.progress ELSE 0 END, \
         updated_at = $1, lease_owner = NULL, lease_expires_at = NULL, \
         version = jobs.version + 1, state_version = jobs.version + 1"
    )
}

/// The jobs `$2` holds leases on that are still running, for renewals.
pub(super) fn leases_of_owner() -> String {
    format!(
        "lease_owner = $2 AND {}",
        status_allows("status", Action::ReportLeased)
    )
}

/// Whether job `j` may be pruned, given the backend's `cutoff` expression for its finish time
/// (a per-type cutoff from `$2`, else `$3`) and `$4` (only this type, or NULL). Finished jobs
/// only; the job changed last is never pruned, so the newest change number never goes back
/// (a poller with nothing to watch puts its mark there).
///
/// Families go together, and never leave an orphan: a parent only once its children are gone,
/// and a child only once its parent is gone or may be pruned too (finished, past its type's
/// cutoff). So a family's children go first, then (in the next batch) the parent, and the API
/// never shows a child whose parent is gone.
pub(super) fn prunable(status: &str, cutoff: &str) -> String {
    let parent_cutoff = cutoff.replace("j.type", "fam.type");
    format!(
        "{} AND j.finished_at < {cutoff} AND (CAST($4 AS TEXT) IS NULL OR j.type = $4) \
         AND j.change_seq < (SELECT MAX(change_seq) FROM jobs) \
         AND (j.children = 0 OR NOT EXISTS (SELECT 1 FROM jobs kid WHERE kid.parent_id = j.id)) \
         AND (j.parent_id IS NULL OR NOT EXISTS (SELECT 1 FROM jobs fam \
             WHERE fam.id = j.parent_id \
                 AND NOT ({fam_finished} AND fam.finished_at < {parent_cutoff})))",
        status_allows(status, Action::Prune),
        fam_finished = status_allows("fam.status", Action::Prune),
    )
}

/// Up to `$5` prunable jobs (see [`prunable`]), oldest finished first; `$1` bounds the scan.
pub(super) fn prunable_jobs(prunable: &str) -> String {
    format!(
        "SELECT j.id FROM jobs j WHERE j.finished_at < $1 AND {prunable} \
         ORDER BY j.finished_at LIMIT $5"
    )
}

/// How many jobs, and log lines of theirs, the rule would prune.
pub(super) fn count_prunable(prunable: &str) -> String {
    format!(
        "SELECT COUNT(*) AS jobs, \
             CAST(COALESCE(SUM((SELECT COUNT(*) FROM job_logs l WHERE l.job_id = j.id)), 0) \
                 AS BIGINT) AS lines \
         FROM jobs j WHERE j.finished_at < $1 AND {prunable}"
    )
}

/// At most `$5` log lines of the jobs in `ids` (the backend's list of `$1`) that are still
/// prunable.
pub(super) fn delete_prunable_logs(ids: &str, prunable: &str) -> String {
    format!(
        "DELETE FROM job_logs WHERE (job_id, seq) IN ( \
             SELECT l.job_id, l.seq FROM jobs j JOIN job_logs l ON l.job_id = j.id \
             WHERE {ids} AND {prunable} LIMIT $5)"
    )
}

/// The jobs in `ids` that are still prunable and have no log lines left; with `lock` (a `WITH`
/// list naming `change_lock`), taken first.
pub(super) fn delete_prunable_jobs(ids: &str, prunable: &str, lock: Option<&str>) -> String {
    let (with, using) = match lock {
        Some(lock) => (lock, "USING change_lock "),
        None => ("", ""),
    };
    format!(
        "{with} DELETE FROM jobs AS j {using}WHERE {ids} AND {prunable} \
             AND NOT EXISTS (SELECT 1 FROM job_logs l WHERE l.job_id = j.id)"
    )
}

/// `text` as a `LIKE ... ESCAPE '\\'` pattern that matches it literally: its `%`, `_` and `\\`
/// escaped.
pub(super) fn like_literal(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

/// The condition of a list's text search (see `ListFilter::q`), with `like` the backend's
/// case-insensitive `LIKE` and `$prefix`, `$part` the numbers of the bound patterns: the id
/// starting with the text, or the idempotency key or the error containing it.
pub(super) fn text_search(like: &str, prefix: usize, part: usize) -> String {
    format!(
        "(id {like} ${prefix} ESCAPE '\\' OR idempotency_key {like} ${part} ESCAPE '\\' \
         OR error {like} ${part} ESCAPE '\\')"
    )
}

pub(super) const GET_JOB: &str = "SELECT * FROM jobs WHERE id = $1";
/// The children of `$1` with ids above `$2` ('' for all), oldest first, at most `$3`.
pub(super) const CHILDREN: &str =
    "SELECT * FROM jobs WHERE parent_id = $1 AND id > $2 ORDER BY id LIMIT $3";
/// The children of `$1` whose status or progress changed after the parent's version `$2` up to
/// `$3` (their `family_version`), in that order: the `child` events of the parent's stream.
pub(super) const CHILDREN_CHANGED: &str = "SELECT * FROM jobs WHERE parent_id = $1 \
     AND parent_id IS NOT NULL AND family_version > $2 AND family_version <= $3 \
     ORDER BY family_version";

/// The ended attempts of job `$1`, oldest first: the rows of `job_attempts`, and a completed
/// job's last attempt from its own row (a completion writes no attempt row; see migration
/// 0010 / 0008), unless a row from before that migration holds it.
pub(super) const ATTEMPTS: &str = "SELECT attempt, started_at, finished_at, outcome, error, \
     details, worker, runner FROM ( \
         SELECT version, attempt, started_at, finished_at, outcome, error, details, worker, \
             runner FROM job_attempts WHERE job_id = $1 \
         UNION ALL \
         SELECT version, attempt, started_at, finished_at, 'completed', NULL, NULL, worker, \
             runner FROM jobs WHERE id = $1 AND status = 'completed' AND NOT EXISTS ( \
                 SELECT 1 FROM job_attempts \
                 WHERE job_attempts.job_id = $1 AND job_attempts.outcome = 'completed') \
     ) AS attempts ORDER BY version";
/// A job's status alone: why a guarded write matched nothing.
pub(super) const STATUS_OF: &str = "SELECT status FROM jobs WHERE id = $1";
pub(super) const BY_IDEMPOTENCY_KEY: &str =
    "SELECT * FROM jobs WHERE type = $1 AND idempotency_key = $2";
pub(super) const MAX_CHANGE_SEQ: &str = "SELECT COALESCE(MAX(change_seq), 0) AS seq FROM jobs";
pub(super) const CHANGES_SINCE: &str = "SELECT id, version, change_seq FROM jobs \
     WHERE change_seq > $1 ORDER BY change_seq LIMIT $2";
pub(super) const LOGS_AFTER_SEQ: &str =
    "SELECT * FROM job_logs WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
pub(super) const LOGS_BETWEEN_VERSIONS: &str = "SELECT * FROM job_logs \
     WHERE job_id = $1 AND version > $2 AND version <= $3 ORDER BY seq";
pub(super) const INSERT_UPLOAD: &str =
    "INSERT INTO uploads (id, size, sha256, content_type, filename, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
pub(super) const GET_UPLOAD: &str = "SELECT * FROM uploads WHERE id = $1";
pub(super) const DELETE_UNUSED_UPLOADS: &str = "DELETE FROM uploads WHERE created_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.upload_id = uploads.id) RETURNING id";
/// The newest migration applied.
pub(super) const APPLIED_MIGRATION: &str =
    "SELECT MAX(version) FROM _sqlx_migrations WHERE success";
pub(super) const PING: &str = "SELECT 1";
/// The columns of a new job, in the order both backends insert them.
pub(super) const NEW_JOB_COLUMNS: &str = "id, type, status, payload, priority, max_attempts, \
     timeout_ms, idempotency_key, run_at, created_at, updated_at, change_seq, upload_id";
/// Where a create with an idempotency key already used for the type inserts nothing.
pub(super) const ON_KEY_TAKEN: &str =
    "ON CONFLICT (type, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING";
pub(super) const INSERT_LOG_COLUMNS: &str = "job_logs (job_id, seq, version, ts, level, message)";

/// Jobs by type and status, and each type's earliest due queued job (`oldest`, for `$1` = now):
/// queued jobs counted from the queue index (which carries `run_at`), running and waiting ones
/// from the status index, finished ones read from `job_counts`, which triggers keep (see the migration
/// `control`). So a count costs the unfinished jobs, not every job stored.
pub(super) fn type_counts() -> String {
    let (queued, running) = (quoted(JobStatus::Queued), quoted(JobStatus::Running));
    let waiting = quoted(JobStatus::Waiting);
    format!(
        "SELECT type, {queued} AS status, COUNT(*) AS n, \
             MIN(CASE WHEN run_at <= $1 THEN run_at END) AS oldest \
         FROM jobs WHERE status = {queued} GROUP BY type \
         UNION ALL SELECT type, {running} AS status, COUNT(*) AS n, CAST(NULL AS BIGINT) AS oldest \
         FROM jobs WHERE status = {running} GROUP BY type \
         UNION ALL SELECT type, {waiting} AS status, COUNT(*) AS n, CAST(NULL AS BIGINT) AS oldest \
         FROM jobs WHERE status = {waiting} GROUP BY type \
         UNION ALL SELECT type, status, n, CAST(NULL AS BIGINT) AS oldest \
         FROM job_counts WHERE n <> 0"
    )
}

/// Jobs finished and jobs failed per type and minute since second `$1` (an hour ago): minute 0
/// starts at `$1`; the current second falls in minute 60 (the caller adds it to 59, so the
/// last minute is the last 60 seconds, to the second).
pub(super) const FINISHED_PER_MINUTE: &str = "SELECT type, \
     CAST((at - $1) / 60 AS BIGINT) AS minute, CAST(SUM(n) AS BIGINT) AS n, \
     CAST(SUM(failed) AS BIGINT) AS failed FROM job_finishes WHERE at >= $1 \
     GROUP BY type, CAST((at - $1) / 60 AS BIGINT)";
/// Forgets per-second finish counts before second `$1`.
pub(super) const FORGET_FINISHES: &str = "DELETE FROM job_finishes WHERE at < $1";

pub(super) const PAUSED_TYPES: &str = "SELECT type, paused_at FROM paused_types ORDER BY type";

/// Pauses type `$1` from `$2` on (a paused type keeps its first pause time), its row made
/// `from` the backend's source (PostgreSQL's change lock); returns the pause time.
pub(super) fn pause_type(from: &str) -> String {
    format!(
        "INSERT INTO paused_types (type, paused_at) SELECT $1, CAST($2 AS BIGINT) {from} \
         ON CONFLICT (type) DO UPDATE SET paused_at = paused_types.paused_at RETURNING paused_at"
    )
}

/// The columns of a schedule's state.
const SCHEDULE_COLUMNS: &str = "name, paused, last_run_at, last_job_id, run_count";

pub(super) fn schedule_states() -> String {
    format!("SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY name")
}

/// Pauses (`$2` true) or resumes schedule `$1` at `$3`.
pub(super) fn set_schedule_paused() -> String {
    format!(
        "INSERT INTO schedules (name, paused, run_count, updated_at) VALUES ($1, $2, 0, $3) \
         ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, \
             updated_at = excluded.updated_at \
         RETURNING {SCHEDULE_COLUMNS}"
    )
}

/// Records a run of schedule `$1` at `$2` that made job `$3` (at `$4`): a tick is recorded once,
/// by whichever node comes first (a run at or after it already recorded leaves the row as it
/// is, and nothing is returned); with `manual`, a trigger, every call counts.
pub(super) fn record_schedule_run(manual: bool) -> String {
    let newer = "(schedules.last_run_at IS NULL OR schedules.last_run_at < excluded.last_run_at)";
    format!(
        "INSERT INTO schedules (name, paused, last_run_at, last_job_id, run_count, updated_at) \
         VALUES ($1, FALSE, $2, $3, 1, $4) \
         ON CONFLICT (name) DO UPDATE SET \
             last_run_at = CASE WHEN {newer} THEN excluded.last_run_at \
                 ELSE schedules.last_run_at END, \
             last_job_id = CASE WHEN {newer} THEN excluded.last_job_id \
                 ELSE schedules.last_job_id END, \
             run_count = schedules.run_count + 1, updated_at = excluded.updated_at \
         {guard} RETURNING name",
        guard = if manual {
            String::new()
        } else {
            format!("WHERE {newer}")
        },
    )
}

/// The SET items of a bulk action (`now`: its time; a retry's note takes the line its SET
/// items reserve), the version and change number left to the backend.
pub(super) fn bulk_set(action: super::BulkAction, now: &str) -> String {
    use super::BulkAction;
    match action {
        BulkAction::Cancel | BulkAction::CancelExternal => {
            format!("{}, {}", cancelled_set(now), end_version("0"))
        }
        BulkAction::RequestCancel => "cancel_requested = TRUE".to_owned(),
        BulkAction::Retry => retry_set_at(now),
    }
}

/// The statuses that are counted as queued, for the queue-depth limit.
pub(super) fn count_queued() -> String {
    format!(
        "SELECT COUNT(*) AS n FROM jobs WHERE status = {} AND type = $1",
        quoted(JobStatus::Queued)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_name_the_statuses_the_state_machine_allows() {
        assert_eq!(
            status_allows("jobs.status", Action::Retry),
            "jobs.status IN ('failed', 'cancelled')"
        );
        assert_eq!(status_allows("status", Action::Claim), "status = 'queued'");
        let guard = writer_guard("$3");
        assert!(
            guard.contains("jobs.status IN ('queued', 'running')"),
            "{guard}"
        );
        assert!(guard.contains("jobs.status = 'running'"), "{guard}");
    }

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(like_literal("a%b_c\\d"), "a\\%b\\_c\\\\d");
        assert_eq!(like_literal("plain"), "plain");
    }
}
