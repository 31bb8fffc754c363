"""Extraction in a child process the worker can kill: hostile files cannot pin it.

PyMuPDF and mammoth are C and pure-Python code that cannot be interrupted
from another thread: a page of nested forms can keep ``get_text`` busy for
ever. So each document is read by its own process (``child``) with its
memory and CPU time capped by the kernel, and this side kills it when a page
or the whole document takes too long. One process is always started ahead,
so its imports (about 0.6 s) are not paid by the next document.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from services.extractor import children
from services.extractor.children import Child, Users
from services.extractor.document import Attachment, Extracted
from services.extractor.limits import Limits
from services.extractor.protocol import (
    ENCODER,
    MESSAGE_DECODER,
    RESULT_DECODER,
    Crashed,
    Finished,
    Job,
    PageRead,
    Refused,
)
from shared.errors import DocumentFailed
from shared.formats import Format
from shared.settings import Settings

log = structlog.get_logger()

OnPage = Callable[[int, int, bool], Awaitable[None]]
"""Awaited with (pages done, page total, whether that page was read by OCR)."""


class ExtractionCrashed(RuntimeError):
    """The child failed unexpectedly (a bug, not the document): retried like any error."""


class Sandbox:
    """Runs one extraction at a time in a fresh, capped child process."""

    def __init__(self, settings: Settings) -> None:
        self._limits = Limits.of(settings)
        self._timeout = settings.extract_timeout_s
        self._page_timeout = settings.extract_page_timeout_s
        self._memory = settings.extract_memory_mb * 2**20
        self._users = Users(settings.extract_user)
        self._mark = uuid.uuid4().hex
        self._spare: asyncio.Task[Child] | None = None
        self._started: set[asyncio.Task[Child]] = set()
        """Every child not yet stopped (concurrent extractions each have one)."""

    def _start(self) -> asyncio.Task[Child]:
        task = asyncio.create_task(children.start(self._users.next(), self._mark))
        self._started.add(task)
        return task

    async def _stop(self, child: Child) -> None:
        """Stop ``child``; the sweep of strays spares every other child started here."""
        await asyncio.wait(self._started)  # their pids, even of one just starting
        mine = {t for t in self._started if t.exception() is None and t.result() is child}
        self._started -= mine
        keep = {t.result().process.pid for t in self._started if t.exception() is None}
        await children.stop(child, self._users, self._mark, keep)

    async def __aenter__(self) -> Sandbox:
        children.become_subreaper()
        self._spare = self._start()
        return self

    @property
    def spare_pid(self) -> int | None:
        """The process id of the child started ahead (None until it runs)."""
        if self._spare is None or not self._spare.done():
            return None
        return self._spare.result().process.pid

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop the process started ahead: nothing is left behind."""
        if self._spare is not None:
            child = await self._spare
            self._spare = None
            await self._stop(child)

    async def extract(
        self, path: Path, fmt: Format, on_page: OnPage, parts: Path | None = None, depth: int = 0
    ) -> Extracted:
        """The document's pages, read by a child; ``DocumentFailed`` on a limit. An
        e-mail's attachments are copied into ``parts`` (``depth``: how many messages
        hold this one).

        Raises ``DocumentFailed("timeout" | "too_large" | ...)`` when the child
        breaches a limit or the file cannot be read, ``ExtractionCrashed`` on
        an unexpected error in the child.
        """
        # Taken before any await: concurrent calls never share a child.
        spare, self._spare = self._spare, self._start()
        child = await (spare or self._start())
        document, result_path = child.take(path)
        job = Job(
            path=str(document),
            format=fmt,
            limits=self._limits,
            result_path=str(result_path),
            memory_bytes=self._memory,
            cpu_seconds=max(int(self._timeout), 1),
            parts_path=str(child.folder / "parts") if parts else "",
            depth=depth,
        )
        try:
            await self._converse(child.process, job, on_page)
            result = RESULT_DECODER.decode(result_path.read_bytes())
            if parts is not None:
                _collect(child.folder / "parts", result.attachments, parts, self._limits)
            return result
        finally:
            await self._stop(child)

    async def _converse(self, child: asyncio.subprocess.Process, job: Job, on_page: OnPage) -> None:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(ENCODER.encode(job) + b"\n")
        await child.stdin.drain()
        deadline = time.monotonic() + self._timeout
        page, total, ocr_pages = 0, 0, 0
        while True:
            wait = min(self._page_timeout, deadline - time.monotonic())
            try:
                line = await asyncio.wait_for(child.stdout.readline(), max(wait, 0))
            except TimeoutError:
                raise self._timed_out(page, total, time.monotonic() >= deadline) from None
            if not line:
                raise await _died(child, page, total, self._memory)
            message = MESSAGE_DECODER.decode(line)
            if isinstance(message, PageRead):
                by_ocr = message.ocr_pages > ocr_pages
                page, total, ocr_pages = message.done, message.total, message.ocr_pages
                await on_page(page, total, by_ocr)
            elif isinstance(message, Finished):
                return
            elif isinstance(message, Refused):
                raise DocumentFailed(message.code, message.message)
            elif isinstance(message, Crashed):
                raise ExtractionCrashed(message.error)

    def _timed_out(self, page: int, total: int, whole: bool) -> DocumentFailed:
        where = f"at page {page + 1} of {total}" if total else "before its first page"
        if whole:
            limit = f"the {self._timeout:g} s allowed for a document"
        else:
            limit = f"the {self._page_timeout:g} s allowed for a page"
        return DocumentFailed(
            "timeout",
            f"Reading the document took longer than {limit} (stopped {where}). It may be "
            "built to stall readers; if it is genuine, split it or save it again and upload that.",
        )


def _collect(saved: Path, attachments: list[Attachment], parts: Path, limits: Limits) -> None:
    """Copy the attachments the child saved into ``parts``. The child's folder is its
    own: a hostile file may have made a name there a link to a file only this
    process may read, so each is opened without following links, as a regular file
    of the size the child reported."""
    if not attachments:
        return
    folder = os.open(saved, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for attachment in attachments:
            if not attachment.file.isdigit() or attachment.size > limits.max_file_bytes:
                raise ExtractionCrashed(f"the child reported a bad part {attachment.file!r}")
            fd = os.open(attachment.file, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder)
            with os.fdopen(fd, "rb") as source, (parts / attachment.file).open("wb") as copy:
                info = os.fstat(source.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_size != attachment.size:
                    raise ExtractionCrashed(f"the child's part {attachment.file} is not its file")
                shutil.copyfileobj(source, copy, 2**20)
    finally:
        os.close(folder)


async def _died(child: asyncio.subprocess.Process, page: int, total: int, memory: int) -> Exception:
    code = await child.wait()
    log.warning("extraction_process_died", returncode=code, page=page, total=total)
    if code == -signal.SIGXCPU:
        return DocumentFailed("timeout", "Reading the document used more CPU time than allowed.")
    if code == -signal.SIGKILL:  # not ours: the kernel's out-of-memory killer
        return DocumentFailed(
            "too_large",
            f"Reading the document needs more than the extractor's {memory // 2**20} MB of memory.",
        )
    if code < 0:
        name = signal.Signals(-code).name
        return DocumentFailed(
            "corrupt",
            f"The extractor crashed reading this file ({name}); it is damaged, or built to "
            "break readers. Save it again from the program that made it.",
        )
    return ExtractionCrashed(f"the extraction process exited with status {code}")
