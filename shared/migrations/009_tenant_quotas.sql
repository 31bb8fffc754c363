-- A tenant's documents in flight (awaited uploads and the pipeline), counted and
-- summed on every presign and /process for the per-tenant backlog and byte quota.
CREATE INDEX documents_in_flight_idx ON documents (tenant)
    WHERE status IN ('awaiting_upload', 'uploaded', 'extracting', 'checking_duplicates',
                     'chunking', 'embedding');
