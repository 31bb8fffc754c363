"""The extraction child holds no secret and few rights: its environment has none of the
worker's credentials, the kernel caps what it may write, dump or spawn, and it can run
as another user."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec
import pytest

from services.extractor.sandbox import RunAs, Sandbox
from shared.formats import Format
from shared.settings import Settings
from tests.generate import make_pdf

pytestmark = pytest.mark.integration

SECRETS = {
    "DOCMESH_DATABASE_URL": "postgresql://docmesh:pg-topsecret@db/docmesh",
    "DOCMESH_S3_SECRET_ACCESS_KEY": "s3-topsecret",
    "AWS_SECRET_ACCESS_KEY": "aws-topsecret",
    "DOCMESH_REDIS_URL": "redis://:redis-topsecret@redis:6379/0",
    "OPENAI_API_KEY": "sk-topsecret",
    "DOCMESH_EMBEDDINGS_API_KEY": "emb-topsecret",
}


async def spare_child(sandbox: Sandbox) -> int:
    for _ in range(100):
        if (pid := sandbox.spare_pid) is not None:
            return pid
        await asyncio.sleep(0.05)
    raise AssertionError("the sandbox started no child")


async def read_one(sandbox: Sandbox, tmp: Path) -> str:
    folder = Path(tempfile.mkdtemp(dir=tmp))  # private, as the extractor's download folder
    path = make_pdf(folder / "doc.pdf", 1, "Isolated reading works")

    async def on_page(done: int, total: int, ocr: bool) -> None:
        return None

    extracted = await sandbox.extract(path, Format.PDF, on_page)
    return " ".join(extracted.pages)


async def test_the_child_sees_no_credentials(
    servers: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    async with Sandbox(servers) as sandbox:
        environ = Path(f"/proc/{await spare_child(sandbox)}/environ").read_bytes().decode()
        assert "topsecret" not in environ
        assert "OMP_THREAD_LIMIT=1" in environ.split("\0")
        assert "Isolated reading works" in await read_one(sandbox, tmp_path)


def test_the_child_caps_file_size_core_dumps_and_processes() -> None:
    probe = """
import json, resource
from services.extractor.child import _cap
from services.extractor.limits import Limits
from services.extractor.protocol import Job
from shared.formats import Format
_cap(Job("x", Format.PDF, Limits(max_chars=1000), "y", 2**31, 60))
print(json.dumps({name: resource.getrlimit(getattr(resource, name))
                  for name in ("RLIMIT_FSIZE", "RLIMIT_CORE", "RLIMIT_NPROC")}))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    limits = json.loads(out)
    assert limits["RLIMIT_CORE"] == [0, 0]
    assert 0 < limits["RLIMIT_FSIZE"][0] <= 1000 * 6 + 64 * 2**20
    assert limits["RLIMIT_NPROC"][0] != resource_infinity()


def resource_infinity() -> int:
    import resource

    return resource.RLIM_INFINITY


def test_files_are_handed_to_the_childs_user(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("changing a file's owner needs root (or CAP_CHOWN)")
    run_as = RunAs.of("nobody")
    assert run_as == RunAs(65534, 65534) and RunAs.of("65534") == run_as and RunAs.of("") is None
    folder = tmp_path / "job"
    folder.mkdir(mode=0o700)
    path = folder / "doc.pdf"
    path.write_bytes(b"%PDF")
    run_as.hand_over(path)
    assert (path.stat().st_uid, path.stat().st_gid) == (65534, 65534)
    assert folder.stat().st_mode & 0o777 == 0o701  # crossed, not listed


async def test_the_child_can_run_as_another_user(servers: Settings) -> None:
    if os.getuid() != 0:
        pytest.skip("switching users needs root (or CAP_SETUID) on the machine")
    try:
        probe = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import services.extractor.child",
            # The credentials the sandbox gives its child: with root's groups kept
            # beside another user's id, this machine refuses the exec.
            user="nobody",
            group="nogroup",
            extra_groups=[],
            cwd="/",
        )
        runs = await probe.wait() == 0
    except PermissionError:
        runs = False
    if not runs:  # here: a Python under /root, which other users cannot enter
        pytest.skip("this checkout's Python cannot be run by user nobody")
    as_nobody = msgspec.structs.replace(servers, extract_user="nobody")
    # Under the system's temporary folder, as the extractor's downloads are: pytest's
    # own folders sit in one only root may enter.
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o711)
        async with Sandbox(as_nobody) as sandbox:
            status = Path(f"/proc/{await spare_child(sandbox)}/status").read_text()
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            assert uid_line.split()[1:] == ["65534"] * 4
            assert "Isolated reading works" in await read_one(sandbox, Path(tmp))
