-- Files uploaded for jobs to work on (the import modal's file). The bytes live on disk in the
-- uploads folder under the upload's id; this table holds what the API reports about them.
CREATE TABLE uploads (
    id           TEXT    PRIMARY KEY NOT NULL,   -- UUID v7
    size         INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,               -- hex
    content_type TEXT,
    filename     TEXT,                           -- from a multipart form, if any
    created_at   INTEGER NOT NULL
);

-- The upload a job works on, if its payload named one; unreferenced uploads are swept.
ALTER TABLE jobs ADD COLUMN upload_id TEXT REFERENCES uploads (id) ON DELETE SET NULL;
CREATE INDEX jobs_upload ON jobs (upload_id) WHERE upload_id IS NOT NULL;
