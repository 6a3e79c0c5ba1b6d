"""What the proxy reads from a client's request: its key, a safe path, a query without the key.

The key is looked for where CoinGecko looks (headers, then the query string, Pro and Demo
names), and the path is checked so that the upstream URL can never leave UPSTREAM_URL.
"""

import re
from urllib.parse import quote, unquote_plus

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
# Servers split parameters on "&", and some on ";" too: a key must not hide behind either.
SEPARATOR = re.compile(r"([&;])")


def _decoded(text: str) -> str:
    """``text`` percent- and plus-decoded until it stops changing (``%255F`` is ``_``)."""
    for _ in range(4):
        decoded = unquote_plus(text)
        if decoded == text:
            break
        text = decoded
    return text


def _is_key_name(raw_name: str) -> bool:
    return _decoded(raw_name).strip().lower().replace("-", "_") in KEY_PARAMS


def _might_hold_a_key(query: str) -> bool:
    # A key parameter's name is spelled out ("api_key") or encoded (has a "%").
    if "%" in query:
        return True
    lowered = query.lower()
    return "api_key" in lowered or "api-key" in lowered


def client_key(meta) -> str:
    """The key the client sent (header first, then query parameter), or ``""``.

    Query parameter names are read as a server would decode them, in any case.
    """
    for header in KEY_HEADERS:
        value = meta.get(header)
        if value:
            return value.strip()
    query = meta.get("QUERY_STRING", "")
    if query and _might_hold_a_key(query):
        for item in SEPARATOR.split(query)[::2]:
            name, _, value = item.partition("=")
            if value and _is_key_name(name):
                return _decoded(value).strip()
    return ""


def strip_key_params(query: str, *, secret: str = "") -> str:
    """The query string without the client's key, other parameters as they came.

    Dropped: every parameter whose decoded name is a key name in any case or encoding,
    and any parameter whose decoded value holds ``secret`` (the key found elsewhere).
    What is left keeps its order and separators, and is percent-encoded where needed.
    """
    if query and (_might_hold_a_key(query) or (secret and secret in query)):
        parts = SEPARATOR.split(query)
        kept = []
        for i in range(0, len(parts), 2):
            name, _, value = parts[i].partition("=")
            if _is_key_name(name) or (secret and secret in _decoded(parts[i])):
                continue
            if kept:
                kept.append(parts[i - 1] if i else "&")
            kept.append(parts[i])
        query = "".join(kept)
    if query and not SAFE_QUERY.match(query):
        query = quote(query, safe=SAFE_QUERY_CHARS, encoding="latin-1")
    return query
