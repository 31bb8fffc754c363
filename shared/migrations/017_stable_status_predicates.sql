-- Partial indexes on "a document in the pipeline" spelled the stage statuses out, so a new
-- stage had to touch them. They are spelled by what no stage is (waiting for the upload,
-- or finished) now: the same text whatever stages the table has (shared.status.in_pipeline).
DROP INDEX documents_stalled_idx;
CREATE INDEX documents_stalled_idx ON documents (updated_at)
    WHERE status NOT IN ('awaiting_upload', 'completed', 'failed', 'cancelled', 'expired');
DROP INDEX documents_in_flight_idx;
CREATE INDEX documents_in_flight_idx ON documents (tenant)
    WHERE status NOT IN ('completed', 'failed', 'cancelled', 'expired');
