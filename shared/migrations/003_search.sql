-- Full-text search over each chunk with its context, next to the vector index.
ALTER TABLE chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
    to_tsvector(':fts_language'::regconfig, context || ' ' || text)
) STORED;
CREATE INDEX chunks_tsv_idx ON chunks USING gin (tsv);
CREATE INDEX documents_tags_idx ON documents USING gin (tags);
