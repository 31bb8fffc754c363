"""Which addresses a webhook may reach, checked where the connection is made.

A check of the URL's host before a request is not enough: the HTTP client
resolves the name again when it connects, and a name that answers a public
address first and ``127.0.0.1`` next (TTL 0: DNS rebinding) would pass the
check and reach the internal network. So the webhook client resolves through
``PublicResolver``: every name is resolved once per connection, by the
resolver, and the connection goes to the address that was checked.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
"""The well-known NAT64 prefix: the last 32 bits are an IPv4 address a NAT64
gateway connects to (Python calls the whole prefix global)."""


_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


class NotPublic(OSError):
    """A name resolved to an address that is not public (an ``OSError``, so that the
    HTTP client reports it as a failed connection)."""


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, 6to4, NAT64)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: Address) -> bool:
    """Globally reachable unicast, by allow-list: an IPv4 address Python calls global
    (not private, loopback, link-local, shared, reserved...) and not multicast; an IPv6
    address in global unicast (2000::/3) and global, or one that stands for such an
    IPv4 address (IPv4-mapped, the well-known NAT64 prefix). Whatever else IPv6 can
    spell (IPv4-compatible ``::127.0.0.1``, IPv4-translated ``::ffff:0:7f00:1``,
    local-use NAT64 ``64:ff9b:1::/48``, site-local ``fec0::/10``) is refused; so is
    any address embedding an IPv4 address that is not public (6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv4Address):
        return address.is_global and not address.is_multicast
    if address.ipv4_mapped is not None or address in _NAT64:
        inner = embedded_ipv4(address)
        return inner is not None and is_public(inner)
    if address not in _GLOBAL_UNICAST or not address.is_global or address.is_multicast:
        return False
    inner = embedded_ipv4(address)
    return inner is None or is_public(inner)


def parse(host: str) -> Address | None:
    """``host`` as an IP address (a zone id dropped), or None for a name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


class PublicResolver(AbstractResolver):
    """Resolves through ``inner`` and refuses a name any of whose addresses is not
    public: a host that mixes public and internal answers is refused whole."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The name's addresses, all public; ``NotPublic`` otherwise."""
        answers = await self._inner.resolve(host, port, family)
        if not answers or not all(
            (address := parse(a["host"])) is not None and is_public(address) for a in answers
        ):
            raise NotPublic(f"{host} is not a public address")
        return answers

    async def close(self) -> None:
        await self._inner.close()
