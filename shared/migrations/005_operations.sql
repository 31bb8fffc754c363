-- Cancellation requests and re-drives of stalled jobs.
ALTER TABLE documents ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;
ALTER TABLE documents ADD COLUMN redrives integer NOT NULL DEFAULT 0;
CREATE INDEX documents_stalled_idx ON documents (updated_at)
    WHERE status IN ('uploaded', 'extracting', 'checking_duplicates', 'chunking', 'embedding');
