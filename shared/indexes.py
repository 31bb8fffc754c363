"""Index versions: what a set of chunks and vectors was built with, and which one serves.

A version is the chunking settings plus the embedding model, its dimensions and
input mode. Exactly one is ``active``: search and ``/chunks`` serve it. A
reindex creates a ``building`` version that the rebuild (``shared.rebuild``)
fills from the stored pages beside the active one; when every document holds
it, it becomes active in one transaction and the old one is ``retired``, kept
for ``DOCMESH_INDEX_RETENTION_S`` so that a rollback is a switch back, then
``dropped`` by the janitor. The switch is per deployment: one active version
for every tenant, since the embedding model is the deployment's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal

import asyncpg
import msgspec

from shared.db import Conn
from shared.embeddings import InputMode, Model
from shared.settings import Settings

State = Literal["building", "active", "retired", "cancelled", "dropped"]


class IndexVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One version's settings and where it stands."""

    version: int
    chunk_tokens: int
    chunk_overlap_tokens: int
    embeddings_model: str
    embeddings_dimensions: int
    embeddings_input_mode: InputMode
    embeddings_send_dimensions: bool
    state: State = "building"

    @property
    def model(self) -> Model:
        """The embeddings request this version's vectors come from."""
        return Model(
            self.embeddings_model,
            self.embeddings_dimensions,
            self.embeddings_send_dimensions,
            self.embeddings_input_mode,
        )

    def same_build(self, other: IndexVersion) -> bool:
        """Whether both build the same chunks and vectors."""
        return _build_fields(self) == _build_fields(other)


_BUILD_FIELDS = (
    "chunk_tokens",
    "chunk_overlap_tokens",
    "embeddings_model",
    "embeddings_dimensions",
    "embeddings_input_mode",
    "embeddings_send_dimensions",
)


def _build_fields(v: IndexVersion) -> tuple[object, ...]:
    return tuple(getattr(v, name) for name in _BUILD_FIELDS)


def from_settings(settings: Settings) -> IndexVersion:
    """The version the deployment's settings describe (the first one's settings)."""
    return IndexVersion(
        version=0,
        chunk_tokens=settings.chunk_tokens,
        chunk_overlap_tokens=settings.chunk_overlap_tokens,
        embeddings_model=settings.embeddings_model,
        embeddings_dimensions=settings.embeddings_dimensions,
        embeddings_input_mode=settings.embeddings_input_mode,
        embeddings_send_dimensions=settings.embeddings_send_dimensions,
    )


_COLUMNS = "version, state, " + ", ".join(_BUILD_FIELDS)


def _row(row: asyncpg.Record) -> IndexVersion:
    return IndexVersion(**dict(row))


async def get(conn: Conn, version: int) -> IndexVersion | None:
    """Version ``version``, whatever its state."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM index_versions WHERE version = $1", version)
    return None if row is None else _row(row)


async def active(conn: Conn) -> IndexVersion:
    """The version search serves."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM index_versions WHERE state = 'active'")
    if row is None:
        raise RuntimeError("no active index version: run `docmesh migrate`")
    return _row(row)


ACTIVATION_LOCK = "index-activation"
"""Advisory lock between choosing the active version to write a document's chunks into
(shared) and switching the active version (exclusive)."""


async def active_for_writing(conn: asyncpg.Connection) -> IndexVersion:
    """The active version, which stays active until ``conn``'s transaction ends: chunks
    written in it are in the version search serves, or, if a switch comes next, in
    the version being built too (activation waits for them)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))", ACTIVATION_LOCK
    )
    return await active(conn)


async def lock_activation(conn: asyncpg.Connection) -> None:
    """Hold off writers choosing a version until ``conn``'s transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", ACTIVATION_LOCK)


async def building(conn: Conn) -> IndexVersion | None:
    """The version being built, if any."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM index_versions WHERE state = 'building'")
    return None if row is None else _row(row)


async def live(conn: Conn) -> tuple[IndexVersion, IndexVersion | None]:
    """The active version and the one being built (one statement: one snapshot)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM index_versions WHERE state IN ('active', 'building')"
    )
    found = {r["state"]: _row(r) for r in rows}
    if "active" not in found:
        raise RuntimeError("no active index version: run `docmesh migrate`")
    return found["active"], found.get("building")


def vector_index_sql(v: IndexVersion) -> str:
    """The partial HNSW index over version ``v``'s vectors (built concurrently, so that
    writes to other versions never wait for it)."""
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS chunks_embedding_v{int(v.version)}_idx"
        f" ON chunks USING hnsw ({vector_expression(v.embeddings_dimensions)}"
        f" vector_cosine_ops) WHERE index_version = {int(v.version)}"
    )


VECTOR_INDEX_LOCK = "vector-index-ddl"
"""Held (a session's advisory lock) by whoever builds or drops a vector index on
``chunks``: the gateway starting a build, the janitor's sweep finishing one a crash
cut short, and its drop of an expired version."""


@contextlib.asynccontextmanager
async def vector_index_ddl(conn: asyncpg.Connection, wait: bool = True) -> AsyncIterator[bool]:
    """Hold ``VECTOR_INDEX_LOCK`` on ``conn``; yields False at once, holding nothing,
    when another session holds it and ``wait`` is False.

    Without it, the sweep took the gateway's index in progress (not yet valid) for
    one a crash left behind and dropped it, failing one side ("tuple concurrently
    updated"). The lock is tried again rather than waited for: a session blocked on
    it would hold a snapshot, which the concurrent build waits to end (a deadlock)."""
    take = "SELECT pg_try_advisory_lock(hashtextextended($1, 0))"
    held = await conn.fetchval(take, VECTOR_INDEX_LOCK)
    while wait and not held:
        await asyncio.sleep(0.2)
        held = await conn.fetchval(take, VECTOR_INDEX_LOCK)
    try:
        yield bool(held)
    finally:
        if held:  # a session lock: the pool's connections are not reset on release
            await conn.execute(
                "SELECT pg_advisory_unlock(hashtextextended($1, 0))", VECTOR_INDEX_LOCK
            )


async def ensure_vector_index(conn: asyncpg.Connection, v: IndexVersion, wait: bool = True) -> None:
    """Build version ``v``'s vector index unless a valid one exists (a build cut short
    leaves an invalid index behind, which ``IF NOT EXISTS`` would keep). With ``wait``
    False, leave it when another session is building or dropping one now."""
    async with vector_index_ddl(conn, wait) as held:
        if not held:
            return
        valid = await conn.fetchval(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = $1",
            f"chunks_embedding_v{int(v.version)}_idx",
        )
        if valid is False:
            await conn.execute(drop_vector_index_sql(v.version))
        if valid is not True:
            await conn.execute(vector_index_sql(v))


def drop_vector_index_sql(version: int) -> str:
    return f"DROP INDEX CONCURRENTLY IF EXISTS chunks_embedding_v{int(version)}_idx"


def vector_expression(dimensions: int, column: str = "embedding") -> str:
    """``column`` cast to a version's dimension: the expression its index covers (a
    query must use it, with the version as a literal, for the index to serve)."""
    return f"({column}::vector({int(dimensions)}))"
