-- A completed attempt is kept on its job row, not copied into job_attempts.
--
-- A completed job never changes again (it cannot be retried), so its last attempt is its row:
-- attempt, started_at, finished_at and worker are there already. Only the runner that held
-- the lease was cleared with it; the completing update now keeps it in `runner` (the lease
-- owner when the attempt had no external worker, as job_attempts.runner). Reading a job's
-- attempts adds that one from the row (store/sql.rs, ATTEMPTS), so the history is what it
-- was, and the most frequent end, a completion, writes one row instead of two (the second
-- B-tree's insert cost an end about 10 % more CPU; see docs/benchmarks.md).
--
-- Rows of completions written before this migration stay; the read adds no second one.

ALTER TABLE jobs ADD COLUMN runner TEXT;

DROP TRIGGER jobs_attempt_end;

CREATE TRIGGER jobs_attempt_end AFTER UPDATE OF status ON jobs
WHEN (OLD.status = 'running' AND NEW.status NOT IN ('running', 'completed'))
    OR (OLD.status = 'queued' AND NEW.status = 'failed')
BEGIN
    INSERT OR IGNORE INTO job_attempts (job_id, version, attempt, started_at, finished_at,
            outcome, error, details, worker, runner)
    VALUES (NEW.id, NEW.version,
        CASE WHEN OLD.status = 'running' THEN OLD.attempt ELSE NEW.attempt END,
        NEW.started_at,
        NEW.updated_at,
        CASE WHEN NEW.status IN ('failed', 'cancelled', 'waiting') THEN NEW.status
            WHEN NEW.attempt < OLD.attempt THEN 'requeued'
            ELSE 'retried' END,
        CASE WHEN NEW.status = 'waiting' THEN NULL ELSE NEW.error END,
        CASE WHEN NEW.status = 'waiting' THEN NULL ELSE NEW.details END,
        OLD.worker,
        CASE WHEN OLD.worker IS NULL THEN OLD.lease_owner END);
END;
