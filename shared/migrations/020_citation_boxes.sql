-- Where text is on a PDF's pages, so a chunk can say which boxes of which pages it came
-- from (citation highlights). NULL for formats without page geometry (DOC, DOCX).
ALTER TABLE pages ADD COLUMN width real, ADD COLUMN height real, ADD COLUMN spans jsonb;
ALTER TABLE chunks ADD COLUMN boxes jsonb;
