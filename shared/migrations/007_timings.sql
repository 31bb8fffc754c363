-- When a document entered each stage, for stage timings and time-left estimates.
ALTER TABLE documents ADD COLUMN stage_started jsonb NOT NULL DEFAULT '{}';
CREATE INDEX documents_waiting_idx ON documents (queued_at) WHERE status = 'uploaded';
CREATE INDEX documents_completed_idx ON documents (finished_at) WHERE status = 'completed';

-- Seconds spent in each stage: until the next stage started, the end, or now.
CREATE FUNCTION docmesh_stage_seconds(started jsonb, finished timestamptz)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_object_agg(stage, round(extract(epoch FROM
               coalesce(next_at, finished, now()) - at)::numeric, 3)), '{}'::jsonb)
    FROM (SELECT key AS stage, (value #>> '{}')::timestamptz AS at,
                 lead((value #>> '{}')::timestamptz) OVER (ORDER BY (value #>> '{}')::timestamptz)
                     AS next_at
          FROM jsonb_each(started)) AS stages
$$;

-- Seconds of processing per byte of file over the last 20 completed originals:
-- what the mesh measured lately, the base of every estimate before embedding.
CREATE FUNCTION docmesh_seconds_per_byte() RETURNS double precision
LANGUAGE sql STABLE AS $$
    SELECT sum(extract(epoch FROM finished_at - started_at)) / nullif(sum(file_size), 0)
    FROM (SELECT finished_at, started_at, file_size FROM documents
          WHERE status = 'completed' AND duplicate_of IS NULL AND started_at IS NOT NULL
          ORDER BY finished_at DESC LIMIT 20) AS recent
$$;

-- Estimated seconds left of a document's processing. While embedding, the
-- document's own embedding rate so far; before, the mesh's recent rate per
-- byte (or a fixed guess of 50 kB/s on a mesh that has finished nothing yet).
CREATE FUNCTION docmesh_eta_seconds(
    status text, file_size bigint, started jsonb, started_at timestamptz,
    chunk_count integer, embedded_count integer, seconds_per_byte double precision)
RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN status NOT IN ('uploaded', 'extracting', 'checking_duplicates', 'chunking',
                            'embedding') THEN NULL
        WHEN status = 'embedding' AND embedded_count > 0 AND chunk_count > embedded_count
            THEN ceil(extract(epoch FROM now() - (started ->> 'embedding')::timestamptz)
                      * (chunk_count - embedded_count) / embedded_count)::integer + 1
        ELSE greatest(ceil(coalesce(seconds_per_byte * file_size, 10 + file_size / 50000.0)
                           - coalesce(extract(epoch FROM now() - started_at), 0))::integer, 1)
    END
$$;
