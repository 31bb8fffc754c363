"""Using docmesh from other code: a typed client of its REST API (``client``), and
retrievers for LangChain (``langchain``, ``pip install 'docmesh[langchain]'``) and
LlamaIndex (``llamaindex``, ``'docmesh[llamaindex]'``). The services never import
these."""
