"""The MCP server with the official SDK's client, over streamable HTTP (served by the
gateway) and over stdio (``docmesh mcp``): the tools listed with their schemas, each
called; a bad key refused; another tenant's document not found, as a tool error."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from deploy.local.embedded import free_port
from shared.embeddings import open_embeddings
from shared.keys import create_key
from shared.settings import Settings
from tests.generate import make_pdf
from tests.integration.gateway import client_of, running_gateway
from tests.integration.test_tenancy import _completed_chunk

pytestmark = pytest.mark.integration

TOOLS = {"search", "list_collections", "list_documents", "get_document", "read_document"}


def _over_http(base: str, key: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return Client(streamable_http_client(f"{base}/api/v1/mcp", http_client=http))


def _data(result: Any) -> Any:
    assert not result.is_error, result.content
    structured = result.structured_content
    if structured is not None:
        return structured.get("result", structured)
    return json.loads(result.content[0].text)


@pytest.mark.slow
async def test_agents_search_and_read_through_mcp(settings: Settings, tmp_path: Path) -> None:
    async with running_gateway(settings, gateway_port=free_port()) as (base, own):
        pool = await asyncpg.create_pool(own.database_url, min_size=1, max_size=2)
        try:
            alice = (await create_key(pool, "alice"))["key"]
            bob = (await create_key(pool, "bob"))["key"]
            word = f"wombat{uuid.uuid4().hex[:6]}"
            async with client_of(base, alice) as a:
                _, shelf = await a.call("POST", "/collections", json={"name": "Field notes"})
                job = await a.upload(
                    make_pdf(tmp_path / "notes.pdf", 1, "notes"),
                    collections=[shelf["collection_id"]], metadata={"site": "north"},
                )  # fmt: skip
            text = f"the {word} burrow survey of the northern site"
            async with open_embeddings(own) as embeddings:
                (vector,) = await embeddings.embed([text], "passage")
            async with pool.acquire() as db:
                await _completed_chunk(db, job["document_id"], text, vector)
            async with _over_http(base, alice) as agent:
                await _each_tool(agent, word, shelf["collection_id"], job["document_id"])
            async with _over_http(base, bob) as other:
                await _closed_to_others(other, word, shelf["collection_id"], job["document_id"])
            with pytest.raises(Exception):  # noqa: B017 - the HTTP 401 surfaces as the SDK raises it
                async with _over_http(base, "dm_not-a-key") as stranger:
                    await stranger.list_tools()
            await _over_stdio(base, alice, word, job["document_id"])
        finally:
            await pool.close()


async def _each_tool(agent: Client, word: str, collection: str, document: str) -> None:
    tools = {t.name: t for t in (await agent.list_tools()).tools}
    assert set(tools) == TOOLS
    assert tools["search"].input_schema["required"] == ["query"]
    assert all(t.description for t in tools.values())
    found = _data(await agent.call_tool("search", {"query": word, "collections": [collection]}))
    assert [hit["document_id"] for hit in found] == [document]
    assert word in found[0]["snippet"] and found[0]["metadata"] == {"site": "north"}
    (listed,) = _data(await agent.call_tool("list_collections", {}))
    assert (listed["name"], listed["documents"]) == ("Field notes", 1)
    library = _data(await agent.call_tool("list_documents", {"collection": collection}))
    assert [d["document_id"] for d in library["documents"]] == [document]
    view = _data(await agent.call_tool("get_document", {"document_id": document}))
    assert view["status"] == "completed"
    read = _data(await agent.call_tool("read_document", {"document_id": document}))
    assert read["total"] == 1 and word in read["chunks"][0]["text"]


async def _closed_to_others(other: Client, word: str, collection: str, document: str) -> None:
    """Each tool, as another tenant: the documents and the collection are not found."""
    for tool, arguments, code in [
        ("get_document", {"document_id": document}, "not_found"),
        ("read_document", {"document_id": document}, "not_found"),
        ("search", {"query": word, "collections": [collection]}, "unknown_collection"),
    ]:
        refused = await other.call_tool(tool, arguments)
        text = refused.content[0].text
        assert refused.is_error and f"{code}: " in text and "Traceback" not in text, text
    assert _data(await other.call_tool("list_collections", {})) == []
    listed = _data(await other.call_tool("list_documents", {"collection": collection}))
    assert listed["documents"] == []
    assert _data(await other.call_tool("search", {"query": word})) == []


async def _over_stdio(base: str, key: str, word: str, document: str) -> None:
    """``docmesh mcp`` as a desktop client starts it."""
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "deploy.local.cli", "mcp", "--url", base],
        env={**os.environ, "DOCMESH_API_KEY": key},
        cwd=str(Path(__file__).parents[2]),
    )
    async with Client(server) as agent:
        assert {t.name for t in (await agent.list_tools()).tools} == TOOLS
        found = _data(await agent.call_tool("search", {"query": word}))
        assert [hit["document_id"] for hit in found] == [document]
