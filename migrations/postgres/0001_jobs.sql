-- The whole schema of migrations/sqlite/0001..0004, for PostgreSQL, in one migration.
--
-- Kept as close to the SQLite schema as the types allow, so both backends map rows the same way:
--
-- * Times are BIGINT milliseconds since the Unix epoch (UTC); the API formats them as RFC 3339.
-- * Every whole number is BIGINT (the Rust side reads i64), `progress` is DOUBLE PRECISION.
-- * Ids are TEXT (UUID v7, hyphenated) with the "C" collation: ids sort by creation time
--   byte by byte, whatever the database's default collation is (list pages and the claim
--   order rely on it).
-- * payload, result and details are JSON as TEXT, not JSONB: they are handed back as given and
--   nothing queries inside them, and JSONB would refuse "\u0000" in strings that SQLite takes.
--
-- `version` grows by one on every change to a job, its log lines included; `state_version` is
-- the version at which the job's status or progress fields last changed. The SSE stream uses
-- both as event ids, so a reconnecting client can ask for "everything after version N".

CREATE TABLE uploads (
    id           TEXT COLLATE "C" PRIMARY KEY,   -- UUID v7
    size         BIGINT NOT NULL,
    sha256       TEXT   NOT NULL,                -- hex
    content_type TEXT,
    filename     TEXT,                           -- from a multipart form, if any
    created_at   BIGINT NOT NULL
);

-- Global change numbers: every write to a job takes the next one (see `NEXT_CHANGE` in
-- src/store/postgres.rs for why they still come out in commit order).
CREATE SEQUENCE job_changes AS BIGINT;

CREATE TABLE jobs (
    id               TEXT COLLATE "C" PRIMARY KEY,   -- UUID v7: sorts by creation time
    type             TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    progress         DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 100),
    message          TEXT,
    current          BIGINT,
    total            BIGINT,
    stage            TEXT,
    payload          TEXT    NOT NULL DEFAULT 'null',  -- JSON
    result           TEXT,                             -- JSON
    error            TEXT,
    details          TEXT,                             -- JSON
    priority         BIGINT  NOT NULL DEFAULT 0,
    attempt          BIGINT  NOT NULL DEFAULT 0,
    max_attempts     BIGINT  NOT NULL DEFAULT 1,
    timeout_ms       BIGINT,
    idempotency_key  TEXT,
    run_at           BIGINT  NOT NULL,
    created_at       BIGINT  NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT,
    updated_at       BIGINT  NOT NULL,
    version          BIGINT  NOT NULL DEFAULT 1,
    state_version    BIGINT  NOT NULL DEFAULT 1,
    log_seq          BIGINT  NOT NULL DEFAULT 0,       -- seq of the newest log line
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    -- "Which jobs changed since I last looked" is one range scan over this (the shared stream
    -- poller asks it every tick).
    change_seq       BIGINT  NOT NULL DEFAULT 0,
    -- Jobs claimed by external workers over HTTP: who holds them, and for how long each
    -- accepted update extends the lease (NULL for jobs run in-process, whose runner renews its
    -- own leases).
    worker           TEXT,
    lease_ms         BIGINT,
    -- The upload a job works on, if its payload named one; unreferenced uploads are swept.
    upload_id        TEXT COLLATE "C" REFERENCES uploads (id) ON DELETE SET NULL
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
CREATE INDEX jobs_upload ON jobs (upload_id) WHERE upload_id IS NOT NULL;
-- Retention deletes finished jobs oldest first (finished_at is set exactly while a job is
-- completed, failed or cancelled).
CREATE INDEX jobs_finished_at ON jobs (finished_at) WHERE finished_at IS NOT NULL;
-- Lease renewal: the running jobs one runner holds.
CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE job_logs (
    job_id   TEXT COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq      BIGINT NOT NULL,   -- 1, 2, 3... per job
    version  BIGINT NOT NULL,   -- the job's version once this line was added
    ts       BIGINT NOT NULL,
    level    TEXT   NOT NULL CHECK (level IN ('info', 'warning', 'error', 'success')),
    message  TEXT   NOT NULL,
    PRIMARY KEY (job_id, seq)
);
