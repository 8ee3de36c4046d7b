-- Jobs that failed for good, per type and second, as migrations/sqlite/0009_failures_per_second.sql.

ALTER TABLE job_finishes ADD COLUMN failed BIGINT NOT NULL DEFAULT 0;
UPDATE job_finishes SET failed = (
    SELECT COUNT(*) FROM jobs
    WHERE jobs.type = job_finishes.type AND jobs.status = 'failed'
        AND jobs.finished_at / 1000 = job_finishes.at);

CREATE OR REPLACE FUNCTION jobcast_count_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ('completed', 'failed', 'cancelled') THEN
        UPDATE job_counts SET n = n - 1 WHERE type = OLD.type AND status = OLD.status;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status IN ('completed', 'failed', 'cancelled') THEN
        INSERT INTO job_counts (type, status, n) VALUES (NEW.type, NEW.status, 1)
            ON CONFLICT (type, status) DO UPDATE SET n = job_counts.n + 1;
        INSERT INTO job_finishes (at, type, n, failed)
            VALUES (COALESCE(NEW.finished_at, NEW.updated_at) / 1000, NEW.type, 1,
                CASE WHEN NEW.status = 'failed' THEN 1 ELSE 0 END)
            ON CONFLICT (at, type) DO UPDATE
                SET n = job_finishes.n + 1, failed = job_finishes.failed + excluded.failed;
    END IF;
    RETURN NULL;
END
$$;
