"""Archives made on the spot, honest or crafted: rows of each file, a manifest that
matches them (or not), a signature (or none), and members no archive should hold."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tarfile
import uuid
from pathlib import Path
from typing import Any

import msgspec

from shared.archive import FILES, FORMAT, VERSION, sign

INDEX = {
    "version": 1,
    "chunk_tokens": 300,
    "chunk_overlap_tokens": 40,
    "embeddings_model": "multilingual-e5-small",
    "embeddings_dimensions": 384,
    "embeddings_input_mode": "input_type",
    "embeddings_send_dimensions": False,
    "state": "active",
}


def document(**fields: Any) -> dict[str, Any]:
    """A documents.jsonl row as an export writes one."""
    return {
        "id": str(uuid.uuid4()),
        "filename": "memo.pdf",
        "content_type": "application/pdf",
        "file_size": 1000,
        "title": None,
        "description": None,
        "tags": [],
        "metadata": {},
        "format": "pdf",
        "file_sha256": hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        "text_hash": hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        "page_count": 1,
        "ocr_pages": 0,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "duplicate_of": None,
        "minhash": None,
        "similar_to": [],
        **fields,
    }


def page(document_id: str, text: str, page_no: int = 1) -> dict[str, Any]:
    return {"document_id": document_id, "page_no": page_no, "text": text, "width": 612.0,
            "height": 792.0, "spans": [[0, len(text), 72, 72, 500, 100]]}  # fmt: skip


def chunk(document_id: str, text: str, ordinal: int = 0, dimensions: int = 384) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "document_id": document_id, "ordinal": ordinal,
            "text": text, "context": "memo", "section": "", "page_start": 1, "page_end": 1,
            "token_count": len(text.split()), "boxes": None,
            "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "embedding": [1.0 / dimensions**0.5] * dimensions}  # fmt: skip


def write_archive(
    path: Path,
    rows: dict[str, list[dict[str, Any]]],
    key: str = "",
    tenant: str = "acme",
    manifest: dict[str, Any] | None = None,
    extra: dict[str, bytes] | None = None,
    lines: dict[str, bytes] | None = None,
) -> Path:
    """An archive of ``rows`` per file, sorted as an export sorts them, with a matching
    manifest (``manifest`` overrides fields), signed with ``key`` if given; ``extra``
    members after the data files, ``lines`` raw bytes in place of a file's rows."""
    members: dict[str, bytes] = {}
    for name in FILES:
        found = sorted(rows.get(name, []), key=lambda r: (r.get("document_id", r.get("id")),))
        members[name] = (lines or {}).get(name) or b"".join(
            msgspec.json.encode(r) + b"\n" for r in found
        )
    files = {
        name: {"rows": body.count(b"\n"), "sha256": hashlib.sha256(body).hexdigest(),
               "bytes": len(body)}
        for name, body in members.items()
    }  # fmt: skip
    body = msgspec.json.encode(
        {"format": FORMAT, "version": VERSION, "tenant": tenant,
         "created_at": dt.datetime.now(dt.UTC).isoformat(), "index": INDEX, "files": files,
         **(manifest or {})}
    )  # fmt: skip
    with tarfile.open(path, "w:gz") as tar:
        for name, data in [
            *((f"{n}.jsonl", b) for n, b in members.items()),
            *(extra or {}).items(),
            ("manifest.json", body),
            *([("manifest.sig", sign(body, key))] if key else []),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
