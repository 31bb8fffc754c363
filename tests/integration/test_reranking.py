"""Reranking through the gateway (real PostgreSQL, Redis and embeddings, and a rerank
endpoint scoring with the real model): the search and an evaluation run take the
reranker's order in either contract, a run says which reranker ordered it, and a
reranker that does not answer never fails a search."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from shared.embeddings import open_embeddings
from shared.settings import Settings
from tests.client import Client
from tests.generate import make_pdf
from tests.http_server import serving
from tests.integration.gateway import client_of, running_gateway
from tests.integration.test_tenancy import _completed_chunk
from tests.rerankers import ASKED, e5_reranker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEXTS = [
    "Island animals: the quokka colony grew to nine thousand after the foxes left.",
    "Island taxes: returns are due in April and late filers pay a fine.",
    "Island weather: the rainy season runs from May to October.",
]
QUERY = "How many marsupials live on the island?"


@asynccontextmanager
async def _gateway(settings: Settings, tmp_path: Path, **rerank: Any) -> AsyncIterator[Client]:
    """A gateway with ``rerank`` settings, holding TEXTS as three completed documents."""
    tmp_path.mkdir(exist_ok=True)
    async with running_gateway(settings, **rerank) as (base, own), client_of(base) as c:
        docs = [(await c.upload(make_pdf(tmp_path / f"{n}.pdf", 1, "r")))["document_id"]
                for n in range(len(TEXTS))]  # fmt: skip
        async with open_embeddings(own) as embeddings:
            vectors = await embeddings.embed(TEXTS, "passage")
        pool = await asyncpg.create_pool(own.database_url, min_size=1, max_size=1)
        try:
            async with pool.acquire() as db:
                for doc, text, vector in zip(docs, TEXTS, vectors, strict=True):
                    await _completed_chunk(db, doc, text, vector)
        finally:
            await pool.close()
        question = {"question": QUERY, "documents": [docs[0]], "quote": "nine thousand"}
        status, made = await c.call(
            "POST", "/evaluation-sets", json={"name": "s", "questions": [question], "k": 1}
        )
        assert status == 201, made
        yield c


async def test_the_reranker_orders_searches_and_runs_in_either_contract(
    settings: Settings, tmp_path: Path
) -> None:
    async with e5_reranker(settings) as app, serving(app) as url:
        cohere = {"rerank_url": f"{url}/v1/rerank", "rerank_model": "e5-bi",
                  "rerank_api_key": "sk-r"}  # fmt: skip
        async with _gateway(settings, tmp_path / "c", **cohere) as c:
            status, found = await c.call("POST", "/search", json={"query": QUERY, "top_k": 2})
            assert status == 200 and found["reranked"] is True, found
            headers, asked = app[ASKED][-1]
            assert headers["Authorization"] == "Bearer sk-r" and asked["model"] == "e5-bi"
            assert asked["query"] == QUERY and len(asked["documents"]) == 3  # all candidates
            first, second = (r["text"] for r in found["results"])
            assert first == TEXTS[0] and second in TEXTS[1:]
            for rerank, reranker in ((True, "e5-bi"), (False, None)):
                status, run = await c.call(
                    "POST", "/evaluations", json={"set": "s", "rerank": rerank}
                )
                assert status == 201 and run["reranker"] == reranker, run
                assert run["summary"]["recall"] == 1.0
        tei = {"rerank_url": f"{url}/rerank", "rerank_api": "tei"}
        async with _gateway(settings, tmp_path / "t", **tei) as c:
            status, found = await c.call("POST", "/search", json={"query": QUERY, "top_k": 1})
            assert status == 200 and found["reranked"] is True, found
            assert [r["text"] for r in found["results"]] == [TEXTS[0]]
            assert "texts" in app[ASKED][-1][1] and "Authorization" not in app[ASKED][-1][0]


async def test_a_reranker_that_does_not_answer_keeps_the_fused_order(
    settings: Settings, tmp_path: Path
) -> None:
    async with (
        serving(_overloaded()) as url,
        _gateway(settings, tmp_path, rerank_url=f"{url}/v1/rerank") as c,
    ):
        status, found = await c.call("POST", "/search", json={"query": QUERY, "top_k": 2})
        assert status == 200 and found["reranked"] is False and len(found["results"]) == 2
        status, run = await c.call("POST", "/evaluations", json={"set": "s"})
        assert (status, run["error"]["code"]) == (503, "reranker_unavailable"), run
        status, run = await c.call("POST", "/evaluations", json={"set": "s", "rerank": False})
        assert status == 201 and run["reranker"] is None, run
    async with running_gateway(settings) as (base, _), client_of(base) as off:
        status, found = await off.call("POST", "/search", json={"query": QUERY})
        assert status == 200 and "reranked" not in found  # no reranker configured


def _overloaded() -> web.Application:
    """An endpoint that fails as an overloaded reranker does: 503."""

    async def busy(request: web.Request) -> web.Response:
        return web.json_response({"message": "overloaded"}, status=503)

    app = web.Application()
    app.router.add_post("/v1/rerank", busy)
    return app
