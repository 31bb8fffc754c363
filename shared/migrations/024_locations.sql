-- Formats cited by other than pages (slides, sheets and rows, lines, chapters, e-mail
-- attachments): what each page is in its format's terms and which rows or lines its
-- text came from, and for each chunk the location a reader can follow.
ALTER TABLE pages ADD COLUMN place jsonb;
ALTER TABLE chunks ADD COLUMN location jsonb;
