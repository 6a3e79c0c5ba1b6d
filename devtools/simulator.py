"""A simulated CoinGecko Pro upstream for tests, benchmarks and demos.

Tollgate is a metering proxy in front of ``https://pro-api.coingecko.com/api/v3``. Testing it
against the real API would cost credits, need a real key, be slow and flaky, and could never
show what the proxy did to a request on its way up. This server stands in for CoinGecko: it
answers the endpoints Tollgate's users call with realistic bodies (as CoinGecko documents
them), checks the Pro key the way CoinGecko does,
records every request it receives so a test can assert which headers went upstream, and
can be told to misbehave (latency, errors, 429s) on demand.

It deliberately uses only the standard library and never imports Django, so it runs
anywhere as ``python -m devtools.simulator --port 8900 --api-key KEY`` and can sit in a load
test next to the proxy without sharing its settings.

Layout::

    /api/v3/...         the simulated CoinGecko API (key checked, recorded, switches apply)
    /api/v3/__sim/large?bytes=N
                        N bytes of JSON, streamed, for the proxy's streaming test
    /__sim/config       GET the switches, POST a JSON object to merge into them
    /__sim/reset        POST: forget recorded requests and counters, restore the switches
                        the server was started with
    /__sim/requests     GET the recorded requests (oldest first, at most 10,000)
    /__sim/stats        GET {"count": N}, requests seen under /api/v3 since the last reset

Bodies are fixed: ``/simple/price`` answers the same bitcoin price whatever ``ids`` asks
for. That keeps every answer a pre-encoded byte string, which is what lets one core serve
thousands of requests a second.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import gzip
import hmac
import json
import math
import random
import signal
import socket
import socketserver
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

API_ROOT = "/api/v3"
CONTROL_ROOT = "/__sim/"
KEY_HEADER = "x-cg-pro-api-key"
KEY_PARAM = "x_cg_pro_api_key"
MAX_RECORDS = 10_000
RECORDED_BODY_BYTES = 1024
LARGE_CHUNK = 64 * 1024
# A runaway ?bytes= should not keep a test run streaming for minutes.
LARGE_MAX_BYTES = 1 << 30
CONTROL_BODY_LIMIT = 1 << 20


def _compact(value) -> bytes:
    # CoinGecko answers compact JSON; matching it byte for byte keeps Content-Length and
    # any body comparison in the proxy's tests realistic.
    return json.dumps(value, separators=(",", ":")).encode()


# --- Bodies --------------------------------------------------------------------------------
# Copied from the reference document; the coin objects are cut down to the fields clients
# actually read, with bitcoin's numbers taken from the /coins/markets sample.

PING = _compact({"gecko_says": "(V3) To the Moon!"})

KEY = _compact(
    {
        "plan": "Other",
        "rate_limit_request_per_minute": 1000,
        "monthly_call_credit": 1000000,
        "current_total_monthly_calls": 32,
        "current_remaining_monthly_calls": 999968,
        "api_key_rate_limit_request_per_minute": 1000,
        "api_key_monthly_call_credit": 1000000,
        "api_key_current_total_monthly_calls": 8,
    }
)

SIMPLE_PRICE = _compact(
    {
        "bitcoin": {
            "usd": 67187.3358936566,
            "usd_market_cap": 1317802988326.25,
            "usd_24h_vol": 31260929299.5248,
            "usd_24h_change": 3.63727894677354,
            "last_updated_at": 1711356300,
        }
    }
)

COINS_MARKETS = _compact(
    [
        {
            "id": "bitcoin",
            "symbol": "btc",
            "name": "Bitcoin",
            "image": "https://assets.coingecko.com/coins/images/1/large/bitcoin.png?1696501400",
            "current_price": 70187,
            "market_cap": 1381651251183,
            "market_cap_rank": 1,
            "fully_diluted_valuation": 1474623675796,
            "total_volume": 20154184933,
            "high_24h": 70215,
            "low_24h": 68060,
            "price_change_24h": 2126.88,
            "price_change_percentage_24h": 3.12502,
            "market_cap_change_24h": 44287678051,
            "market_cap_change_percentage_24h": 3.31157,
            "circulating_supply": 19675987,
            "total_supply": 21000000,
            "max_supply": 21000000,
            "ath": 73738,
            "ath_change_percentage": -4.77063,
            "ath_date": "2024-03-14T07:10:36.635Z",
            "atl": 67.81,
            "atl_change_percentage": 103455.83335,
            "atl_date": "2013-07-06T00:00:00.000Z",
            "roi": None,
            "last_updated": "2024-04-07T16:49:31.736Z",
        }
    ]
)

SEARCH = _compact(
    {
        "coins": [
            {
                "id": "ethereum",
                "name": "Ethereum",
                "api_symbol": "ethereum",
                "symbol": "ETH",
                "market_cap_rank": 2,
                "thumb": "https://assets.coingecko.com/coins/images/279/thumb/ethereum.png",
                "large": "https://assets.coingecko.com/coins/images/279/large/ethereum.png",
            }
        ],
        "exchanges": [],
        "icos": [],
        "categories": [{"id": "ethereum-ecosystem", "name": "Ethereum Ecosystem"}],
        "nfts": [],
    }
)

GLOBAL = _compact(
    {
        "data": {
            "active_cryptocurrencies": 13690,
            "upcoming_icos": 0,
            "ongoing_icos": 49,
            "ended_icos": 3376,
            "markets": 1046,
            "total_market_cap": {"btc": 39003738.0847159, "usd": 2721226850772.63},
            "total_volume": {"btc": 993675.225562481, "usd": 69327091133.5489},
            "market_cap_percentage": {"btc": 50.4465263233584, "eth": 14.9228066918211},
            "market_cap_change_percentage_24h_usd": 1.72179506060272,
            # The official SDK's model requires this field.
            "volume_change_percentage_24h_usd": -5.0,
            "updated_at": 1712512855,
        }
    }
)


def _coin(
    coin_id,
    symbol,
    name,
    rank,
    image_id,
    price,
    market_cap,
    volume,
    high,
    low,
    change,
    supply,
    updated,
):
    return {
        "id": coin_id,
        "symbol": symbol,
        "name": name,
        "web_slug": coin_id,
        "asset_platform_id": None,
        "market_cap_rank": rank,
        "image": {
            size: f"https://assets.coingecko.com/coins/images/{image_id}/{size}/{coin_id}.png"
            for size in ("thumb", "small", "large")
        },
        "market_data": {
            "current_price": {"usd": price},
            "market_cap": {"usd": market_cap},
            "total_volume": {"usd": volume},
            "high_24h": {"usd": high},
            "low_24h": {"usd": low},
            "price_change_percentage_24h": change,
            "circulating_supply": supply,
            "last_updated": updated,
        },
        "last_updated": updated,
    }


COINS = {
    "bitcoin": _compact(
        _coin(
            "bitcoin",
            "btc",
            "Bitcoin",
            1,
            1,
            70187,
            1381651251183,
            20154184933,
            70215,
            68060,
            3.12502,
            19675987,
            "2024-04-07T16:49:31.736Z",
        )
    ),
    # Ethereum's numbers are illustrative, of the same day and magnitude; only its search
    # entry comes from the reference.
    "ethereum": _compact(
        _coin(
            "ethereum",
            "eth",
            "Ethereum",
            2,
            279,
            3451.42,
            414447262116,
            10315618826,
            3463.1,
            3350.67,
            2.01,
            120075289,
            "2024-04-07T16:49:28.512Z",
        )
    ),
}

MARKET_CHARTS = {
    "bitcoin": _compact(
        {
            "prices": [[1711843200000, 69702.3087473573], [1711929600000, 71246.9514406015]],
            "market_caps": [
                [1711843200000, 1370247487960.09],
                [1711929600000, 1401370211582.37],
            ],
            "total_volumes": [
                [1711843200000, 16408802301.8374],
                [1711929600000, 19723005998.215],
            ],
        }
    ),
    "ethereum": _compact(
        {
            "prices": [[1711843200000, 3505.24176134187], [1711929600000, 3647.86327126305]],
            "market_caps": [
                [1711843200000, 420869542271.432],
                [1711929600000, 438013487619.117],
            ],
            "total_volumes": [
                [1711843200000, 8904211245.31176],
                [1711929600000, 13512307412.8459],
            ],
        }
    ),
}

STATIC = {
    "/ping": PING,
    "/key": KEY,
    "/simple/price": SIMPLE_PRICE,
    "/coins/markets": COINS_MARKETS,
    "/search": SEARCH,
    "/global": GLOBAL,
}

NOT_FOUND = _compact({"error": "Not Found"})
# CoinGecko's own answer for /coins/{unknown id}.
COIN_NOT_FOUND = _compact({"error": "coin not found"})
KEY_MISSING = _compact(
    {
        "status": {
            "error_code": 10002,
            "error_message": (
                "API Key Missing. Please make sure you're using the right authentication method."
            ),
        }
    }
)
# What CoinGecko says for a wrong key is not confirmed; the code is kept so clients react
# the same way, the message differs so a test can tell the two apart.
KEY_INVALID = _compact(
    {
        "status": {
            "error_code": 10002,
            "error_message": (
                "Invalid API Key. Please make sure you're using the right authentication method."
            ),
        }
    }
)
RATE_LIMITED = _compact(
    {
        "status": {
            "error_code": 429,
            "error_message": (
                "You've exceeded the Rate Limit. Please visit "
                "https://www.coingecko.com/en/api/pricing to subscribe to our API plans for "
                "higher rate limits."
            ),
        }
    }
)
RETRY_AFTER = b"retry-after: 5\r\n"

_STATUS_LINES: dict[int, bytes] = {}
_ERROR_BODIES: dict[int, bytes] = {401: KEY_MISSING, 404: NOT_FOUND, 429: RATE_LIMITED}
_JSON_TYPE = b"Content-Type: application/json; charset=utf-8\r\n"


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        line = _STATUS_LINES[status] = b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode())
    return line


def _error_body(status: int) -> bytes:
    body = _ERROR_BODIES.get(status)
    if body is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        body = _ERROR_BODIES[status] = _compact(
            {"status": {"error_code": status, "error_message": f"{phrase} (simulated)"}}
        )
    return body


# --- Switches ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Switches:
    """How the upstream misbehaves. Frozen so a handler can read one consistent snapshot."""

    delay: float = 0.0
    error_rate: float = 0.0
    error_status: int = 500
    rate_limit_every: int = 0
    fail_next: tuple[int, ...] = ()
    # A slow endpoint: requests whose path starts with slow_path wait slow_delay seconds.
    slow_path: str = ""
    slow_delay: float = 0.0
    # As CoinGecko: a gzipped 200 for a client that accepts gzip (off: always identity).
    gzip: bool = False
    # A Cache-Control header on every API answer ("" sends none), e.g. "no-store".
    cache_control: str = ""


SWITCH_NAMES = tuple(f.name for f in dataclasses.fields(Switches))


def _as_int(name, value):
    # bool is an int and 3.7 truncates silently; both would hide a mistake in a test.
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, not {value!r}") from None


def _as_float(name, value):
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite")
    return number


def _as_error_status(name, value):
    # Only error statuses: a 1xx, 204 or 304 would have to go without a body.
    status = _as_int(name, value)
    if not 400 <= status <= 599:
        raise ValueError(f"{name} must be between 400 and 599, not {status}")
    return status


def _coerce(name, value):
    if name == "delay":
        delay = _as_float(name, value)
        if delay < 0:
            raise ValueError("delay must not be negative")
        return delay
    if name == "error_rate":
        rate = _as_float(name, value)
        if not 0 <= rate <= 1:
            raise ValueError("error_rate must be between 0 and 1")
        return rate
    if name == "error_status":
        return _as_error_status(name, value)
    if name == "rate_limit_every":
        every = _as_int(name, value)
        if every < 0:
            raise ValueError("rate_limit_every must not be negative")
        return every
    if name == "slow_path":
        if not isinstance(value, str):
            raise ValueError("slow_path must be a path such as /api/v3/coins/markets")
        return value
    if name == "slow_delay":
        delay = _as_float(name, value)
        if delay < 0:
            raise ValueError("slow_delay must not be negative")
        return delay
    if name == "gzip":
        if not isinstance(value, bool):
            raise ValueError("gzip must be true or false")
        return value
    if name == "cache_control":
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            raise ValueError("cache_control must be a header value such as no-store")
        return value
    if name == "fail_next":
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ValueError("fail_next must be a list of statuses")
        return tuple(_as_error_status(name, status) for status in value)
    raise ValueError(f"unknown switch {name!r}; known: {', '.join(SWITCH_NAMES)}")


def _merge(base: Switches, changes: dict) -> Switches:
    return dataclasses.replace(base, **{name: _coerce(name, v) for name, v in changes.items()})


class _State:
    """Everything the handler threads share. One lock, taken once a request."""

    def __init__(self, api_key, switches: Switches, verbose: bool):
        self.api_key = api_key
        self.verbose = verbose
        self.initial = switches
        self.lock = threading.Lock()
        self.records: collections.deque = collections.deque(maxlen=MAX_RECORDS)
        self._set(switches)

    def _set(self, switches):
        self.switches = switches
        self.fail_next = collections.deque(switches.fail_next)
        self.count = 0
        self.rate_count = 0

    def configure(self, changes: dict) -> None:
        with self.lock:
            switches = _merge(self.switches, changes)
            self.switches = switches
            if "fail_next" in changes:
                self.fail_next = collections.deque(switches.fail_next)
            # Counting from the moment the switch is set makes "every 3rd" mean the 3rd
            # request from now, which is what a test configuring it at runtime expects.
            if "rate_limit_every" in changes:
                self.rate_count = 0

    def reset(self) -> None:
        with self.lock:
            self.records.clear()
            self._set(self.initial)

    def config(self) -> dict:
        with self.lock:
            config = dataclasses.asdict(self.switches)
            config["fail_next"] = list(self.fail_next)
        return config

    def snapshot(self) -> list:
        with self.lock:
            return list(self.records)

    def check_key(self, headers: dict, query: str):
        """None if the request may pass, else the 401 body to answer with."""
        if self.api_key is None:
            return None
        given = headers.get(KEY_HEADER)
        if given is None and KEY_PARAM in query:
            values = parse_qs(query).get(KEY_PARAM)
            given = values[0] if values else None
        if not given:
            return KEY_MISSING
        if hmac.compare_digest(given.encode(), self.api_key.encode()):
            return None
        return KEY_INVALID


def _record_dict(record, *, text_body: bool) -> dict:
    when, method, path, query, headers, length, head, client = record
    return {
        "time": when,
        "method": method,
        "path": path,
        "query": query,
        "headers": dict(headers),
        "body_length": length,
        "body": head.decode("utf-8", "replace") if text_body else head,
        "client": f"{client[0]}:{client[1]}",
    }


# --- HTTP ----------------------------------------------------------------------------------


class _BadRequest(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SimulatedCoinGecko"
    # Each answer goes out in one write, but large ones go in several and must not wait
    # on the client's delayed ACK.
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.server.track(self.connection, True)

    def finish(self):
        self.server.track(self.connection, False)
        super().finish()

    def log_message(self, format, *args):
        if self.server.state.verbose:
            super().log_message(format, *args)

    def do_GET(self):
        path, _, query = self.path.partition("?")
        try:
            if path.startswith(CONTROL_ROOT):
                length, body = self._read_body(CONTROL_BODY_LIMIT)
                self._control(path, body)
                return
            length, head = self._read_body(RECORDED_BODY_BYTES)
        except _BadRequest as exc:
            self.close_connection = True
            self._reply(400, _compact({"error": str(exc)}))
            return
        if path.startswith(API_ROOT + "/"):
            self._api(path, query, length, head)
        else:
            self._reply(404, NOT_FOUND)

    do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _reply(self, status: int, body: bytes, extra: bytes = b"") -> None:
        close = b"Connection: close\r\n" if self.close_connection else b""
        if self.path.startswith(API_ROOT + "/"):
            switches = self.server.state.switches
            if switches.cache_control:
                extra += b"Cache-Control: %s\r\n" % switches.cache_control.encode()
            accepts = self.headers.get("Accept-Encoding", "").lower()
            if switches.gzip and status == 200 and "gzip" in accepts:
                body = gzip.compress(body, mtime=0)
                extra += b"Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n"
        head = b"%s%sContent-Length: %d\r\n%s%s\r\n" % (
            _status_line(status),
            _JSON_TYPE,
            len(body),
            extra,
            close,
        )
        self.wfile.write(head if self.command == "HEAD" else head + body)
        if self.server.state.verbose:
            self.log_request(status, len(body))

    def _read_body(self, keep: int) -> tuple[int, bytes]:
        """Drain the request body (keep-alive needs that) and return (length, first bytes)."""
        headers = self.headers
        if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(keep)
        declared = headers.get("Content-Length")
        if not declared:
            return 0, b""
        try:
            remaining = int(declared)
        except ValueError:
            raise _BadRequest("bad Content-Length") from None
        if remaining < 0:
            raise _BadRequest("bad Content-Length")
        head = bytearray()
        total = self._drain(remaining, keep, head)
        return total, bytes(head)

    def _drain(self, remaining: int, keep: int, head: bytearray) -> int:
        """Read ``remaining`` bytes in bounded pieces, keeping the first ``keep`` in head."""
        rfile = self.rfile
        total = 0
        while remaining:
            chunk = rfile.read(min(remaining, LARGE_CHUNK))
            if not chunk:
                raise _BadRequest("body shorter than declared")
            if len(head) < keep:
                head += chunk[: keep - len(head)]
            total += len(chunk)
            remaining -= len(chunk)
        return total

    def _read_chunked(self, keep):
        rfile = self.rfile
        head = bytearray()
        total = 0
        while True:
            line = rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest("bad chunk size") from None
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers carry nothing we record
                return total, bytes(head)
            total += self._drain(size, keep, head)
            rfile.readline(65537)

    def _api(self, path, query, length, head):
        state = self.server.state
        headers = {name.lower(): value for name, value in self.headers.items()}
        refused = state.check_key(headers, query)
        forced = None
        with state.lock:
            state.count += 1
            state.records.append(
                (time.time(), self.command, path, query, headers, length, head, self.client_address)
            )
            switches = state.switches
            # Unauthenticated requests never reach CoinGecko's rate limiter, so they
            # neither consume a fail_next nor count towards rate_limit_every.
            if refused is None:
                rate_limited = False
                if switches.rate_limit_every:
                    state.rate_count += 1
                    rate_limited = state.rate_count % switches.rate_limit_every == 0
                if state.fail_next:
                    forced = state.fail_next.popleft()
                elif rate_limited:
                    forced = 429
        if switches.delay:
            time.sleep(switches.delay)
        if switches.slow_path and path.startswith(switches.slow_path):
            time.sleep(switches.slow_delay)
        if refused is not None:
            self._reply(401, refused)
        elif forced is not None:
            self._reply(forced, _error_body(forced), RETRY_AFTER if forced == 429 else b"")
        elif switches.error_rate and random.random() < switches.error_rate:
            self._reply(switches.error_status, _error_body(switches.error_status))
        else:
            self._route(path[len(API_ROOT) :], query)

    def _route(self, sub, query):
        body = STATIC.get(sub)
        if body is not None:
            self._reply(200, body)
            return
        if sub.startswith("/coins/"):
            parts = sub[len("/coins/") :].split("/")
            if len(parts) == 1 and parts[0]:
                body = COINS.get(parts[0])
            elif len(parts) == 2 and parts[1] == "market_chart":
                body = MARKET_CHARTS.get(parts[0])
            else:
                self._reply(404, NOT_FOUND)
                return
            if body is None:
                self._reply(404, COIN_NOT_FOUND)
            else:
                self._reply(200, body)
            return
        if sub == "/__sim/large":
            self._large(query)
            return
        self._reply(404, NOT_FOUND)

    def _large(self, query):
        try:
            size = int(parse_qs(query).get("bytes", ["0"])[0])
        except ValueError:
            size = -1
        if not 0 <= size <= LARGE_MAX_BYTES:
            self._reply(400, _compact({"error": f"bytes must be 0..{LARGE_MAX_BYTES}"}))
            return
        prefix, suffix = b'{"filler":"', b'"}'
        if size < len(prefix) + len(suffix):
            # Too small to be JSON; spaces at least keep the length exact.
            prefix, suffix = b" " * size, b""
        close = b"Connection: close\r\n" if self.close_connection else b""
        write = self.wfile.write
        write(b"%s%sContent-Length: %d\r\n%s\r\n" % (_status_line(200), _JSON_TYPE, size, close))
        if self.command == "HEAD":
            return
        write(prefix)
        remaining = size - len(prefix) - len(suffix)
        filler = memoryview(_FILLER)
        # Writing a shared 64 KiB buffer repeatedly keeps memory flat whatever N is.
        while remaining > 0:
            step = min(remaining, LARGE_CHUNK)
            write(filler[:step])
            remaining -= step
        write(suffix)
        if self.server.state.verbose:
            self.log_request(200, size)

    def _control(self, path, body):
        state = self.server.state
        route = (self.command, path)
        if route == ("GET", "/__sim/config"):
            self._reply(200, _compact(state.config()))
        elif route == ("POST", "/__sim/config"):
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object of switches")
                state.configure(changes)
            except ValueError as exc:  # JSONDecodeError is a ValueError
                self._reply(400, _compact({"error": str(exc)}))
                return
            self._reply(200, _compact(state.config()))
        elif route == ("POST", "/__sim/reset"):
            state.reset()
            self._reply(200, _compact(state.config()))
        elif route == ("GET", "/__sim/requests"):
            records = [_record_dict(r, text_body=True) for r in state.snapshot()]
            self._reply(200, _compact(records))
        elif route == ("GET", "/__sim/stats"):
            self._reply(200, _compact({"count": state.count}))
        elif path in ("/__sim/config", "/__sim/reset", "/__sim/requests", "/__sim/stats"):
            self._reply(405, _compact({"error": "Method Not Allowed"}))
        else:
            self._reply(404, NOT_FOUND)


_FILLER = b"x" * LARGE_CHUNK


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Idle keep-alive connections would make server_close() wait forever; stop() closes
    # them itself instead.
    block_on_close = False
    # The default backlog of 5 drops connections when a load test opens many at once.
    request_queue_size = 128

    def __init__(self, address, state: _State):
        self.state = state
        self._connections: set = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self):
        # HTTPServer.server_bind resolves the host's FQDN, which can stall for seconds on
        # a box without working reverse DNS; nothing here uses the name.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def track(self, connection, alive: bool):
        with self._connections_lock:
            if alive:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self):
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        # Clients hanging up mid-answer is normal under load and at stop(); a traceback
        # for each would bury real output.
        if self.state.verbose:
            super().handle_error(request, client_address)


# --- Python API ----------------------------------------------------------------------------


class SimulatedUpstream:
    """The simulator in a background thread, for tests::

        with SimulatedUpstream(api_key="team-key", fail_next=[429]) as upstream:
            settings.COINGECKO_URL = upstream.url
            ...
            assert upstream.requests[0]["headers"]["x-cg-pro-api-key"] == "team-key"

    ``reset()`` and ``POST /__sim/reset`` restore the switches given here, not the bare
    defaults, so a server started misbehaving stays misbehaving after a reset.
    """

    def __init__(self, api_key=None, *, host="127.0.0.1", port=0, verbose=False, **switches):
        self.host = host
        self.port = port
        self._state = _State(api_key, _merge(Switches(), switches), verbose)
        self._server = None
        self._thread = None

    @property
    def api_key(self):
        return self._state.api_key

    def start(self) -> SimulatedUpstream:
        if self._server is not None:
            raise RuntimeError("already started")
        self._server = _Server((self.host, self.port), self._state)
        self.port = self._server.server_address[1]
        # A short poll interval keeps stop() quick; idle wake-ups ten times a second cost
        # nothing measurable.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"simulated-upstream-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> SimulatedUpstream:
        return self.start() if self._server is None else self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("not started")
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The upstream root to give Tollgate, like https://pro-api.coingecko.com/api/v3."""
        return self.base_url + API_ROOT

    @property
    def requests(self) -> list[dict]:
        """Requests seen under /api/v3, oldest first; ``body`` is bytes (the first KiB)."""
        return [_record_dict(r, text_body=False) for r in self._state.snapshot()]

    @property
    def count(self) -> int:
        return self._state.count

    @property
    def config(self) -> dict:
        return self._state.config()

    def configure(self, **switches) -> None:
        self._state.configure(switches)

    def reset(self) -> None:
        self._state.reset()


# --- Command line --------------------------------------------------------------------------


def _statuses(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.simulator",
        description="Serve a simulated CoinGecko Pro API under /api/v3.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900, help="0 picks a free port")
    parser.add_argument("--api-key", help="require this key; without it any request passes")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds added to answers")
    parser.add_argument("--error-rate", type=float, default=0.0, help="0..1")
    parser.add_argument("--error-status", type=int, default=500)
    parser.add_argument("--rate-limit-every", type=int, default=0, help="every Nth is a 429")
    parser.add_argument("--fail-next", type=_statuses, default=[], help="e.g. 429,503")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)

    try:
        upstream = SimulatedUpstream(
            args.api_key,
            host=args.host,
            port=args.port,
            verbose=args.verbose,
            delay=args.delay,
            error_rate=args.error_rate,
            error_status=args.error_status,
            rate_limit_every=args.rate_limit_every,
            fail_next=args.fail_next,
        )
    except ValueError as exc:
        parser.error(str(exc))

    stopping = threading.Event()

    def _on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    upstream.start()
    # Printed after binding so that with --port 0 the line names the real port, and a
    # script can wait for it as the sign the server is ready.
    print(f"simulated CoinGecko upstream on {upstream.url}", flush=True)
    # A timed wait keeps the main thread waking up, so signals are handled promptly.
    while not stopping.wait(0.5):
        pass
    upstream.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
