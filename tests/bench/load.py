"""HTTP load from a separate process, and the bare aiohttp handler to compare with.

python -m tests.bench.load bare PORT
python -m tests.bench.load hit URL[,URL...] METHOD BODY_JSON CONCURRENCY SECONDS

With several URLs the clients take them in turn (status reads spread over many
documents). Answers other than 2xx are counted apart, not as throughput.
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
    urls: list[str], method: str, body: str, concurrency: int, seconds: float
) -> dict[str, float]:
    """Successful requests per second and their latency percentiles with ``concurrency``
    clients; failed answers are counted in ``errors`` only."""
    latencies: list[float] = []
    errors, turn = 0, 0
    deadline = time.perf_counter() + seconds
    payload = json.loads(body) if body else None
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors, turn
        while time.perf_counter() < deadline:
            url, turn = urls[turn % len(urls)], turn + 1
            started = time.perf_counter()
            async with session.request(method, url, json=payload) as resp:
                await resp.read()
                ok = 200 <= resp.status < 300
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

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
        hits = hit(url.split(","), method, body, int(concurrency), float(seconds))
        print(json.dumps(asyncio.run(hits)))
