"""A key's address allowlist: which client addresses may call with it.

Stored as canonical text on the key (``10.1.0.0/16, 2001:db8::/32, 192.0.2.7``): people
read it in the admin and the console as they typed it, minus the noise. ``allowlist_clean``
is the one gate a value passes on its way in (forms, admin, ``createapikey``), so what is
stored always parses. The proxy asks ``address_allowed`` on every call of a key that has a
list; the text is parsed once per distinct stored value (``lru_cache``), not per call.
"""

import ipaddress
from functools import lru_cache

from django.core.exceptions import ValidationError

# A list is for a handful of servers or office networks; past this it is likely a paste
# of something else, and every call of the key walks it.
MAX_ENTRIES = 64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _entries(text: str) -> list[str]:
    return [item for item in text.replace(",", " ").split() if item]


def _network(item: str) -> Network:
    """One entry: an address (a network of one) or a CIDR network; never host bits set."""
    try:
        return ipaddress.ip_network(item, strict=True)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(item, strict=False)
    except ValueError:
        raise ValidationError(
            f"“{item}” is not an IPv4 or IPv6 address or network "
            "(for example 203.0.113.7, 10.1.0.0/16 or 2001:db8::/32)."
        ) from None
    raise ValidationError(f"“{item}” has bits set past its prefix length: did you mean {loose}?")


def _shown(network: Network) -> str:
    # A single address is shown as one, not as a /32 or /128.
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def allowlist_clean(text: str) -> str:
    """The canonical text of an allowlist typed by a person (commas, spaces or new lines
    between entries), or ValidationError naming the first entry that is not an address or
    a network. Blank means any address."""
    items = _entries(text or "")
    if len(items) > MAX_ENTRIES:
        raise ValidationError(f"Keep the list to {MAX_ENTRIES} addresses or networks.")
    shown = []
    for item in items:
        text_form = _shown(_network(item))
        if text_form not in shown:
            shown.append(text_form)
    return ", ".join(shown)


@lru_cache(maxsize=1024)
def networks(stored: str) -> tuple[Network, ...]:
    """The networks of a stored allowlist. An entry that does not parse (a row edited by
    hand in the database) matches nothing: the list fails closed."""
    parsed = []
    for item in _entries(stored):
        try:
            parsed.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            continue
    return tuple(parsed)


def address_allowed(address: str, stored: str) -> bool:
    """Whether a client at ``address`` (REMOTE_ADDR) may call with a key whose allowlist is
    ``stored``. An empty list allows everyone; an address that does not parse (a Unix
    socket's empty one) is allowed by no list."""
    if not stored:
        return True
    try:
        # A zone index (fe80::1%eth0) names the interface, not the address.
        client = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    candidates = [client]
    if client.version == 6 and client.ipv4_mapped is not None:
        # A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d.
        candidates.append(client.ipv4_mapped)
    allowed = networks(stored)
    return any(c in net for c in candidates for net in allowed if net.version == c.version)
