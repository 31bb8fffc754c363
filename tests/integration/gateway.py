"""A gateway in the test process, on a database of its own, against the real servers.

Its own database, because API keys switch the whole API to authenticated mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import msgspec

from services.gateway.app import create_app
from shared.db import migrate, open_pool
from shared.settings import Settings
from tests.client import Client
from tests.http_server import serving

_TEMPLATES: dict[tuple[object, ...], str] = {}
_TEMPLATE_LOCK = asyncio.Lock()


def _schema_of(settings: Settings) -> tuple[object, ...]:
    """The settings a migrated schema depends on (``shared.db._substitute``'s)."""
    return (
        settings.embeddings_dimensions, settings.search_language, settings.chunk_tokens,
        settings.chunk_overlap_tokens, settings.embeddings_model, settings.embeddings_input_mode,
        settings.embeddings_send_dimensions,
    )  # fmt: skip


async def _template(settings: Settings) -> str:
    """A database migrated once per session for these settings, that tests copy
    (``CREATE DATABASE ... TEMPLATE``: a file copy, not every migration again)."""
    async with _TEMPLATE_LOCK:
        key = _schema_of(settings)
        if key not in _TEMPLATES:
            name = f"tpl_{uuid.uuid4().hex[:10]}"
            admin = await asyncpg.connect(settings.database_url)
            try:
                await admin.execute(f"CREATE DATABASE {name}")
            finally:
                await admin.close()
            url = settings.database_url.rsplit("/", 1)[0] + "/" + name
            await migrate(msgspec.structs.replace(settings, database_url=url))
            _TEMPLATES[key] = name
        return _TEMPLATES[key]


@contextlib.asynccontextmanager
async def own_database(settings: Settings, migrated: bool = False) -> AsyncIterator[str]:
    """A new database on the same server (empty, or ``migrated`` as a copy of the
    session's template); dropped afterwards."""
    name = f"gw_{uuid.uuid4().hex[:10]}"
    template = f" TEMPLATE {await _template(settings)}" if migrated else ""
    admin = await asyncpg.connect(settings.database_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}{template}")
        try:
            yield settings.database_url.rsplit("/", 1)[0] + "/" + name
        finally:
            await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def migrated_database(settings: Settings) -> AsyncIterator[tuple[Settings, asyncpg.Pool]]:
    """Settings and a pool for a new, migrated database of its own; dropped afterwards."""
    async with own_database(settings, migrated=True) as url:
        own = msgspec.structs.replace(settings, database_url=url)
        async with open_pool(own) as pool:
            yield own, pool


@contextlib.asynccontextmanager
async def running_gateway(
    settings: Settings, **overrides: Any
) -> AsyncIterator[tuple[str, Settings]]:
    """The gateway app served on a free port (``gateway_port``, when given: the port
    its MCP tools call back); yields its base URL and settings."""
    wanted = msgspec.structs.replace(settings, **overrides)
    async with own_database(wanted, migrated=True) as url:
        own = msgspec.structs.replace(wanted, database_url=url)
        port = overrides.get("gateway_port", 0)
        async with serving(create_app(own), port) as base:
            yield base, own


@contextlib.asynccontextmanager
async def client_of(base: str, api_key: str | None = None) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, base, api_key)
