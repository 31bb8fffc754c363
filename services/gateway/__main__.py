"""Run the gateway: ``python -m services.gateway`` or ``docmesh run gateway``."""

from __future__ import annotations

from aiohttp import web

from services.gateway.app import create_app
from shared.log import configure_logging
from shared.settings import load_settings
from shared.tracing import configure_tracing


def main() -> None:
    settings = load_settings()
    configure_logging(settings, "gateway")
    stop_tracing = configure_tracing("gateway")
    try:
        web.run_app(
            create_app(settings),
            host=settings.gateway_host,
            port=settings.gateway_port,
            print=None,
            access_log=None,
            shutdown_timeout=settings.shutdown_grace_s,
        )
    finally:
        stop_tracing()


if __name__ == "__main__":
    main()
