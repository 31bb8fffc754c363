"""A battery of bad requests: each gets a 4xx with a JSON error naming the
problem, never a 2xx or a 5xx, and a refused upload leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest

from shared.settings import Settings
from shared.storage import ObjectStore
from tests.client import Client
from tests.integration.gateway import client_of, running_gateway

pytestmark = pytest.mark.integration

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def presign_body(**fields: Any) -> dict[str, Any]:
    return {"filename": "a.pdf", "file_size": 100, "content_type": PDF, **fields}


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels - 1):
        value = {"a": value}
    return value


PRESIGN_CASES: list[tuple[str, Any, int, str]] = [
    ("wrong type", presign_body(file_size="big"), 422, "invalid_field"),
    ("missing field", {"filename": "a.pdf", "content_type": PDF}, 422, "invalid_field"),
    ("unknown field", presign_body(owner="me"), 422, "invalid_field"),
    ("not an object", [1, 2], 400, "invalid_field"),
    ("traversal", presign_body(filename="../../etc/passwd.pdf"), 422, "invalid_filename"),
    ("backslash path", presign_body(filename="..\\boot.pdf"), 422, "invalid_filename"),
    ("control chars", presign_body(filename="a\x07b.pdf"), 422, "invalid_filename"),
    ("C1 control", presign_body(filename="a\x85b.pdf"), 422, "invalid_filename"),
    ("bidi override", presign_body(filename="a\u202eftp.pdf"), 422, "invalid_filename"),
    ("zero-width space", presign_body(filename="in\u200bvoice.pdf"), 422, "invalid_filename"),
    ("absurd name", presign_body(filename="a" * 300 + ".pdf"), 422, "invalid_field"),
    ("NUL in title", presign_body(title="a\x00b"), 422, "invalid_text"),
    ("wrong extension", presign_body(filename="a.docx"), 422, "extension_mismatch"),
    ("docx named pdf", presign_body(content_type=DOCX), 422, "extension_mismatch"),
    ("unknown type", presign_body(content_type="image/png"), 415, "unsupported_content_type"),
    ("size 0", presign_body(file_size=0), 422, "invalid_size"),
    ("negative size", presign_body(file_size=-5), 422, "invalid_size"),
    ("over the limit", presign_body(file_size=6 * 1024**3), 413, "file_too_large"),
    ("too many tags", presign_body(tags=["t"] * 40), 422, "invalid_field"),
    ("long description", presign_body(description="d" * 6000), 422, "invalid_field"),
    ("metadata 9 deep", presign_body(metadata={"k": nested(9)}), 422, "metadata_too_deep"),
    ("metadata 600 deep", presign_body(metadata={"k": nested(600)}), 422, "too_deep"),
    ("empty metadata key", presign_body(metadata={"": 1}), 422, "invalid_field"),
    ("metadata as a list", presign_body(metadata=[1]), 422, "invalid_field"),
]


async def test_patch_and_filters_refuse_what_presign_refuses(
    gateway: tuple[Client, Settings],
) -> None:
    client, _ = gateway
    status, made = await client.call("POST", "/documents/upload/presigned", json=presign_body())
    assert status == 201, made
    path = f"/documents/{made['document_id']}"
    for patch, code in [
        ({"": 1}, "invalid_field"),
        ({"k" * 5000: 1}, "invalid_field"),
        ({"k": nested(9)}, "metadata_too_deep"),
        ({"k": nested(600)}, "too_deep"),
    ]:
        status, answer = await client.call("PATCH", path, json={"metadata": patch})
        assert_error(status, answer, 422, code)
    for bound in ("20260101", "2026-W01-1", "2026-01-01T00:00:00.123456789Z"):
        query = json.dumps({"d": {"range": {"gte": bound}}})
        status, answer = await client.call("GET", f"/documents?filter={quote(query)}")
        assert_error(status, answer, 422, "invalid_filter")


def assert_error(status: int, body: Any, expected: int, code: str) -> None:
    assert status == expected, body
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code and body["error"]["message"]


@pytest.fixture
async def gateway(settings: Settings) -> Any:
    async with running_gateway(settings) as (base, own), client_of(base) as client:
        yield client, own


async def test_presign_refusals(gateway: tuple[Client, Settings]) -> None:
    client, _ = gateway
    for name, body, expected, code in PRESIGN_CASES:
        status, answer = await client.call("POST", "/documents/upload/presigned", json=body)
        assert status == expected and answer["error"]["code"] == code, (name, answer)
    status, answer = await client.call(
        "POST", "/documents/upload/presigned", data=b'{"filename": ', headers=_json()
    )
    assert_error(status, answer, 400, "invalid_json")
    deep = b'{"metadata": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001
    status, answer = await client.call(
        "POST", "/documents/upload/presigned", data=deep, headers=_json()
    )
    assert_error(status, answer, 422, "too_deep")
    huge = b'{"filename": "' + b"a" * 100_000 + b'"}'
    status, answer = await client.call(
        "POST", "/documents/upload/presigned", data=huge, headers=_json()
    )
    assert_error(status, answer, 413, "body_too_large")


async def test_unknown_and_malformed_ids(gateway: tuple[Client, Settings]) -> None:
    client, _ = gateway
    for doc in (str(uuid.uuid4()), "not-a-uuid", "..%2F..%2Fetc", "1"):
        for method, path in (("GET", ""), ("GET", "/chunks"), ("DELETE", ""), ("POST", "/retry")):
            status, answer = await client.call(method, f"/documents/{doc}{path}")
            assert_error(status, answer, 404, "not_found")
    status, answer = await client.call("GET", "/documents?limit=0")
    assert_error(status, answer, 400, "invalid_parameter")
    status, answer = await client.call("GET", "/documents?offset=x")
    assert_error(status, answer, 400, "invalid_parameter")


async def test_uploads_that_do_not_match_are_refused_and_deleted(
    gateway: tuple[Client, Settings], store: ObjectStore
) -> None:
    client, own = gateway
    pdf = b"%PDF-1.7\n" + b"x" * 200
    presigned = await client.presign("a.pdf", len(pdf), PDF)
    doc, upload = presigned["document_id"], presigned["upload_id"]
    status, answer = await client.process(doc, upload)
    assert_error(status, answer, 409, "not_uploaded")
    status, answer = await client.process(doc, str(uuid.uuid4()))
    assert_error(status, answer, 422, "upload_mismatch")
    status, answer = await client.process(doc, upload, file_hash="abc")
    assert_error(status, answer, 422, "invalid_field")
    # A different size than declared: the signed URL refuses it, and should a
    # store not check lengths, /process does.
    assert await client.put(presigned, pdf[:-10]) == 403
    key = await _object_key(own, doc)
    await store._s3.put_object(Bucket=store.bucket, Key=key, Body=pdf[:-10])
    status, answer = await client.process(doc, upload)
    assert_error(status, answer, 422, "size_mismatch")
    assert await store.size(key) is None
    # The declared size, but bytes of no supported format: refused, and deleted.
    presigned = await client.presign("b.pdf", len(pdf), PDF)
    assert await client.put(presigned, b"just text" + pdf[9:].replace(b"%PDF", b"%XXX")) == 200
    status, answer = await client.process(presigned["document_id"], presigned["upload_id"])
    assert_error(status, answer, 422, "unsupported_format")
    assert await store.size(await _object_key(own, presigned["document_id"])) is None
    # Never uploaded, and the URL expired.
    presigned = await client.presign("c.pdf", len(pdf), PDF)
    db = await asyncpg.connect(own.database_url)
    try:
        await db.execute(
            "UPDATE documents SET upload_expires_at = $2 WHERE id = $1",
            uuid.UUID(presigned["document_id"]),
            dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
        )
    finally:
        await db.close()
    status, answer = await client.process(presigned["document_id"], presigned["upload_id"])
    assert_error(status, answer, 410, "upload_expired")


async def _object_key(settings: Settings, document_id: str) -> str:
    db = await asyncpg.connect(settings.database_url)
    try:
        return str(
            await db.fetchval(
                "SELECT object_key FROM documents WHERE id = $1", uuid.UUID(document_id)
            )
        )
    finally:
        await db.close()


def _json() -> dict[str, str]:
    return {"Content-Type": "application/json"}


async def test_only_json_bodies_are_taken(gateway: tuple[Client, Settings]) -> None:
    """A cross-site form (text/plain or urlencoded, sent without a CORS preflight)
    cannot drive the API; the same call as JSON can."""
    client, _ = gateway
    body = b'{"filename": "a.pdf", "file_size": 100, "content_type": "application/pdf"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        status, answer = await client.call(
            "POST",
            "/documents/upload/presigned",
            data=body,
            headers={"Content-Type": content_type},
        )
        assert_error(status, answer, 415, "unsupported_media_type")
    status, answer = await client.call(
        "POST", "/queue/dead-letters/retry", data=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert_error(status, answer, 415, "unsupported_media_type")
    status, _ = await client.call("POST", "/documents/upload/presigned", data=body, headers=_json())
    assert status == 201


async def test_the_page_and_the_api_carry_the_browser_headers(
    gateway: tuple[Client, Settings],
) -> None:
    client, own = gateway
    base = client.base.removesuffix("/api/v1")
    async with client.http.get(f"{base}/") as resp:
        assert resp.status == 200
        policy = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert str(own.s3_endpoint_url) in policy  # the browser PUTs the file there
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    status, answer = await client.call("GET", "/documents/00000000-0000-0000-0000-000000000000")
    assert status == 404 and answer["error"]["code"] == "not_found"
