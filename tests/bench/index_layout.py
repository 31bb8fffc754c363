"""How index versions are laid out: one chunks table whose vector column has no fixed
dimension, with a partial HNSW index per version over the vectors cast to its
dimension, against a table of its own per version (the other choice the design
had). Both hold the same rows; the search of one version is timed side by side,
with a second version of the same size beside it in the shared table.

``python -m tests.bench.index_layout [ROWS]`` runs it on a PostgreSQL of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

from deploy.local.embedded import free_port, postgres

DIMS = 384


def _vectors(rows: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((rows, DIMS)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


async def _load(conn: asyncpg.Connection, rows: int) -> None:
    await conn.execute("DROP TABLE IF EXISTS layout_shared, layout_v1")
    await conn.execute(
        "CREATE TABLE layout_shared (id bigserial, version int NOT NULL, embedding vector)"
    )
    await conn.execute(f"CREATE TABLE layout_v1 (id bigserial, embedding vector({DIMS}))")
    for version in (1, 2):
        records = [(version, v) for v in _vectors(rows, version)]
        await conn.copy_records_to_table(
            "layout_shared", records=records, columns=["version", "embedding"]
        )
    await conn.copy_records_to_table(
        "layout_v1", records=[(v,) for v in _vectors(rows, 1)], columns=["embedding"]
    )
    for version in (1, 2):
        await conn.execute(
            f"CREATE INDEX ON layout_shared USING hnsw ((embedding::vector({DIMS}))"
            f" vector_cosine_ops) WHERE version = {version}"
        )
    await conn.execute("CREATE INDEX ON layout_v1 USING hnsw (embedding vector_cosine_ops)")
    await conn.execute("ANALYZE layout_shared; ANALYZE layout_v1")


SHARED = (
    f"SELECT id FROM layout_shared WHERE version = 1"
    f" ORDER BY (embedding::vector({DIMS})) <=> $1 LIMIT 50"
)
OWN = "SELECT id FROM layout_v1 ORDER BY embedding <=> $1 LIMIT 50"


async def _time(conn: asyncpg.Connection, sql: str, queries: np.ndarray) -> list[float]:
    took = []
    for q in queries:
        started = time.perf_counter()
        await conn.fetch(sql, q)
        took.append((time.perf_counter() - started) * 1000)
    return took


async def measure(url: str, rows: int) -> dict[str, float]:
    """Median and p95 milliseconds of a top-50 vector search of version 1, in each layout
    (alternated in rounds, so both see the same machine)."""
    conn = await asyncpg.connect(url)
    try:
        await register_vector(conn)
        await _load(conn, rows)
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + SHARED, _vectors(1, 9)[0]))
        assert "Index Scan" in plan, plan  # the partial index serves the shared layout
        shared: list[float] = []
        own: list[float] = []
        for round_ in range(4):
            queries = _vectors(100, 100 + round_)
            shared += await _time(conn, SHARED, queries)
            own += await _time(conn, OWN, queries)
        await conn.execute("DROP TABLE layout_shared, layout_v1")
    finally:
        await conn.close()
    return {
        "rows_per_version": rows,
        "shared_p50_ms": round(statistics.median(shared), 2),
        "shared_p95_ms": round(statistics.quantiles(shared, n=20)[18], 2),
        "own_table_p50_ms": round(statistics.median(own), 2),
        "own_table_p95_ms": round(statistics.quantiles(own, n=20)[18], 2),
    }


@contextlib.contextmanager
def scratch_postgres() -> Iterator[str]:
    """The embedded PostgreSQL with pgvector in a temporary folder; its URL."""
    with tempfile.TemporaryDirectory() as state:
        port = free_port()
        spec = postgres(Path(state), port, secrets.token_hex(8))
        process = subprocess.Popen(spec.argv, user=spec.user, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.2)
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            process.terminate()
            process.wait(30)


async def _run(url: str, rows: int) -> dict[str, float]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    finally:
        await conn.close()
    return await measure(url, rows)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with scratch_postgres() as database:
        print(asyncio.run(_run(database, count)))
