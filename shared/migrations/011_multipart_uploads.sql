-- A large upload goes to S3 in parts: the store's id of its multipart upload and
-- the size of each part (the last may be smaller). NULL for a single PUT.
ALTER TABLE documents ADD COLUMN multipart_id text, ADD COLUMN part_size bigint;
