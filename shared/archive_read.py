"""Reading an archive as untrusted input: one pass over the tar, every member and row
checked before anything is written to the database.

Members are read as a stream (``r|gz``): only the files a docmesh archive has, each
once, as regular files, with lines and the manifest under their size limits. Each
row is decoded into its type and checked (``shared.archive.check_row``), then
spooled to a folder as canonical JSON, so memory stays flat whatever the archive
holds. Rows must be sorted by document id, and no document may hold more pages,
characters or chunks than the deployment allows. Once the manifest is read, every
file must match its row count and SHA-256; the signature then says whether this
deployment made the archive.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import msgspec

from shared.archive import (
    FILES,
    FORMAT,
    MAX_LINE,
    MAX_MANIFEST,
    MAX_SIGNATURE,
    ROW_TYPES,
    VERSION,
    ArchiveError,
    ChunkRow,
    DocumentRow,
    Manifest,
    PageRow,
    Row,
    check_row,
    signed_by,
)
from shared.fields import FieldError
from shared.settings import Settings

MEMBERS = {f"{name}.jsonl" for name in FILES} | {"manifest.json", "manifest.sig"}


@dataclass
class Spooled:
    """An archive that passed every check: its manifest, whether this deployment signed
    it, and its rows, spooled and canonical, one file per kind."""

    manifest: Manifest
    trusted: bool
    files: dict[str, Path]

    def rows(self, name: str) -> Iterator[Row]:
        """The spooled rows of ``name``, in document order."""
        decoder = msgspec.json.Decoder(ROW_TYPES[name])
        with self.files[name].open("rb") as source:
            for line in source:
                yield decoder.decode(line)


@dataclass
class _Tally:
    """One file's rows as they go by: checksum, count, order, and each document's size."""

    name: str
    settings: Settings
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    rows: int = 0
    last: str = ""
    per_document: int = 0
    chars: int = 0
    dimensions: int | None = None

    def add(self, line: bytes, row: Row) -> None:
        self.digest.update(line)
        self.rows += 1
        document = row.id if isinstance(row, DocumentRow) else row.document_id
        if document < self.last or (isinstance(row, DocumentRow) and document == self.last):
            raise ArchiveError(f"{self.name}.jsonl is not sorted by document id (row {self.rows})")
        if document != self.last:
            self.last, self.per_document, self.chars = document, 0, 0
        self.per_document += 1
        self._within_limits(row)

    def _within_limits(self, row: Row) -> None:
        s = self.settings
        if isinstance(row, PageRow):
            self.chars += len(row.text)
            if self.per_document > s.max_pages or self.chars > s.max_chars:
                raise ArchiveError(
                    f"document {row.document_id} has more than {s.max_pages} pages or "
                    f"{s.max_chars:,} characters, the limits of this deployment"
                )
        if isinstance(row, ChunkRow):
            if self.per_document > s.max_chunks:
                raise ArchiveError(
                    f"document {row.document_id} has more than {s.max_chunks} chunks"
                )
            if row.embedding is not None:
                if self.dimensions not in (None, len(row.embedding)):
                    raise ArchiveError("chunks.jsonl holds vectors of different dimensions")
                self.dimensions = len(row.embedding)
        if isinstance(row, DocumentRow) and row.file_size > s.max_file_size:
            raise ArchiveError(f"document {row.id} is larger than this deployment accepts")


def read_archive(path: Path, folder: Path, settings: Settings, trust_unsigned: bool) -> Spooled:
    """Check ``path`` whole and spool its rows to ``folder``; ``ArchiveError`` says why
    an archive is refused (damage, forgery, a row out of its limits, an unsigned
    archive without ``trust_unsigned``)."""
    tallies: dict[str, _Tally] = {}
    manifest: bytes | None = None
    signature: bytes | None = None
    try:
        with tarfile.open(path, "r|gz") as tar:
            for member in tar:
                source = _member(tar, member, tallies, manifest, signature)
                if member.name == "manifest.json":
                    manifest = _small(source, MAX_MANIFEST, member.name)
                elif member.name == "manifest.sig":
                    signature = _small(source, MAX_SIGNATURE, member.name)
                else:
                    name = member.name.removesuffix(".jsonl")
                    tallies[name] = _spool(source, name, folder, settings)
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"not a readable archive: {exc}") from exc
    found = _verified(manifest, tallies)
    trusted = signed_by(manifest or b"", signature, settings.archive_key)
    if not trusted and not trust_unsigned:
        raise ArchiveError(_untrusted(signature, settings))
    return Spooled(found, trusted, {name: folder / f"{name}.jsonl" for name in FILES})


def _member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    tallies: dict[str, _Tally],
    manifest: bytes | None,
    signature: bytes | None,
) -> IO[bytes]:
    """The member's bytes, if it is one an archive has, once, in its place."""
    name = member.name
    if name not in MEMBERS:
        raise ArchiveError(f"the archive holds {name!r}, which no docmesh archive has")
    seen = {f"{n}.jsonl" for n in tallies}
    if manifest is not None:
        seen.add("manifest.json")
    if signature is not None:
        seen.add("manifest.sig")
    if name in seen:
        raise ArchiveError(f"the archive holds {name!r} twice")
    if not member.isfile():
        raise ArchiveError(f"{name!r} is not a regular file")
    source = tar.extractfile(member)
    assert source is not None  # a regular file
    return source


def _small(source: IO[bytes], limit: int, name: str) -> bytes:
    body = source.read(limit + 1)
    if len(body) > limit:
        raise ArchiveError(f"{name} is larger than {limit} bytes")
    return body


def _spool(source: IO[bytes], name: str, folder: Path, settings: Settings) -> _Tally:
    tally = _Tally(name, settings)
    decoder = msgspec.json.Decoder(ROW_TYPES[name])
    with (folder / f"{name}.jsonl").open("wb") as sink:
        while line := source.readline(MAX_LINE + 1):
            if len(line) > MAX_LINE:
                raise ArchiveError(f"{name}.jsonl has a row over {MAX_LINE} bytes")
            try:
                row = decoder.decode(line)
                check_row(row)
            except (msgspec.ValidationError, msgspec.DecodeError, FieldError) as exc:
                raise ArchiveError(f"{name}.jsonl row {tally.rows + 1}: {exc}") from None
            tally.add(line, row)
            sink.write(msgspec.json.encode(row) + b"\n")
    return tally


def _verified(manifest: bytes | None, tallies: dict[str, _Tally]) -> Manifest:
    if manifest is None:
        raise ArchiveError("the archive has no manifest.json")
    try:
        found = msgspec.json.decode(manifest, type=Manifest)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ArchiveError(f"not a {FORMAT} of version {VERSION}: {exc}") from None
    if found.version != VERSION:
        raise ArchiveError(f"not a {FORMAT} of version {VERSION}")
    if set(found.files) != set(FILES) or set(tallies) != set(FILES):
        raise ArchiveError(f"the archive must hold exactly the files {', '.join(FILES)}")
    for name, expected in found.files.items():
        tally = tallies[name]
        if (tally.digest.hexdigest(), tally.rows) != (expected.sha256, expected.rows):
            raise ArchiveError(f"{name}.jsonl does not match its checksum: the archive is damaged")
    dimensions = tallies["chunks"].dimensions
    if dimensions is not None and dimensions != found.index.get("embeddings_dimensions"):
        raise ArchiveError("the vectors' dimensions are not those of the archive's index")
    return found


def _untrusted(signature: bytes | None, settings: Settings) -> str:
    if signature is None:
        why = "the archive is not signed"
    elif not settings.archive_key:
        why = "this deployment has no DOCMESH_ARCHIVE_KEY to check the archive's signature"
    else:
        why = "the archive is signed by another key than this deployment's"
    return (
        f"{why}: import it with --trust-unsigned if you trust where it comes from "
        "(its documents are then indexed again from their text, as uploads would be)"
    )


def named_tenant(path: Path) -> str:
    """The tenant an archive says it was exported from (for ``--keep-tenant``; the
    archive is checked whole when it is imported)."""
    try:
        with tarfile.open(path, "r|gz") as tar:
            for member in tar:
                if member.name == "manifest.json" and member.isfile():
                    source = tar.extractfile(member)
                    assert source is not None
                    body = _small(source, MAX_MANIFEST, member.name)
                    return msgspec.json.decode(body, type=Manifest).tenant
    except (tarfile.TarError, EOFError, OSError, msgspec.MsgspecError) as exc:
        raise ArchiveError(f"not a readable archive: {exc}") from exc
    raise ArchiveError("the archive has no manifest.json")
