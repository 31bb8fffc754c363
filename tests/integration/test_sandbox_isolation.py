"""The extraction child holds no secret and few rights: its environment has none of the
worker's credentials, the kernel caps what it may write, dump or spawn, and it can run
as another user."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import msgspec
import pytest

from services.extractor import children
from services.extractor.children import RunAs
from services.extractor.sandbox import Sandbox
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


async def owner_settles(path: Path) -> int:
    """The owner of ``path`` once the child has started (it makes itself
    non-dumpable first thing, but Python takes a moment to get there)."""
    for _ in range(200):
        if (owner := path.stat().st_uid) == 0:
            return owner
        await asyncio.sleep(0.05)
    return path.stat().st_uid


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


def needs_root(what: str) -> None:
    """Fails (never skips: a skipped isolation test proves nothing) unless root."""
    if os.getuid() != 0:
        pytest.fail(
            f"{what} needs root (or its capability): run the suite as root, as CI does "
            "(sudo .venv/bin/pytest), or leave these tests out with --deselect "
            "tests/integration/test_sandbox_isolation.py",
            pytrace=False,
        )


def python_out_of_reach() -> NoReturn:
    pytest.fail(
        "this checkout's Python cannot be run by another user: make each folder above "
        "the venv's Python crossable (chmod o+x), as .ci/run does",
        pytrace=False,
    )


def resource_infinity() -> int:
    import resource

    return resource.RLIM_INFINITY


def test_files_are_handed_to_the_childs_user(tmp_path: Path) -> None:
    needs_root("changing a file's owner")
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
    needs_root("switching users")
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
    if not runs:  # a Python under /root, which other users cannot enter
        python_out_of_reach()
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


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_each_child_works_in_a_private_folder(servers: Settings) -> None:
    async with Sandbox(servers) as sandbox:
        pid = await spare_child(sandbox)
        folder = Path(os.readlink(f"/proc/{pid}/cwd"))
        assert folder.stat().st_mode & 0o777 == 0o700
        assert folder != Path(tempfile.gettempdir())
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert f"TMPDIR={folder}".encode() in environ
    assert not folder.exists()  # removed with the child


async def test_a_child_and_all_it_started_are_stopped(servers: Settings) -> None:
    """Its group, its session, its descendants, and a grandchild that escaped into a
    session of its own (handed to the worker, the subreaper, and known by its mark)."""
    async with Sandbox(servers) as sandbox:
        mark = sandbox._mark
        folder = Path(tempfile.mkdtemp())
        base = random.randrange(10_000, 90_000)  # this run's sleeps, told apart by length
        script = f"sleep {base} & (setsid sleep {base + 1} &); sleep {base + 2}"
        env = {**children.child_env(folder, mark), "PATH": os.environ["PATH"]}
        process = await asyncio.create_subprocess_exec(
            "sh", "-c", script, env=env, start_new_session=True
        )
        await asyncio.sleep(0.5)
        started = [
            pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
            if Path(f"/proc/{pid}/cmdline").exists()
            and Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep\x00")
            and int(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\x00")[1]) - base in (0, 1, 2)
        ]  # fmt: skip
        assert len(started) == 3
        unrelated = await asyncio.create_subprocess_exec(
            "sleep", str(base + 3)
        )  # not the sandbox's
        child = children.Child(process, folder, None)
        spare = await spare_child(sandbox)
        await children.stop(child, children.Users(""), mark, {spare})
        assert not any(alive(pid) for pid in started)
        assert alive(unrelated.pid)
        assert alive(spare)  # the sandbox's next child is kept
        unrelated.kill()
        await unrelated.wait()


async def test_children_with_ids_of_their_own_cannot_reach_each_other(servers: Settings) -> None:
    needs_root("switching users")
    own_ids = msgspec.structs.replace(servers, extract_user="61000-61001")
    try:
        async with Sandbox(own_ids) as sandbox:
            first = await spare_child(sandbox)
            if not alive(first):
                python_out_of_reach()
            uid = Path(f"/proc/{first}").stat().st_uid
            # Not dumpable once it runs (before it reads any job): its /proc files are
            # root's, not its user's.
            assert await owner_settles(Path(f"/proc/{first}/environ")) == 0
            with tempfile.TemporaryDirectory() as tmp:
                Path(tmp).chmod(0o711)
                assert "Isolated reading works" in await read_one(sandbox, Path(tmp))
            second = await spare_child(sandbox)
            assert {uid, Path(f"/proc/{second}").stat().st_uid} == {61000, 61001}
    except PermissionError:
        python_out_of_reach()
