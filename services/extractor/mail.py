"""E-mail: EML through the standard library, Outlook's MSG through python-oxmsg (MIT).

The message is a page: its subject, sender, recipients, date and the names of its
attachments, then its text part (or its HTML part made text). Attachments of
formats docmesh reads are saved in the folder of parts, for the extractor to make
documents of their own, ``attachment_of`` the message; the others (pictures,
calendar items) are only named.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage, Message
from pathlib import Path
from typing import TypeVar

from services.extractor.containers import damaged
from services.extractor.document import Attachment, Block, Extracted
from services.extractor.limits import Limits
from services.extractor.markup import html_blocks
from services.extractor.web import BYTES_PER_CHAR, paragraphs
from shared.errors import DocumentFailed
from shared.formats import (
    TEXT_FORMATS,
    content_type,
    damaged_container,
    named,
    sniff_file,
    sniff_prefix,
)  # fmt: skip

MAX_ATTACHMENTS = 100
"""Attachments a message may have, in all its nested messages (read or not)."""
MAX_NESTING = 5
"""Messages attached inside messages, counted from the first message uploaded."""
ENCRYPTED_TYPES = {
    "multipart/encrypted", "application/pkcs7-mime", "application/x-pkcs7-mime",
    "application/pgp-encrypted",
}  # fmt: skip

_ATTACHED = re.compile(rb"^content-disposition:[ \t]*attachment", re.IGNORECASE | re.MULTILINE)
T = TypeVar("T")


@dataclass(frozen=True)
class Carried:
    """An attachment as the message holds it."""

    name: str
    data: bytes
    content_type: str


def extract_eml(path: Path, limits: Limits, parts: Path, depth: int = 0) -> Extracted:
    """An EML message ``depth`` attachments deep; its attachments of formats docmesh
    reads saved in ``parts``."""
    _check_size(path, limits)
    raw = path.read_bytes()
    # Counted in the raw bytes first: parsing 10,000 parts alone takes seconds.
    if len(_ATTACHED.findall(raw)) > MAX_ATTACHMENTS:
        raise _too_many()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    if message.get_content_type() in ENCRYPTED_TYPES:
        raise _encrypted()
    if depth + _nesting(message) > MAX_NESTING:
        raise DocumentFailed(
            "too_large", f"The e-mail nests messages more than {MAX_NESTING} deep."
        )
    headers = {k: str(message.get(k, "")) for k in ("subject", "from", "to", "cc", "date")}
    body: list[Block] = []
    try:
        part = message.get_body(preferencelist=("plain", "html"))
        if part is not None:
            content = part.get_content()
            html = part.get_content_type() == "text/html"
            body = html_blocks(content) if html else paragraphs(content.replace("\r\n", "\n"))
        attachments = [
            Carried(a.get_filename() or "attachment", _payload(a), a.get_content_type())
            for a in _limited(message.iter_attachments())
        ]
    except (LookupError, ValueError, AttributeError) as exc:  # broken MIME structure
        raise damaged("The e-mail", exc) from exc
    return _message(headers, body, attachments, parts, limits)


def extract_msg(path: Path, limits: Limits, parts: Path) -> Extracted:
    """An Outlook MSG message; its attachments of formats docmesh reads saved in
    ``parts`` (a message embedded in it has no file, and is only named)."""
    from oxmsg import Message

    _check_size(path, limits)
    try:
        message = Message.load(str(path))
        headers = {
            "subject": message.subject or "",
            "from": message.sender or "",
            "to": ", ".join(r.email_address or r.name for r in message.recipients),
            "date": message.sent_date.isoformat(" ") if message.sent_date else "",
        }
        attachments = [
            Carried(a.file_name or "attachment", a.file_bytes or b"", a.mime_type or "")
            for a in _limited(message.attachments)
        ]
        text, html = message.body or "", message.html_body
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # the OLE reader raises what it meets in a damaged file
        raise damaged("The Outlook message", exc) from exc
    if "SMIME" in (message.message_class or "").upper() or any(
        a.name.lower().endswith((".p7m", ".pgp-encrypted")) for a in attachments
    ):
        raise _encrypted()
    if text.strip():
        body = paragraphs(text.replace("\r\n", "\n"))
    else:
        body = html_blocks(html) if html else []
    return _message(headers, body, attachments, parts, limits)


def _message(
    headers: dict[str, str], body: list[Block], attachments: list[Carried], parts: Path,
    limits: Limits,
) -> Extracted:  # fmt: skip
    subject = " ".join(headers["subject"].split())
    lines = [f"{k.capitalize()}: {' '.join(v.split())}" for k, v in headers.items() if v.strip()]
    if attachments:
        lines.append("Attachments: " + ", ".join(" ".join(a.name.split()) for a in attachments))
    out = Extracted()
    out.add_page([Block("\n".join(lines)), *(Block(b.text, b.level, table=b.table) for b in body)],
                 unit={"message": subject or "(no subject)"})  # fmt: skip
    for number, carried in enumerate(attachments, start=1):
        saved = _save(carried, parts / str(number), limits)
        if saved is not None:
            out.attachments.append(saved)
    return out


def _save(carried: Carried, path: Path, limits: Limits) -> Attachment | None:
    """The attachment saved at ``path`` when it is of a format docmesh reads (or is a
    damaged file of one: its own document then fails as ``corrupt``); None for the
    others (a picture, a calendar item), which are only named."""
    if not carried.data:
        return None
    if len(carried.data) > limits.max_file_bytes:
        raise DocumentFailed(
            "too_large",
            f"The attachment {carried.name!r} has {len(carried.data):,} bytes, more than the "
            "extractor saves; upload it as a document of its own.",
        )
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(carried.data)
    declared = named(carried.content_type, carried.name)
    fmt = sniff_file(path, declared)
    if declared is None and fmt in TEXT_FORMATS:
        fmt = None  # text of no declared format: a calendar item, a vCard, a key
    elif fmt is None and damaged_container(path):
        fmt = sniff_prefix(carried.data[:1024], declared)
    if fmt is None:
        path.unlink()
        return None
    return Attachment(carried.name, path.name, len(carried.data), fmt.value, content_type(fmt))


def _nesting(message: Message) -> int:
    """How many messages deep the message holds attached messages (the parser has
    read them all; walked without recursion)."""
    deepest, stack = 0, [(message, 0)]
    while stack:
        part, depth = stack.pop()
        deepest = max(deepest, depth)
        if part.is_multipart():
            inner = depth + (part.get_content_type() == "message/rfc822")
            stack += [(p, inner) for p in part.get_payload() if isinstance(p, Message)]
    return deepest


def _limited(items: Iterable[T]) -> list[T]:
    found = []
    for item in items:
        found.append(item)
        if len(found) > MAX_ATTACHMENTS:
            raise _too_many()
    return found


def _too_many() -> DocumentFailed:
    return DocumentFailed(
        "too_large",
        f"The e-mail has more than {MAX_ATTACHMENTS} attachments; send them as documents "
        "of their own.",
    )


def _payload(part: EmailMessage) -> bytes:
    """An attachment's bytes: decoded from its transfer encoding, or an attached
    message as the bytes of an EML file."""
    if part.get_content_type() == "message/rfc822":
        inner = part.get_content()
        return inner.as_bytes() if isinstance(inner, EmailMessage) else b""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _check_size(path: Path, limits: Limits) -> None:
    size = path.stat().st_size
    if size > 4 * BYTES_PER_CHAR * limits.max_chars:
        raise DocumentFailed("too_large", f"The e-mail has {size:,} bytes; the limit is lower.")


def _encrypted() -> DocumentFailed:
    return DocumentFailed(
        "encrypted", "The message is encrypted (S/MIME or PGP). Upload it decrypted."
    )
