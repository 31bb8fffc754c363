-- The reranker that ordered a run's results (its model, or its contract's name when
-- none is named); NULL: the fused order. Runs with and without one compare what it
-- gains on the same version.
ALTER TABLE evaluation_runs ADD COLUMN reranker text;
