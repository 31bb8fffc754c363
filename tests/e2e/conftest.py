"""Fixtures of the end-to-end tests: one ``docmesh up`` for the session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from playwright.async_api import Browser, Page

from tests.client import Client
from tests.e2e.browser import chromium, open_page
from tests.hostile import HOSTILE_LIMITS
from tests.mesh import Mesh, running_mesh


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    # Tighter extraction limits than the defaults, so hostile documents end sooner.
    with running_mesh(tmp_path_factory.mktemp("mesh"), HOSTILE_LIMITS) as mesh:
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
