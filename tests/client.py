"""A client of the HTTP API that does exactly what a browser does (tests and benchmarks)."""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import time
from pathlib import Path
from typing import Any

import aiohttp

from shared.formats import CONTENT_TYPES as FORMAT_TYPES
from shared.formats import Format, extensions

CONTENT_TYPES = {
    f".{extension}": next(t for t, f in FORMAT_TYPES.items() if f is fmt)
    for fmt in Format
    for extension in extensions(fmt)
}
"""The content type a client declares for a file, by its extension."""
TERMINAL = {"completed", "failed", "cancelled", "expired"}


class Client:
    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, api_key: str | None = None
    ) -> None:
        self.http = session
        self.base = base_url.rstrip("/") + "/api/v1"
        # Sent to the API only: the presigned PUT carries its own signature.
        self.auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        kwargs["headers"] = {**self.auth, **kwargs.get("headers", {})}
        async with self.http.request(method, self.base + path, **kwargs) as resp:
            return resp.status, await resp.json(content_type=None)

    async def presign(
        self, name: str, size: int, content_type: str, **extra: Any
    ) -> dict[str, Any]:
        body = {"filename": name, "file_size": size, "content_type": content_type, **extra}
        status, data = await self.call("POST", "/documents/upload/presigned", json=body)
        assert status == 201, data
        return dict(data)

    async def put(self, presigned: dict[str, Any], data: bytes) -> int:
        """PUT the bytes to the presigned URL, retrying a 5xx as S3 clients do."""
        for attempt in range(4):
            async with self.http.request(
                presigned["method"],
                presigned["upload_url"],
                data=data,
                headers=presigned["headers"],
            ) as resp:
                await resp.read()
                if resp.status < 500 or attempt == 3:
                    return resp.status
            await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def process(self, document_id: str, upload_id: str, **extra: Any) -> tuple[int, Any]:
        return await self.call(
            "POST", f"/documents/{document_id}/process", json={"upload_id": upload_id, **extra}
        )

    async def upload(self, path: Path, *, with_hash: bool = True, **extra: Any) -> dict[str, Any]:
        """Presign, PUT and process ``path``; returns the presign answer plus the job."""
        data = path.read_bytes()
        content_type = CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        presigned = await self.presign(path.name, len(data), str(content_type), **extra)
        status = await self.put(presigned, data)
        assert status == 200, f"PUT answered {status}"
        hashed = {"file_hash": hashlib.sha256(data).hexdigest()} if with_hash else {}
        status, job = await self.process(presigned["document_id"], presigned["upload_id"], **hashed)
        assert status == 202, job
        return {**presigned, **job}

    async def wait(self, document_id: str, timeout: float = 300) -> list[dict[str, Any]]:
        """Poll the status until it is terminal; returns every status seen."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = await self.call("GET", f"/documents/{document_id}/status")
            assert status == 200, body
            seen.append(body)
            if body["status"] in TERMINAL:
                return seen
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{document_id} not terminal after {timeout}s: {seen[-1]}")
