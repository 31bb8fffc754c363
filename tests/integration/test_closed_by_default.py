"""A gateway is closed by default: it will not serve an open API beyond loopback, a
deployment's admin key comes from a secret, revoking keys never reopens the API, an
open API answers only local host names, and server errors carry an id, not a trace."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import aiohttp
import asyncpg
import msgspec
import pytest
from aiohttp import web

from deploy.local.embedded import free_port
from services.gateway.app import OpenGatewayRefused, create_app, errors
from services.gateway.auth import CACHE_TTL_S
from shared.db import migrate
from shared.keys import list_keys, revoke_key
from shared.settings import Settings, to_env
from tests.http_server import serving
from tests.integration.gateway import client_of, own_database, running_gateway

pytestmark = pytest.mark.integration


async def test_an_open_api_beyond_loopback_refuses_to_start(settings: Settings) -> None:
    async with own_database(settings) as url:
        exposed = msgspec.structs.replace(settings, database_url=url, gateway_host="0.0.0.0")
        await migrate(exposed)
        with pytest.raises(OpenGatewayRefused):
            async with serving(create_app(exposed)):
                pass
        # As an operator runs it: the process exits, saying why, and never listens.
        port = free_port()
        env = {**os.environ, **to_env(exposed), "DOCMESH_GATEWAY_PORT": str(port)}
        run = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "services.gateway"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode != 0
        assert "api_open_refused" in run.stdout + run.stderr
        # Opting in explicitly serves it (with a warning in the log).
        opted = msgspec.structs.replace(exposed, allow_open=True)
        async with serving(create_app(opted)) as base, client_of(base) as anyone:
            assert (await anyone.call("GET", "/documents"))[0] == 200


@pytest.mark.slow
async def test_the_admin_key_from_a_secret_closes_the_api_and_stays_revoked(
    settings: Settings,
) -> None:
    secret = "dm_" + os.urandom(16).hex()
    async with running_gateway(settings, gateway_host="0.0.0.0", admin_key=secret) as (
        base,
        own,
    ):
        async with client_of(base) as anyone, client_of(base, secret) as admin:
            status, body = await anyone.call("GET", "/documents")
            assert (status, body["error"]["code"]) == (401, "missing_api_key")
            assert (await admin.call("GET", "/queue/info"))[0] == 200
        pool = await asyncpg.create_pool(own.database_url, min_size=1, max_size=2)
        try:
            (key,) = await list_keys(pool)
            assert key["admin"] and key["tenant"] == "default"
            assert await revoke_key(pool, key["id"])
        finally:
            await pool.close()
        await asyncio.sleep(CACHE_TTL_S + 0.5)
        async with client_of(base, secret) as admin:
            status, body = await admin.call("GET", "/documents")
            assert (status, body["error"]["code"]) == (401, "invalid_api_key")
        # A restart with the same secret does not bring a revoked key back.
        async with serving(create_app(own)) as again, client_of(again, secret) as admin:
            status, body = await admin.call("GET", "/documents")
            assert (status, body["error"]["code"]) == (401, "invalid_api_key")


async def test_an_open_api_answers_only_local_or_listed_host_names(settings: Settings) -> None:
    hosts = (
        ("rebound.attacker.example", 421),
        ("rebound.attacker.example:8000", 421),
        ("localhost:8000", 200),
        ("127.0.0.1", 200),
        ("docs.internal", 200),
    )
    async with (
        running_gateway(settings, allowed_hosts=("docs.internal",)) as (base, _),
        aiohttp.ClientSession() as http,
    ):
        for host, expected in hosts:
            async with http.get(f"{base}/api/v1/documents", headers={"Host": host}) as r:
                body = await r.json()
                assert r.status == expected, (host, body)
                if expected == 421:
                    assert body["error"]["code"] == "host_not_allowed"


async def test_a_server_error_carries_an_id_and_no_exception_text() -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("password=hunter2 at /srv/secret/path")

    app = web.Application(middlewares=[errors])
    app.router.add_get("/broken", broken)
    async with (
        serving(app) as base,
        aiohttp.ClientSession() as http,
        http.get(f"{base}/broken") as response,
    ):
        body = await response.json()
    assert response.status == 500
    error = body["error"]
    assert error["code"] == "internal_error" and len(error["error_id"]) == 16
    assert error["error_id"] in error["message"]
    assert "hunter2" not in str(body) and "RuntimeError" not in str(body)
