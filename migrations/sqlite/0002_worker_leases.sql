-- Jobs claimed by external workers over HTTP: who holds them, and for how long each accepted
-- update extends the lease (NULL for jobs run in-process, whose runner renews its own leases).
ALTER TABLE jobs ADD COLUMN worker TEXT;
ALTER TABLE jobs ADD COLUMN lease_ms INTEGER;
