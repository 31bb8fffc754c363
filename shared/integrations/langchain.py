"""A LangChain retriever over docmesh's search (``pip install 'docmesh[langchain]'``):

    retriever = DocmeshRetriever(base_url="http://localhost:8000", api_key=KEY,
                                 collections=[COLLECTION_ID], top_k=5)
    docs = retriever.invoke("termination notice")

Each result is a ``Document`` whose ``page_content`` is the chunk's text and whose
metadata holds the document's own and where the chunk is: ``document_id``,
``chunk_id``, ``title``, ``score``, ``location``, ``boxes`` (PDF citation boxes),
``page_start`` and ``page_end``.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from shared.integrations.client import AsyncDocmeshClient, DocmeshClient, Hit


class DocmeshRetriever(BaseRetriever):
    """Chunks of docmesh's hybrid search, as LangChain documents."""

    base_url: str
    api_key: str | None = None
    top_k: int = 5
    collections: list[str] | None = None
    """Collection ids the search is narrowed to."""
    document_ids: list[str] | None = None
    tags: list[str] | None = None
    filter: dict[str, Any] | None = None
    """A metadata filter, as ``POST /search`` takes it."""

    def _narrowed(self) -> dict[str, Any]:
        return {
            "collections": self.collections,
            "document_ids": self.document_ids,
            "tags": self.tags,
            "filter": self.filter,
        }

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        with DocmeshClient(self.base_url, self.api_key) as client:
            answer = client.search(query, self.top_k, **self._narrowed())
        return [document(hit) for hit in answer.results]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        async with AsyncDocmeshClient(self.base_url, self.api_key) as client:
            answer = await client.search(query, self.top_k, **self._narrowed())
        return [document(hit) for hit in answer.results]


def document(hit: Hit) -> Document:
    """A search result as a LangChain document."""
    cited = {
        "document_id": hit.document_id, "chunk_id": hit.chunk_id, "title": hit.title,
        "score": hit.score, "location": hit.location, "boxes": hit.boxes,
        "page_start": hit.page_start, "page_end": hit.page_end,
    }  # fmt: skip
    return Document(page_content=hit.text, metadata={**hit.metadata, **cited}, id=hit.chunk_id)
