-- The documents a client uploaded, their job and their status view.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE documents (
    id              uuid PRIMARY KEY,
    upload_id       uuid NOT NULL UNIQUE,
    filename        text NOT NULL,
    content_type    text NOT NULL,
    file_size       bigint NOT NULL,
    title           text,
    description     text,
    tags            text[] NOT NULL DEFAULT '{}',
    object_key      text NOT NULL,
    upload_expires_at timestamptz NOT NULL,
    job_id          uuid UNIQUE,
    file_hash       text,
    status          text NOT NULL DEFAULT 'awaiting_upload',
    progress        smallint NOT NULL DEFAULT 0,
    current_step    text NOT NULL DEFAULT 'Waiting for the upload',
    error_code      text,
    error_message   text,
    file_sha256     text,
    text_hash       text,
    duplicate_of    uuid REFERENCES documents (id) ON DELETE SET NULL,
    page_count      integer,
    chunk_count     integer,
    embedded_count  integer,
    object_deleted  boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    queued_at       timestamptz,
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_status_idx ON documents (status);

-- Which document first claimed a content hash: later claimants are duplicates.
CREATE TABLE content_hashes (
    hash        text PRIMARY KEY,
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE
);

-- Extracted text, one row per page.
CREATE TABLE pages (
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    page_no     integer NOT NULL,
    text        text NOT NULL,
    PRIMARY KEY (document_id, page_no)
);

CREATE TABLE chunks (
    id          uuid PRIMARY KEY,
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal     integer NOT NULL,
    text        text NOT NULL,
    context     text NOT NULL,
    page_start  integer NOT NULL,
    page_end    integer NOT NULL,
    token_count integer NOT NULL,
    text_sha256 text NOT NULL,
    embedding   vector(:dimensions),
    UNIQUE (document_id, ordinal)
);
CREATE INDEX chunks_embedding_idx ON chunks USING hnsw (embedding vector_cosine_ops);

-- Vectors by model and embedded text, so the same text is never paid for twice.
CREATE TABLE embedding_cache (
    model       text NOT NULL,
    dimensions  integer NOT NULL,
    text_sha256 text NOT NULL,
    embedding   vector(:dimensions) NOT NULL,
    PRIMARY KEY (model, dimensions, text_sha256)
);
