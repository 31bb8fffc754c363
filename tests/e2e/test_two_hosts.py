"""The workers on a second host: a network namespace of their own, joined to this
one by a veth pair, reaching Redis, PostgreSQL, S3 and the embeddings API only
over TCP to this host's address on that link. The servers listen on that address
alone, so nothing can take a loopback shortcut, and the workers get no state
directory of the mesh (their temporary files are on their own).
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from deploy.local.embedded import free_port
from deploy.local.mesh import service_spec
from deploy.local.servers import plan_servers
from deploy.local.supervisor import Supervisor
from shared.db import migrate
from shared.settings import Settings
from shared.stages import workers
from shared.storage import open_store
from tests.client import Client
from tests.generate import make_pdf, unique_copy

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Link:
    """A second host: a network namespace and the two ends of its link."""

    namespace: str
    host_address: str
    """This host's address on the link (where the servers listen)."""
    worker_address: str


NEEDS = (
    "This test builds a second host with a network namespace and a veth pair: it needs "
    "root and iproute2 (sudo .venv/bin/pytest), or leave it out with "
    "--deselect tests/e2e/test_two_hosts.py."
)


def _ip(*args: str, namespace: str | None = None) -> None:
    """``ip`` here, or inside ``namespace``. nsenter switches the network namespace
    only (``ip -n`` and ``ip netns exec`` also remount /sys, which fails where / is
    no mount point, as in a chroot)."""
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.fail(f"cannot build the second host. {NEEDS}")
    argv = [*_inside(namespace), "ip", *args] if namespace else ["ip", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(argv)}` said {done.stderr.strip()!r}. {NEEDS}")


def _inside(namespace: str) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{namespace}"]


@contextlib.contextmanager
def second_host() -> Iterator[Link]:
    """A namespace with a veth link to this host, removed afterwards."""
    tag = secrets.token_hex(3)
    subnet = f"10.{200 + int(tag[:2], 16) % 50}.{int(tag[2:4], 16)}"
    link = Link(f"docmesh-{tag}", f"{subnet}.1", f"{subnet}.2")
    here, there = f"dmh{tag}", f"dmw{tag}"
    _ip("netns", "add", link.namespace)
    try:
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", link.namespace)
        _ip("addr", "add", f"{link.host_address}/24", "dev", here)
        _ip("link", "set", here, "up")
        ns = link.namespace
        _ip("addr", "add", f"{link.worker_address}/24", "dev", there, namespace=ns)
        _ip("link", "set", there, "up", namespace=ns)
        _ip("link", "set", "lo", "up", namespace=ns)  # the workers' own metrics servers
        yield link
    finally:
        subprocess.run(["ip", "netns", "del", link.namespace], check=False, timeout=30)
        subprocess.run(["ip", "link", "del", here], check=False, capture_output=True, timeout=30)


@dataclass
class SplitMesh:
    url: str
    settings: Settings
    supervisor: Supervisor
    link: Link


@pytest.fixture(scope="module")
async def split_mesh(server_dir: Callable[[str], Path]) -> AsyncIterator[SplitMesh]:
    """Servers and gateway here, on the link's address; the five workers there."""
    state = server_dir("host-a")
    with second_host() as link:
        base = Settings(gateway_port=free_port())
        servers = plan_servers(state, base, host=link.host_address)
        settings = servers.settings
        supervisor = Supervisor(state / "logs")
        try:
            await servers.start(supervisor)
            await migrate(settings)
            async with open_store(settings) as store:
                await store.ensure_bucket()
            gateway = service_spec("gateway", settings)
            await supervisor.start(gateway, gateway.env)
            await supervisor.wait_ready(gateway, 120)
            worker_home = server_dir("host-b")
            for service in workers():
                spec = service_spec(service, settings)
                argv = [*_inside(link.namespace), *spec.argv]
                env = {**(spec.env or {}), "TMPDIR": str(worker_home), "HOME": str(worker_home)}
                await supervisor.start(dataclasses.replace(spec, argv=argv), env)
            url = f"http://{settings.gateway_host}:{settings.gateway_port}"
            yield SplitMesh(url, settings, supervisor, link)
        finally:
            # The services at once (each waits out its blocking read), then the servers.
            server_names = {spec.name for spec in servers.specs}
            await supervisor.stop_together(
                [n for n in supervisor.names() if n not in server_names], grace=20
            )
            await supervisor.stop(grace=20)


def _net_namespace(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def _remote_ends(pid: int) -> set[tuple[str, int]]:
    """The remote (address, port) of each TCP socket ``pid`` holds, read from its
    own namespace's table (psutil reads the caller's, which does not hold them)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ends = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, inode = fields[2], fields[9]
        address, port = remote.split(":")
        if inode in inodes and int(port, 16):
            ends.add(
                (str(ipaddress.IPv4Address(int(address, 16).to_bytes(4, "little"))), int(port, 16))
            )
    return ends


async def test_documents_complete_with_the_workers_on_another_host(
    split_mesh: SplitMesh, tmp_path: Path, corpus: Path
) -> None:
    tag = secrets.token_hex(4)
    documents = [
        make_pdf(tmp_path / f"two-hosts-{n}.pdf", pages=2, first_line=f"Two hosts {tag} {n}")
        for n in range(2)
    ]
    documents.append(
        unique_copy(corpus / "docx-hdrftr.docx", tmp_path / "two-hosts.docx", f"Two hosts {tag}")
    )
    jobs = []
    async with aiohttp.ClientSession() as session:
        client = Client(session, split_mesh.url)
        for path in documents:
            jobs.append(await client.upload(path))
        for job in jobs:
            final = (await client.wait(job["document_id"], timeout=240))[-1]
            assert final["status"] == "completed", final
            assert final["chunk_count"] > 0 and final["embedded_count"] == final["chunk_count"]
            assert final["object_deleted"] is True
    check_workers_are_on_the_other_host(split_mesh)


def check_workers_are_on_the_other_host(mesh: SplitMesh) -> None:
    """Every worker runs in the namespace, and every connection it holds goes to
    this host's link address: no loopback, no unix socket to a server."""
    here = _net_namespace(os.getpid())
    server_ports = {
        int(url.rsplit(":", 1)[1].split("/")[0])
        for url in (
            mesh.settings.redis_url,
            mesh.settings.database_url,
            str(mesh.settings.s3_endpoint_url),
            str(mesh.settings.embeddings_base_url),
        )
    }
    reached: set[int] = set()
    for service in workers():
        (pid,) = mesh.supervisor.pid(service)
        assert _net_namespace(pid) != here, service
        for address, port in _remote_ends(pid):
            assert address == mesh.link.host_address, (service, address, port)
            reached.add(port)
    # Redis and PostgreSQL connections are pooled, so they are open now.
    assert len(server_ports & reached) >= 2, (server_ports, reached)
