-- When a document entered each stage, for stage timings and time-left estimates.
ALTER TABLE documents ADD COLUMN stage_started jsonb NOT NULL DEFAULT '{}';
-- Seconds spent in each stage already left, written as the document leaves it.
ALTER TABLE documents ADD COLUMN stage_seconds jsonb NOT NULL DEFAULT '{}';
CREATE INDEX documents_waiting_idx ON documents (queued_at) WHERE status = 'uploaded';
CREATE INDEX documents_completed_idx ON documents (finished_at) WHERE status = 'completed';
