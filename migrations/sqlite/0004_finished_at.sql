-- Retention deletes finished jobs oldest first: this index lets it find them without reading
-- every job (finished_at is set exactly while a job is completed, failed or cancelled).
CREATE INDEX jobs_finished_at ON jobs (finished_at) WHERE finished_at IS NOT NULL;
