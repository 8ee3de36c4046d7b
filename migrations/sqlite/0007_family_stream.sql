-- The family's stream (issue 18): a parent's stream carries its children's log lines and their
-- changes, each at a version of the parent's own, so `Last-Event-ID` stays one number.
--
-- * job_logs.child_id: the child a line was copied from onto its parent's log (NULL: the
--   job's own line);
-- * jobs.echoed_version: a child's version up to which its changes are on its parent's log and
--   stream (a child with version > echoed_version has news for its parent);
-- * jobs.family_version: the parent's version at which a child's status or progress last
--   changed: the id of its latest `child` event on the parent's stream;
-- * jobs.family: a parent's children counted by status (JSON), kept as they change, and
--   family_plain, family_weight, family_weighted, family_untotalled: the sums its progress is
--   rolled up from (the children's progress; their totals; progress times total; how many
--   report no total), kept by adding each child's change, not by reading every child;
-- * jobs.told_status, told_progress, told_total: a child's part in those as last added.

ALTER TABLE job_logs ADD COLUMN child_id TEXT;
ALTER TABLE jobs ADD COLUMN echoed_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN family_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN family TEXT;
ALTER TABLE jobs ADD COLUMN family_plain REAL NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN family_weight REAL NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN family_weighted REAL NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN family_untotalled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN told_status TEXT;
ALTER TABLE jobs ADD COLUMN told_progress REAL NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN told_total INTEGER;

-- Children made before this migration have nothing left to tell.
UPDATE jobs SET echoed_version = version WHERE parent_id IS NOT NULL;

-- The children with news for their parents: few at any time, only children pay for it.
CREATE INDEX jobs_unechoed ON jobs (parent_id)
    WHERE parent_id IS NOT NULL AND version > echoed_version;
-- A parent's stream reads the children that changed after the version its client has seen.
CREATE INDEX jobs_family_changes ON jobs (parent_id, family_version)
    WHERE parent_id IS NOT NULL;
