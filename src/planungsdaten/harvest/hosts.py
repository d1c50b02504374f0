"""Where a harvest may fetch from: http(s) only, the allowed host names, public addresses.

A source definition, a feed or a redirect could otherwise make the harvester fetch from
internal services or the cloud metadata endpoint (SSRF) and load their answers as data.
`check_url` runs before every request of a harvest, each redirect hop and every link taken
from a feed included. Host names are resolved here and again when httpx connects: a DNS
server answering differently the second time (DNS rebinding) is not caught here, an
egress firewall remains the stronger guard.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator, Sequence

import httpx

from planungsdaten.harvest.errors import FetchError
from planungsdaten.settings import HarvestSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_PRIVATE_ENV = "PLANUNGSDATEN_HARVEST_ALLOW_PRIVATE_NETWORKS"
ALLOWED_HOSTS_ENV = "PLANUNGSDATEN_HARVEST_ALLOWED_HOSTS"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


class HostNotAllowedError(FetchError):
    """A harvest URL names a scheme, host or address the settings do not allow."""


def display_url(url: httpx.URL) -> str:
    """The URL for messages, without a password."""
    if url.password:
        return str(url.copy_with(password="***"))
    return str(url)


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """Whether `host` is one of `allowed`: exact names, or `*.suffix` for its subdomains."""
    name = host.lower().rstrip(".")
    return any(
        name.endswith(entry[1:]) if entry.startswith("*.") else name == entry for entry in allowed
    )


def _embedded(address: IPAddress) -> Iterator[IPAddress]:
    """The IPv4 addresses an IPv6 one carries (mapped, 6to4, NAT64), then the address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            yield address.ipv4_mapped
        if address.sixtofour is not None:
            yield address.sixtofour
        if address in _NAT64:
            yield ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    yield address


def non_public(address: IPAddress) -> str | None:
    """What kind of non-public address `address` is (German, with article), None if public."""
    for candidate in _embedded(address):
        if candidate.is_unspecified:
            return "eine unspezifizierte Adresse"
        if candidate.is_loopback:
            return "eine Loopback-Adresse"
        if candidate in _METADATA:
            return "den Cloud-Metadatendienst"
        if candidate.is_link_local:
            return "eine link-lokale Adresse"
        if candidate.is_multicast:
            return "eine Multicast-Adresse"
        if candidate.is_reserved:
            return "eine reservierte Adresse"
        if candidate.is_private:
            return "eine private Adresse"
        if not candidate.is_global:
            return "eine nicht öffentliche Adresse"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses `host` stands for; none when it cannot be resolved (the connection
    attempt then fails and says so)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [
        ipaddress.ip_address(str(info[4][0]).partition("%")[0])
        for info in infos
        if info[0] in (socket.AF_INET, socket.AF_INET6)
    ]


def check_url(url: str | httpx.URL, settings: HarvestSettings, *, via: str | None = None) -> None:
    """Raise HostNotAllowedError unless `url` is http(s), its host allowed by the settings
    and every address it resolves to public; `via` says where the URL came from."""
    context = f" ({via})" if via else ""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except httpx.InvalidURL as e:
        raise HostNotAllowedError(f"Ernte-Adresse {url}{context} ist ungültig ({e})") from e
    shown = f"{display_url(parsed)}{context}"
    if parsed.scheme not in ("http", "https"):
        raise HostNotAllowedError(
            f"Ernte-Adresse {shown}: nur http:// und https:// sind erlaubt, nicht {parsed.scheme}:"
        )
    host = parsed.host
    if not host:
        raise HostNotAllowedError(f"Ernte-Adresse {shown} nennt keinen Host")
    if settings.allowed_hosts and not host_allowed(host, settings.allowed_hosts):
        raise HostNotAllowedError(
            f"Ernte-Adresse {shown}: der Host {host} ist nicht freigegeben (erlaubt sind nur "
            f"{', '.join(settings.allowed_hosts)}; Einstellung {ALLOWED_HOSTS_ENV})"
        )
    if settings.allow_private_networks:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    for address in resolve(parsed.raw_host.decode("ascii"), port):
        kind = non_public(address)
        if kind is not None:
            where = str(address) if str(address) == host else f"{host} → {address}"
            raise HostNotAllowedError(
                f"Ernte-Adresse {shown} zeigt auf {kind} ({where}); Ernten aus internen Netzen "
                f"sind nur mit {ALLOW_PRIVATE_ENV}=true erlaubt"
            )
