"""A LlamaIndex retriever over docmesh's search (``pip install 'docmesh[llamaindex]'``):

    retriever = DocmeshRetriever("http://localhost:8000", api_key=KEY,
                                 collections=[COLLECTION_ID], top_k=5)
    engine = RetrieverQueryEngine.from_args(retriever)

Each result is a ``NodeWithScore`` of a ``TextNode``: the chunk's text, its id, and
metadata holding the document's own and where the chunk is (``document_id``,
``title``, ``location``, ``boxes``, ``page_start``, ``page_end``). Ids and boxes are
kept out of what an LLM or an embedding model is shown.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from shared.integrations.client import AsyncDocmeshClient, DocmeshClient, Hit

HIDDEN = ["document_id", "chunk_id", "boxes", "page_start", "page_end"]
"""Metadata an LLM or an embedding model is not shown (ids and coordinates)."""


class DocmeshRetriever(BaseRetriever):
    """Chunks of docmesh's hybrid search, as LlamaIndex nodes."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        top_k: int = 5,
        collections: list[str] | None = None,
        filter: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        super().__init__()
        self._base_url, self._api_key, self._top_k = base_url, api_key, top_k
        self._narrowed = {"collections": collections, "filter": filter, "tags": tags}

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        with DocmeshClient(self._base_url, self._api_key) as client:
            answer = client.search(query_bundle.query_str, self._top_k, **self._narrowed)
        return [node(hit) for hit in answer.results]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        async with AsyncDocmeshClient(self._base_url, self._api_key) as client:
            answer = await client.search(query_bundle.query_str, self._top_k, **self._narrowed)
        return [node(hit) for hit in answer.results]


def node(hit: Hit) -> NodeWithScore:
    """A search result as a LlamaIndex node with its score."""
    cited = {
        "document_id": hit.document_id, "chunk_id": hit.chunk_id, "title": hit.title,
        "location": hit.location, "boxes": hit.boxes, "page_start": hit.page_start,
        "page_end": hit.page_end,
    }  # fmt: skip
    text = TextNode(
        text=hit.text,
        id_=hit.chunk_id,
        metadata={**hit.metadata, **cited},
        excluded_llm_metadata_keys=HIDDEN,
        excluded_embed_metadata_keys=HIDDEN,
    )
    return NodeWithScore(node=text, score=hit.score)
