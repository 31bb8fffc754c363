-- Collections: named sets of a tenant's documents (what Dify calls a knowledge base
-- and OpenAI a vector store). A document may be in several; deleting a collection
-- never deletes a document, and deleting a document takes it out of its collections.
CREATE TABLE collections (
    id          uuid PRIMARY KEY,
    tenant      text NOT NULL,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX collections_tenant_idx ON collections (tenant, created_at);
CREATE TABLE collection_documents (
    collection_id uuid NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    document_id   uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    added_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection_id, document_id)
);
CREATE INDEX collection_documents_document_idx ON collection_documents (document_id);
