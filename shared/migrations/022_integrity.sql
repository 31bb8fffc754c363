-- A deleted document's id leaves other documents' similar_to: those rows are found by
-- containment, which this index serves.
CREATE INDEX documents_similar_to_idx ON documents USING gin (similar_to jsonb_path_ops);

-- One replacement of a document at a time: a second presign while one is open is
-- refused, so the last uploaded is the one that wins. Of replacements open together
-- before this, all but the newest are asked to cancel.
UPDATE documents v SET cancel_requested = true
WHERE v.replaces IS NOT NULL AND v.status NOT IN ('completed', 'failed', 'cancelled', 'expired')
  AND EXISTS (SELECT 1 FROM documents w WHERE w.replaces = v.replaces AND w.id <> v.id
              AND w.status NOT IN ('completed', 'failed', 'cancelled', 'expired')
              AND (w.created_at, w.id) > (v.created_at, v.id));
CREATE UNIQUE INDEX documents_one_open_replacement_idx ON documents (replaces)
    WHERE replaces IS NOT NULL AND NOT cancel_requested
      AND status NOT IN ('completed', 'failed', 'cancelled', 'expired');
