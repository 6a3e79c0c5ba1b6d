"""Sending to the real API: the team key, the forwarded headers, connections kept alive."""

import os
import threading
from urllib.parse import urlsplit

import certifi
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

# Connections to the upstream kept alive for this process's calls, shared by all of them:
# under gevent every request is a greenlet of its own, so a per-thread pool would be a new
# connection (a TCP and TLS handshake) for every call.
POOL_SIZE = 64
_pools: dict[tuple[int, str], urllib3.HTTPConnectionPool] = {}
_pools_lock = threading.Lock()


def _pool() -> urllib3.HTTPConnectionPool:
    """This process's urllib3 connection pool for UPSTREAM_URL.

    The proxy sends through urllib3 directly: requests' Session.request (cookie jar, hooks,
    redirects, settings merging) cost more CPU than the rest of the proxy, and a proxy
    needs none of it. Beyond POOL_SIZE concurrent calls, extra connections are opened
    and closed after use (block=False): a call never waits for a connection.
    """
    slot = (os.getpid(), settings.UPSTREAM_URL)
    pool = _pools.get(slot)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(slot)
            if pool is None:
                tls = {}
                if settings.UPSTREAM_URL.startswith("https:"):
                    tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}
                pool = urllib3.connection_from_url(
                    settings.UPSTREAM_URL,
                    maxsize=POOL_SIZE,
                    block=False,
                    retries=False,  # a retry would spend a second credit for one call
                    **tls,
                )
                _pools[slot] = pool
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
