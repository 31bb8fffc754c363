"""A local Redis Cluster of three masters (``docmesh up --redis-cluster``, and the tests).

The nodes are the single Redis's binary in cluster mode. The cluster is formed
without ``redis-cli`` (a fresh machine has none): each node takes a third of the
slots (CLUSTER ADDSLOTSRANGE) and the first one meets the others. Ports are
kept in the state dir, so a restarted mesh finds its cluster again.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from deploy.local.embedded import ProcessSpec, free_port, redis

NODES = 3
SLOTS = 16384


@dataclass(frozen=True)
class Node:
    """One master: its client port and its cluster bus port."""

    port: int
    bus_port: int


def plan_nodes(state: Path, host: str) -> list[Node]:
    """The cluster's ports: chosen once, then read back from the state dir."""
    path = state / "redis-cluster.json"
    if path.exists():
        return [Node(**node) for node in json.loads(path.read_text())]
    nodes = [Node(free_port(host), free_port(host)) for _ in range(NODES)]
    path.write_text(json.dumps([asdict(node) for node in nodes]))
    return nodes


def node_specs(state: Path, host: str, nodes: list[Node], password: str) -> list[ProcessSpec]:
    """A process per master, each with its own data folder and ``nodes.conf``."""
    return [
        redis(
            state,
            node.port,
            password,
            host,
            f"redis-{index}",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-port",
            str(node.bus_port),
            "--cluster-node-timeout",
            "5000",
        )
        for index, node in enumerate(nodes, 1)
    ]


def slot_ranges(count: int) -> list[tuple[int, int]]:
    """The slots each of ``count`` masters owns, as (first, last), in order."""
    share = SLOTS // count
    return [(i * share, SLOTS - 1 if i == count - 1 else (i + 1) * share - 1) for i in range(count)]


async def form_cluster(host: str, nodes: list[Node], password: str, timeout: float = 60.0) -> None:
    """Give each master its slots, introduce them, and wait until all say ``ok``."""
    clients = [
        aioredis.Redis(host=host, port=node.port, password=password, decode_responses=True)
        for node in nodes
    ]
    try:
        for client, (first, last) in zip(clients, slot_ranges(len(nodes)), strict=True):
            try:
                await _cluster(client, "ADDSLOTSRANGE", first, last)
            except ResponseError as exc:  # formed by an earlier start: nodes.conf has it
                if "busy" not in str(exc):
                    raise
        for node in nodes[1:]:
            await _cluster(clients[0], "MEET", host, node.port, node.bus_port)
        await _wait_ok(clients, len(nodes), timeout)
    finally:
        for client in clients:
            await client.aclose()


async def _wait_ok(clients: list[aioredis.Redis], count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        infos = [_info(await _cluster(c, "INFO")) for c in clients]
        if all(
            i["cluster_state"] == "ok" and int(i["cluster_known_nodes"]) == count for i in infos
        ):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Redis Cluster did not form in {timeout:.0f}s: {infos}")
        await asyncio.sleep(0.2)


async def _cluster(client: aioredis.Redis, command: str, *args: str | int) -> object:
    """A CLUSTER subcommand."""
    return await client.cluster(command, *args)


def _info(reply: object) -> dict[str, str]:
    """CLUSTER INFO's fields (redis-py parses the reply into a dict; raw text otherwise)."""
    if isinstance(reply, dict):
        return {str(k): str(v) for k, v in reply.items()}
    lines = str(reply).strip().splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)
