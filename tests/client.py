"""The HTTP client of the tests (shared with the benchmarks)."""

from tests.bench.client import CONTENT_TYPES, TERMINAL, Client

__all__ = ["CONTENT_TYPES", "TERMINAL", "Client"]
