"""Forwarding to the real API: the safe upstream URL, the headers, one pooled session per thread."""

import re
import threading
from urllib.parse import quote, unquote, urlsplit

import certifi
import requests
import urllib3
from django.conf import settings

# The client's own key names, header and query parameter, Pro and Demo (as CoinGecko).
KEY_HEADERS = ("HTTP_X_CG_PRO_API_KEY", "HTTP_X_CG_DEMO_API_KEY")
KEY_PARAMS = ("x_cg_pro_api_key", "x_cg_demo_api_key")

# What goes upstream from the client's request; everything else stays here.
FORWARD_REQUEST_HEADERS = {
    "HTTP_ACCEPT": "Accept",
    "HTTP_ACCEPT_ENCODING": "Accept-Encoding",
    "CONTENT_TYPE": "Content-Type",
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

# RFC 3986 path characters, minus "%" (so nothing is decoded twice) and "\" (some servers
# read it as "/").
SEGMENT = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@]+$")
SAFE_PATH_CHARS = "/-._~!$&'()*+,;=:@"
SAFE_QUERY = re.compile(r"^[A-Za-z0-9&=+%/:,;@!$'()*?~\-._\[\]|]*$")


class BadPath(ValueError):
    pass


def clean_path(path: str, raw_uri: str | None) -> str:
    """The part after /api/v3/, checked so the upstream URL can never leave UPSTREAM_URL.

    Refused: empty, ``.`` and ``..`` segments, empty segments (``//``, which is how an
    absolute URL like ``http://evil`` arrives), percent-encoded slashes or backslashes in
    the raw request line, and any character outside RFC 3986's path characters.
    """
    if raw_uri is not None:
        raw_path = raw_uri.split("?", 1)[0].lower()
        if "%2f" in raw_path or "%5c" in raw_path or "%25" in raw_path:
            raise BadPath(path)
    if not path:
        raise BadPath(path)
    segments = path.split("/")
    if segments[-1] == "":
        segments.pop()  # one trailing slash is harmless
    for segment in segments:
        if segment in ("", ".", "..") or not SEGMENT.match(segment):
            raise BadPath(path)
    return quote(path, safe=SAFE_PATH_CHARS)


# Characters a well-formed query string already uses; anything else (spaces, quotes,
# non-ASCII, control characters) is percent-encoded before it goes upstream.
SAFE_QUERY_CHARS = "&=+%/:,;@!$'()*?~-._[]|"


def strip_key_params(query: str) -> str:
    """The query string without the client's key, other parameters in their order."""
    if query and "api_key" in query.lower():
        kept = []
        for item in query.split("&"):
            name = unquote(item.split("=", 1)[0].replace("+", " ")).strip().lower()
            if name not in KEY_PARAMS:
                kept.append(item)
        query = "&".join(kept)
    if query and not SAFE_QUERY.match(query):
        query = quote(query, safe=SAFE_QUERY_CHARS, encoding="latin-1")
    return query


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
    settings merging cost about 0.7 ms of CPU per call (measured with bench/proxy.py),
    more than the rest of the proxy, and a proxy needs none of them.
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


def send(*, method: str, path: str, query: str, headers: dict, body: bytes | None):
    """Send the request upstream; returns urllib3's response with its body not yet read.

    Raises urllib3's errors: ConnectTimeoutError, ReadTimeoutError, NewConnectionError,
    ProtocolError (all HTTPError), or OSError.
    """
    url = f"{urlsplit(settings.UPSTREAM_URL).path}/{path}"
    if query:
        url = f"{url}?{query}"
    return _pool().urlopen(
        method,
        url,
        body=body or None,
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
