-- A document's chunks are embedded in units of a batch's worth, queued a few at a
-- time per document and per tenant, so that no document waits behind another.
CREATE TABLE embed_units (
    document_id   uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    unit_no       integer NOT NULL,
    tenant        text NOT NULL,
    first_ordinal integer NOT NULL,
    last_ordinal  integer NOT NULL,
    chunks        integer NOT NULL,
    tokens        integer NOT NULL,
    -- pending: waits in PostgreSQL; queued: in the stream or being embedded; done.
    state         text NOT NULL DEFAULT 'pending',
    -- The event whose handling queued it: a replay of that event publishes it again.
    queued_by     uuid,
    queued_at     timestamptz,
    started_at    timestamptz,
    done_at       timestamptz,
    PRIMARY KEY (document_id, unit_no)
);
CREATE INDEX embed_units_open_idx ON embed_units (tenant, document_id) WHERE state <> 'done';
CREATE INDEX embed_units_queued_idx ON embed_units (queued_at) WHERE state = 'queued';
CREATE INDEX embed_units_done_idx ON embed_units (done_at) WHERE state = 'done';
-- The unit whose completion finished the document's embedding (exactly one).
ALTER TABLE documents ADD COLUMN embedded_by integer;
