"""Evaluation sets and runs through the gateway (real PostgreSQL, Redis and embeddings):
what a bad set is told, a run's measures, and another tenant finding nothing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from shared.embeddings import open_embeddings
from shared.keys import create_key
from shared.settings import Settings
from tests.client import Client
from tests.generate import make_pdf
from tests.http_server import serving
from tests.integration.gateway import client_of, running_gateway
from tests.integration.test_tenancy import _completed_chunk

pytestmark = pytest.mark.integration

TEXT = "The quokka colony on the island grew to nine thousand animals after the foxes left."


def _set(document: str, **question: Any) -> dict[str, Any]:
    asked = {"question": "How many quokkas live there?", "documents": [document], **question}
    return {"name": "island", "questions": [asked], "k": 3}


BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("no questions", {"questions": []}, "invalid_field", "questions"),
    ("k of 0", {"k": 0}, "invalid_field", "k"),
    ("blank question", {"question": "  "}, "invalid_field", "questions[0].question"),
    ("a quote of no word", {"quote": "--"}, "invalid_field", "questions[0].quote"),
    ("page 0", {"page": 0}, "invalid_field", "questions"),
    ("unknown field", {"answer": "x"}, "invalid_field", "questions"),
    ("no such document", {"documents": [str(uuid.uuid4())]}, "unknown_document",
     "questions[0].documents"),
    ("not an id", {"documents": ["report.pdf"]}, "unknown_document", "questions[0].documents"),
]  # fmt: skip


def _bad_body(document: str, change: dict[str, Any]) -> dict[str, Any]:
    body = _set(document)
    for key, value in change.items():
        if key in body:
            body[key] = value
        else:
            body["questions"][0][key] = value
    return body


async def test_sets_runs_and_their_errors(settings: Settings, tmp_path: Path) -> None:
    async with running_gateway(settings) as (base, own):
        pool = await asyncpg.create_pool(own.database_url, min_size=1, max_size=2)
        try:
            alice = (await create_key(pool, "alice"))["key"]
            bob = (await create_key(pool, "bob"))["key"]
            async with client_of(base, alice) as a, client_of(base, bob) as b:
                doc = (await a.upload(make_pdf(tmp_path / "q.pdf", 1, "quokkas")))["document_id"]
                async with open_embeddings(own) as embeddings:
                    (vector,) = await embeddings.embed([TEXT], "passage")
                async with pool.acquire() as db:
                    await _completed_chunk(db, doc, TEXT, vector)
                for name, change, code, field in BAD:
                    status, answer = await a.call("POST", "/evaluation-sets",
                                                  json=_bad_body(doc, change))  # fmt: skip
                    assert status == 422, (name, answer)
                    error = answer["error"]
                    assert (error["code"], error["field"]) == (code, field), name
                set_id, run_id = await _runs(a, doc)
                await _closed_to_others(b, set_id, run_id, doc)
                assert (await a.call("DELETE", f"/evaluation-sets/{set_id}"))[0] == 204
                assert (await a.call("GET", f"/evaluations/{run_id}"))[0] == 404
        finally:
            await pool.close()


async def _runs(a: Client, doc: str) -> tuple[str, str]:
    """A set with a question answered on page 1 and one asked of page 2, run twice."""
    body = _set(doc, quote="nine thousand animals after the foxes left")
    body["questions"].append({**body["questions"][0], "page": 2})
    status, created = await a.call("POST", "/evaluation-sets", json=body)
    assert status == 201 and created["question_count"] == 2, created
    status, answer = await a.call("POST", "/evaluation-sets", json=body)
    assert (status, answer["error"]["code"]) == (409, "evaluation_set_exists")
    status, run = await a.call("POST", "/evaluations", json={"set": "island"})
    assert status == 201, run
    assert run["summary"] == {"questions": 2, "recall": 0.5, "mrr": 0.5, "ndcg": 0.5,
                              "unanswerable": 1}  # fmt: skip
    assert [q["ranks"] for q in run["questions"]] == [[1], []]
    status, again = await a.call("POST", "/evaluations", json={"set": created["set_id"], "k": 1})
    assert (status, again["k"]) == (201, 1)
    status, listed = await a.call("GET", f"/evaluations?set_id={created['set_id']}")
    assert [r["evaluation_id"] for r in listed["items"]] == [again["evaluation_id"],
                                                              run["evaluation_id"]]  # fmt: skip
    assert listed["items"][0]["questions"] is None
    for wrong, code in [
        ({"set": "nope"}, "evaluation_set_not_found"),
        ({"set": "island", "index_version": 99}, "index_version_not_kept"),
    ]:
        status, answer = await a.call("POST", "/evaluations", json=wrong)
        assert answer["error"]["code"] == code and status in (404, 409)
    status, answer = await a.call("GET", "/evaluations?set_id=nope")
    assert (status, answer["error"]["code"]) == (400, "invalid_parameter")
    body["questions"] = body["questions"][:1]
    status, replaced = await a.call("PUT", f"/evaluation-sets/{created['set_id']}", json=body)
    assert (status, replaced["question_count"]) == (200, 1)
    return created["set_id"], run["evaluation_id"]


async def _closed_to_others(b: Client, set_id: str, run_id: str, doc: str) -> None:
    """Every evaluation route as another tenant: not found, and its document unknown."""
    for method, path, body in [
        ("GET", f"/evaluation-sets/{set_id}", None),
        ("PUT", f"/evaluation-sets/{set_id}", _set(str(uuid.uuid4()))),
        ("DELETE", f"/evaluation-sets/{set_id}", None),
        ("POST", "/evaluations", {"set": set_id}),
        ("POST", "/evaluations", {"set": "island"}),
        ("GET", f"/evaluations/{run_id}", None),
    ]:
        status, answer = await b.call(method, path, json=body)
        assert status == 404, (method, path, answer)
    assert (await b.call("GET", "/evaluation-sets"))[1]["items"] == []
    assert (await b.call("GET", "/evaluations"))[1]["items"] == []
    status, answer = await b.call("POST", "/evaluation-sets", json=_set(doc))
    assert (status, answer["error"]["code"]) == (422, "unknown_document")


def _chat_model() -> web.Application:
    """An OpenAI-compatible chat endpoint in the test: the drafting route's contract
    with any such model (a real model does not fit this machine). It answers as models
    do: JSON wrapped in prose, and a quote taken from the passage, or not."""
    seen: list[str] = []

    async def completions(request: web.Request) -> web.Response:
        passage = (await request.json())["messages"][-1]["content"]
        seen.append(passage)
        words = passage.split()
        quote = " ".join(words[2:12]) if len(seen) == 1 else "words the passage lacks entirely"
        content = f'Here it is: {{"question": "What happened to the colony?", "quote": "{quote}"}}'
        return web.json_response({
            "id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
        })  # fmt: skip

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    return app


async def test_questions_are_drafted_by_a_chat_model_only_when_one_is_set(
    settings: Settings, tmp_path: Path
) -> None:
    async with running_gateway(settings) as (base, own), client_of(base) as off:
        doc = (await off.upload(make_pdf(tmp_path / "q.pdf", 1, "q")))["document_id"]
        status, answer = await off.call("POST", "/evaluation-sets/draft", json={"documents": [doc]})
        assert (status, answer["error"]["code"]) == (409, "chat_not_configured")
    async with (
        serving(_chat_model()) as chat,
        running_gateway(settings, chat_base_url=f"{chat}/v1", chat_model="m") as (base, own),
        client_of(base) as c,
    ):
        pool = await asyncpg.create_pool(own.database_url, min_size=1, max_size=2)
        try:
            docs = [(await c.upload(make_pdf(tmp_path / f"{n}.pdf", 1, "q")))["document_id"]
                    for n in range(2)]  # fmt: skip
            status, answer = await c.call("POST", "/evaluation-sets/draft",
                                          json={"documents": docs})  # fmt: skip
            assert (status, answer["error"]["code"]) == (422, "nothing_to_draft_from")
            long = " ".join([TEXT] * 4)
            async with open_embeddings(own) as embeddings:
                (vector,) = await embeddings.embed([long], "passage")
            async with pool.acquire() as db:
                for doc in docs:
                    await _completed_chunk(db, doc, long, vector)
        finally:
            await pool.close()
        body = {"documents": docs, "count": 5}
        status, drafted = await c.call("POST", "/evaluation-sets/draft", json=body)
        assert status == 200, drafted
        first, second = drafted["questions"]
        assert first["question"] == "What happened to the colony?" and first["page"] == 1
        assert first["quote"] == " ".join(TEXT.split()[2:12])
        assert second["quote"] is None  # the model's quote is not in the passage
        assert {first["documents"][0], second["documents"][0]} == set(docs)
        made = {"name": "drafted", "questions": drafted["questions"]}
        status, made = await c.call("POST", "/evaluation-sets", json=made)
        assert status == 201, made
