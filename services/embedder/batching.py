"""Batches for the embeddings API, bounded by input count and total tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def batches(
    items: Sequence[T], tokens: Callable[[T], int], max_inputs: int, max_tokens: int
) -> Iterator[list[T]]:
    """Consecutive batches of ``items`` with at most ``max_inputs`` items and at
    most ``max_tokens`` tokens, except that an item alone over the budget
    still gets a batch of its own."""
    batch: list[T] = []
    used = 0
    for item in items:
        cost = tokens(item)
        if batch and (len(batch) >= max_inputs or used + cost > max_tokens):
            yield batch
            batch, used = [], 0
        batch.append(item)
        used += cost
    if batch:
        yield batch
