"""Drafting evaluation questions from a tenant's chunks with an OpenAI-compatible chat
model (``DOCMESH_CHAT_BASE_URL``; off by default): one question per chunk, the chunks
picked evenly through the documents named, each with the span that answers it as its
quote. Drafts are answered, not kept: a person reads them before saving a set."""

from __future__ import annotations

import json
import re
from typing import Any

import asyncpg
import structlog

from shared import evaluations, indexes
from shared.errors import Conflict, Invalid, Unavailable
from shared.relevance import Question, holds_quote, normalized
from shared.settings import Settings

log = structlog.get_logger()

PROMPT = (
    "You write test questions for a search engine. Given a passage, write one question "
    "that a user might ask and that this passage answers, in the passage's language, "
    "without copying its wording; then copy the shortest exact span of the passage "
    "(8 to 40 words) that answers it. Answer with JSON only: "
    '{"question": "...", "quote": "..."}'
)
MIN_CHARS = 200
"""Shorter chunks (a heading, a table's last row) make poor questions."""
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


async def draft(
    pool: asyncpg.Pool, settings: Settings, tenant: str, documents: list[str], count: int
) -> list[Question]:
    """Up to ``count`` drafted questions on ``documents`` (ids of the tenant's)."""
    if not settings.chat_base_url:
        raise Conflict(
            "chat_not_configured",
            "Drafting questions needs a chat model: set DOCMESH_CHAT_BASE_URL (and "
            "DOCMESH_CHAT_MODEL) to an OpenAI-compatible chat API.",
        )
    picked = await _picked(pool, tenant, documents, count)
    from openai import AsyncOpenAI  # only drafting needs the chat client

    client = AsyncOpenAI(
        base_url=settings.chat_base_url, api_key=settings.chat_api_key, timeout=120
    )
    try:
        drafts = [await _one(client, settings.chat_model, row) for row in picked]
    finally:
        await client.close()
    return [d for d in drafts if d is not None]


async def _picked(
    pool: asyncpg.Pool, tenant: str, documents: list[str], count: int
) -> list[asyncpg.Record]:
    """``count`` chunks of the active version spread evenly through the documents."""
    ids = await evaluations.tenants(pool, tenant, documents)
    if len(ids) < len({evaluations.canonical_id(d) or d for d in documents}):
        raise Invalid("unknown_document", "A document named is not one of the tenant's.",
                      "documents")  # fmt: skip
    version = await indexes.active(pool)
    rows = await pool.fetch(
        "SELECT d.id::text AS document_id, c.page_start, c.text FROM documents d"
        " JOIN chunks c ON c.document_id = coalesce(d.duplicate_of, d.id)"
        " WHERE d.id = ANY($1::uuid[]) AND c.index_version = $2 AND length(c.text) >= $3"
        " ORDER BY d.id, c.ordinal",
        list(ids),
        version.version,
        MIN_CHARS,
    )
    if not rows:
        raise Invalid("nothing_to_draft_from",
                      "The documents named hold no searchable text yet.", "documents")  # fmt: skip
    step = len(rows) / min(count, len(rows))
    return [rows[int(i * step)] for i in range(min(count, len(rows)))]


async def _one(client: Any, model: str, row: asyncpg.Record) -> Question | None:
    """One question on the chunk ``row``; None when the answer is not one."""
    import openai

    try:
        answer = await client.chat.completions.create(
            model=model,
            temperature=0.2,
            messages=[{"role": "system", "content": PROMPT},
                      {"role": "user", "content": row["text"]}],
        )  # fmt: skip
    except openai.APIError as exc:
        raise Unavailable("chat_unavailable", f"The chat API did not answer: {exc}") from exc
    parsed = _json_object(answer.choices[0].message.content or "")
    question = str(parsed.get("question") or "").strip()
    if not question:
        log.info("draft_unusable", document_id=row["document_id"])
        return None
    quote = str(parsed.get("quote") or "").strip()
    # A quote the chunk does not hold would make the question unanswerable: dropped.
    held = quote and normalized(quote) and holds_quote(normalized(row["text"]), normalized(quote))
    return Question(
        question=question[:2000],
        documents=[row["document_id"]],
        page=row["page_start"],
        quote=quote[:2000] if held else None,
    )


def _json_object(text: str) -> dict[str, Any]:
    """The first JSON object in a model's answer (models wrap it in prose or fences)."""
    match = _OBJECT.search(text)
    try:
        value = json.loads(match.group(0)) if match else None
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {}
