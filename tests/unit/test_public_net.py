"""Which addresses a webhook may reach: public ones, and no internal address in disguise."""

from __future__ import annotations

import ipaddress

import pytest

from shared.public_net import is_public


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",  # IPv4-mapped
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        "::8.8.8.8",  # IPv4-compatible, even of a public address
        "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
        "64:ff9b:1::7f00:1",  # local-use NAT64
        "64:ff9b:1::808:808",
        "fec0::1",  # site-local (deprecated)
        "2001:db8::1",  # documentation
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "ff0e::1",  # global multicast
        "100::1",  # discard-only
    ],
)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1"]
)
def test_public_addresses_are(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))
