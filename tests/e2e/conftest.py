"""Fixtures of the end-to-end tests: one ``docmesh up`` for the session."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from tests.client import Client
from tests.e2e.browser import chromium, open_page
from tests.hostile import HOSTILE_LIMITS
from tests.mesh import Mesh, running_mesh
from tests.otlp import Receiver, otlp_receiver


@pytest.fixture(scope="session")
def mesh(server_dir: Callable[[str], Path]) -> Iterator[Mesh]:
    # Tighter extraction limits than the defaults, so hostile documents end sooner.
    with running_mesh(server_dir("mesh"), HOSTILE_LIMITS) as mesh:
        yield mesh


@pytest.fixture
async def client(mesh: Mesh) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, mesh.url)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


@pytest.fixture
async def page(browser: Browser, mesh: Mesh) -> AsyncIterator[Page]:
    """The web page of the session's mesh."""
    async with open_page(browser, mesh.url) as page:
        yield page


QUICK_SWEEPS = {
    # A document waiting this long is resumed by the janitor's sweep.
    "DOCMESH_STALL_AFTER_S": "6",
    "DOCMESH_SWEEP_INTERVAL_S": "1",
    "DOCMESH_MAX_RESUMES": "10",
}
"""The janitor's safety nets on a short clock (resumes, stalled builds)."""


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def traced(receiver: Receiver, server_dir: Callable[[str], Path]) -> Iterator[Mesh]:
    """A mesh that exports its traces, with the janitor's safety nets on a short clock:
    the tests of tracing, erasure and features meeting share it (each on documents of
    its own)."""
    settings = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "DOCMESH_LEASE_MS": "3000",
        "DOCMESH_BLOCK_MS": "500",
        "DOCMESH_LOG_FORMAT": "json",
        "DOCMESH_MAX_CHUNKS": "60",
        **QUICK_SWEEPS,
    }
    with running_mesh(server_dir("traced"), settings) as mesh:
        yield mesh


KEY = "dm_" + secrets.token_hex(24)


@pytest.fixture(scope="session")
def keyed_mesh(server_dir: Callable[[str], Path]) -> Iterator[Mesh]:
    """A mesh that needs an API key, allows one /process per key every 8 s, and
    takes files of 5 MiB or more in parts of 5 MiB."""
    settings = {
        "DOCMESH_ADMIN_KEY": KEY,
        "DOCMESH_RATE_LIMIT_PROCESS": "1/8second",
        "DOCMESH_MULTIPART_THRESHOLD_BYTES": str(5 * 1024**2),
        "DOCMESH_MULTIPART_PART_BYTES": str(5 * 1024**2),
    }
    with running_mesh(server_dir("keyed-mesh"), settings) as mesh:
        yield mesh
