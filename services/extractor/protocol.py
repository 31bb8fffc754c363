"""Messages between the extractor and its extraction process: one JSON line each.

The worker writes one ``Job`` to the child's stdin; the child answers with
``PageRead`` lines as it goes and ends with ``Finished`` (the result is in
``Job.result_path``), ``Refused`` (the document cannot be read) or
``Crashed`` (an unexpected error, retried like any handler error).
"""

from __future__ import annotations

import msgspec

from services.extractor.document import Extracted
from services.extractor.limits import Limits
from shared.formats import Format


class Job(msgspec.Struct, frozen=True):
    path: str
    format: Format
    limits: Limits
    result_path: str
    memory_bytes: int
    """Address-space limit the child sets on itself before reading the file."""
    cpu_seconds: int
    """CPU time the child may spend on the job."""
    parts_path: str = ""
    """Where the child saves an e-mail's attachments (none saved without it)."""
    depth: int = 0
    """How many messages hold the document (an attachment's)."""


class PageRead(msgspec.Struct, frozen=True, tag="page"):
    done: int
    total: int
    ocr_pages: int = 0
    """Pages read by OCR so far."""


class Finished(msgspec.Struct, frozen=True, tag="finished"):
    pass


class Refused(msgspec.Struct, frozen=True, tag="refused"):
    code: str
    message: str


class Crashed(msgspec.Struct, frozen=True, tag="crashed"):
    error: str


Message = PageRead | Finished | Refused | Crashed

ENCODER = msgspec.json.Encoder()
JOB_DECODER = msgspec.json.Decoder(Job)
MESSAGE_DECODER = msgspec.json.Decoder(Message)
RESULT_ENCODER = msgspec.msgpack.Encoder()
RESULT_DECODER = msgspec.msgpack.Decoder(Extracted)
