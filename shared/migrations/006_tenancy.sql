-- API keys map to tenants; every document, and every content hash the
-- deduplicator claims, belongs to one. Without keys everything is 'default'.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    tenant      text NOT NULL,
    name        text NOT NULL DEFAULT '',
    prefix      text NOT NULL,
    -- SHA-256 of the key: keys are 256 random bits, so a fast hash is enough
    -- and a stolen table gives nothing to guess from.
    key_hash    bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    -- Operators' keys: queue state and dead letters span every tenant.
    admin       boolean NOT NULL DEFAULT false
);

ALTER TABLE documents ADD COLUMN tenant text NOT NULL DEFAULT 'default';
CREATE INDEX documents_tenant_created_idx ON documents (tenant, created_at DESC);

ALTER TABLE content_hashes ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE content_hashes DROP CONSTRAINT content_hashes_pkey;
ALTER TABLE content_hashes ADD PRIMARY KEY (tenant, hash);
