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


class Refused(Exception):
    """A request a use case cannot do as asked: ``code`` for programs, the message for
    people; ``status`` is what the API answers with it (the command line prints it)."""

    status = 400

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        """The input field at fault, when one is."""


class Conflict(Refused):
    """What the document's state does not allow (409)."""

    status = 409


class Gone(Refused):
    """What came too late: the upload's time ran out (410)."""

    status = 410


class Invalid(Refused):
    """What the input itself makes impossible: a file of the wrong size or format (422)."""

    status = 422


class Unavailable(Refused):
    """A server the use case needs did not answer; trying again later can work (503)."""

    status = 503
