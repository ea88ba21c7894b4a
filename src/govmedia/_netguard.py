"""Which addresses govmedia never contacts: link-local and cloud metadata.

A webhook URL or a media URL comes from configuration, a CMS or a post, so it
may point wherever an attacker likes; on a cloud machine the prize is the
instance metadata service, which answers with the machine's credentials. Every
request govmedia sends is therefore checked here, and what is refused is:

* link-local addresses, ``169.254.0.0/16`` and ``fe80::/10``, where AWS, Google
  Cloud, Azure, OpenStack, Tencent Cloud and most others serve metadata;
* the metadata addresses outside those ranges (`METADATA_ADDRESSES`: Alibaba
  Cloud's ``100.100.100.200``, AWS's and Google's IPv6 endpoints, Oracle's
  legacy ``192.0.0.192``, Azure's WireServer ``168.63.129.16``), also when
  written as an IPv4-mapped, NAT64 or 6to4 IPv6 address;
* the metadata host names (`METADATA_HOSTS`), whatever they resolve to.

Private ranges (``10/8``, ``172.16/12``, ``192.168/16``) and loopback stay
allowed: intranet CMSs and receivers on the same machine are real uses.

govmedia's own senders check the addresses a name *resolves to*, at the moment
they connect (so a name that is re-pointed after a check gains nothing); a
user's own ``http=`` client gets `check_host`, the literal host and the
metadata names, since its DNS is its own.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Iterable

import httpx

__all__ = [
    "METADATA_ADDRESSES",
    "METADATA_HOSTS",
    "BlockedAddress",
    "allowed_addresses",
    "blocked_reason",
    "check_host",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES: dict[str, str] = {
    "169.254.169.254": "the cloud instance metadata service (AWS, Google Cloud, Azure, OpenStack, ...)",
    "169.254.170.2": "the AWS ECS task metadata and credentials endpoint",
    "169.254.170.23": "the AWS EKS Pod Identity credentials endpoint",
    "169.254.169.253": "the AWS VPC DNS resolver",
    "169.254.169.123": "the AWS time sync service",
    "169.254.0.23": "the Tencent Cloud metadata service",
    "fd00:ec2::254": "the AWS instance metadata service (IPv6)",
    "fd00:ec2::23": "the AWS EKS Pod Identity credentials endpoint (IPv6)",
    "fd00:ec2::253": "the AWS VPC DNS resolver (IPv6)",
    "fd00:ec2::123": "the AWS time sync service (IPv6)",
    "fd20:ce::254": "the Google Cloud metadata server (IPv6)",
    "100.100.100.200": "the Alibaba Cloud metadata service",
    "192.0.0.192": "the Oracle Cloud legacy metadata service",
    "168.63.129.16": "the Azure WireServer (host agent and certificates)",
}
"""Cloud metadata addresses, with what each one is (the reason given when refused)."""

METADATA_HOSTS: frozenset[str] = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog",  # Google Cloud
    "instance-data", "instance-data.ec2.internal",              # AWS
    "metadata.tencentyun.com",                                   # Tencent Cloud
    "metadata.platformequinix.com", "metadata.packet.net",       # Equinix Metal
    "rancher-metadata",                                          # Rancher
})
"""Host names of metadata services; refused whatever they resolve to, subdomains too."""

_BLOCKED = {ipaddress.ip_address(a): why for a, why in METADATA_ADDRESSES.items()}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# What inet_aton() reads as an IPv4 address: 2852039166, 0xa9.0xfe.0xa9.0xfe, 0251.0376.0251.0376,
# 169.254.43518. Anything else is a name (or not a host at all).
_IPV4_ISH = re.compile(r"[0-9a-fA-FxX.]+", re.ASCII)


class BlockedAddress(httpx.ConnectError):
    """A request to a link-local or metadata address, refused before any byte was sent.

    Raised by govmedia's senders like any `httpx.TransportError`; the pipeline
    turns it into a `PlatformError` with code ``"blocked_address"`` that is
    never retried.

    Attributes:
        host: the host of the request's URL.
        address: the refused address (the host itself when it is a literal or a name).
        reason: why it is refused.

    Example:
        >>> from govmedia._netguard import BlockedAddress
        >>> str(BlockedAddress("cms.example", "169.254.169.254", "a link-local address"))
        'refused to connect to cms.example (169.254.169.254): a link-local address'
    """

    def __init__(self, host: str, address: str, reason: str) -> None:
        self.host = host
        self.address = address
        self.reason = reason
        shown = host if host == address else f"{host} ({address})"
        super().__init__(f"refused to connect to {shown}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.host, self.address, self.reason))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, where it carries one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    # NAT64 (64:ff9b::a.b.c.d) and the old IPv4-compatible ::a.b.c.d (not :: or ::1)
    if address in _NAT64 or 1 < int(address) < 2**32:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def blocked_reason(address: IPAddress | str) -> str | None:
    """Why govmedia refuses to connect to *address*, or None where it may.

    Example:
        >>> from govmedia._netguard import blocked_reason
        >>> blocked_reason("100.100.100.200")
        'the Alibaba Cloud metadata service'
        >>> blocked_reason("::ffff:169.254.10.1")
        '169.254.10.1, a link-local address (169.254.0.0/16)'
        >>> blocked_reason("10.0.0.7") is None  # private ranges are allowed
        True
    """
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%", 1)[0])  # no IPv6 zone
    why = _BLOCKED.get(address)
    if why is None and address.is_link_local:
        why = f"a link-local address ({'169.254.0.0/16' if address.version == 4 else 'fe80::/10'})"
    if why is None and isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        inner_why = None if inner is None else blocked_reason(inner)
        if inner_why is not None:
            why = f"{inner}, {inner_why}"
    return why


def _literal(host: str) -> IPAddress | None:
    """The address *host* is written as, or None for a name: never a DNS query."""
    text = host.strip("[]").split("%", 1)[0].rstrip(".")  # "169.254.169.254." too
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _IPV4_ISH.fullmatch(text):
        # The legacy forms socket.getaddrinfo() still accepts (inet_aton):
        # a user's HTTP client may connect to them as addresses.
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def _metadata_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    if name in METADATA_HOSTS:
        return True
    return any(name.endswith("." + known) for known in METADATA_HOSTS if "." in known)


@functools.lru_cache(maxsize=1024)
def check_host(host: str) -> None:
    """Raise `BlockedAddress` if *host*, as written, is a refused address or metadata name.

    No DNS query is made: this is the check a user's own HTTP client gets,
    and the early check of configured URLs. Cached: a fan-out has few hosts.

    Example:
        >>> from govmedia._netguard import check_host
        >>> check_host("cms.intranet.example")  # fine: nothing raised
        >>> check_host("Metadata.goog.")
        Traceback (most recent call last):
        ...
        govmedia._netguard.BlockedAddress: refused to connect to Metadata.goog.: a cloud metadata host name
    """
    if _metadata_name(host):
        raise BlockedAddress(host, host, "a cloud metadata host name")
    address = _literal(host)
    if address is not None:
        why = blocked_reason(address)
        if why is not None:
            raise BlockedAddress(host, str(address), why)


def allowed_addresses(host: str, addresses: Iterable[str]) -> list[str]:
    """The resolved *addresses* of *host* govmedia may connect to, in order.

    Raises `BlockedAddress` when none is left (naming the first refused one).

    Example:
        >>> from govmedia._netguard import allowed_addresses
        >>> allowed_addresses("cms.example", ["169.254.169.254", "203.0.113.9"])
        ['203.0.113.9']
    """
    check_host(host)
    kept: list[str] = []
    refused: tuple[str, str] | None = None
    for address in addresses:
        why = blocked_reason(address)
        if why is None:
            kept.append(address)
        elif refused is None:
            refused = (address, why)
    if not kept and refused is not None:
        raise BlockedAddress(host, *refused)
    return kept
