"""API keys: created and revoked by ``docmesh keys``, checked by the gateway.

A key is shown once, when it is created; only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

import asyncpg

KEY_PREFIX = "dm_"


def hash_key(key: str) -> bytes:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).digest()


async def create_key(
    pool: asyncpg.Pool, tenant: str, name: str = "", admin: bool = False
) -> dict[str, Any]:
    """A new key for ``tenant``; the returned ``key`` is never stored.

    An admin key also reads the queue and handles dead letters, which span tenants.
    """
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO api_keys (id, tenant, name, prefix, key_hash, admin)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        key_id,
        tenant,
        name,
        key[:10],
        hash_key(key),
        admin,
    )
    return {"id": str(key_id), "tenant": tenant, "name": name, "admin": admin, "key": key}


async def register_key(pool: asyncpg.Pool, key: str, tenant: str, name: str) -> bool:
    """Register a key given from outside (a deployment's secret) as an admin key of
    ``tenant``, unless it is known already, even revoked; True if it was added."""
    added = await pool.fetchval(
        "INSERT INTO api_keys (id, tenant, name, prefix, key_hash, admin)"
        " VALUES ($1, $2, $3, $4, $5, true) ON CONFLICT (key_hash) DO NOTHING RETURNING true",
        uuid.uuid4(),
        tenant,
        name,
        key[:10],
        hash_key(key),
    )
    return bool(added)


async def list_keys(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Every key, without its secret: id, tenant, name, prefix, dates."""
    rows = await pool.fetch(
        "SELECT id::text, tenant, name, admin, prefix, created_at::text, revoked_at::text"
        " FROM api_keys ORDER BY created_at"
    )
    return [dict(r) for r in rows]


async def revoke_key(pool: asyncpg.Pool, key_id: str) -> bool:
    """Revoke the key with this id (or a unique start of it); False if none matched."""
    ids = await pool.fetch(
        "SELECT id FROM api_keys WHERE id::text LIKE $1 || '%' AND revoked_at IS NULL",
        key_id.lower(),
    )
    if len(ids) > 1:
        raise ValueError(f"{key_id!r} matches {len(ids)} keys; give more of the id")
    if ids:
        await pool.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", ids[0]["id"])
    return bool(ids)


async def tenant_of_key(pool: asyncpg.Pool, key: str) -> tuple[str, bool] | None:
    """The tenant of a live key and whether the key is an admin's, or None."""
    row = await pool.fetchrow(
        "SELECT tenant, admin FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        hash_key(key),
    )
    return None if row is None else (row["tenant"], row["admin"])


async def keys_configured(pool: asyncpg.Pool) -> bool:
    """Whether keys are in use: once a key was created the API needs one, even after
    the last one is revoked (revoking never reopens the API)."""
    return bool(await pool.fetchval("SELECT EXISTS (SELECT 1 FROM api_keys)"))
