"""Reranking: a configured endpoint reorders the first fused results of a search.

Off by default (``DOCMESH_RERANK_URL``). Two contracts are spoken: Cohere's
(``{"model", "query", "documents"}`` answered with ``{"results": [{"index",
"relevance_score"}]}``; Jina, Infinity and vLLM serve it too) and Text Embeddings
Inference's (``{"query", "texts"}`` answered with ``[{"index", "score"}]``). A
reranker that fails or is slow never fails a search: the fused order is kept and
the answer says so (``reranked`` false)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import msgspec
import structlog

from shared.settings import Settings
from shared.text import embedded_text

log = structlog.get_logger()


class _Ranked(msgspec.Struct):
    index: int
    relevance_score: float | None = None
    score: float | None = None


class _CohereAnswer(msgspec.Struct):
    results: list[_Ranked]


_COHERE = msgspec.json.Decoder(_CohereAnswer)
_TEI = msgspec.json.Decoder(list[_Ranked])


class RerankFailed(Exception):
    """The endpoint did not answer, or not in its contract."""


class Reranker:
    """One configured rerank endpoint, over one HTTP session."""

    def __init__(self, session: aiohttp.ClientSession, settings: Settings) -> None:
        self._session = session
        self._url = str(settings.rerank_url)
        self._api = settings.rerank_api
        self.model = settings.rerank_model or settings.rerank_api
        self._model = settings.rerank_model
        self.candidates = settings.rerank_candidates
        headers = {"Authorization": f"Bearer {settings.rerank_api_key}"}
        self._headers = headers if settings.rerank_api_key else {}
        self._timeout = aiohttp.ClientTimeout(total=settings.rerank_timeout_s)

    async def order(self, query: str, texts: Sequence[str]) -> list[int]:
        """Indexes of ``texts``, most relevant first (every index once)."""
        body: dict[str, Any] = {"query": query}
        if self._api == "tei":
            body |= {"texts": list(texts), "truncate": True}
        else:
            body |= {"documents": list(texts), "top_n": len(texts)}
            body |= {"model": self._model} if self._model else {}
        try:
            async with self._session.post(
                self._url, json=body, headers=self._headers, timeout=self._timeout
            ) as response:
                raw = await response.read()
                response.raise_for_status()
            ranked = _TEI.decode(raw) if self._api == "tei" else _COHERE.decode(raw).results
        except (aiohttp.ClientError, TimeoutError, msgspec.DecodeError) as exc:
            raise RerankFailed(f"{type(exc).__name__}: {exc}") from exc
        scored = sorted(ranked, key=lambda r: -(r.relevance_score or r.score or 0.0))
        # Each index once; those it left out (a top_n it cut) keep their fused order.
        first = list(dict.fromkeys(r.index for r in scored if 0 <= r.index < len(texts)))
        named = set(first)
        return first + [i for i in range(len(texts)) if i not in named]

    async def reorder(self, query: str, rows: Sequence[Any], top_k: int) -> tuple[list[Any], bool]:
        """The first ``top_k`` of ``rows`` (search rows: ``context`` and ``text``) in the
        reranker's order, and whether it gave one (else the fused order is kept)."""
        if len(rows) < 2:
            return list(rows)[:top_k], True
        try:
            order = await self.order(query, [embedded_text(r["context"], r["text"]) for r in rows])
        except RerankFailed as exc:
            log.warning("rerank_failed", url=self._url, error=str(exc))
            return list(rows)[:top_k], False
        return [rows[i] for i in order][:top_k], True


@asynccontextmanager
async def open_reranker(settings: Settings) -> AsyncIterator[Reranker | None]:
    """The configured reranker, or None when reranking is off."""
    if not settings.rerank_url:
        yield None
        return
    async with aiohttp.ClientSession() as session:
        yield Reranker(session, settings)
