"""The archive ``docmesh export`` writes and ``docmesh import`` reads: its files, its
rows, its limits and its signature.

An archive is a gzipped tar of JSON Lines files, each sorted by document id, and,
last, ``manifest.json`` (format, version, tenant, the index settings the vectors
were built with, and each file's row count and SHA-256), then ``manifest.sig``: an
HMAC-SHA256 of the manifest's bytes under the deployment's ``DOCMESH_ARCHIVE_KEY``
when one is set. The checksums catch damage; only the signature says who made it.

Every row is checked as the API checks what it takes (``shared.fields``): an
archive is untrusted input until its signature says otherwise, and even then a
field out of its limits is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from shared.fields import (
    Description,
    FieldError,
    Filename,
    Tags,
    Title,
    check_filename,
    check_metadata,
)
from shared.formats import CONTENT_TYPES, Format

FORMAT: Literal["docmesh-archive"] = "docmesh-archive"
VERSION = 2
FILES = ("documents", "pages", "headings", "chunks", "bands", "hashes")
"""The data files, in the order they are written and must be read."""
MAX_LINE = 32 * 1024**2
"""Bytes of one row (a page of text with its geometry is the largest)."""
MAX_MANIFEST = 1024**2
MAX_SIGNATURE = 4096
MAX_SPANS = 200_000
"""Boxes of one page's geometry."""
MAX_DIMENSIONS = 2000

Uuid = Annotated[
    str, Meta(pattern="^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
"""A document or chunk id as PostgreSQL writes it (lower case): ids sort as text."""
Hex64 = Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
Count = Annotated[int, Meta(ge=0, le=10_000_000)]
Coordinate = Annotated[float, Meta(ge=-1e6, le=1e6)]
MinHash = Annotated[int, Meta(ge=0, lt=2**32)]
Span = Annotated[list[Coordinate], Meta(min_length=6, max_length=6)]
"""Characters start..end of a page's text lie in box x0, y0, x1, y1."""
ContentType = Annotated[
    str, Meta(pattern="^(" + "|".join(re.escape(t) for t in CONTENT_TYPES) + ")$")
]
Mark = Annotated[list[Annotated[int, Meta(ge=0, le=2**31)]], Meta(min_length=3, max_length=3)]
"""Characters start..end of a page's text come from row or line number."""
UnitValue = Annotated[str, Meta(max_length=1000)] | Annotated[int, Meta(ge=0, le=10_000_000)]


class PlaceRow(msgspec.Struct, forbid_unknown_fields=True):
    """What a page is in a format without pages (``pages.place``)."""

    unit: Annotated[dict[Annotated[str, Meta(max_length=20)], UnitValue], Meta(max_length=10)]
    marks: Annotated[list[Mark], Meta(max_length=MAX_SPANS)]
    numbering: Literal["", "rows", "lines"] = ""


Location = Annotated[
    dict[
        Annotated[str, Meta(max_length=20)],
        UnitValue | Annotated[list[int], Meta(max_length=2)],
    ],
    Meta(max_length=16),
]


class ArchiveError(Exception):
    """The archive cannot be imported: damaged, forged, of another format, or holding
    a row no API would accept. The message says which, and where."""


class Similar(msgspec.Struct, forbid_unknown_fields=True):
    document_id: Uuid
    similarity: Annotated[float, Meta(ge=0, le=1)]


CollectionName = Annotated[str, Meta(min_length=1, max_length=200)]


class DocumentRow(msgspec.Struct, forbid_unknown_fields=True):
    id: Uuid
    filename: Filename
    content_type: ContentType
    file_size: Annotated[int, Meta(ge=1, le=1024**4)]
    title: Title | None
    description: Description | None
    tags: Tags
    metadata: dict[str, Any]
    format: Format | None
    file_sha256: Hex64 | None
    text_hash: Hex64 | None
    page_count: Count | None
    ocr_pages: Count | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    duplicate_of: Uuid | None = None
    attachment_of: Uuid | None = None
    """The e-mail it is an attachment of (linked on import when the tenant has it)."""
    collections: Annotated[list[CollectionName], Meta(max_length=100)] = msgspec.field(
        default_factory=list
    )
    """The names of its collections (found or made by name on import)."""
    minhash: Annotated[list[MinHash], Meta(max_length=1024)] | None = None
    similar_to: Annotated[list[Similar], Meta(max_length=10)] = msgspec.field(default_factory=list)

    @property
    def document_id(self) -> str:
        return self.id


class PageRow(msgspec.Struct, forbid_unknown_fields=True):
    document_id: Uuid
    page_no: Annotated[int, Meta(ge=1, le=1_000_000)]
    text: str
    width: Annotated[float, Meta(gt=0, le=1e5)] | None
    height: Annotated[float, Meta(gt=0, le=1e5)] | None
    spans: Annotated[list[Span], Meta(max_length=MAX_SPANS)] | None
    place: PlaceRow | None = None


class HeadingRow(msgspec.Struct, forbid_unknown_fields=True):
    document_id: Uuid
    ordinal: Count
    page_no: Annotated[int, Meta(ge=1, le=1_000_000)]
    page_offset: Count
    level: Annotated[int, Meta(ge=1, le=9)]
    title: Annotated[str, Meta(max_length=1000)]


class Box(msgspec.Struct, forbid_unknown_fields=True):
    page: Annotated[int, Meta(ge=1, le=1_000_000)]
    x0: Coordinate
    y0: Coordinate
    x1: Coordinate
    y1: Coordinate
    page_width: Coordinate
    page_height: Coordinate


class ChunkRow(msgspec.Struct, forbid_unknown_fields=True):
    id: Uuid
    document_id: Uuid
    ordinal: Count
    text: Annotated[str, Meta(max_length=1_000_000)]
    context: Annotated[str, Meta(max_length=100_000)]
    section: Annotated[str, Meta(max_length=100_000)]
    page_start: Annotated[int, Meta(ge=0, le=1_000_000)]
    page_end: Annotated[int, Meta(ge=0, le=1_000_000)]
    token_count: Count
    text_sha256: Hex64
    boxes: Annotated[list[Box], Meta(max_length=MAX_SPANS)] | None
    embedding: Annotated[list[float], Meta(min_length=1, max_length=MAX_DIMENSIONS)] | None
    location: Location | None = None


class BandRow(msgspec.Struct, forbid_unknown_fields=True):
    document_id: Uuid
    band: Annotated[int, Meta(ge=0, le=1000)]
    hash: Annotated[int, Meta(ge=-(2**62) * 2, le=2**63 - 1)]
    """A bigint (msgspec takes no bound past 64 bits, so the lowest is written so)."""


class HashRow(msgspec.Struct, forbid_unknown_fields=True):
    document_id: Uuid
    hash: Annotated[str, Meta(pattern="^(file|text):[0-9a-f]{64}$")]


Row = DocumentRow | PageRow | HeadingRow | ChunkRow | BandRow | HashRow
ROW_TYPES: dict[str, type[Row]] = {
    "documents": DocumentRow,
    "pages": PageRow,
    "headings": HeadingRow,
    "chunks": ChunkRow,
    "bands": BandRow,
    "hashes": HashRow,
}


class FileEntry(msgspec.Struct, forbid_unknown_fields=True):
    rows: Count
    sha256: Hex64
    bytes: Annotated[int, Meta(ge=0, le=2**62)]


class Manifest(msgspec.Struct, forbid_unknown_fields=True):
    format: Literal["docmesh-archive"]
    version: Annotated[int, Meta(ge=0, le=1000)]
    tenant: Annotated[str, Meta(min_length=1, max_length=200)]
    created_at: dt.datetime
    index: dict[str, Any]
    files: dict[str, FileEntry]


class Signature(msgspec.Struct, forbid_unknown_fields=True):
    key_id: Annotated[str, Meta(pattern="^[0-9a-f]{16}$")]
    hmac: Hex64


def check_row(row: Row) -> None:
    """What msgspec's types cannot say of a row, as ``FieldError``: the same rules as
    the API's (a vector's dimensions are checked against the manifest's index)."""
    if isinstance(row, DocumentRow):
        check_filename(row.filename)
        check_metadata(row.metadata)
    elif isinstance(row, PageRow) and "\x00" in row.text:
        raise FieldError("invalid_text", "Text must not contain NUL characters.", "text")
    elif (
        isinstance(row, ChunkRow)
        and row.embedding is not None
        and not all(math.isfinite(v) for v in row.embedding)
    ):
        raise FieldError(
            "invalid_field", "The vector holds a value that is no number.", "embedding"
        )


def key_id(key: str) -> str:
    """Which key signed an archive, without saying the key."""
    return hashlib.sha256(b"docmesh-archive-key:" + key.encode()).hexdigest()[:16]


def sign(manifest: bytes, key: str) -> bytes:
    """``manifest.sig`` for ``manifest`` under ``key``."""
    digest = hmac.new(key.encode(), manifest, hashlib.sha256).hexdigest()
    return msgspec.json.encode(Signature(key_id(key), digest))


def signed_by(manifest: bytes, signature: bytes | None, key: str) -> bool:
    """Whether ``signature`` is ``key``'s over ``manifest`` (False for none, or for an
    archive another deployment signed)."""
    if signature is None or not key:
        return False
    try:
        found = msgspec.json.decode(signature, type=Signature)
    except msgspec.MsgspecError:
        return False
    expected = hmac.new(key.encode(), manifest, hashlib.sha256).hexdigest()
    return found.key_id == key_id(key) and hmac.compare_digest(found.hmac, expected)
