-- A completed attempt is kept on its job row, not copied into job_attempts: as
-- migrations/sqlite/0010_completed_attempt_on_the_job.sql.

ALTER TABLE jobs ADD COLUMN runner TEXT;

DROP TRIGGER jobs_attempt_end ON jobs;

CREATE TRIGGER jobs_attempt_end AFTER UPDATE OF status ON jobs FOR EACH ROW
    WHEN ((OLD.status = 'running' AND NEW.status NOT IN ('running', 'completed'))
        OR (OLD.status = 'queued' AND NEW.status = 'failed'))
    EXECUTE FUNCTION jobcast_attempt_ended();
