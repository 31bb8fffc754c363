-- MinHash signatures and their LSH bands, to find near-duplicates by index.
ALTER TABLE documents ADD COLUMN minhash bigint[];
ALTER TABLE documents ADD COLUMN similar_to jsonb NOT NULL DEFAULT '[]';

CREATE TABLE minhash_bands (
    band        smallint NOT NULL,
    hash        bigint NOT NULL,
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    PRIMARY KEY (band, hash, document_id)
);
CREATE INDEX minhash_bands_document_idx ON minhash_bands (document_id);
