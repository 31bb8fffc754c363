"""A gateway in the test process, on a database of its own, against the real servers.

Its own database, because API keys switch the whole API to authenticated mode.
"""

from __future__ import annotations

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


@contextlib.asynccontextmanager
async def own_database(settings: Settings) -> AsyncIterator[str]:
    """A new, empty database on the same server; dropped afterwards."""
    name = f"gw_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(settings.database_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        try:
            yield settings.database_url.rsplit("/", 1)[0] + "/" + name
        finally:
            await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def migrated_database(settings: Settings) -> AsyncIterator[tuple[Settings, asyncpg.Pool]]:
    """Settings and a pool for a new database of its own, migrated; dropped afterwards."""
    async with own_database(settings) as url:
        own = msgspec.structs.replace(settings, database_url=url)
        await migrate(own)
        async with open_pool(own) as pool:
            yield own, pool


@contextlib.asynccontextmanager
async def running_gateway(
    settings: Settings, **overrides: Any
) -> AsyncIterator[tuple[str, Settings]]:
    """The gateway app served on a free port; yields its base URL and settings."""
    async with own_database(settings) as url:
        own = msgspec.structs.replace(settings, database_url=url, **overrides)
        await migrate(own)
        async with serving(create_app(own)) as base:
            yield base, own


@contextlib.asynccontextmanager
async def client_of(base: str, api_key: str | None = None) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, base, api_key)
