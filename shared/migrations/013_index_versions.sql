-- Index versions: the chunking settings and the embedding model a set of chunks and
-- vectors was built with. One is active (search and /chunks serve it); a new one is
-- built in the background beside it and replaces it atomically when complete.
CREATE TABLE index_versions (
    version                    integer PRIMARY KEY,
    chunk_tokens               integer NOT NULL,
    chunk_overlap_tokens       integer NOT NULL,
    embeddings_model           text NOT NULL,
    embeddings_dimensions      integer NOT NULL,
    embeddings_input_mode      text NOT NULL,
    embeddings_send_dimensions boolean NOT NULL,
    -- building -> active -> retired -> dropped; building -> cancelled -> dropped.
    state                      text NOT NULL,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    activated_at               timestamptz,
    retired_at                 timestamptz,
    -- Why the build could not finish (a document it could not index), for the operator.
    note                       text
);
CREATE UNIQUE INDEX index_versions_one_active ON index_versions ((true)) WHERE state = 'active';
CREATE UNIQUE INDEX index_versions_one_building ON index_versions ((true)) WHERE state = 'building';

INSERT INTO index_versions (version, chunk_tokens, chunk_overlap_tokens, embeddings_model,
                            embeddings_dimensions, embeddings_input_mode,
                            embeddings_send_dimensions, state, activated_at)
VALUES (1, :chunk_tokens, :chunk_overlap_tokens, ':embeddings_model', :dimensions,
        ':embeddings_input_mode', :embeddings_send_dimensions, 'active', now());

-- Chunks and their vectors belong to a version. The vector column loses its fixed
-- dimension so that versions of different models share the table; each version has
-- its own partial HNSW index over the vectors cast to its dimension.
DROP INDEX chunks_embedding_idx;
ALTER TABLE chunks ALTER COLUMN embedding TYPE vector;
ALTER TABLE chunks ADD COLUMN index_version integer NOT NULL DEFAULT 1;
ALTER TABLE chunks ALTER COLUMN index_version DROP DEFAULT;
ALTER TABLE chunks DROP CONSTRAINT chunks_document_id_ordinal_key;
ALTER TABLE chunks ADD CONSTRAINT chunks_version_ordinal_key
    UNIQUE (document_id, index_version, ordinal);
CREATE INDEX chunks_embedding_v1_idx ON chunks
    USING hnsw ((embedding::vector(:dimensions)) vector_cosine_ops) WHERE index_version = 1;
CREATE INDEX chunks_index_version_idx ON chunks (index_version);

ALTER TABLE embedding_cache ALTER COLUMN embedding TYPE vector;

ALTER TABLE embed_units ADD COLUMN index_version integer NOT NULL DEFAULT 1;
ALTER TABLE embed_units ALTER COLUMN index_version DROP DEFAULT;
ALTER TABLE embed_units DROP CONSTRAINT embed_units_pkey;
ALTER TABLE embed_units ADD PRIMARY KEY (document_id, index_version, unit_no);

-- The version a document's own run chunks into (the active one when it was chunked).
ALTER TABLE documents ADD COLUMN index_version integer;
UPDATE documents SET index_version = 1 WHERE chunk_count IS NOT NULL;

-- Which versions hold each document. A document's own run records its version when it
-- completes; a build adds a row per document, rebuilt from the stored pages by its own
-- job (pending -> queued -> chunked -> done, or failed).
CREATE TABLE document_indexes (
    document_id    uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    index_version  integer NOT NULL REFERENCES index_versions (version) ON DELETE CASCADE,
    job_id         uuid NOT NULL,
    state          text NOT NULL DEFAULT 'pending',
    chunk_count    integer,
    embedded_count integer NOT NULL DEFAULT 0,
    -- The unit whose completion finished the document's rebuild (exactly one).
    embedded_by    integer,
    queued_at      timestamptz,
    attempts       integer NOT NULL DEFAULT 0,
    error          text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (index_version, document_id)
);
CREATE INDEX document_indexes_open_idx ON document_indexes (index_version, state)
    WHERE state <> 'done';
CREATE INDEX document_indexes_document_idx ON document_indexes (document_id);
-- A rebuild's end (a failure reported by the janitor) is found by its job.
CREATE INDEX document_indexes_job_idx ON document_indexes (job_id);

INSERT INTO document_indexes (document_id, index_version, job_id, state, chunk_count,
                              embedded_count)
SELECT id, 1, job_id, 'done', chunk_count, coalesce(embedded_count, 0)
FROM documents WHERE status = 'completed' AND duplicate_of IS NULL AND chunk_count IS NOT NULL
  AND job_id IS NOT NULL;
