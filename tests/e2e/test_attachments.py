"""An e-mail's attachments through ``docmesh up``: each one of a format docmesh reads
becomes a document of its own, ``attachment_of`` the message, with the message's tags
and metadata, searchable by itself; a message attached to a message brings its own; a
replacement of the message brings its attachments and takes the old ones away;
deleting the message deletes them."""

from __future__ import annotations

import asyncio
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.client import TERMINAL, Client
from tests.e2e.test_replacements import _replacement

pytestmark = pytest.mark.e2e

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def _message(subject: str, body: str, files: dict[str, bytes | EmailMessage]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = subject, "ana@example.org", "rui@x.org"
    message.set_content(body)
    for name, content in files.items():
        if isinstance(content, EmailMessage):
            message.add_attachment(content)
        elif name.endswith(".png"):
            message.add_attachment(content, maintype="image", subtype="png", filename=name)
        else:  # as mail clients often send them: the type left to the name
            message.add_attachment(
                content, maintype="application", subtype="octet-stream", filename=name
            )
    return message


async def _attachments(client: Client, message_id: str, count: int) -> list[dict[str, Any]]:
    """The message's attachments once ``count`` of them have ended."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status, page = await client.call("GET", f"/documents?attachment_of={message_id}")
        assert status == 200, page
        items: list[dict[str, Any]] = page["items"]
        if len(items) >= count and all(i["status"] in TERMINAL for i in items):
            assert len(items) == count, items
            return sorted(items, key=lambda i: i["filename"])
        await asyncio.sleep(0.3)
    raise TimeoutError(f"the attachments of {message_id} did not end")


async def test_attachments_are_documents_of_their_own(client: Client, tmp_path: Path) -> None:
    plan, inner, later = (f"zq{n}{uuid.uuid4().hex[:8]}" for n in ("plan", "inner", "later"))
    nested = _message("Forwarded", "See below.", {"inner.txt": f"{inner} from the inner".encode()})
    first = _message(
        f"Plans {plan}",
        "The plan and the figures are attached.",
        {
            "plan.txt": f"{plan} is the plan for the year.".encode(),
            "figures.csv": b"region,sales\nnorth,10\nsouth,20\n",
            "photo.png": PNG,
            "forwarded.eml": nested,
        },
    )
    path = tmp_path / "plans.eml"
    path.write_bytes(first.as_bytes())
    _, shelf = await client.call("POST", "/collections", json={"name": f"Mail {plan}"})
    job = await client.upload(
        path, tags=["mail"], metadata={"box": "inbox"}, collections=[shelf["collection_id"]]
    )
    message_id = job["document_id"]
    assert (await client.wait(message_id))[-1]["status"] == "completed"
    _, chunks = await client.call("GET", f"/documents/{message_id}/chunks")
    text = " ".join(c["text"] for c in chunks["items"])
    assert "Attachments: plan.txt, figures.csv, photo.png" in text  # the picture only named
    assert plan not in text.split("Attachments:")[1]  # the attachment's text is its own

    found = await _attachments(client, message_id, 3)
    assert [(a["filename"], a["format"], a["status"]) for a in found] == [
        ("attachment", "eml", "completed"),  # an attached message has no file name
        ("figures.csv", "csv", "completed"),
        ("plan.txt", "txt", "completed"),
    ]
    for attachment in found:
        assert attachment["attachment_of"] == message_id
        assert attachment["tags"] == ["mail"] and attachment["metadata"] == {"box": "inbox"}
        assert attachment["collections"] == [shelf["collection_id"]]
    (deeper,) = await _attachments(client, found[0]["document_id"], 1)
    assert (deeper["filename"], deeper["status"]) == ("inner.txt", "completed")

    search = {"query": plan, "top_k": 5, "filter": {"box": "inbox"}}
    _, results = await client.call("POST", "/search", json=search)
    hits = [r for r in results["results"] if plan in r["text"] and "year" in r["text"]]
    assert hits and hits[0]["document_id"] == found[2]["document_id"], results

    # A new file for the message: its attachments replace the old ones.
    second = tmp_path / "plans-v2.eml"
    second.write_bytes(
        _message("Plans v2", "Now one file.", {"later.txt": later.encode()}).as_bytes()
    )
    replacement = (await _replacement(client, message_id, second, "message/rfc822"))["document_id"]
    assert (await client.wait(replacement))[-1]["status"] == "completed"
    (now,) = await _attachments(client, message_id, 1)
    assert now["filename"] == "later.txt"
    assert now["collections"] == [shelf["collection_id"]]  # the message's, not the run's
    for gone in [*found, deeper]:
        status, _ = await client.call("GET", f"/documents/{gone['document_id']}")
        assert status == 404, gone["filename"]

    # Deleting the message deletes its attachments.
    status, _ = await client.call("DELETE", f"/documents/{message_id}")
    assert status == 204
    status, _ = await client.call("GET", f"/documents/{now['document_id']}")
    assert status == 404
