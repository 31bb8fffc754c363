"""Traces: one per document, across every stream hop, with OpenTelemetry.

Off unless the SDK's own environment says where to send spans
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) and
``OTEL_SDK_DISABLED`` is not ``true``. Off, the API's no-op tracer makes no
spans and events carry no ``traceparent``: nothing is measured, sent or stored.
On, the OTLP/HTTP exporter and the sampler read their usual variables
(``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_SCHEDULE_DELAY``...), and each process is
named ``docmesh-<service>`` unless ``OTEL_SERVICE_NAME`` says otherwise.

The W3C ``traceparent`` of the request that asked for processing travels in
every event; each stage's handling of an event is a consumer span under the
span that published it, with the time the entry waited in its stream.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind

TRACER = trace.get_tracer("docmesh")
_on = False
"""Set once a process installs the SDK: until then every call below returns at once
(measured by ``tests.bench.tracing``: the API's no-op path cost 23 µs per handled
event, this 2 µs)."""


def enabled() -> bool:
    """Whether this process exports spans (decided from the environment at start)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return any(
        os.environ.get(name)
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure_tracing(service: str) -> Callable[[], None]:
    """Install the SDK's tracer provider for ``service`` when tracing is on; the function
    that flushes and stops it (a no-op when off)."""
    if not enabled():
        return lambda: None
    # Imported only when on: the SDK and its exporter cost nothing to a process without.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {"docmesh.service": service}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = f"docmesh-{service}"
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    global _on
    _on = True
    return provider.shutdown


def traceparent() -> str:
    """The current span's W3C ``traceparent``; empty when no span records."""
    if not _on:
        return ""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


def context_of(parent: str) -> Context | None:
    """The context a ``traceparent`` names (None for an empty one: a new trace)."""
    return propagate.extract({"traceparent": parent}) if parent else None


def link_to(parent: str) -> list[Link]:
    """A link to the span a ``traceparent`` names, for a span of another trace."""
    if not _on:
        return []
    span = trace.get_current_span(context_of(parent)) if parent else None
    return [Link(span.get_span_context())] if span is not None else []


@contextlib.contextmanager
def span(
    name: str,
    parent: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    links: Sequence[Link] = (),
    attributes: dict[str, Any] | None = None,
) -> Iterator[Span]:
    """A span under ``parent`` (a ``traceparent``; the current span when None);
    attributes whose value is None are left out."""
    if not _on:
        yield trace.INVALID_SPAN
        return
    context = context_of(parent) if parent is not None else None
    with TRACER.start_as_current_span(
        name, context=context, kind=kind, links=links, attributes=_clean(attributes or {})
    ) as current:
        yield current


@contextlib.contextmanager
def handling(
    service: str, stream: str, entry_id: str, event: Any, redelivered: bool
) -> Iterator[Span]:
    """The span of a stage handling one stream entry: a consumer span under the span
    that published the event, with the time the entry waited in the stream and, for
    an entry delivered again (its consumer died, or the handler failed), the cause."""
    if not _on:
        yield trace.INVALID_SPAN
        return
    waited_ms = max(time.time() * 1000 - int(entry_id.split("-", 1)[0]), 0)
    with span(
        f"{service} {type(event).__name__}",
        event.traceparent,
        SpanKind.CONSUMER,
        attributes={
            "messaging.system": "redis",
            "messaging.destination.name": stream,
            "messaging.message.id": entry_id,
            "docmesh.document_id": event.document_id,
            "docmesh.job_id": event.job_id,
            "docmesh.event_id": event.event_id,
            "docmesh.queue_wait_ms": round(waited_ms, 1),
            "docmesh.cause": "redelivery" if redelivered else None,
            "docmesh.index_version": getattr(event, "index_version", 0) or None,
        },
    ) as current:
        yield current


def annotate(attributes: dict[str, Any]) -> None:
    """Attributes on the current span (a no-op without one)."""
    if _on:
        trace.get_current_span().set_attributes(_clean(attributes))


def log_ids(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: the current span's ``trace_id`` and ``span_id`` on every
    line logged inside it, so a log line leads to its trace."""
    if not _on:
        return event_dict
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}
