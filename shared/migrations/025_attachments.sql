-- An e-mail's attachments are documents of their own, each naming the message that
-- carried it. Deleting the message deletes them (shared.service_layer.documents);
-- a row deleted another way leaves its attachments as documents of their own.
ALTER TABLE documents ADD COLUMN attachment_of uuid REFERENCES documents (id) ON DELETE SET NULL;
CREATE INDEX documents_attachment_of_idx ON documents (attachment_of)
    WHERE attachment_of IS NOT NULL;
