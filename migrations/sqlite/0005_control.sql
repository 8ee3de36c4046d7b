-- Scheduling and control: paused job types, periodic schedules' state, and what the types
-- overview (GET /api/types) reads instead of counting a million rows.
--
-- * paused_types: a row while a type is paused. The claim statements leave out queued jobs of
--   these types, so no runner and no worker on any node takes them.
-- * schedules: each declared schedule's state, shared by every node: paused, its last run (the
--   tick, in ms), that run's job and how many runs it has made.
-- * job_counts: how many jobs of each type are completed, failed or cancelled, kept by the
--   triggers below as jobs enter and leave those statuses (queued and running jobs are few and
--   counted live from their indexes).
-- * job_finishes: jobs that finished, per type and second (throughput over the last minute and
--   hour); rows older than two hours are deleted by the control task.

CREATE TABLE paused_types (
    type       TEXT    PRIMARY KEY NOT NULL,
    paused_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE schedules (
    name        TEXT    PRIMARY KEY NOT NULL,
    paused      INTEGER NOT NULL DEFAULT 0,
    last_run_at INTEGER,             -- the tick of the last run (ms), or a manual trigger's time
    last_job_id TEXT,
    run_count   INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE job_counts (
    type    TEXT    NOT NULL,
    status  TEXT    NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (type, status)
) WITHOUT ROWID;

CREATE TABLE job_finishes (
    at    INTEGER NOT NULL,          -- finished_at in whole seconds
    type  TEXT    NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (at, type)
) WITHOUT ROWID;

INSERT INTO job_counts (type, status, n)
    SELECT type, status, COUNT(*) FROM jobs
    WHERE status IN ('completed', 'failed', 'cancelled') GROUP BY type, status;
INSERT INTO job_finishes (at, type, n)
    SELECT finished_at / 1000, type, COUNT(*) FROM jobs
    WHERE finished_at IS NOT NULL
        AND finished_at >= (CAST(strftime('%s', 'now') AS INTEGER) - 7200) * 1000
    GROUP BY finished_at / 1000, type;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs
WHEN NEW.status IN ('completed', 'failed', 'cancelled')
BEGIN
    INSERT INTO job_counts (type, status, n) VALUES (NEW.type, NEW.status, 1)
        ON CONFLICT (type, status) DO UPDATE SET n = n + 1;
    INSERT INTO job_finishes (at, type, n)
        VALUES (COALESCE(NEW.finished_at, NEW.updated_at) / 1000, NEW.type, 1)
        ON CONFLICT (at, type) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs
WHEN OLD.status <> NEW.status
    AND (OLD.status IN ('completed', 'failed', 'cancelled')
        OR NEW.status IN ('completed', 'failed', 'cancelled'))
BEGIN
    UPDATE job_counts SET n = n - 1
        WHERE type = OLD.type AND status = OLD.status
            AND OLD.status IN ('completed', 'failed', 'cancelled');
    INSERT INTO job_counts (type, status, n)
        SELECT NEW.type, NEW.status, 1 WHERE NEW.status IN ('completed', 'failed', 'cancelled')
        ON CONFLICT (type, status) DO UPDATE SET n = n + 1;
    INSERT INTO job_finishes (at, type, n)
        SELECT COALESCE(NEW.finished_at, NEW.updated_at) / 1000, NEW.type, 1
        WHERE NEW.status IN ('completed', 'failed', 'cancelled')
        ON CONFLICT (at, type) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
WHEN OLD.status IN ('completed', 'failed', 'cancelled')
BEGIN
    UPDATE job_counts SET n = n - 1 WHERE type = OLD.type AND status = OLD.status;
END;

-- The claim order's index, carrying run_at too: the overview reads the oldest due queued job of
-- each type from it without touching the table (claims walk it as before).
DROP INDEX jobs_queue;
CREATE INDEX jobs_queue ON jobs (type, priority DESC, id, run_at) WHERE status = 'queued';
