-- Deleting a document removes the cached vectors of texts no other chunk has: that
-- check, and the janitor's sweep of orphan vectors, look chunks up by text hash.
CREATE INDEX chunks_text_sha256_idx ON chunks (text_sha256);
