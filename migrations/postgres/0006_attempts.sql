-- Attempt history (issue 20), as migrations/sqlite/0008_attempts.sql (which says what each
-- column is for and when a row is written): one row per ended attempt, written by a row
-- trigger in the statement that ends it, keyed and ordered by the job's version once it ended.

CREATE TABLE job_attempts (
    job_id       TEXT COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    version      BIGINT NOT NULL,    -- the job's version once the attempt ended
    attempt      BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT NOT NULL,
    outcome      TEXT   NOT NULL CHECK (outcome IN ('completed', 'failed', 'retried', 'cancelled', 'requeued', 'waiting')),
    error        TEXT,
    details      TEXT,               -- JSON
    worker       TEXT,
    runner       TEXT,
    PRIMARY KEY (job_id, version)
);

CREATE FUNCTION jobcast_attempt_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_attempts (job_id, version, attempt, started_at, finished_at, outcome,
            error, details, worker, runner)
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
        CASE WHEN OLD.worker IS NULL THEN OLD.lease_owner END)
    ON CONFLICT (job_id, version) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_attempt_end AFTER UPDATE OF status ON jobs FOR EACH ROW
    WHEN ((OLD.status = 'running' AND NEW.status <> 'running')
        OR (OLD.status = 'queued' AND NEW.status IN ('completed', 'failed')))
    EXECUTE FUNCTION jobcast_attempt_ended();
