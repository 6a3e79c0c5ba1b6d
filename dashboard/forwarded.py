"""The client's real address behind a trusted reverse proxy (``TRUSTED_PROXIES``).

Behind nginx every request comes from nginx's address, so the usage log's client
addresses and the login throttle (django-axes reads ``REMOTE_ADDR``) would all see one
client. When the connection comes from a proxy listed in ``TRUSTED_PROXIES``, this
middleware replaces ``REMOTE_ADDR`` with the client address that proxy reported in
``X-Forwarded-For``: the rightmost address that is not itself a trusted proxy (anything
left of it was written by the client and proves nothing).

Off by default, and installed only when the setting is given: a header any client can
forge is never believed from an address nobody vouched for. It runs before the proxy's
middleware, so proxied calls see the same address as the console.
"""

import ipaddress

from django.conf import settings


def trusted_networks(values: list[str]) -> tuple:
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def _is_trusted(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(peer: str, forwarded_for: str, networks) -> str:
    """The client's address for a connection from ``peer`` carrying ``forwarded_for``."""
    if not forwarded_for or not _is_trusted(peer, networks):
        return peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # garbage where an address should be: believe the socket only
        if not _is_trusted(hop, networks):
            return hop
    return hop  # every hop is a trusted proxy: the leftmost one is the origin


class ForwardedForMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.networks = trusted_networks(settings.TRUSTED_PROXIES)

    def __call__(self, request):
        meta = request.META
        forwarded_for = meta.get("HTTP_X_FORWARDED_FOR")
        if forwarded_for:
            meta["REMOTE_ADDR"] = client_address(
                meta.get("REMOTE_ADDR", ""), forwarded_for, self.networks
            )
        return self.get_response(request)
