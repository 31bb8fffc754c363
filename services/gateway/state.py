"""Typed application state of the gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from shared.db import Pool
from shared.embeddings import Embeddings
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.storage import ObjectStore
from shared.streams import Streams

if TYPE_CHECKING:  # the gateway's own parts, typed without importing them here: every
    # route imports this module, and they would make every route depend on them all.
    from services.gateway.feed import ProgressFeed  # noqa: F401
    from services.gateway.reranking import Reranker  # noqa: F401
    from services.gateway.status_reader import StatusReader  # noqa: F401
    from services.gateway.stream_tokens import StreamTokens  # noqa: F401
    from services.gateway.throttle import Throttle  # noqa: F401

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", Pool)
REDIS = web.AppKey[RedisClient]("redis")
STREAMS = web.AppKey("streams", Streams)
STORE = web.AppKey("store", ObjectStore)
EMBEDDINGS = web.AppKey("embeddings", Embeddings)
STATUS_READER = web.AppKey["StatusReader"]("status_reader")
THROTTLE = web.AppKey["Throttle"]("throttle")
FEED = web.AppKey["ProgressFeed"]("feed")
STREAM_TOKENS = web.AppKey["StreamTokens"]("stream_tokens")
RERANKER = web.AppKey["Reranker | None"]("reranker")
