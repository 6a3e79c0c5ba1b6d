"""What the cache keeps, for how long, and under which key.

The time-to-live is per endpoint template (``/coins/{id}``), so it is one setting for
every coin. The defaults follow how often CoinGecko says each endpoint's data changes
on paid plans: a copy younger than that is the answer the upstream would give again.
Every other endpoint is not cached until staff give it a time.
"""

import hashlib
import json
from functools import lru_cache

# endpoint template -> (seconds, where the figure comes from)
COINGECKO_UPDATES = "CoinGecko: data updated every {} s on paid plans"
DEFAULT_TTLS: dict[str, tuple[int, str]] = {
    "/simple/price": (20, COINGECKO_UPDATES.format(20)),
    "/simple/token_price/{id}": (20, COINGECKO_UPDATES.format(20)),
    "/coins/markets": (45, COINGECKO_UPDATES.format(45)),
    "/coins/{id}": (60, COINGECKO_UPDATES.format(60)),
    "/coins/{id}/market_chart": (30, COINGECKO_UPDATES.format(30)),
    "/coins/{id}/market_chart/range": (30, COINGECKO_UPDATES.format(30)),
    "/global": (600, COINGECKO_UPDATES.format(600)),
}
# Every /onchain/... endpoint: GeckoTerminal data, updated every 10 s.
ONCHAIN_PREFIX = "/onchain/"
ONCHAIN_TTL = (10, COINGECKO_UPDATES.format(10) + " (on-chain)")
TTL_MAX = 86_400
STAFF_SOURCE = "set by staff"


@lru_cache(maxsize=64)
def overrides(text: str) -> dict[str, int]:
    """The plan's stored overrides (JSON ``{endpoint: seconds}``); bad text counts as none."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return {str(k): int(v) for k, v in data.items() if isinstance(v, int)}


def ttl_for(endpoint: str, overrides_text: str) -> int:
    """Seconds an answer of ``endpoint`` (a template) stays fresh; 0: never cached."""
    own = overrides(overrides_text).get(endpoint)
    if own is not None:
        return own
    default = DEFAULT_TTLS.get(endpoint)
    if default is not None:
        return default[0]
    if endpoint.startswith(ONCHAIN_PREFIX):
        return ONCHAIN_TTL[0]
    return 0


def ttl_table(overrides_text: str) -> list[tuple[str, int, str]]:
    """(endpoint, seconds, source) for the Settings page: defaults, then staff's own."""
    own = overrides(overrides_text)
    rows = []
    for endpoint, (seconds, source) in DEFAULT_TTLS.items():
        if endpoint in own:
            rows.append((endpoint, own[endpoint], f"{STAFF_SOURCE} (default {seconds} s)"))
        else:
            rows.append((endpoint, seconds, source))
    onchain = ONCHAIN_PREFIX + "…"
    rows.append((onchain, *ONCHAIN_TTL))
    for endpoint in sorted(set(own) - set(DEFAULT_TTLS)):
        rows.append((endpoint, own[endpoint], STAFF_SOURCE))
    return rows


def variant(accept_encoding: str) -> str:
    """The body encoding a client gets: gzip only if it says it takes gzip.

    The cache key carries it, so a client that does not accept gzip never gets a gzipped
    body; everything other than gzip is asked for as identity (two copies at most).
    """
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "x-gzip", "*"):
            q = params.replace(" ", "")
            if q.startswith("q=") and q[2:] in ("0", "0.0", "0.00", "0.000"):
                continue
            return "gzip"
    return "identity"


def canonical_query(query: str) -> str:
    """The parameters in one order (the client's key already removed): ``b=2&a=1`` and
    ``a=1&b=2`` are one question."""
    if not query:
        return ""
    return "&".join(sorted(part for part in query.replace(";", "&").split("&") if part))


def cache_key(*, path: str, query: str, encoding: str) -> str:
    """A digest of the question: the path, the canonical query, the body's encoding.

    Never a key of anyone's: the client's key was stripped from ``query`` and the team
    key is not part of the question.
    """
    question = f"{path}?{canonical_query(query)}#{encoding}"
    return hashlib.sha256(question.encode()).hexdigest()


def storable(status: int, headers, finished: bool) -> bool:
    """A 200 read to its end (so at most 1 MiB) that the upstream lets a shared cache keep."""
    if status != 200 or not finished:
        return False
    for name, value in headers:
        if name.lower() == "cache-control":
            directives = {d.strip().split("=")[0] for d in value.lower().split(",")}
            if "no-store" in directives or "private" in directives:
                return False
    return True


def wants_fresh(meta) -> bool:
    """The client asked for a fresh answer (``Cache-Control: no-cache``, or Pragma's)."""
    control = meta.get("HTTP_CACHE_CONTROL", "").lower()
    return (
        "no-cache" in control
        or "no-store" in control
        or (not control and "no-cache" in meta.get("HTTP_PRAGMA", "").lower())
    )
