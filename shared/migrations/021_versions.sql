-- Replace in place: a new file for an existing document runs as a document row of its
-- own that names the one it replaces; when it completes, its pages, chunks and vectors
-- move onto the replaced document in one transaction (shared.versions).
ALTER TABLE documents ADD COLUMN replaces uuid REFERENCES documents (id) ON DELETE CASCADE;
CREATE INDEX documents_replaces_idx ON documents (replaces) WHERE replaces IS NOT NULL;
