"""Deleting documents, as a step of a use case: what ``DELETE /documents/{id}`` does
to a document, its replacements and its attachments, and what a replacement that
takes over an e-mail does to the attachments of the file it replaced."""

from __future__ import annotations

import asyncpg

from shared import erasure, jobs, replacement, resume
from shared.service_layer import attachments
from shared.service_layer.unit_of_work import UnitOfWork
from shared.storage import ObjectStore


async def erase(uow: UnitOfWork, rows: list[asyncpg.Record], store: ObjectStore | None) -> None:
    """The documents of ``rows`` (id, object_key, multipart_id), their attachments and
    the attachments' replacements, and everything stored of them (``shared.erasure``).

    Their completed copies keep the content they share (the oldest becomes its
    holder); copies waiting for any of them are resumed; workers still holding one
    of their events find no row and skip it. Without a ``store``, uploads still
    in flight are left to the janitor's orphan sweep."""
    below = await attachments.tree(uow.conn, [str(r["id"]) for r in rows])
    doomed = [*rows, *below, *await erasure.replacements_of(uow.conn, [r["id"] for r in below])]
    ids = list(dict.fromkeys(str(row["id"]) for row in doomed))
    for doomed_id in ids:  # completed copies relied on its content: the oldest keeps it
        if heir := await replacement.hand_down(uow.conn, doomed_id):
            await jobs.carry_forward(uow.conn, [heir])
    if store is not None:
        for row in doomed:
            await store.drop_upload(row["object_key"], row["multipart_id"])
    for doomed_id in ids:
        uow.publish(*await resume.waiters(uow.conn, doomed_id))
    await erasure.delete_rows(uow.conn, ids)
    uow.after(lambda: erasure.forget_similar(uow.pool, ids))
    if (streams := uow.streams) is not None:
        uow.after(lambda: erasure.delete_stream_entries(streams, ids))
