-- Evaluation sets: a tenant's questions, each with the documents (and optionally the
-- page or a quoted span) that answer it. A run scores one set against one index
-- version; runs are kept so that versions can be compared, and the reindex guard
-- compares the version being built with the active one before it switches.
CREATE TABLE evaluation_sets (
    id          uuid PRIMARY KEY,
    tenant      text NOT NULL,
    name        text NOT NULL,
    k           integer NOT NULL,
    questions   jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, name)
);
CREATE TABLE evaluation_runs (
    id            uuid PRIMARY KEY,
    set_id        uuid NOT NULL REFERENCES evaluation_sets (id) ON DELETE CASCADE,
    tenant        text NOT NULL,
    index_version integer NOT NULL,
    k             integer NOT NULL,
    -- 'api' (asked for) or 'guard' (run by the reindex guard before a switch).
    origin        text NOT NULL,
    recall        double precision NOT NULL,
    mrr           double precision NOT NULL,
    ndcg          double precision NOT NULL,
    summary       jsonb NOT NULL,
    questions     jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX evaluation_runs_set_idx ON evaluation_runs (set_id, created_at DESC);
CREATE INDEX evaluation_runs_version_idx ON evaluation_runs (index_version, created_at DESC);

-- The reindex guard: the margin a build was started with (NULL: no guard), and its
-- verdict: 'pending' (complete, waiting to be evaluated), 'passed', 'refused' (held:
-- activate it anyway or cancel it) or 'overridden'.
ALTER TABLE index_versions ADD COLUMN guard_margin double precision;
ALTER TABLE index_versions ADD COLUMN guard_verdict text;
ALTER TABLE index_versions ADD COLUMN guard_note text;
