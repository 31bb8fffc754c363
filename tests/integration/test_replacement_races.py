"""A replacement presigned while the document it replaces is being deleted: the
deletion either comes first (the replacement is refused: the document is gone) or
waits for the replacement's row and takes it with the document; never a server error."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared.errors import Conflict
from shared.formats import Format
from shared.service_layer.presign import Replace, Upload, replace
from shared.service_layer.unit_of_work import UnitOfWork
from shared.settings import Settings
from shared.storage import ObjectStore
from tests.integration.gateway import migrated_database
from tests.integration.test_index_races import document

pytestmark = pytest.mark.integration


class RoomForAll:
    """A tenant quota with room for every upload (quotas have tests of their own)."""

    async def check_tenant_bytes(self, pool: object, tenant: str, size: int) -> None:
        return None


async def test_a_replacement_that_meets_a_deletion_is_refused_not_failed(
    settings: Settings, store: ObjectStore
) -> None:
    async with migrated_database(settings) as (own, pool):
        await _meet(own, pool, store)


async def _meet(settings: Settings, pool: asyncpg.Pool, store: ObjectStore) -> None:
    doc, _ = await document(pool, "completed")
    upload = Upload("v2.pdf", 1000, "application/pdf", Format.PDF)
    async with pool.acquire() as conn:
        deleting = conn.transaction()
        await deleting.start()
        await conn.execute("DELETE FROM documents WHERE id = $1", doc)

        async def presign_replacement() -> object:
            async with UnitOfWork(pool) as uow:
                return await replace(
                    uow, store, RoomForAll(), settings, Replace(doc, "default", upload)
                )

        replacing = asyncio.create_task(presign_replacement())
        await asyncio.sleep(0.5)  # it reads the document, which the deletion holds
        await deleting.commit()
    with pytest.raises(Conflict, match="deleted"):
        await replacing
    assert await pool.fetchval("SELECT count(*) FROM documents WHERE replaces = $1", doc) == 0
