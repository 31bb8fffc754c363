"""An OTLP/HTTP trace receiver for the tests: what an OpenTelemetry collector would get,
decoded with the official protobuf definitions (``opentelemetry-proto``)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.http_server import serving


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    service: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    links: list[tuple[str, str]]
    """(trace id, span id) of each linked span."""


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _attributes(items: Any) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in items}


@dataclass
class Receiver:
    """Every span exported to ``url`` (``OTEL_EXPORTER_OTLP_ENDPOINT``)."""

    url: str = ""
    spans: list[Span] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            service = _attributes(resource_spans.resource.attributes).get("service.name", "")
            for scope in resource_spans.scope_spans:
                self.spans += [self._span(s, service) for s in scope.spans]
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    @staticmethod
    def _span(s: Any, service: str) -> Span:
        return Span(
            trace_id=s.trace_id.hex(),
            span_id=s.span_id.hex(),
            parent_id=s.parent_span_id.hex(),
            name=s.name,
            service=service,
            kind=s.kind,
            start_ns=s.start_time_unix_nano,
            end_ns=s.end_time_unix_nano,
            attributes=_attributes(s.attributes),
            links=[(link.trace_id.hex(), link.span_id.hex()) for link in s.links],
        )

    def trace(self, trace_id: str) -> list[Span]:
        """The spans of one trace, by start time."""
        return sorted((s for s in self.spans if s.trace_id == trace_id), key=lambda s: s.start_ns)


@contextlib.contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    """A receiver listening on a free local port until the block ends. It runs in a
    thread of its own, so a test blocked in a synchronous call (starting a mesh,
    waiting for a killed process) never keeps an exporter waiting."""
    receiver = Receiver()
    ready, stop = threading.Event(), threading.Event()

    async def serve() -> None:
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_post("/v1/traces", receiver.handle)
        async with serving(app) as base:
            receiver.url = base
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the OTLP receiver did not start"
    try:
        yield receiver
    finally:
        stop.set()
        thread.join(10)
