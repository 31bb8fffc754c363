"""The tools where RAG is built, against ``docmesh up``: a document in a collection,
found through MCP (streamable HTTP and ``docmesh mcp`` over stdio), the ``openai``
client's vector-store search with a filter, Dify's request as its documentation
writes it, and the LangChain and LlamaIndex retrievers in a chain and a query engine
that run without an LLM. (Keys, tenants and refusals: tests/integration/test_mcp.py
and test_collections.py, on a gateway with keys.)"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import openai
import pytest
from langchain_core.runnables import RunnableLambda
from llama_index.core import Settings as LlamaSettings
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from mcp import Client as McpClient
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from shared.integrations.langchain import DocmeshRetriever
from shared.integrations.llamaindex import DocmeshRetriever as LlamaRetriever
from tests.client import Client
from tests.generate import make_pdf
from tests.mesh import Mesh

pytestmark = pytest.mark.e2e


def _found(result: Any) -> Any:
    assert not result.is_error, result.content
    return (result.structured_content or {}).get("result") or json.loads(result.content[0].text)


async def test_every_tool_finds_the_collections_document(
    mesh: Mesh, client: Client, tmp_path: Path
) -> None:
    word = f"numbat{uuid.uuid4().hex[:6]}"
    _, shelf = await client.call("POST", "/collections", json={"name": f"Agents {word}"})
    shelf_id = shelf["collection_id"]
    job = await client.upload(
        make_pdf(tmp_path / "survey.pdf", 2, f"The {word} survey counted burrows"),
        collections=[shelf_id], metadata={"site": "east"},
    )  # fmt: skip
    document = job["document_id"]
    assert (await client.wait(document))[-1]["status"] == "completed"

    async with McpClient(streamable_http_client(f"{mesh.url}/api/v1/mcp")) as agent:
        hits = _found(await agent.call_tool("search", {"query": word, "collections": [shelf_id]}))
        assert hits[0]["document_id"] == document and word in hits[0]["snippet"]
        read = _found(await agent.call_tool("read_document", {"document_id": document}))
        assert read["total"] >= 1 and word in read["chunks"][0]["text"]
    stdio = StdioServerParameters(
        command=sys.executable, args=["-m", "deploy.local.cli", "mcp", "--url", mesh.url],
        cwd=str(Path(__file__).parents[2]),
    )  # fmt: skip
    async with McpClient(stdio) as agent:
        hits = _found(await agent.call_tool("search", {"query": word, "collections": [shelf_id]}))
        assert hits[0]["document_id"] == document

    store = openai.AsyncOpenAI(base_url=f"{mesh.url}/api/v1/openai", api_key="unused")
    page = await store.vector_stores.search(
        shelf_id, query=word, filters={"type": "eq", "key": "site", "value": "east"}
    )
    assert page.data[0].file_id == document and word in page.data[0].content[0].text
    empty = await store.vector_stores.search(
        shelf_id, query=word, filters={"type": "eq", "key": "site", "value": "west"}
    )
    assert empty.data == []

    dify = {"knowledge_id": shelf_id, "query": word,
            "retrieval_setting": {"top_k": 2, "score_threshold": 0.5}}  # fmt: skip
    status, records = await client.call("POST", "/dify/retrieval", json=dify)
    assert status == 200 and records["records"][0]["metadata"]["document_id"] == document

    retriever = DocmeshRetriever(base_url=mesh.url, collections=[shelf_id], top_k=2)
    chain = retriever | RunnableLambda(lambda docs: [d.metadata["document_id"] for d in docs])
    assert (await chain.ainvoke(word))[0] == document
    LlamaSettings.llm = MockLLM()  # never called: "no_text" answers with the sources
    engine = RetrieverQueryEngine.from_args(
        LlamaRetriever(mesh.url, collections=[shelf_id], top_k=2), response_mode="no_text"
    )
    answer = await asyncio.wait_for(engine.aquery(word), 60)
    assert answer.source_nodes[0].node.metadata["document_id"] == document
