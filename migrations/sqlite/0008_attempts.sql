-- Attempt history (issue 20): one row per ended attempt of a job, oldest first, so the
-- dashboard can show every attempt with its start, end, outcome, error and who ran it. A job
-- row keeps only its current attempt; this table keeps them all until the job is deleted.
--
-- The rows are written by the trigger below, in the statement that ends the attempt, whatever
-- ended it: the group-commit writer's ends (runner and external workers), lease recovery, a
-- cancel of a running external job, a bulk cancel, a fail-fast parent cancelling its children.
-- An attempt ends when a job leaves `running` (or, for outside code that ends a queued job at
-- once, when it goes from `queued` to `completed` or `failed`). Its outcome:
--
-- * completed, failed, cancelled: the job's new status;
-- * retried: failed (or its lease expired) with attempts left, queued again;
-- * requeued: its runner could not finish it (a shutdown), queued again, the attempt not
--   counted (the next attempt has the same number);
-- * waiting: a parent whose handler returned while its children run; it runs again, with the
--   same attempt number, once they have ended.
--
-- `attempt` is the job's attempt counter as it was during the attempt; a manual retry starts it
-- again from 1, so numbers may repeat: `version`, the job's version once the attempt ended (every
-- change raises it, and it never goes back), orders them and keys the row, so the table is one
-- B-tree clustered by job, with no index besides (an end costs one more row write). `worker` is the external worker's
-- name, `runner` the in-process runner that held the lease (both NULL for outside code). An
-- external worker's lease owner is the secret its updates prove the lease with
-- (`Jobcast-Lease`): it is never kept here. The rows go with their job (ON DELETE CASCADE;
-- SQLite's foreign keys are on).

CREATE TABLE job_attempts (
    job_id       TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,   -- the job's version once the attempt ended
    attempt      INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER NOT NULL,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('completed', 'failed', 'retried', 'cancelled', 'requeued', 'waiting')),
    error        TEXT,
    details      TEXT,               -- JSON
    worker       TEXT,
    runner       TEXT,
    PRIMARY KEY (job_id, version)
) WITHOUT ROWID;

CREATE TRIGGER jobs_attempt_end AFTER UPDATE OF status ON jobs
WHEN (OLD.status = 'running' AND NEW.status <> 'running')
    OR (OLD.status = 'queued' AND NEW.status IN ('completed', 'failed'))
BEGIN
    INSERT OR IGNORE INTO job_attempts (job_id, version, attempt, started_at, finished_at,
            outcome, error, details, worker, runner)
    VALUES (NEW.id, NEW.version,
        CASE WHEN OLD.status = 'running' THEN OLD.attempt ELSE NEW.attempt END,
        NEW.started_at,
        NEW.updated_at,
        CASE WHEN NEW.status IN ('completed', 'failed', 'cancelled', 'waiting') THEN NEW.status
            WHEN NEW.attempt < OLD.attempt THEN 'requeued'
            ELSE 'retried' END,
        CASE WHEN NEW.status IN ('completed', 'waiting') THEN NULL ELSE NEW.error END,
        CASE WHEN NEW.status IN ('completed', 'waiting') THEN NULL ELSE NEW.details END,
        OLD.worker,
        CASE WHEN OLD.worker IS NULL THEN OLD.lease_owner END);
END;
