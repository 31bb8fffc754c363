"""Errors a handler raises; the runner decides what each one means."""

from __future__ import annotations


class DocumentFailed(Exception):
    """A permanent failure of one document: retrying cannot help.

    ``code`` is a stable machine-readable reason (``encrypted``, ``corrupt``,
    ``image_only``, ``unsupported_format``, ``hash_mismatch``...) and
    ``message`` tells a person what to do about it.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Conflict(Exception):
    """A request the document's state does not allow (the API answers 409): ``code``
    for programs, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
