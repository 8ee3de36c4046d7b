-- Jobs and their log lines.
--
-- Times are integer milliseconds since the Unix epoch (UTC); the API formats them as RFC 3339.
-- `version` grows by one on every change to a job, its log lines included; `state_version` is
-- the version at which the job's status or progress fields last changed. The SSE stream uses
-- both as event ids, so a reconnecting client can ask for "everything after version N".

CREATE TABLE jobs (
    id              TEXT    PRIMARY KEY NOT NULL,     -- UUID v7: sorts by creation time
    type            TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    progress        REAL    NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 100),
    message         TEXT,
    current         INTEGER,
    total           INTEGER,
    stage           TEXT,
    payload         TEXT    NOT NULL DEFAULT 'null',  -- JSON
    result          TEXT,                             -- JSON
    error           TEXT,
    details         TEXT,                             -- JSON
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
    log_seq         INTEGER NOT NULL DEFAULT 0,       -- seq of the newest log line
    lease_owner     TEXT,
    lease_expires_at INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    -- Global change sequence: every write sets it to MAX(change_seq) + 1, so "which jobs changed
    -- since I last looked" is one range scan (the shared stream poller asks it every tick).
    change_seq      INTEGER NOT NULL DEFAULT 0
);

-- One job per (type, idempotency key).
CREATE UNIQUE INDEX jobs_idempotency ON jobs (type, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- The claim query: queued jobs of some types, highest priority first, then oldest.
CREATE INDEX jobs_queue ON jobs (type, priority DESC, id) WHERE status = 'queued';
-- Lease recovery: running jobs whose lease expired.
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'running' AND lease_expires_at IS NOT NULL;
CREATE INDEX jobs_change_seq ON jobs (change_seq);
-- Listing with filters, newest first.
CREATE INDEX jobs_status_id ON jobs (status, id);
CREATE INDEX jobs_type_id ON jobs (type, id);

CREATE TABLE job_logs (
    job_id   TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq      INTEGER NOT NULL,   -- 1, 2, 3... per job
    version  INTEGER NOT NULL,   -- the job's version once this line was added
    ts       INTEGER NOT NULL,
    level    TEXT    NOT NULL CHECK (level IN ('info', 'warning', 'error', 'success')),
    message  TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
