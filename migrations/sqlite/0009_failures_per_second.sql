-- Jobs that failed for good, per type and second, beside all that finished (issue 20: the
-- overview's failures in the last hour, without reading the jobs): job_finishes.failed, kept
-- by the counting triggers, which are made again to keep it.

ALTER TABLE job_finishes ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;
UPDATE job_finishes SET failed = (
    SELECT COUNT(*) FROM jobs
    WHERE jobs.type = job_finishes.type AND jobs.status = 'failed'
        AND jobs.finished_at / 1000 = job_finishes.at);

DROP TRIGGER jobs_count_insert;
DROP TRIGGER jobs_count_update;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs
WHEN NEW.status IN ('completed', 'failed', 'cancelled')
BEGIN
    INSERT INTO job_counts (type, status, n) VALUES (NEW.type, NEW.status, 1)
        ON CONFLICT (type, status) DO UPDATE SET n = n + 1;
    INSERT INTO job_finishes (at, type, n, failed)
        VALUES (COALESCE(NEW.finished_at, NEW.updated_at) / 1000, NEW.type, 1,
            NEW.status = 'failed')
        ON CONFLICT (at, type) DO UPDATE SET n = n + 1, failed = failed + excluded.failed;
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
    INSERT INTO job_finishes (at, type, n, failed)
        SELECT COALESCE(NEW.finished_at, NEW.updated_at) / 1000, NEW.type, 1,
            NEW.status = 'failed'
        WHERE NEW.status IN ('completed', 'failed', 'cancelled')
        ON CONFLICT (at, type) DO UPDATE SET n = n + 1, failed = failed + excluded.failed;
END;
