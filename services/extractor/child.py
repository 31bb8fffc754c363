"""The extraction process: ``python -m services.extractor.child``, one document, then exit.

Started ahead of its job by the sandbox, so the imports below are paid while
the worker waits for work. Before it opens the file it caps its own memory
and CPU time; the sandbox enforces wall-clock limits by killing it. A fresh
process per document means nothing a hostile file did survives it.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
from pathlib import Path
from typing import BinaryIO

from services.extractor.extract import extract
from services.extractor.protocol import (
    ENCODER,
    JOB_DECODER,
    RESULT_ENCODER,
    Crashed,
    Finished,
    Job,
    Message,
    PageRead,
    Refused,
)
from shared.errors import DocumentFailed

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4


def _isolate() -> None:
    """Linux: the kernel kills this process when the worker that started it dies, and
    it is not dumpable: another process of its user (another child, taken over by
    its file) cannot ptrace it or read its memory, environment or descriptors."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        libc.prctl(PR_SET_DUMPABLE, 0)


SPAWN_MARGIN = 8
"""Tasks the child may add to its user's count (threads count as tasks): its own
library threads, but no fork bomb."""


def _cap(job: Job) -> None:
    """Limits the kernel enforces from here on: memory, CPU time, the size of any file
    written (``Limits.max_file_bytes``), no
    core dump (it would hold the document), and no processes of its own."""
    resource.setrlimit(resource.RLIMIT_AS, (job.memory_bytes, job.memory_bytes))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(usage.ru_utime + usage.ru_stime) + job.cpu_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    biggest = job.limits.max_file_bytes
    resource.setrlimit(resource.RLIMIT_FSIZE, (biggest, biggest))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if Path("/proc").is_dir():  # Linux: where the count can be read
        tasks = _user_tasks() + SPAWN_MARGIN
        resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))


def _user_tasks() -> int:
    """Processes and threads of this process's user now (RLIMIT_NPROC counts them all,
    so the limit is set above them: other replicas' children are not refused)."""
    uid, count = os.getuid(), 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(entry / "task"))
            except OSError:
                continue  # gone meanwhile
    return count


def _answer(job: Job, send: BinaryIO) -> Message:
    def on_page(done: int, total: int, ocr_pages: int) -> None:
        send.write(ENCODER.encode(PageRead(done, total, ocr_pages)) + b"\n")
        send.flush()

    try:
        parts = Path(job.parts_path) if job.parts_path else None
        result = extract(Path(job.path), job.format, job.limits, on_page, parts, job.depth)
        Path(job.result_path).write_bytes(RESULT_ENCODER.encode(result))
    except DocumentFailed as exc:
        return Refused(exc.code, exc.message)
    except MemoryError:
        mb = job.memory_bytes // 2**20
        return Refused(
            "too_large", f"Reading the document needs more than the extractor's {mb} MB of memory."
        )
    except RecursionError:
        return Refused("too_large", "The document's structure is nested too deeply to read.")
    except Exception as exc:  # MuPDF's allocation failures are mapped in pdf.unreadable
        return Crashed(f"{type(exc).__name__}: {exc}")
    return Finished()


def main() -> None:
    _isolate()
    # The protocol gets its own descriptor; anything a library prints goes to stderr.
    send = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    line = sys.stdin.buffer.readline()
    if not line:
        return  # the worker stopped before it had a job for us
    job = JOB_DECODER.decode(line)
    _cap(job)
    message = _answer(job, send)
    send.write(ENCODER.encode(message) + b"\n")
    send.flush()


if __name__ == "__main__":
    main()
