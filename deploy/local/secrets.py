"""``docmesh secrets``: the ``.env`` of a compose deployment, with fresh random secrets.

Compose takes every secret from ``.env`` (``${VAR:?}``: no defaults), so a
deployment never runs with a password someone else also has.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from shared.keys import KEY_PREFIX


def generated() -> dict[str, str]:
    """Every secret compose needs, freshly drawn."""

    def token() -> str:
        return secrets.token_urlsafe(24)

    return {
        "POSTGRES_PASSWORD": token(),
        "REDIS_PASSWORD": token(),
        "MINIO_ROOT_USER": "root-" + secrets.token_hex(4),
        "MINIO_ROOT_PASSWORD": token(),
        # docmesh's own S3 user: read, write and delete in its bucket, nothing else.
        "DOCMESH_S3_ACCESS_KEY_ID": "docmesh-" + secrets.token_hex(4),
        "DOCMESH_S3_SECRET_ACCESS_KEY": token(),
        "DOCMESH_ADMIN_KEY": KEY_PREFIX + secrets.token_urlsafe(32),
        # Signs the archives docmesh export writes; docmesh import trusts those.
        "DOCMESH_ARCHIVE_KEY": secrets.token_urlsafe(32),
    }


def write_env(path: Path, example: Path) -> dict[str, str]:
    """Write ``path`` from ``example`` with generated secrets; never overwrite one."""
    if path.exists():
        raise FileExistsError(f"{path} exists; remove it first to draw new secrets")
    values = generated()
    lines = []
    for line in example.read_text().splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={values.pop(name)}" if name in values else line)
    lines += [f"{name}={value}" for name, value in values.items()]
    path.touch(mode=0o600)
    path.write_text("\n".join(lines) + "\n")
    return dict(line.split("=", 1) for line in lines if "=" in line and line[0] != "#")
