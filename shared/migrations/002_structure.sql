-- Headings found by extraction, so chunks can carry their section path.
CREATE TABLE headings (
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal     integer NOT NULL,
    page_no     integer NOT NULL,
    page_offset integer NOT NULL,
    level       smallint NOT NULL,
    title       text NOT NULL,
    PRIMARY KEY (document_id, ordinal)
);

ALTER TABLE documents ADD COLUMN ocr_pages integer;
ALTER TABLE chunks ADD COLUMN section text NOT NULL DEFAULT '';
