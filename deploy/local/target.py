"""Which mesh a ``docmesh`` command talks to, and the one line it prints when it cannot.

A command run beside a ``docmesh up`` talks to that mesh: ``up`` writes its servers'
addresses (free ports, chosen at start) to ``STATE/mesh.env`` and removes the file
when it stops. Servers named in the environment win over the file, whole: a
``DOCMESH_DATABASE_URL`` of another deployment is never mixed with a local Redis.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from shared.redis_client import open_redis
from shared.settings import ENV_PREFIX, Settings, load_settings

MESH_ENV = "mesh.env"
SERVERS = ("DATABASE_URL", "REDIS_URL", "S3_ENDPOINT_URL")
"""The settings that say where the servers are: any of them in the environment means
the environment describes the deployment."""
REACH_TIMEOUT_S = 5.0


class NoMesh(SystemExit):
    """No mesh to talk to: carries the one line that says what to do."""


@dataclass(frozen=True)
class Target:
    settings: Settings
    source: str
    """Where the settings came from, as the user would name it."""

    def describe(self) -> str:
        """One line naming the servers (no credentials)."""
        db = urlsplit(self.settings.database_url)
        where = db.hostname or "a local socket"
        if db.port:
            where = f"{where}:{db.port}"
        name = db.path.lstrip("/") or "?"
        return f"docmesh: using {self.source} (database {name} at {where})"

    async def reach(self, servers: Iterable[str]) -> None:
        """Connect once to each of ``servers`` (``database``, ``redis``), so that a
        command meets a mesh that is not there here, as one line, rather than as a
        traceback halfway through."""
        try:
            if "database" in servers:
                conn = await asyncpg.connect(self.settings.database_url, timeout=REACH_TIMEOUT_S)
                await conn.close()
            if "redis" in servers:
                async with open_redis(self.settings) as redis:
                    await asyncio.wait_for(redis.ping(), REACH_TIMEOUT_S)
        except Exception as exc:  # whatever the driver raises, the advice is the same
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: BaseException) -> NoMesh:
        detail = " ".join(str(exc).split())[:160] or type(exc).__name__
        if self.source.startswith("the mesh"):
            hint = "is its `docmesh up` still running? Start it again"
        else:
            hint = "check the DOCMESH_* server settings"
        return NoMesh(f"docmesh: cannot reach {self.source} ({detail}): {hint}.")


def mesh_env(state_dir: Path) -> dict[str, str]:
    """The ``DOCMESH_*`` settings a running ``docmesh up`` wrote to its state dir."""
    lines = (state_dir / MESH_ENV).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def find_target(state_dir: Path, env: Mapping[str, str] | None = None) -> Target:
    """The settings of the mesh to talk to: the environment's when it names a server,
    else those of the ``docmesh up`` running in ``state_dir`` (the environment's other
    ``DOCMESH_*`` settings on top); ``NoMesh`` when there is neither."""
    env = os.environ if env is None else env
    if any(ENV_PREFIX + name in env for name in SERVERS):
        return Target(load_settings(env), "the servers of the DOCMESH_* environment")
    try:
        found = mesh_env(state_dir)
    except FileNotFoundError:
        raise NoMesh(
            f"docmesh: no running mesh in {state_dir} (no {MESH_ENV}): start `docmesh up` "
            "in this folder (or pass --state-dir), or set DOCMESH_DATABASE_URL and "
            "DOCMESH_REDIS_URL to reach another deployment."
        ) from None
    found.update({k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})
    return Target(load_settings(found), f"the mesh of {state_dir / MESH_ENV}")
