"""Request bodies of the HTTP API, validated by msgspec, and the rules msgspec
cannot express."""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

import msgspec
from msgspec import Meta

from services.gateway.errors import ApiError
from services.gateway.metadata import Filter
from shared.fields import (
    Description,
    FieldError,
    Filename,
    Metadata,
    Tags,
    Title,
    check_filename,
    depth,
    has_nul,
)
from shared.formats import CONTENT_TYPES, Format, extensions
from shared.service_layer.presign import Upload
from shared.webhooks import WebhookEvent

T = TypeVar("T")

MAX_BODY_DEPTH = 16
"""Levels of nesting any request body may have (metadata's own limit is lower)."""


class PresignRequest(msgspec.Struct, forbid_unknown_fields=True):
    filename: Annotated[
        Filename,
        Meta(
            description="The file's name: no path, its extension matching content_type.",
            examples=["report.pdf"],
        ),
    ]
    file_size: Annotated[int, Meta(description="Bytes the PUT will send.", examples=[182044])]
    content_type: Annotated[
        str,
        Meta(
            max_length=200,
            description="The file's media type: PDF, Word (DOC, DOCX, ODT, RTF), slides "
            "(PPTX, ODP), sheets (XLSX, XLS, ODS, CSV, TSV), HTML, Markdown, plain text, "
            "e-mail (EML, MSG) or EPUB; a 415 answer lists every accepted type.",
            examples=["application/pdf"],
        ),
    ]
    title: Title | None = None
    description: Description | None = None
    tags: Tags = msgspec.field(default_factory=list)
    metadata: Annotated[
        Metadata,
        Meta(
            description="Your own JSON key/values for the document (at most 64 keys of "
            "1-64 characters, values nested at most 8 deep, 16 KiB as JSON); search and "
            "the library filter on them.",
            examples=[{"department": "legal", "year": 2026}],
        ),
    ] = msgspec.field(default_factory=dict)
    multipart: Annotated[
        bool | None,
        Meta(
            description="Upload in parts; by default, files of "
            "DOCMESH_MULTIPART_THRESHOLD_BYTES (64 MiB) or more go in parts."
        ),
    ] = None
    collections: CollectionIds = msgspec.field(default_factory=list)


CollectionIds = Annotated[
    list[str],
    Meta(max_length=100, description="Ids of the tenant's collections (POST /collections)."),
]
CollectionName = Annotated[str, Meta(min_length=1, max_length=200)]


class CollectionRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[CollectionName, Meta(examples=["Contracts 2026"])]
    description: Description = ""


class CollectionPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: CollectionName | None = None
    description: Description | None = None


class ReplacementRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A new file for an existing document: the title, tags and metadata stay."""

    filename: Filename
    file_size: int
    content_type: Annotated[str, Meta(max_length=200)]
    multipart: bool | None = None


class WebhookRequest(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[
        str,
        Meta(
            min_length=8,
            max_length=2000,
            description="An http(s) URL on a public address that takes POSTs.",
            examples=["https://example.com/hooks/docmesh"],
        ),
    ]
    events: Annotated[list[WebhookEvent], Meta(min_length=1, max_length=3)]


class CompletedPart(msgspec.Struct, forbid_unknown_fields=True):
    part_number: Annotated[int, Meta(ge=1, le=10_000)]
    etag: Annotated[str, Meta(min_length=1, max_length=200)]


class CompleteUploadRequest(msgspec.Struct, forbid_unknown_fields=True):
    upload_id: str
    parts: Annotated[list[CompletedPart], Meta(min_length=1, max_length=10_000)]


Sha256 = Annotated[str, Meta(pattern="^[0-9a-fA-F]{64}$")]


class ProcessRequest(msgspec.Struct, forbid_unknown_fields=True):
    upload_id: Annotated[str, Meta(min_length=1, max_length=64)]
    file_hash: Sha256 | None = None


class SearchRequest(msgspec.Struct, forbid_unknown_fields=True):
    query: Annotated[str, Meta(min_length=1, max_length=2000)]
    top_k: Annotated[int, Meta(ge=1, le=100)] = 10
    document_ids: Annotated[list[str], Meta(max_length=1000)] | None = None
    collections: CollectionIds | None = None
    tags: Tags | None = None
    filter: (
        Annotated[
            Filter,
            Meta(
                description="Metadata conditions, all of which must hold: per key one of "
                '{"eq": v} (or just v), {"in": [...]}, {"range": {"gte"|"gt"|"lte"|"lt": '
                'number or ISO 8601 date}}, {"exists": true|false}.',
                examples=[{"department": "legal", "year": {"range": {"gte": 2024}}}],
            ),
        ]
        | None
    ) = None


class DocumentPatch(msgspec.Struct, forbid_unknown_fields=True):
    """What a document's owner may change without processing it again."""

    metadata: (
        Annotated[
            dict[str, Any],
            Meta(
                description="Merged into the stored metadata: a key sent replaces its value, "
                "a key sent as null is removed.",
                examples=[{"reviewed": True, "draft": None}],
            ),
        ]
        | None
    ) = None
    tags: Annotated[Tags, Meta(description="Replaces the tags.")] | None = None


EntryId = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,19}-[0-9]{1,19}$")]


class DeadLetterIds(msgspec.Struct, forbid_unknown_fields=True):
    ids: Annotated[list[EntryId], msgspec.Meta(max_length=1000)] | None = None
    """Entry ids of the dead-letter stream; none means all of them."""


_AT_PATH = re.compile(r"(?:at|in) `\$\.?([^`]*)`")  # "at `key` in `$.metadata`" too
_FIELD = re.compile(r"field `([^`]+)`")


def decode_body(raw: bytes, type_: type[T]) -> T:
    """Decode a JSON body into ``type_`` or raise a 400 ``ApiError`` naming the field."""
    if not raw.strip():
        raise ApiError(400, "invalid_body", "The request body must be a JSON object.")
    try:
        body = msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _AT_PATH.search(text) or _FIELD.search(text)
        field = match.group(1).split("[")[0] or None if match else None
        raise ApiError(422 if field else 400, "invalid_field", text, field) from exc
    except msgspec.DecodeError as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise _too_deep() from None
    plain = msgspec.to_builtins(body)
    if depth(plain) > MAX_BODY_DEPTH:
        raise _too_deep()
    if has_nul(plain):
        # PostgreSQL text cannot hold NUL; say so rather than fail on insert.
        raise ApiError(422, "invalid_text", "Text must not contain NUL (\\u0000) characters.")
    return body


def _too_deep() -> ApiError:
    return ApiError(422, "too_deep", f"The body is nested more than {MAX_BODY_DEPTH} levels deep.")


def check_presign(req: PresignRequest | ReplacementRequest, max_size: int) -> Format:
    """Rules msgspec cannot express; returns the declared format."""
    try:
        name = check_filename(req.filename)
    except FieldError as exc:
        raise ApiError(422, exc.code, str(exc), exc.field) from None
    if req.file_size <= 0:
        raise ApiError(422, "invalid_size", "file_size must be greater than 0.", "file_size")
    if req.file_size > max_size:
        raise ApiError(
            413,
            "file_too_large",
            f"file_size {req.file_size} is over the limit of {max_size} bytes.",
            "file_size",
        )
    fmt = CONTENT_TYPES.get(req.content_type.split(";")[0].strip().lower())
    if fmt is None:
        allowed = ", ".join(CONTENT_TYPES)
        raise ApiError(
            415,
            "unsupported_content_type",
            f"content_type {req.content_type!r} is not accepted; use one of: {allowed}.",
            "content_type",
        )
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in extensions(fmt):
        named = " or ".join(f"*.{e}" for e in extensions(fmt))
        raise ApiError(
            422,
            "extension_mismatch",
            f"A {req.content_type} file must be named {named}, not {name!r}.",
            "filename",
        )
    return fmt


def upload_of(req: PresignRequest | ReplacementRequest, max_size: int) -> Upload:
    """The upload a presign body describes, within the API's limits."""
    fmt = check_presign(req, max_size)
    return Upload(req.filename, req.file_size, req.content_type, fmt, req.multipart)
