"""Typed application state of the gateway."""

from __future__ import annotations

from aiohttp import web

from services.gateway.feed import ProgressFeed
from services.gateway.status_reader import StatusReader
from services.gateway.stream_tokens import StreamTokens
from services.gateway.throttle import Throttle
from shared.db import Pool
from shared.embeddings import Embeddings
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.storage import ObjectStore
from shared.streams import Streams

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", Pool)
REDIS = web.AppKey[RedisClient]("redis")
STREAMS = web.AppKey("streams", Streams)
STORE = web.AppKey("store", ObjectStore)
EMBEDDINGS = web.AppKey("embeddings", Embeddings)
STATUS_READER = web.AppKey("status_reader", StatusReader)
THROTTLE = web.AppKey("throttle", Throttle)
FEED = web.AppKey("feed", ProgressFeed)
STREAM_TOKENS = web.AppKey("stream_tokens", StreamTokens)
