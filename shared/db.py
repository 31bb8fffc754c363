"""PostgreSQL access: the connection pool, and the schema migrations run once at start-up."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from importlib import resources
from typing import TypeAlias

import asyncpg
import structlog
from pgvector.asyncpg import register_vector
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from shared.settings import Settings

log = structlog.get_logger()

Pool: TypeAlias = asyncpg.Pool
Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool
"""Where one statement can run: a connection (in a transaction), or the pool."""

# An arbitrary constant: the advisory lock that serialises migrations when
# several services start at once.
_MIGRATION_LOCK = 0x646F636D


async def _init_connection(conn: asyncpg.Connection) -> None:
    await register_vector(conn)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's reset query (RESET ALL, UNLISTEN, CLOSE ALL,
    advisory unlocks): docmesh never leaves session state behind (settings are SET
    LOCAL; the session locks of migrations and ``indexes.vector_index_ddl`` are
    released by their holders), and the reset cost a round trip per query; on the
    gateway's status path, a tenth of its time.
    An open transaction is still rolled back by asyncpg itself."""


@contextlib.asynccontextmanager
async def open_pool(
    settings: Settings, *, min_size: int = 1, max_size: int = 5
) -> AsyncIterator[Pool]:
    """A pool with the pgvector codec registered.

    The schema is migrated once, before services start (``docmesh migrate``, which
    ``docmesh up``, compose and the Kubernetes manifests run), not by every pool.
    """
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        # Times without an offset (metadata dates, say) mean UTC, whatever the
        # server's or the database's TimeZone.
        server_settings={"timezone": "UTC"},
    )
    try:
        yield pool
    finally:
        await pool.close()


async def paged(conn: Conn, query: str, *args: object) -> tuple[list[asyncpg.Record], int]:
    """The rows of a page ``query`` that selects ``count(*) OVER () AS total``, and that
    total (what a list route answers as ``total``)."""
    rows = await conn.fetch(query, *args)
    return list(rows), rows[0]["total"] if rows else 0


def _identifier(name: str) -> str:
    if not re.fullmatch(r"[a-z_]+", name):
        raise ValueError(f"not a text search configuration name: {name!r}")
    return name


def _literal(value: str) -> str:
    return value.replace("'", "''")


def _substitute(sql: str, settings: Settings) -> str:
    """The settings a migration is written against, as SQL literals (the first index
    version is made of the settings the schema was created with)."""
    values = {
        ":dimensions": str(int(settings.embeddings_dimensions)),
        ":fts_language": _identifier(settings.search_language),
        ":chunk_tokens": str(int(settings.chunk_tokens)),
        ":chunk_overlap_tokens": str(int(settings.chunk_overlap_tokens)),
        ":embeddings_model": _literal(settings.embeddings_model),
        ":embeddings_input_mode": _literal(settings.embeddings_input_mode),
        ":embeddings_send_dimensions": str(bool(settings.embeddings_send_dimensions)).lower(),
    }
    for name in sorted(values, key=len, reverse=True):
        sql = sql.replace(name, values[name])
    return sql


def _migrations() -> list[tuple[str, str]]:
    folder = resources.files("shared") / "migrations"
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


@retry(
    retry=retry_if_exception_type((asyncpg.CannotConnectNowError, OSError)),
    stop=stop_after_delay(60),
    wait=wait_fixed(0.5),
    reraise=True,
)
async def _connect_when_up(url: str) -> asyncpg.Connection:
    """A connection, once the server takes them: a server just started (or restarted)
    refuses connections while it recovers ("the database system is starting up")."""
    return await asyncpg.connect(url)


async def migrate(settings: Settings) -> list[str]:
    """Apply the SQL files of ``shared/migrations`` that were not applied yet.

    A few ordered SQL files under an advisory lock are all this project needs;
    a migration framework would bring an ORM or a second driver with it.
    Returns the names of the migrations applied now.
    """
    conn = await _connect_when_up(settings.database_url)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in _migrations():
            if name in done:
                continue
            sql = _substitute(sql, settings)
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied.append(name)
            log.info("migration_applied", migration=name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
        await conn.close()
    return applied
