-- The format a document's bytes were found to be at /process (pdf, doc, docx),
-- whatever it was declared as: a DOCX saved with a .doc name is read as DOCX.
ALTER TABLE documents ADD COLUMN format text;
