"""A selective metadata filter still gets its top_k nearest chunks: the bench's
measurement, run small against the real PostgreSQL with pgvector."""

from __future__ import annotations

from shared.settings import Settings
from tests.bench import filtered_search


async def test_filtered_search_finds_what_exact_search_finds(servers: Settings) -> None:
    r = await filtered_search.measure(servers.database_url, chunks=2_400, queries=4)
    assert r["chunks"] == 2_400
    for name in ("unfiltered", *filtered_search.FILTERS):
        # Timing is the bench's business; here only that each filter is answered in full
        # and with (almost) the exact answer.
        assert r[name]["recall"] >= 0.8, (name, r[name])
    assert filtered_search.rows(r)
