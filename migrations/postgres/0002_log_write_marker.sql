-- The id of the last batch of log lines written to the job. A batch whose write is tried again
-- after a lost connection (it may have committed before the connection went) names the same
-- id, and is not written twice.
ALTER TABLE jobs ADD COLUMN last_log_write text;
