"""HTTP load from a separate process, and the bare aiohttp handler to compare with.

python -m tests.bench.load bare PORT
python -m tests.bench.load hit URL METHOD BODY_JSON CONCURRENCY SECONDS
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time

import aiohttp
from aiohttp import web


def bare(port: int) -> None:
    """The baseline: a handler that returns a constant JSON body."""
    body = json.dumps({"status": "completed", "progress": 100}).encode()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/", handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def hit(
    url: str, method: str, body: str, concurrency: int, seconds: float
) -> dict[str, float]:
    """Requests per second and latency percentiles with ``concurrency`` clients."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    payload = json.loads(body) if body else None
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with session.request(method, url, json=payload) as resp:
                await resp.read()
                if resp.status >= 400:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


if __name__ == "__main__":
    if sys.argv[1] == "bare":
        bare(int(sys.argv[2]))
    else:
        url, method, body, concurrency, seconds = sys.argv[2:7]
        print(json.dumps(asyncio.run(hit(url, method, body, int(concurrency), float(seconds)))))
