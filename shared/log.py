"""structlog set-up: JSON lines in production, a readable console on a TTY.

Handlers never pass ids by hand: the runner binds ``document_id``,
``job_id`` and ``event_id`` with ``bound_contextvars`` around each message.
"""

from __future__ import annotations

import logging
import sys

import structlog

from shared import tracing
from shared.settings import Settings


def configure_logging(settings: Settings, service: str) -> None:
    """Configure structlog (and the stdlib loggers of libraries) for ``service``."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    use_json = settings.log_format == "json" or (
        settings.log_format == "auto" and not sys.stderr.isatty()
    )
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    shared_processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        tracing.log_ids,
    ]
    structlog.configure(
        processors=[
            *shared_processors,
            _JSON_TRACEBACKS if use_json else _identity,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries log through the stdlib; keep them quiet unless they warn.
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stderr)


# Tracebacks as data, without local variables (they can hold document text).
_JSON_TRACEBACKS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)


def _identity(
    logger: object, name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    return event_dict
