-- Parent and child jobs (issue 18): a `waiting` status (a parent whose handler returned while
-- its children run: no worker slot, no lease), and per job
--
-- * parent_id: the job that made this one (NULL for a top-level job);
-- * depth: 0 for a top-level job, the parent's + 1 for a child (the depth limit);
-- * children: how many children it has made (the children-per-parent limit; > 0 marks a
--   parent, so ends of ordinary jobs cost nothing more);
-- * fail_fast: the parent's policy: a failed child fails it and cancels the rest (1), or it
--   waits for all and decides (0);
-- * awaiting_children: it made children in its current run, so its handler's return makes it
--   `waiting` rather than `completed`.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt
-- (https://sqlite.org/lang_altertable.html#otheralter). Foreign keys cannot be turned off
-- inside the migration's transaction (and renaming a table rewrites the references to it), so
-- the log lines are set aside first, their table rebuilt after the jobs' one.

CREATE TABLE job_logs_kept AS SELECT * FROM job_logs;
DROP TABLE job_logs;

ALTER TABLE jobs RENAME TO jobs_before_families;

CREATE TABLE jobs (
    id              TEXT    PRIMARY KEY NOT NULL,
    type            TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'waiting', 'completed', 'failed', 'cancelled')),
    progress        REAL    NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 100),
    message         TEXT,
    current         INTEGER,
    total           INTEGER,
    stage           TEXT,
    payload         TEXT    NOT NULL DEFAULT 'null',
    result          TEXT,
    error           TEXT,
    details         TEXT,
    priority        INTEGER NOT NULL DEFAULT 0,
    attempt         INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL DEFAULT 1,
    timeout_ms      INTEGER,
    idempotency_key TEXT,
    run_at          INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER,
    updated_at      INTEGER NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1,
    state_version   INTEGER NOT NULL DEFAULT 1,
    log_seq         INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_expires_at INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    change_seq      INTEGER NOT NULL DEFAULT 0,
    worker          TEXT,
    lease_ms        INTEGER,
    upload_id       TEXT REFERENCES uploads (id) ON DELETE SET NULL,
    parent_id       TEXT,
    depth           INTEGER NOT NULL DEFAULT 0,
    children        INTEGER NOT NULL DEFAULT 0,
    fail_fast       INTEGER NOT NULL DEFAULT 1,
    awaiting_children INTEGER NOT NULL DEFAULT 0
);

INSERT INTO jobs (id, type, status, progress, message, current, total, stage, payload,
        result, error, details, priority, attempt, max_attempts, timeout_ms, idempotency_key,
        run_at, created_at, started_at, finished_at, updated_at, version, state_version,
        log_seq, lease_owner, lease_expires_at, cancel_requested, change_seq, worker, lease_ms,
        upload_id)
    SELECT id, type, status, progress, message, current, total, stage, payload, result, error,
        details, priority, attempt, max_attempts, timeout_ms, idempotency_key, run_at,
        created_at, started_at, finished_at, updated_at, version, state_version, log_seq,
        lease_owner, lease_expires_at, cancel_requested, change_seq, worker, lease_ms, upload_id
    FROM jobs_before_families;

-- Its counters' triggers first: their names are the new table's.
DROP TRIGGER jobs_count_insert;
DROP TRIGGER jobs_count_update;
DROP TRIGGER jobs_count_delete;
DROP TABLE jobs_before_families;

CREATE TABLE job_logs (
    job_id   TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,   -- 1, 2, 3... per job
    version  INTEGER NOT NULL,   -- the job's version once this line was added
    ts       INTEGER NOT NULL,
    level    TEXT    NOT NULL CHECK (level IN ('info', 'warning', 'error', 'success')),
    message  TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
INSERT INTO job_logs (job_id, seq, version, ts, level, message)
    SELECT job_id, seq, version, ts, level, message FROM job_logs_kept;
DROP TABLE job_logs_kept;

CREATE UNIQUE INDEX jobs_idempotency ON jobs (type, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_queue ON jobs (type, priority DESC, id, run_at) WHERE status = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'running' AND lease_expires_at IS NOT NULL;
CREATE INDEX jobs_change_seq ON jobs (change_seq);
CREATE INDEX jobs_status_id ON jobs (status, id);
CREATE INDEX jobs_type_id ON jobs (type, id);
CREATE INDEX jobs_upload ON jobs (upload_id) WHERE upload_id IS NOT NULL;
CREATE INDEX jobs_finished_at ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_parent ON jobs (parent_id, id) WHERE parent_id IS NOT NULL;
CREATE INDEX jobs_waiting ON jobs (type) WHERE status = 'waiting';

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
