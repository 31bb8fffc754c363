-- The W3C trace context of the request that asked for processing (empty with tracing
-- off): events rebuilt from the row (a re-drive, a retry) join or link to its trace.
ALTER TABLE documents ADD COLUMN traceparent text NOT NULL DEFAULT '';
