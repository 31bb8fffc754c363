-- "Resume" is the one word for running a job again from the last stage it committed.
ALTER TABLE documents RENAME COLUMN redrives TO resumes;
