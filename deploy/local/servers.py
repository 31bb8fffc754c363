"""The plan of a local mesh's servers: ports, credentials, and the settings to reach them."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from deploy.local.embedded import (
    EMBEDDINGS_DIMENSIONS,
    EMBEDDINGS_MODEL,
    ProcessSpec,
    embeddings,
    free_port,
    postgres,
    redis,
    s3,
)
from deploy.local.redis_cluster import Node as ClusterNode
from deploy.local.redis_cluster import form_cluster, node_specs, plan_nodes
from deploy.local.supervisor import Supervisor
from shared.settings import Settings


@dataclass(frozen=True)
class Servers:
    """The embedded servers of a local mesh and the settings that reach them."""

    specs: list[ProcessSpec]
    settings: Settings
    cluster: list[ClusterNode] = field(default_factory=list)
    """The masters of the Redis Cluster, when Redis is one."""
    redis_password: str = ""

    async def start(self, supervisor: Supervisor, timeout: float = 120.0) -> None:
        """Start every server, wait for each to listen, and form the cluster if any."""
        for spec in self.specs:
            await supervisor.start(spec, spec.env)
        await asyncio.gather(*(supervisor.wait_ready(s, timeout) for s in self.specs))
        if self.cluster:
            await form_cluster(self.specs[0].host, self.cluster, self.redis_password, timeout)


def plan_servers(
    state: Path, base: Settings, *, host: str = "127.0.0.1", redis_cluster: bool = False
) -> Servers:
    """Choose ports and credentials for the servers and the settings to use them.

    ``host`` is the address they listen on (loopback unless other hosts need
    them); ``redis_cluster`` runs Redis as a cluster of three masters.
    """
    state.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port(host) for name in ("redis", "postgres", "s3", "embeddings")}
    key, secret = _s3_credentials(state)
    password = _password(state, "postgres")
    redis_password = _password(state, "redis")
    cluster = plan_nodes(state, host) if redis_cluster else []
    redis_port = cluster[0].port if cluster else ports["redis"]
    settings = msgspec.structs.replace(
        base,
        redis_url=f"redis://:{redis_password}@{host}:{redis_port}/0",
        redis_cluster=redis_cluster,
        database_url=f"postgresql://postgres:{password}@{host}:{ports['postgres']}/postgres",
        s3_endpoint_url=f"http://{host}:{ports['s3']}",
        s3_access_key_id=key,
        s3_secret_access_key=secret,
        s3_addressing_style="path",
        embeddings_base_url=f"http://{host}:{ports['embeddings']}/v1",
        embeddings_model=EMBEDDINGS_MODEL,
        embeddings_dimensions=EMBEDDINGS_DIMENSIONS,
        embeddings_input_mode="input_type",
        embeddings_send_dimensions=False,
        # The mesh's own, kept across restarts: its exports import back without flags.
        archive_key=base.archive_key or _password(state, "archive-key"),
    )
    specs = [
        *(
            node_specs(state, host, cluster, redis_password)
            if cluster
            else [redis(state, ports["redis"], redis_password, host)]
        ),
        postgres(state, ports["postgres"], password, host),
        s3(state, ports["s3"], key, secret, host, prefix=f"{base.s3_bucket}/{base.s3_temp_prefix}"),
        embeddings(ports["embeddings"], host),
    ]
    return Servers(specs, settings, cluster, redis_password)


def _s3_credentials(state: Path) -> tuple[str, str]:
    """Access keys for the local S3 server, kept in the state dir across restarts."""
    path = state / "s3-credentials"
    if not path.exists():
        path.write_text(f"{secrets.token_hex(10)}\n{secrets.token_hex(20)}\n")
        path.chmod(0o600)
    key, secret = path.read_text().split()
    return key, secret


def _password(state: Path, server: str) -> str:
    """A server's password, drawn once and kept in the state dir."""
    path = state / f"{server}-password"
    if not path.exists():
        path.write_text(secrets.token_hex(16) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()
