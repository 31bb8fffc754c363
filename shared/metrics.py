"""Prometheus metrics of every service (prometheus-client).

Workers serve them on ``DOCMESH_METRICS_PORT`` (off when 0); the gateway on
its own port at ``/metrics``, together with the state of the streams, which
it reads at scrape time. ``docmesh up`` gives every process a port and
lists them for Prometheus in ``<state>/metrics-targets.json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.settings import Settings

STAGE_SECONDS = Histogram(
    "docmesh_stage_seconds",
    "Seconds a service's handler took for one event (retries included).",
    ["service"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
EVENTS = Counter(
    "docmesh_events_total",
    "Events a service took: handled (acked), failed (the handler failed the document; "
    "handled too), retried (left for redelivery) or dead_lettered.",
    ["service", "outcome"],
)
DOCUMENTS_FAILED = Counter(
    "docmesh_documents_failed_total",
    "Documents that ended failed, by reason (the status's error code).",
    ["reason"],
)
DOCUMENTS_FINISHED = Counter(
    "docmesh_documents_finished_total",
    "Documents finished: completed, duplicate, failed or cancelled.",
    ["outcome"],
)
JANITOR_DELETIONS = Counter(
    "docmesh_janitor_actions_total",
    "What the janitor's sweeps did: orphans_deleted, uploads_expired, resumed, ...",
    ["action"],
)
STREAM_LAG = Gauge(
    "docmesh_stream_lag", "Entries not yet delivered to a group.", ["stream", "group"]
)
STREAM_PENDING = Gauge(
    "docmesh_stream_pending", "Entries delivered to a group and not acked.", ["stream", "group"]
)
STREAM_LENGTH = Gauge("docmesh_stream_length", "Entries in a stream.", ["stream"])
DEAD_LETTERS = Gauge("docmesh_dead_letters", "Entries in the dead-letter stream.")
HTTP_REQUESTS = Histogram(
    "docmesh_http_request_seconds",
    "Gateway requests by route, method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class EmbeddingCounters(Collector):
    """The embedders' mesh-wide counters, kept in one place (a Redis hash every
    replica adds to) and exposed by the gateway as read at scrape time."""

    HELP: ClassVar[dict[str, tuple[str, str]]] = {
        "tokens_embedded": ("docmesh_embedding_tokens", "Tokens sent to the embeddings API."),
        "texts_embedded": ("docmesh_embedding_texts", "Texts sent to the embeddings API."),
        "requests": ("docmesh_embedding_requests", "Embeddings API requests."),
        "cache_hits": ("docmesh_embedding_cache_hits", "Chunks whose vector came from the cache."),
    }

    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        for key, (name, text) in self.HELP.items():
            yield CounterMetricFamily(name, text, value=self.values.get(key, 0))


EMBEDDING = EmbeddingCounters()
REGISTRY.register(EMBEDDING)


def serve_metrics(settings: Settings) -> None:
    """Serve this process's metrics over HTTP when a port is set (a daemon thread)."""
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
