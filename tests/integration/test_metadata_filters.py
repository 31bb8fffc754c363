"""Metadata date ranges on the real PostgreSQL: stored values compare as moments in
UTC whatever the server's TimeZone, in every ISO form people store, and a value that
is no date is simply out of range."""

from __future__ import annotations

import json

import asyncpg
import msgspec
import pytest

from services.gateway import metadata
from shared.db import open_pool
from shared.settings import Settings
from tests.integration.gateway import own_database

pytestmark = pytest.mark.integration

VALUES = {
    "naive, so UTC": "2026-01-01T00:30:00",
    "Z": "2026-01-01T00:30:00Z",
    "no seconds": "2026-01-01T00:40+00:00",
    "in a list": ["x", "2026-01-01T00:45:00+00:00"],
    "three hours west": "2026-01-01T00:30:00-03:00",
    "no such day": "2026-02-30",
    "a word": "tomorrow",
    "a number": 5,
}
INSIDE = {"naive, so UTC", "Z", "no seconds", "in a list"}


async def test_date_ranges_compare_in_utc_whatever_the_server_zone(settings: Settings) -> None:
    async with own_database(settings) as url:
        admin = await asyncpg.connect(url)
        name = url.rsplit("/", 1)[1]
        await admin.execute("CREATE EXTENSION IF NOT EXISTS vector")
        await admin.execute(f"ALTER DATABASE {name} SET timezone = 'America/Sao_Paulo'")
        await admin.close()
        spec = msgspec.json.decode(
            b'{"d": {"range": {"gte": "2026-01-01T00:00:00Z", "lt": "2026-01-01T01:00Z"}}}',
            type=metadata.Filter,
        )
        sql, params = metadata.compile_filter(spec, "m", 1)
        rows = [(k, json.dumps({"d": v})) for k, v in VALUES.items()]
        async with open_pool(msgspec.structs.replace(settings, database_url=url)) as pool:
            found = await pool.fetch(
                f"SELECT k FROM unnest(${len(params) + 1}::text[], ${len(params) + 2}::jsonb[])"
                f" AS t(k, m) WHERE {sql}",
                *params,
                [k for k, _ in rows],
                [m for _, m in rows],
            )
    assert {r["k"] for r in found} == INSIDE
