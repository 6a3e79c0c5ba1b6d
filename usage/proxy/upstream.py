"""Sending to the real API: the team key, the forwarded headers, a pooled connection per thread."""

import threading
from urllib.parse import urlsplit

import certifi
import requests
import urllib3
from django.conf import settings

# What goes upstream from the client's request; everything else stays here.
FORWARD_REQUEST_HEADERS = {
    "HTTP_ACCEPT": "Accept",
    "HTTP_ACCEPT_ENCODING": "Accept-Encoding",
}
# Hop-by-hop (RFC 9110 7.6.1) and ones this server sets itself.
DROP_RESPONSE_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "server",
        "date",
        "content-length",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
    }
)

_local = threading.local()


def session() -> requests.Session:
    """This thread's pooled session: connections to the upstream are kept alive and reused."""
    current = getattr(_local, "session", None)
    if current is None:
        current = requests.Session()
        # No retries here: a retry would spend a second credit for the client's one call.
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0)
        current.mount("http://", adapter)
        current.mount("https://", adapter)
        current.trust_env = False  # no proxies or .netrc picked up from the environment
        _local.session = current
    return current


def _pool():
    """The session's own urllib3 connection pool for UPSTREAM_URL.

    The proxy sends through it directly: Session.request's cookie jar, hooks, redirect and
    settings merging cost more CPU than the rest of the proxy, and a proxy needs none of
    them.
    """
    base = settings.UPSTREAM_URL
    cached = getattr(_local, "pool", None)
    if cached is not None and cached[0] == base:
        return cached[1]
    adapter = session().get_adapter(base)
    pool_kwargs = {"cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}
    pool = adapter.poolmanager.connection_from_url(base, pool_kwargs=pool_kwargs)
    _local.pool = (base, pool)
    return pool


def request_headers(meta) -> dict:
    headers = {name: meta[key] for key, name in FORWARD_REQUEST_HEADERS.items() if meta.get(key)}
    headers.setdefault("Accept-Encoding", "identity")
    headers["User-Agent"] = "Tollgate"
    headers[settings.UPSTREAM_KEY_HEADER] = settings.UPSTREAM_API_KEY
    return headers


def send(*, path: str, query: str, headers: dict):
    """GET ``path`` upstream; returns urllib3's response with its body not yet read.

    Raises urllib3's errors: ConnectTimeoutError, ReadTimeoutError, NewConnectionError,
    ProtocolError (all HTTPError), or OSError.
    """
    url = f"{urlsplit(settings.UPSTREAM_URL).path}/{path}"
    if query:
        url = f"{url}?{query}"
    return _pool().urlopen(
        "GET",
        url,
        headers=headers,
        retries=False,
        redirect=False,
        assert_same_host=False,
        preload_content=False,
        decode_content=False,
        timeout=urllib3.Timeout(
            connect=settings.UPSTREAM_CONNECT_TIMEOUT, read=settings.UPSTREAM_TIMEOUT
        ),
    )


def response_headers(upstream_response) -> list[tuple[str, str]]:
    return [
        (name, value)
        for name, value in upstream_response.headers.items()
        if name.lower() not in DROP_RESPONSE_HEADERS
    ]
