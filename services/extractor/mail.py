"""E-mail: EML through the standard library, Outlook's MSG through python-oxmsg (MIT).

The message is a page: its subject, sender, recipients and date, then its text
part (or its HTML part made text). Attachments of formats docmesh reads follow
as pages of their own, cited by the attachment's name and their place in it.
"""

from __future__ import annotations

import email
import email.policy
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

from services.extractor.containers import damaged
from services.extractor.document import Block, Extracted
from services.extractor.limits import Limits
from services.extractor.markup import html_blocks
from services.extractor.web import BYTES_PER_CHAR, paragraphs
from shared.errors import DocumentFailed

MAX_ATTACHMENTS = 100
"""Attachments a message may have (all of them, read or not)."""
MAX_NESTING = 5
"""Messages attached inside messages."""
ENCRYPTED_TYPES = {
    "multipart/encrypted", "application/pkcs7-mime", "application/x-pkcs7-mime",
    "application/pgp-encrypted",
}  # fmt: skip

_ATTACHED = re.compile(rb"^content-disposition:[ \t]*attachment", re.IGNORECASE | re.MULTILINE)
T = TypeVar("T")
ReadPart = Callable[[Path, int], Extracted]
"""Reads an attachment saved at a path, ``depth`` messages deep."""


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes


def extract_eml(path: Path, limits: Limits, read: ReadPart, depth: int = 0) -> Extracted:
    """An EML message and its readable attachments."""
    _check_size(path, limits)
    raw = path.read_bytes()
    # Counted in the raw bytes first: parsing 10,000 parts alone takes seconds.
    if len(_ATTACHED.findall(raw)) > MAX_ATTACHMENTS:
        raise _too_many()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    if message.get_content_type() in ENCRYPTED_TYPES:
        raise _encrypted()
    headers = {k: str(message.get(k, "")) for k in ("subject", "from", "to", "cc", "date")}
    body: list[Block] = []
    try:
        part = message.get_body(preferencelist=("plain", "html"))
        if part is not None:
            content = part.get_content()
            html = part.get_content_type() == "text/html"
            body = html_blocks(content) if html else paragraphs(content.replace("\r\n", "\n"))
        attachments = [
            Attachment(a.get_filename() or "attachment", _payload(a))
            for a in _limited(message.iter_attachments())
        ]
    except (LookupError, ValueError, AttributeError) as exc:  # broken MIME structure
        raise damaged("The e-mail", exc) from exc
    return _message(headers, body, attachments, read, depth)


def extract_msg(path: Path, limits: Limits, read: ReadPart, depth: int = 0) -> Extracted:
    """An Outlook MSG message and its readable attachments."""
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
            Attachment(a.file_name or "attachment", a.file_bytes or b"")
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
    return _message(headers, body, attachments, read, depth)


def _message(
    headers: dict[str, str], body: list[Block], attachments: list[Attachment],
    read: ReadPart, depth: int,
) -> Extracted:  # fmt: skip
    subject = " ".join(headers["subject"].split())
    lines = [f"{k.capitalize()}: {' '.join(v.split())}" for k, v in headers.items() if v.strip()]
    out = Extracted()
    unit: dict[str, str | int] = {"message": subject or "(no subject)"}
    out.add_page([Block("\n".join(lines)), *(Block(b.text, b.level, table=b.table) for b in body)],
                 unit=unit)  # fmt: skip
    for attachment in attachments:
        part = _read_attachment(attachment, read, depth)
        if part is not None:
            out.add_part(part, {**unit, "attachment": attachment.name})
    return out


def _read_attachment(attachment: Attachment, read: ReadPart, depth: int) -> Extracted | None:
    """The attachment's text, or None when it is of no format docmesh reads or holds
    no text (a picture, a signature): those are skipped, not failed."""
    if depth + 1 > MAX_NESTING:
        raise DocumentFailed(
            "too_large", f"The e-mail nests messages more than {MAX_NESTING} deep."
        )
    with tempfile.TemporaryDirectory(prefix="docmesh-part-") as folder:
        path = Path(folder) / "part"
        path.write_bytes(attachment.data)
        try:
            return read(path, depth + 1)
        except DocumentFailed as failed:
            if failed.code in {"unsupported_format", "empty", "image_only"}:
                return None
            raise


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
