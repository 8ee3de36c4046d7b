-- The family's stream (issue 18), as migrations/sqlite/0007_family_stream.sql (which says what
-- each column is for).

ALTER TABLE job_logs ADD COLUMN child_id TEXT COLLATE "C";
ALTER TABLE jobs ADD COLUMN echoed_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN family_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN family TEXT;
ALTER TABLE jobs ADD COLUMN family_plain DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN family_weight DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN family_weighted DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN family_untotalled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN told_status TEXT;
ALTER TABLE jobs ADD COLUMN told_progress DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN told_total BIGINT;

UPDATE jobs SET echoed_version = version WHERE parent_id IS NOT NULL;

CREATE INDEX jobs_unechoed ON jobs (parent_id)
    WHERE parent_id IS NOT NULL AND version > echoed_version;
CREATE INDEX jobs_family_changes ON jobs (parent_id, family_version)
    WHERE parent_id IS NOT NULL;
