"""The extraction children: how each is started apart from the others and stopped with
everything it started.

A child that a hostile file took over must not reach another child (the one started
ahead, waiting for the next document, or a later one) nor outlive its job:

- each child has a working folder of its own, mode 0700 and its user's, where its
  document and its result are, and which is its ``TMPDIR`` (the system's ``/tmp`` is
  shared by every child);
- with ``DOCMESH_EXTRACT_USER`` a range of ids (``60000-60063``), each child runs as a
  uid of its own, so no child can read another's files or signal it; with one user,
  the children at least cannot read each other's folders' contents through a shared
  uid's ``/proc``: every child makes itself non-dumpable (``PR_SET_DUMPABLE`` 0), so a
  process of the same uid cannot ptrace it or read its memory, environment or file
  descriptors;
- a child is stopped by killing its process group, every process of its session and
  every descendant it has then; with an id of its own, every process of that id too
  (``kill -9 -1`` run as it). The worker is a child subreaper: a grandchild that
  escaped into a session of its own is handed to the worker when its parent dies, and
  is killed as a stray when it carries the children's mark (their id, or the
  ``DOCMESH_EXTRACT_CHILD`` variable they all inherit). A stray that left both behind
  (its own exec with a cleared environment, under the same shared id) is what the
  uid range exists for: with it, nothing of a child survives its job.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import os
import pwd
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHILD = [sys.executable, "-m", "services.extractor.child"]
PR_SET_CHILD_SUBREAPER = 36
MARK = "DOCMESH_EXTRACT_CHILD"

_ENV_KEPT = frozenset({"PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LANG", "LANGUAGE", "TZ"})


def child_env(folder: Path, mark: str) -> dict[str, str]:
    """The child's environment: what Python and the readers need, and nothing else.

    The worker's environment holds the database URL with its password, the S3
    secret, the Redis password and the embeddings key; a file that took over the
    reader must find none of them."""
    env = {k: v for k, v in os.environ.items() if k in _ENV_KEPT or k.startswith("LC_")}
    # One thread for Tesseract's OpenMP: a child must not take every core of the host.
    env["OMP_THREAD_LIMIT"] = "1"
    env["TMPDIR"] = env["HOME"] = str(folder)
    env[MARK] = mark  # inherited by anything it starts: how strays are known
    return env


@dataclass(frozen=True)
class RunAs:
    """A user a child runs as."""

    uid: int
    gid: int

    @classmethod
    def of(cls, user: str) -> RunAs | None:
        """The user named (or numbered) ``user``; None for none (the worker's own)."""
        if not user:
            return None
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        return cls(entry.pw_uid, entry.pw_gid)

    def hand_over(self, *paths: Path) -> None:
        """Let the child read the file and write its result (and reach them: the
        folder of each can be crossed, not listed)."""
        for path in paths:
            os.chown(path, self.uid, self.gid)
            folder = path.parent
            os.chmod(folder, os.stat(folder).st_mode | stat.S_IXOTH)


class Users:
    """The users children run as, in turn (``DOCMESH_EXTRACT_USER``): none (the
    worker's own), one user, or a range of ids ``FIRST-LAST``, each a user and group of
    its own (no account needs to exist for an id)."""

    def __init__(self, spec: str) -> None:
        first, _, last = spec.partition("-")
        if last and first.isdigit() and last.isdigit():
            ids = range(int(first), int(last) + 1)
            self.each: list[RunAs | None] = [RunAs(i, i) for i in ids]
            self.own_ids = len(self.each) > 1
        else:
            self.each = [RunAs.of(spec)]
            self.own_ids = False
        self._turn = itertools.cycle(self.each)

    def next(self) -> RunAs | None:
        return next(self._turn)


@dataclass(frozen=True)
class Child:
    """A started child: its process and its own working folder."""

    process: asyncio.subprocess.Process
    folder: Path
    run_as: RunAs | None

    def take(self, document: Path) -> tuple[Path, Path]:
        """The document placed in the child's folder (linked, or copied across file
        systems), and where its result goes; both the child's."""
        placed, result = self.folder / "document", self.folder / "result"
        try:
            os.link(document, placed)
        except OSError:
            shutil.copyfile(document, placed)
        result.touch(mode=0o600)
        if self.run_as is not None:
            for path in (placed, result):
                os.chown(path, self.run_as.uid, self.run_as.gid)
        return placed, result


def become_subreaper() -> None:
    """Linux: orphans of this process's descendants are handed to it, not to init, so
    a grandchild in a session of its own is still found (``kill_strays``)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)


async def start(run_as: RunAs | None, mark: str) -> Child:
    """A child, started ahead of its job, in a fresh private folder (``mark``: its
    sandbox's, which anything it starts inherits)."""
    folder = Path(tempfile.mkdtemp(prefix="docmesh-child-"))
    if run_as is not None:
        os.chown(folder, run_as.uid, run_as.gid)
    process = await asyncio.create_subprocess_exec(
        *CHILD,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=child_env(folder, mark),
        cwd=folder,
        # Its own session, so killing its group and session takes what it started.
        start_new_session=True,
        user=None if run_as is None else run_as.uid,
        group=None if run_as is None else run_as.gid,
        extra_groups=None if run_as is None else [],
    )
    return Child(process, folder, run_as)


async def stop(child: Child, users: Users, mark: str, keep: set[int]) -> None:
    """Kill the child, its group, its session, its descendants and, with an id of its
    own, every process of that id; then strays handed to the worker (``keep``: the
    children still wanted, the one started ahead); then remove its folder."""
    doomed = {child.process.pid, *_tree(child.process.pid), *_session(child.process.pid)}
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.process.pid, signal.SIGKILL)
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    await child.process.wait()
    if child.run_as is not None and users.own_ids:
        await _kill_every_process_of(child.run_as)
    own = {u.uid for u in users.each if u is not None} if users.own_ids else set()
    kill_strays(mark, own, keep)
    shutil.rmtree(child.folder, ignore_errors=True)


async def _kill_every_process_of(run_as: RunAs) -> None:
    """``kill -9 -1`` as the child's own id: every process that id has, wherever it is."""
    with contextlib.suppress(OSError):
        killer = await asyncio.create_subprocess_exec(
            "kill", "-9", "-1", user=run_as.uid, group=run_as.gid, extra_groups=[],
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await killer.wait()


def _processes() -> Iterator[tuple[int, int, int]]:
    """(pid, parent pid, session id) of every process."""
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # Fields after the command (which may hold spaces) start past its ')'.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            yield int(entry.name), int(fields[1]), int(fields[3])


def _session(sid: int) -> list[int]:
    """Processes of session ``sid`` (the child's: it leads its own)."""
    return [pid for pid, _, session in _processes() if session == sid]


def _tree(root: int) -> list[int]:
    """Every descendant of ``root`` now."""
    children: dict[int, list[int]] = {}
    for pid, parent, _ in _processes():
        children.setdefault(parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def kill_strays(mark: str, uids: set[int], keep: set[int]) -> list[int]:
    """Kill and reap the worker's children that carry its sandbox's ``mark`` (in
    ``DOCMESH_EXTRACT_CHILD``) or one of its own ``uids``, but those in ``keep``:
    orphans the subreaper handed over. The pids killed. Other children of the process
    (another sandbox's, a test's servers) are left alone."""
    me, killed = os.getpid(), []
    for pid, parent, _ in _processes():
        if parent == me and pid not in keep and _marked(pid, mark, uids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    for pid in killed:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return killed


def _marked(pid: int, mark: str, uids: set[int]) -> bool:
    try:
        if os.stat(f"/proc/{pid}").st_uid in uids:
            return True
        return f"{MARK}={mark}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
