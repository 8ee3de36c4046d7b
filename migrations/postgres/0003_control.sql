-- Scheduling and control, as migrations/sqlite/0005_control.sql (which says what each table is
-- for): paused types, schedules' state, finished jobs counted per type and status, and
-- finishes per type and second.
--
-- The counters are kept by row triggers. Every statement that changes a job's status or
-- deletes a job holds the change lock (see src/store/postgres/mod.rs), so counter rows are only
-- ever written one transaction at a time and can never deadlock. The table is locked while the
-- counters are filled, so no write by a node still running the previous version slips between
-- the count and the triggers.

LOCK TABLE jobs IN EXCLUSIVE MODE;

CREATE TABLE paused_types (
    type       TEXT   PRIMARY KEY,
    paused_at  BIGINT NOT NULL
);

CREATE TABLE schedules (
    name        TEXT    PRIMARY KEY,
    paused      BOOLEAN NOT NULL DEFAULT FALSE,
    last_run_at BIGINT,              -- the tick of the last run (ms), or a manual trigger's time
    last_job_id TEXT,
    run_count   BIGINT  NOT NULL DEFAULT 0,
    updated_at  BIGINT  NOT NULL
);

CREATE TABLE job_counts (
    type    TEXT   NOT NULL,
    status  TEXT   NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (type, status)
);

CREATE TABLE job_finishes (
    at    BIGINT NOT NULL,           -- finished_at in whole seconds
    type  TEXT   NOT NULL,
    n     BIGINT NOT NULL,
    PRIMARY KEY (at, type)
);

INSERT INTO job_counts (type, status, n)
    SELECT type, status, COUNT(*) FROM jobs
    WHERE status IN ('completed', 'failed', 'cancelled') GROUP BY type, status;
INSERT INTO job_finishes (at, type, n)
    SELECT finished_at / 1000, type, COUNT(*) FROM jobs
    WHERE finished_at IS NOT NULL
        AND finished_at >= (CAST(EXTRACT(EPOCH FROM now()) AS BIGINT) - 7200) * 1000
    GROUP BY finished_at / 1000, type;

CREATE FUNCTION jobcast_count_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ('completed', 'failed', 'cancelled') THEN
        UPDATE job_counts SET n = n - 1 WHERE type = OLD.type AND status = OLD.status;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status IN ('completed', 'failed', 'cancelled') THEN
        INSERT INTO job_counts (type, status, n) VALUES (NEW.type, NEW.status, 1)
            ON CONFLICT (type, status) DO UPDATE SET n = job_counts.n + 1;
        INSERT INTO job_finishes (at, type, n)
            VALUES (COALESCE(NEW.finished_at, NEW.updated_at) / 1000, NEW.type, 1)
            ON CONFLICT (at, type) DO UPDATE SET n = job_finishes.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs FOR EACH ROW
    WHEN (NEW.status IN ('completed', 'failed', 'cancelled'))
    EXECUTE FUNCTION jobcast_count_finished();
CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
        AND (OLD.status IN ('completed', 'failed', 'cancelled')
            OR NEW.status IN ('completed', 'failed', 'cancelled')))
    EXECUTE FUNCTION jobcast_count_finished();
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs FOR EACH ROW
    WHEN (OLD.status IN ('completed', 'failed', 'cancelled'))
    EXECUTE FUNCTION jobcast_count_finished();

-- The claim order's index, carrying run_at too (see the SQLite migration).
DROP INDEX jobs_queue;
CREATE INDEX jobs_queue ON jobs (type, priority DESC, id) INCLUDE (run_at) WHERE status = 'queued';
