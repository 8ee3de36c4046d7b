-- Parent and child jobs (issue 18), as migrations/sqlite/0006_families.sql (which says what each
-- column is for): a `waiting` status, and the family columns.

ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('queued', 'running', 'waiting', 'completed', 'failed', 'cancelled'));

ALTER TABLE jobs ADD COLUMN parent_id TEXT COLLATE "C";
ALTER TABLE jobs ADD COLUMN depth BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN children BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN fail_fast BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE jobs ADD COLUMN awaiting_children BOOLEAN NOT NULL DEFAULT FALSE;

CREATE INDEX jobs_parent ON jobs (parent_id, id) WHERE parent_id IS NOT NULL;
CREATE INDEX jobs_waiting ON jobs (type) WHERE status = 'waiting';
