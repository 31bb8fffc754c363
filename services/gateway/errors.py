"""The one error type of the API: answered as ``{"error": {code, message, field}}``."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered to the client as ``{"error": {code, message, field}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        error_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}
        self.error_id = error_id

    def body(self) -> dict[str, Any]:
        detail = {"code": self.code, "message": self.message, "field": self.field}
        if self.error_id:
            detail["error_id"] = self.error_id
        return {"error": detail}
