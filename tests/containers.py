"""Redis, PostgreSQL with pgvector and MinIO as containers, when a Docker engine answers.

The local-process servers are what runs here and in CI; on a machine with
Docker the same test fixtures use these instead (``TEST_SERVERS=local`` keeps
the local processes). The embeddings server stays a local process either way.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import msgspec

from shared.settings import Settings

REDIS_IMAGE = "redis:7.4.1-alpine"
POSTGRES_IMAGE = "pgvector/pgvector:0.8.0-pg17"
MINIO_IMAGE = "minio/minio:RELEASE.2024-11-07T00-52-20Z"
MINIO_KEY, MINIO_SECRET = "docmesh", "docmesh-secret"


def docker_engine_answers() -> bool:
    """True when a Docker engine (not just the client) is reachable."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as exc:  # no engine (the usual case here): local processes then
        print(f"no Docker engine ({type(exc).__name__}): local servers", file=sys.__stderr__)
        return False
    return True


@contextlib.contextmanager
def container_servers(base: Settings) -> Iterator[Settings]:
    """Start the three containers; yields ``base`` pointed at them."""
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.community.redis import RedisContainer
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    minio = (
        DockerContainer(MINIO_IMAGE)
        .with_command("server /data")
        .with_env("MINIO_ROOT_USER", MINIO_KEY)
        .with_env("MINIO_ROOT_PASSWORD", MINIO_SECRET)
        .with_exposed_ports(9000)
    )
    with (
        RedisContainer(REDIS_IMAGE) as redis,
        PostgresContainer(
            POSTGRES_IMAGE, username="docmesh", password="docmesh", dbname="docmesh", driver=None
        ) as postgres,
        minio,
    ):
        wait_for_logs(minio, "API:", timeout=60)
        host = redis.get_container_host_ip()
        yield msgspec.structs.replace(
            base,
            redis_url=f"redis://{host}:{redis.get_exposed_port(6379)}/0",
            database_url=postgres.get_connection_url(),
            s3_endpoint_url=f"http://{minio.get_container_host_ip()}:{minio.get_exposed_port(9000)}",
            s3_access_key_id=MINIO_KEY,
            s3_secret_access_key=MINIO_SECRET,
        )
