"""Builds of index versions as use cases: start one with new settings, or roll back
to a kept one. The gateway's ``/reindex`` routes and ``docmesh reindex`` call these.

Not a unit of work: the new version's vector index is built concurrently, which
PostgreSQL allows only outside a transaction, so ``shared.reindex`` commits in
steps of its own; the build's first documents are fed once it has.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared import indexes, reindex
from shared.db import Pool
from shared.embeddings import Embeddings
from shared.indexes import IndexVersion
from shared.streams import Streams


class StartBuild(msgspec.Struct, frozen=True):
    settings: dict[str, Any]
    """The new version's settings that differ (``chunk_tokens``, ``embeddings_model``...);
    those left out, or None, are the active version's."""
    feed: int
    """Documents rebuilt at once (``DOCMESH_REINDEX_DOCUMENTS``)."""
    guard: float | None = None
    """The reindex guard's margin for this build (``DOCMESH_REINDEX_GUARD``); None: off."""


class RollBack(msgspec.Struct, frozen=True):
    feed: int


async def start(
    pool: Pool, streams: Streams, embeddings: Embeddings, cmd: StartBuild
) -> IndexVersion:
    """Build a version of ``cmd.settings`` beside the active one, once the model has
    answered with the dimensions asked for (a typo is refused now, not mid-build).
    Raises ``Invalid`` for settings or a model refused, ``Unavailable`` for a model
    that does not answer, ``Conflict`` while another build runs."""
    wanted = reindex.wanted(await indexes.active(pool), cmd.settings)
    await reindex.check_model(embeddings, wanted)
    version = await reindex.start(pool, wanted, cmd.guard)
    await reindex.feed_now(pool, streams, cmd.feed)
    return version


async def roll_back(pool: Pool, streams: Streams, cmd: RollBack) -> IndexVersion:
    """Switch back to the newest kept version, rebuilding first only the documents it
    lacks. Raises ``Conflict`` when none is kept or another build runs."""
    version = await reindex.rollback(pool)
    await reindex.feed_now(pool, streams, cmd.feed)
    return version
