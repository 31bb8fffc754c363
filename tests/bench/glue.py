"""Search through other tools' APIs against the REST route: the same queries over the
same collection, one request at a time, the routes taken in turn for each query (so
that warm-up and a busy moment favour none); the median latency of each and its
ratio to REST's (issue target: at most 1.10). MCP is called with the SDK's client
over streamable HTTP, its session opened once."""

from __future__ import annotations

import statistics
import time
from typing import Any

import aiohttp
from mcp import Client as McpClient
from mcp.client.streamable_http import streamable_http_client

from tests.client import Client

QUERIES = [
    "termination notice period", "who signed the memo", "quarterly revenue figures",
    "data retention policy", "contact address of the office", "what was decided",
    "budget for next year", "risks and mitigations", "meeting schedule", "late delivery penalty",
]  # fmt: skip


async def measure(client: Client, document_ids: list[str], rounds: int) -> dict[str, Any]:
    """p50 latency (ms) of REST search, Dify's retrieval and OpenAI's vector-store search
    over a collection of ``document_ids``."""
    status, made = await client.call("POST", "/collections", json={"name": "bench glue"})
    assert status == 201, made
    collection = made["collection_id"]
    for document_id in document_ids:
        await client.call("PUT", f"/collections/{collection}/documents/{document_id}")
    routes = {
        "rest": ("/search", lambda q: {"query": q, "top_k": 5, "collections": [collection]}),
        "dify": ("/dify/retrieval", lambda q: {"knowledge_id": collection, "query": q,
                 "retrieval_setting": {"top_k": 5, "score_threshold": 0.0}}),
        "openai": (f"/openai/vector_stores/{collection}/search",
                   lambda q: {"query": q, "max_num_results": 5}),
    }  # fmt: skip
    seconds: dict[str, list[float]] = {name: [] for name in [*routes, "mcp"]}
    async with McpClient(streamable_http_client(client.base + "/mcp")) as agent:

        async def timed(name: str, query: str) -> None:
            started = time.perf_counter()
            if name == "mcp":
                arguments = {"query": query, "top_k": 5, "collections": [collection]}
                if (await agent.call_tool("search", arguments)).is_error:
                    raise aiohttp.ClientError("mcp: tool error")
            else:
                path, body = routes[name]
                async with client.http.post(client.base + path, json=body(query)) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise aiohttp.ClientError(f"{name}: {resp.status}")
            seconds[name].append(time.perf_counter() - started)

        for n in range(rounds):
            for i, query in enumerate(QUERIES):
                names = list(seconds)
                shift = (n + i) % len(names)
                for name in names[shift:] + names[:shift]:
                    await timed(name, query)
    p50 = {name: round(statistics.median(v) * 1000, 2) for name, v in seconds.items()}
    return {
        "queries": len(QUERIES) * rounds,
        "p50_ms": p50,
        **{
            f"{name}_over_rest": round(p50[name] / p50["rest"], 3)
            for name in ("dify", "openai", "mcp")
        },
        "target": "<= 1.10",
    }


def rows(result: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not result:
        return []
    p50 = result["p50_ms"]
    return [
        (
            "search through MCP / Dify / OpenAI over REST (p50)",
            f"{result['mcp_over_rest']} / {result['dify_over_rest']} / "
            f"{result['openai_over_rest']} (target {result['target']}; {p50['mcp']} / "
            f"{p50['dify']} / {p50['openai']} vs {p50['rest']} ms, "
            f"{result['queries']} queries each)",
        )
    ]
