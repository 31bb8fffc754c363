-- One job model: every run of a document into an index version is a row of
-- document_indexes, a live upload's as much as a rebuild's. The live run's row is keyed
-- by the document's own job id (it alone drives the document's visible status); its
-- chunk and unit bookkeeping moves there from documents, so that completion, the
-- embedder's scheduling and the stage guard read one table for either kind of run.

-- Whose embedder windows the job's units use: the document's tenant for a live run,
-- the rebuild's own lane otherwise.
ALTER TABLE document_indexes ADD COLUMN lane text NOT NULL DEFAULT '*rebuild*';
-- The trace of the run (the upload request's span for a live run).
ALTER TABLE document_indexes ADD COLUMN traceparent text NOT NULL DEFAULT '';

-- Live runs chunked but not finished get their row.
INSERT INTO document_indexes (document_id, index_version, job_id, state, chunk_count,
                              embedded_count, embedded_by, queued_at, lane, traceparent)
SELECT id, index_version, job_id, 'chunked', chunk_count, coalesce(embedded_count, 0),
       embedded_by, queued_at, tenant, traceparent
FROM documents
WHERE index_version IS NOT NULL AND job_id IS NOT NULL
  AND status NOT IN ('completed', 'failed', 'cancelled', 'expired')
ON CONFLICT (index_version, document_id) DO UPDATE SET
    job_id = EXCLUDED.job_id, state = 'chunked', chunk_count = EXCLUDED.chunk_count,
    embedded_count = EXCLUDED.embedded_count, embedded_by = EXCLUDED.embedded_by,
    queued_at = EXCLUDED.queued_at, lane = EXCLUDED.lane, traceparent = EXCLUDED.traceparent;

-- Written twice before (by the chunker and by the status fold, by the embedder and by
-- the job's row): the job's row holds them now.
ALTER TABLE documents DROP COLUMN embedded_by;
ALTER TABLE documents DROP COLUMN index_version;

CREATE INDEX document_indexes_lane_idx ON document_indexes (lane) WHERE state = 'chunked';
