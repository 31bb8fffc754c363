-- A copy of a document still being processed waits for it: only a completed document
-- is an original (one that fails or is deleted must not leave its copy with nothing).
-- The original's end re-drives its waiters.
ALTER TABLE documents ADD COLUMN waiting_for uuid REFERENCES documents (id) ON DELETE SET NULL;
CREATE INDEX documents_waiting_for_idx ON documents (waiting_for) WHERE waiting_for IS NOT NULL;
