"""Collections, owned here: named sets of a tenant's documents, and which documents
each holds. A document may be in several; deleting a collection never deletes a
document. Every function takes the tenant: another tenant's collection is not found.

Search in a collection searches the content its documents hold: a copy (a document
``duplicate_of`` another) brings its original's chunks, which it shares.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from shared.db import Conn, paged
from shared.errors import Invalid

VIEW = """id::text AS collection_id, name, description, created_at,
    (SELECT count(*) FROM collection_documents m WHERE m.collection_id = c.id)::int
    AS document_count"""
"""A collection as the API shows it."""


def holders_sql(collections: str) -> str:
    """SQL true for a chunk row ``c`` held by a document in the collections whose ids
    are the uuid[] expression ``collections`` (its copies' originals too)."""
    return f"""c.document_id IN (
        SELECT coalesce(d2.duplicate_of, d2.id) FROM collection_documents m
        JOIN documents d2 ON d2.id = m.document_id WHERE m.collection_id = ANY({collections}))"""


async def create(conn: Conn, tenant: str, name: str, description: str) -> asyncpg.Record:
    """A new, empty collection of ``tenant``."""
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO collections AS c (id, tenant, name, description) VALUES ($1, $2, $3, $4)"
        f" RETURNING {VIEW}",
        uuid.uuid4(),
        tenant,
        name,
        description,
    )
    return row


async def page(
    conn: Conn, tenant: str, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """The tenant's collections, oldest first, and how many it has."""
    return await paged(
        conn,
        f"SELECT {VIEW}, count(*) OVER () AS total FROM collections c WHERE tenant = $1"
        " ORDER BY created_at, id LIMIT $2 OFFSET $3",
        tenant,
        limit,
        offset,
    )


async def get(conn: Conn, tenant: str, collection_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {VIEW} FROM collections c WHERE id = $1 AND tenant = $2", collection_id, tenant
    )
    return row


async def change(
    conn: Conn, tenant: str, collection_id: str, name: str | None, description: str | None
) -> asyncpg.Record | None:
    """Rename the collection or change its description; None when it is not found."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE collections c SET name = coalesce($3, name),"
        f" description = coalesce($4, description) WHERE id = $1 AND tenant = $2 RETURNING {VIEW}",
        collection_id,
        tenant,
        name,
        description,
    )
    return row


async def delete(conn: Conn, tenant: str, collection_id: str) -> bool:
    """Delete the collection (its documents stay); whether it was found."""
    result = await conn.execute(
        "DELETE FROM collections WHERE id = $1 AND tenant = $2", collection_id, tenant
    )
    return bool(result == "DELETE 1")


async def delete_all(conn: Conn, tenant: str) -> int:
    """Delete every collection of the tenant (its deletion); how many went."""
    result = await conn.execute("DELETE FROM collections WHERE tenant = $1", tenant)
    return int(result.split()[-1])


async def add(conn: Conn, tenant: str, collection_ids: Sequence[str], document_id: str) -> None:
    """Put the document in the collections (already there: unchanged). The caller has
    checked that the document is the tenant's; the collections are checked here."""
    await check(conn, tenant, collection_ids)
    await conn.execute(
        "INSERT INTO collection_documents (collection_id, document_id)"
        " SELECT unnest($1::uuid[]), $2 ON CONFLICT DO NOTHING",
        list(collection_ids),
        document_id,
    )


async def remove(conn: Conn, collection_id: str, document_id: str) -> bool:
    """Take the document out of the collection; whether it was in it."""
    result = await conn.execute(
        "DELETE FROM collection_documents WHERE collection_id = $1 AND document_id = $2",
        collection_id,
        document_id,
    )
    return bool(result == "DELETE 1")


async def inherit(conn: Conn, source: str, document_id: str) -> None:
    """Put the document in every collection ``source`` is in (an e-mail's attachment)."""
    await conn.execute(
        "INSERT INTO collection_documents (collection_id, document_id)"
        " SELECT collection_id, $2 FROM collection_documents WHERE document_id = $1"
        " ON CONFLICT DO NOTHING",
        source,
        document_id,
    )


async def check(conn: Conn, tenant: str, collection_ids: Sequence[str]) -> None:
    """Refuse ids that are not UUIDs of the tenant's collections (``unknown_collection``)."""
    try:
        wanted = {str(uuid.UUID(c)) for c in collection_ids}
    except ValueError:
        raise Invalid(
            "unknown_collection", "collections must be collection ids.", "collections"
        ) from None
    found = await conn.fetch(
        "SELECT id::text FROM collections WHERE id = ANY($1::uuid[]) AND tenant = $2",
        list(wanted),
        tenant,
    )
    missing = wanted - {r["id"] for r in found}
    if missing:
        raise Invalid(
            "unknown_collection",
            f"No collection has the id {sorted(missing)[0]}; create it first (POST /collections).",
            "collections",
        )


async def names(conn: Conn, tenant: str, wanted: Sequence[str]) -> list[str]:
    """The ids of the tenant's collections named ``wanted``, each made if it has none
    (an archive names a document's collections)."""
    ids = []
    for name in dict.fromkeys(wanted):
        found = await conn.fetchval(
            "SELECT id::text FROM collections WHERE tenant = $1 AND name = $2"
            " ORDER BY created_at, id LIMIT 1",
            tenant,
            name,
        )
        ids.append(found or (await create(conn, tenant, name, ""))["collection_id"])
    return ids


async def resolve(conn: Conn, tenant: str, named: Sequence[str]) -> list[str]:
    """The ids of the tenant's collections named by id or by name (every collection of
    that name); ``unknown_collection`` for one it has none of."""
    found: list[str] = []
    for wanted in named:
        rows = await conn.fetch(
            "SELECT id::text FROM collections WHERE tenant = $1 AND (id::text = $2 OR name = $2)"
            " ORDER BY created_at, id",
            tenant,
            wanted,
        )
        if not rows:
            raise Invalid("unknown_collection", f"The tenant has no collection {wanted!r}.")
        found += [r["id"] for r in rows]
    return found


async def resolve_one(conn: Conn, tenant: str, wanted: str) -> str | None:
    """The id of the tenant's collection of id ``wanted``, or else its oldest of that
    name; None when it has neither (what another tool names a knowledge base by)."""
    found: str | None = await conn.fetchval(
        "SELECT id::text FROM collections WHERE tenant = $1 AND (id::text = $2 OR name = $2)"
        " ORDER BY id::text = $2 DESC, created_at, id LIMIT 1",
        tenant,
        wanted,
    )
    return found
