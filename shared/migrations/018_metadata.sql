-- Per-document metadata: a JSON object the client sets at presign and later, filtered on
-- by search and the library. jsonb_ops (not jsonb_path_ops) so that the index serves
-- both containment (eq, in) and key existence (exists).
ALTER TABLE documents ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}';
CREATE INDEX documents_metadata_idx ON documents USING gin (metadata);
