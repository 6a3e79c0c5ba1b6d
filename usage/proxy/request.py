"""What the proxy reads from a client's request: its key, a safe path, a query without the key.

The key is looked for where CoinGecko looks (headers, then the query string, Pro and Demo
names), and the path is checked so that the upstream URL can never leave UPSTREAM_URL.
"""

import re
from urllib.parse import parse_qsl, quote, unquote

# The client's own key names, header and query parameter, Pro and Demo (as CoinGecko).
KEY_HEADERS = ("HTTP_X_CG_PRO_API_KEY", "HTTP_X_CG_DEMO_API_KEY")
KEY_PARAMS = ("x_cg_pro_api_key", "x_cg_demo_api_key")

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




def client_key(meta) -> str:
    """The key the client sent (header first, then query parameter), or ``""``."""
    for header in KEY_HEADERS:
        value = meta.get(header)
        if value:
            return value.strip()
    query = meta.get("QUERY_STRING", "")
    if "api_key" in query.lower():
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name.lower() in KEY_PARAMS and value:
                return value.strip()
    return ""
