"""Fill the usage log and its counters with realistic calls, fast: for demos and benchmarks.

    manage.py seedusage --calls 1000000 --days 365 [--keys 5] [--owner seed] [--seed 42]

The rows and counters are what as many ``usage.metering.ledger.record`` calls would have left, so
``checkcounters`` passes afterwards; seeding again adds to them and it still passes.

What the data looks like:

- ``--keys`` keys of ``--owner`` (created if missing, without a usable password), labelled
  "seed pricing bot 1", "seed portfolio sync 2"... and reused by label on the next run. The
  last one is soft-deleted (``key_delete``) and its calls stop at 70% of the range, so
  reports show a deleted key with history. Each key has its own mix of endpoints.
- ``--calls`` calls spread over the ``--days`` days that end now (UTC): busier in the
  working hours of Europe and America, quieter at weekends, growing over the range, with
  day-to-day noise and a few market-event days.
- Outcomes as the proxy records them: mostly ``ok`` (one credit each; a few are overage
  calls, no credit), upstream errors (404, 429, 5xx; the credit given back), refusals
  (rate_limited 429, credits_exhausted 402, upstream timeouts 504 and unreachable 502, a
  few bad requests 400), /ping and /key answered locally (no credit), and a few calls
  without a usable key (invalid_key, missing_key 401), counted per minute and client
  address (KeylessCalls) as the proxy counts them, not as rows. Refusals carry the byte size of
  Tollgate's own error body; forwarded calls an upstream latency and a body size typical
  of their endpoint.

How it is fast: calls are drawn from a pool of prebuilt "templates" (key, method, path,
query, status, outcome, credits, overage, latency, bytes), so a call is a timestamp and a
template number. A thread generates chunks (``--chunk`` calls) while the main thread
writes the previous one: on SQLite one ``INSERT ... SELECT`` per chunk from a JSON array of
"timestamp + template number" strings joined to a temporary template table (the DB-API's
per-row parameter binding cost more than SQLite's own work); on PostgreSQL one
``COPY ... FROM STDIN``; SQLite's WAL is checkpointed by a thread of its own meanwhile.
The hour and month counters of a chunk are summed in Python and
added with upserts (``ON CONFLICT ... DO UPDATE``) in the chunk's own transaction, so an
interrupted run leaves a consistent, smaller data set.
"""

import argparse
import json
import math
import queue
import random
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Max

from keys.models import ApiKey
from keys.services import key_create, key_delete
from usage.metering import counters, windows
from usage.metering.checkpoint import Checkpointer
from usage.models import NO_KEY_REF, PLAN_REF, Call, HourUsage, MonthUsage, Outcome
from usage.proxy import local
from usage.proxy.endpoints import endpoint_name
from usage.proxy.errors import refusal
from usage.reports import daycache

MICRO = 1_000_000
HOUR_US = 3600 * MICRO
TEMPLATES_PER_KEY = 2048
NO_KEY_TEMPLATES = 512
POOL_SIZE = 16384
DELETED_KEY_STOPS_AT = 0.7  # of the range
NO_KEY_SHARE = 0.006

# Traffic by UTC hour (Europe's and America's working hours) and by weekday (Monday first).
HOUR_CURVE = (
    0.42, 0.38, 0.35, 0.34, 0.36, 0.42, 0.52, 0.66, 0.82, 0.93, 0.98, 1.00,
    1.00, 1.00, 0.99, 0.97, 0.95, 0.90, 0.82, 0.72, 0.62, 0.55, 0.50, 0.46,
)  # fmt: skip
WEEKDAY = (1.0, 1.02, 1.03, 1.02, 0.97, 0.62, 0.58)

# Endpoint families: (path, query, upstream latency median ms, body bytes median).
ENDPOINTS = {
    "price": [
        ("/simple/price", "ids=bitcoin&vs_currencies=usd", 38, 28),
        ("/simple/price", "ids=bitcoin,ethereum,solana&vs_currencies=usd,eur", 44, 180),
        (
            "/simple/price",
            "ids=bitcoin,ethereum&vs_currencies=usd&include_24hr_change=true"
            "&include_market_cap=true",
            50,
            260,
        ),
    ],
    "markets": [
        (
            "/coins/markets",
            "vs_currency=usd&order=market_cap_desc&per_page=100&page=1",
            160,
            78_000,
        ),
        (
            "/coins/markets",
            "vs_currency=usd&order=market_cap_desc&per_page=250&page=1",
            240,
            195_000,
        ),
        ("/coins/markets", "vs_currency=eur&per_page=100&page=2", 170, 77_000),
    ],
    "coin": [
        (
            "/coins/bitcoin",
            "localization=false&tickers=false&community_data=false&developer_data=false",
            130,
            60_000,
        ),
        (
            "/coins/ethereum",
            "localization=false&tickers=false&community_data=false&developer_data=false",
            130,
            58_000,
        ),
        ("/coins/solana", "", 160, 150_000),
    ],
    "chart": [
        ("/coins/ethereum/market_chart", "vs_currency=usd&days=1", 110, 24_000),
        ("/coins/ethereum/market_chart", "vs_currency=usd&days=30", 140, 52_000),
        ("/coins/bitcoin/market_chart", "vs_currency=usd&days=365", 210, 68_000),
        (
            "/coins/bitcoin/market_chart/range",
            "vs_currency=usd&from=1735689600&to=1738368000",
            190,
            150_000,
        ),
    ],
    "ohlc": [("/coins/bitcoin/ohlc", "vs_currency=usd&days=7", 90, 6_500)],
    "search": [
        ("/search", "query=sol", 80, 9_000),
        ("/search", "query=pepe", 85, 7_500),
        ("/search", "query=arbitrum", 80, 5_000),
    ],
    "trending": [("/search/trending", "", 70, 45_000)],
    "global": [("/global", "", 50, 2_600)],
    "list": [("/coins/list", "include_platform=false", 350, 1_150_000)],
    "categories": [("/coins/categories", "", 120, 160_000)],
    "exchanges": [("/exchanges", "per_page=100&page=1", 150, 60_000)],
    "currencies": [("/simple/supported_vs_currencies", "", 30, 700)],
    "onchain": [
        ("/onchain/networks/eth/pools/0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640", "", 140, 3_500),
        (
            "/onchain/simple/networks/eth/token_price/0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
            "",
            90,
            300,
        ),
    ],
    "ping": [("/ping", "", None, None)],
    "key": [("/key", "", None, None)],
}
LOCAL = ("ping", "key")
PING_BYTES = len(local.PING_BODY)

# Key purposes, cycled: label, share of the traffic in working hours and off them, and
# the endpoint families it calls.
PROFILES = [
    (
        "pricing bot",
        0.34,
        0.40,
        {"price": 78, "markets": 10, "ping": 6, "key": 3, "currencies": 1, "global": 2},
    ),
    (
        "portfolio sync",
        0.20,
        0.22,
        {"markets": 35, "price": 30, "coin": 20, "key": 5, "global": 5, "exchanges": 5},
    ),
    ("charts backend", 0.24, 0.20, {"chart": 55, "ohlc": 15, "coin": 20, "price": 10}),
    (
        "research notebook",
        0.07,
        0.005,
        {
            "search": 25,
            "trending": 10,
            "coin": 20,
            "list": 3,
            "chart": 20,
            "global": 10,
            "categories": 7,
            "onchain": 5,
        },
    ),
    ("alerts worker", 0.15, 0.175, {"price": 55, "global": 10, "ping": 10, "onchain": 25}),
]

# Forwarded calls of a usable key: outcome -> share.
FORWARDED_OUTCOMES = {
    Outcome.OK: 0.952,
    Outcome.UPSTREAM_ERROR: 0.017,
    Outcome.RATE_LIMITED: 0.018,
    Outcome.CREDITS_EXHAUSTED: 0.008,
    Outcome.UPSTREAM_TIMEOUT: 0.0025,
    Outcome.UPSTREAM_UNREACHABLE: 0.0015,
    Outcome.BAD_REQUEST: 0.001,
}
OVERAGE_SHARE = 0.004  # of the ok forwarded calls
UPSTREAM_ERRORS = {404: 40, 429: 20, 500: 20, 503: 15, 400: 5}
UPSTREAM_ERROR_BYTES = {404: 26, 429: 110, 500: 90, 503: 120, 400: 70}
BAD_PATHS = ("/coins/../../admin", "/simple/../../../etc/passwd")
METHODS = {"GET": 0.997, "HEAD": 0.0025, "POST": 0.0005}

CALL_COLUMNS = "key_id, method, path, query, status, outcome, credits, overage, latency_ms, bytes"


def _pick(rng, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class Templates:
    """Every distinct call the seed can make, numbered, and the counters each one moves."""

    def __init__(self, rng: random.Random, keys: list[tuple[int, dict]]):
        self.rng = rng
        self.rows = []  # (key_id, method, path, query, status, outcome, credits, overage, ...)
        self.group = []  # template -> group number
        self.bytes = []  # template -> response bytes
        self.groups = {}  # (key_ref, endpoint, outcome, credits, overage) -> group number
        # Tollgate's own refusals: the status and the exact size of the body it sends.
        self.refusals = {}
        for outcome in (
            Outcome.RATE_LIMITED,
            Outcome.CREDITS_EXHAUSTED,
            Outcome.UPSTREAM_TIMEOUT,
            Outcome.UPSTREAM_UNREACHABLE,
            Outcome.BAD_REQUEST,
            Outcome.INVALID_KEY,
            Outcome.MISSING_KEY,
        ):
            response = refusal(outcome)
            self.refusals[outcome] = (response.status_code, len(response.content))
        self.by_key = {}
        for key_id, families in keys:
            self.by_key[key_id] = [self._keyed(key_id, families) for _ in range(TEMPLATES_PER_KEY)]
        everything = {family: 1 for family in ENDPOINTS}
        self.no_key = [self._no_key(everything) for _ in range(NO_KEY_TEMPLATES)]

    def _add(self, key_id, method, path, query, status, outcome, credits, overage, latency, size):
        self.rows.append(
            (key_id, method, path, query, status, str(outcome), credits, overage, latency, size)
        )
        ref = NO_KEY_REF if key_id is None else key_id
        slot = (ref, endpoint_name(path), str(outcome), credits, int(overage))
        self.group.append(self.groups.setdefault(slot, len(self.groups)))
        self.bytes.append(size)
        return len(self.rows) - 1

    def _refusal(self, key_id, method, path, query, outcome):
        status, size = self.refusals[outcome]
        return self._add(key_id, method, path, query, status, outcome, 0, False, None, size)

    def _no_key(self, families):
        rng = self.rng
        path, query, _, _ = rng.choice(ENDPOINTS[_pick(rng, families)])
        outcome = Outcome.INVALID_KEY if rng.random() < 0.75 else Outcome.MISSING_KEY
        return self._refusal(None, "GET", path, query, outcome)

    def _keyed(self, key_id, families):
        rng = self.rng
        family = _pick(rng, families)
        path, query, latency_ms, size = rng.choice(ENDPOINTS[family])
        method = _pick(rng, METHODS)
        if family in LOCAL and method in ("GET", "HEAD"):
            # Answered by Tollgate itself: no credit, no upstream latency; counts per minute.
            if rng.random() < 0.015:
                return self._refusal(key_id, method, path, query, Outcome.RATE_LIMITED)
            body = PING_BYTES if family == "ping" else rng.randint(318, 340)
            return self._add(key_id, method, path, query, 200, Outcome.OK, 0, False, None, body)
        # Forwarded. The upstream answers a POST (or POST /ping, /key) with 404.
        wrong_method = method == "POST"
        outcome = _pick(rng, FORWARDED_OUTCOMES)
        if outcome == Outcome.OK and wrong_method:
            outcome = Outcome.UPSTREAM_ERROR
        if outcome == Outcome.BAD_REQUEST:
            path, query = rng.choice(BAD_PATHS), ""
        if outcome in self.refusals:
            return self._refusal(key_id, method, path, query, outcome)
        latency_ms = latency_ms or 60
        if outcome == Outcome.UPSTREAM_ERROR:
            status = 404 if wrong_method else _pick(rng, UPSTREAM_ERRORS)
            latency = round(rng.lognormvariate(math.log(latency_ms * 0.6), 0.5), 2)
            body = 0 if method == "HEAD" else UPSTREAM_ERROR_BYTES[status]
            return self._add(key_id, method, path, query, status, outcome, 0, False, latency, body)
        latency = round(rng.lognormvariate(math.log(latency_ms), 0.45), 2)
        body = 0 if method == "HEAD" else max(2, int(size * rng.uniform(0.93, 1.07)))
        overage = rng.random() < OVERAGE_SHARE  # past the credits with overage on: no credit
        credits = 0 if overage else 1
        return self._add(key_id, method, path, query, 200, outcome, credits, overage, latency, body)


class Schedule:
    """How many calls fall in each UTC hour of the range: exactly ``calls`` in all."""

    def __init__(self, rng: random.Random, start: datetime, now: datetime, calls: int):
        first = windows.hour_start(start)
        span = (now - start).total_seconds() or 1.0
        day_factor = {}
        hours = []  # (hour start, lo µs, hi µs, weight)
        hour = first
        while hour <= now:
            lo = max(0, _micros(start - hour))
            hi = min(HOUR_US, _micros(now - hour))
            if hi > lo:
                day = hour.date()
                if day not in day_factor:
                    factor = rng.lognormvariate(0, 0.12)
                    if rng.random() < 0.04:  # a market event: everyone polls harder
                        factor *= rng.uniform(1.4, 2.4)
                    day_factor[day] = factor * WEEKDAY[day.weekday()]
                trend = 0.65 + 0.35 * max(0.0, (hour - start).total_seconds()) / span
                weight = (
                    HOUR_CURVE[hour.hour]
                    * day_factor[day]
                    * trend
                    * rng.lognormvariate(0, 0.1)
                    * (hi - lo)
                    / HOUR_US
                )
                hours.append((hour, lo, hi, weight))
            hour += timedelta(hours=1)
        total = sum(h[3] for h in hours) or 1.0
        expected = [calls * h[3] / total for h in hours]
        counts = [int(e) for e in expected]
        missing = calls - sum(counts)
        if missing and hours:
            for i in rng.choices(range(len(hours)), weights=[e % 1 for e in expected], k=missing):
                counts[i] += 1
        self.hours = [(*h[:3], n) for h, n in zip(hours, counts, strict=True) if n]


def _micros(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * MICRO + delta.microseconds


class Chunk:
    __slots__ = ("calls", "payload", "hours", "months")

    def __init__(self, calls, payload, hours, months):
        self.calls = calls
        self.payload = payload  # SQLite: a JSON array; PostgreSQL: COPY text
        # (key_ref, hour, endpoint, outcome, calls, credits, overage, bytes) rows: SQLite, a
        # JSON array of them; PostgreSQL, COPY text
        self.hours = hours
        self.months = months  # [(key_ref, month, credits, overage)]


class Generator:
    """Turns the schedule into chunks of calls and their counters, in time order."""

    def __init__(self, *, templates, schedule, pools, cutoff, vendor, chunk_size, rng):
        self.t = templates
        self.schedule = schedule
        self.pools = pools  # (working hours?, before the deleted key stopped?) -> [template]
        self.cutoff = cutoff
        self.vendor = vendor
        self.chunk_size = chunk_size
        self.rng = rng
        if vendor == "postgresql":
            self.text = ["\t".join(_copy_text(v) for v in row) for row in templates.rows]
        slots = sorted(templates.groups, key=templates.groups.get)
        self.g_ref = [s[0] for s in slots]
        self.g_endpoint = [s[1] for s in slots]
        self.g_outcome = [s[2] for s in slots]
        self.g_credits = [s[3] for s in slots]
        self.g_overage = [s[4] for s in slots]

    def chunks(self, stop: threading.Event):
        t, rnd = self.t, self.rng.random
        tgroup, tbytes = t.group, t.bytes
        g_ref, g_end, g_out = self.g_ref, self.g_endpoint, self.g_outcome
        g_cr, g_ov = self.g_credits, self.g_overage
        mmss = [f"{i // 60:02d}:{i % 60:02d}." for i in range(3600)]
        pg = self.vendor == "postgresql"
        # A call: PostgreSQL, a COPY line; SQLite, a JSON string "time" + "template number".
        if pg:
            line, tail, joiner = "%s%s%06d+00\t%s\n", self.text, ""
        else:
            line, tail, joiner = "%s%s%06d%s", [str(i) for i in range(len(t.rows))], '","'
        pieces, hours, months, n = [], [], {}, 0
        for hour, lo, hi, count in self.schedule.hours:
            if stop.is_set():
                return
            prefix = hour.strftime("%Y-%m-%d %H:")
            hour_param = hour.strftime("%Y-%m-%d %H:00:00") + ("+00" if pg else "")
            month = hour.strftime("%Y-%m-01")
            working = hour.weekday() < 5 and 8 <= hour.hour < 18
            pool = self.pools[(working, hour < self.cutoff)]
            size = len(pool)
            span = hi - lo
            # Odd microseconds: never .000000, which Django would store without a fraction.
            offsets = [(lo + int(rnd() * span)) | 1 for _ in range(count)]
            offsets.sort()
            for begin in range(0, count, self.chunk_size):
                part = offsets[begin : begin + self.chunk_size]
                tids = [pool[int(rnd() * size)] for _ in part]
                # %-formatting: a third faster than f-strings, and this runs once a call.
                pieces.append(
                    joiner.join(
                        [
                            line % (prefix, mmss[o // MICRO], o % MICRO, tail[i])
                            for o, i in zip(part, tids, strict=True)
                        ]
                    )
                )
                calls = Counter([tgroup[i] for i in tids])
                size_of = dict.fromkeys(calls, 0)
                for i in tids:
                    size_of[tgroup[i]] += tbytes[i]
                merged = {}
                for g, c in calls.items():
                    slot = (g_ref[g], g_end[g], g_out[g])
                    row = merged.get(slot)
                    if row is None:
                        merged[slot] = [c, c * g_cr[g], c * g_ov[g], size_of[g]]
                    else:
                        row[0] += c
                        row[1] += c * g_cr[g]
                        row[2] += c * g_ov[g]
                        row[3] += size_of[g]
                    if g_cr[g] or g_ov[g]:
                        for ref in (g_ref[g], PLAN_REF):
                            m = months.setdefault((ref, month), [0, 0])
                            m[0] += c * g_cr[g]
                            m[1] += c * g_ov[g]
                hours.extend((s[0], hour_param, s[1], s[2], *v) for s, v in merged.items())
                n += len(part)
                if n >= self.chunk_size:
                    yield self._chunk(n, pieces, hours, months)
                    pieces, hours, months, n = [], [], {}, 0
        if n:
            yield self._chunk(n, pieces, hours, months)

    def _chunk(self, n, pieces, hours, months):
        # Serialised here, so the writing thread runs one statement per table and chunk.
        months = [(*slot, *sums) for slot, sums in months.items()]
        if self.vendor == "postgresql":
            hours = "".join(["\t".join([_copy_text(v) for v in row]) + "\n" for row in hours])
            return Chunk(n, "".join(pieces), hours, months)
        return Chunk(n, '["' + '","'.join(pieces) + '"]', json.dumps(hours), months)


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(raw, escaped)
    return text


def _add_months(cur, months, placeholder: str, batch: int = 500):
    """Add the month counters, a few hundred rows per statement."""
    for begin in range(0, len(months), batch):
        part = months[begin : begin + batch]
        cur.execute(
            counters.add_months(len(part), placeholder),
            [value for values in part for value in values],
        )


class SqliteWriter:
    """One statement per table and chunk: per-row statements would each wait for the GIL."""

    TEMPLATES = "temp.tollgate_seed_template"

    def __init__(self, templates):
        self.cur = cur = connection.connection.cursor()
        self.saved = {
            name: cur.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("cache_size", "wal_autocheckpoint")
        }
        cur.execute("PRAGMA cache_size = -65536")  # 64 MB: a chunk's pages stay in memory
        cur.execute(f"DROP TABLE IF EXISTS {self.TEMPLATES}")
        cur.execute(f"CREATE TABLE {self.TEMPLATES} (id INTEGER PRIMARY KEY, {CALL_COLUMNS})")
        cur.executemany(
            f"INSERT INTO {self.TEMPLATES} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            [(i, *row) for i, row in enumerate(templates.rows)],
        )
        # Each JSON string is the call's time (26 characters) followed by its template.
        columns = ", ".join(f"t.{name.strip()}" for name in CALL_COLUMNS.split(","))
        self.insert = (
            f"INSERT INTO usage_call (at, {CALL_COLUMNS}) "  # noqa: S608
            f"SELECT substr(j.value, 1, 26), {columns} "
            f"FROM json_each(?) AS j CROSS JOIN {self.TEMPLATES} AS t "
            "WHERE t.id = CAST(substr(j.value, 27) AS INTEGER)"
        )
        fields = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(8))
        source = f"SELECT {fields} FROM json_each(?) WHERE true"  # noqa: S608
        self.hour_upsert = counters.add_hours(source)
        self.checkpointer = None
        wal = cur.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        if wal and not connection.is_in_memory_db():
            # The WAL is copied into the database by a thread with a connection of its own,
            # on the other core, while this one writes the next chunk.
            cur.execute("PRAGMA wal_autocheckpoint = 0")
            self.checkpointer = Checkpointer(str(connection.settings_dict["NAME"]), 0.25)

    def write(self, chunk: Chunk):
        cur = self.cur
        cur.execute(self.insert, [chunk.payload])
        if cur.rowcount != chunk.calls:
            raise CommandError(f"inserted {cur.rowcount} calls instead of {chunk.calls}")
        cur.execute(self.hour_upsert, [chunk.hours])
        _add_months(cur, chunk.months, "?")

    def close(self):
        try:
            cur = self.cur
            cur.execute(f"DROP TABLE IF EXISTS {self.TEMPLATES}")
            for name, value in self.saved.items():
                cur.execute(f"PRAGMA {name} = {int(value)}")
            cur.close()
        finally:
            if self.checkpointer is not None:
                self.checkpointer.stop()


class PostgresWriter:
    """COPY for the calls; the hour counters COPY into a temporary table, then one upsert."""

    HOURS = "tollgate_seed_hour"

    def __init__(self, templates):
        self.cur = connection.connection.cursor()
        self.cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {self.HOURS} (key_ref bigint, "
            "hour timestamptz, endpoint varchar(100), outcome varchar(24), calls integer, "
            "credits integer, overage_calls integer, bytes bigint)"
        )
        source = f"SELECT {counters.HOUR_COLUMNS} FROM {self.HOURS}"  # noqa: S608
        self.hour_upsert = counters.add_hours(source)

    def write(self, chunk: Chunk):
        cur = self.cur
        with cur.copy(f"COPY usage_call (at, {CALL_COLUMNS}) FROM STDIN") as copy:
            copy.write(chunk.payload)
        with cur.copy(f"COPY {self.HOURS} FROM STDIN") as copy:
            copy.write(chunk.hours)
        cur.execute(self.hour_upsert)
        cur.execute(f"DELETE FROM {self.HOURS}")  # noqa: S608
        _add_months(cur, chunk.months, "%s")

    def close(self):
        self.cur.execute(f"DROP TABLE IF EXISTS {self.HOURS}")
        self.cur.close()


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _not_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


_positive.__name__ = "positive integer"
_not_negative.__name__ = "non-negative integer"


class Command(BaseCommand):
    help = "Fill the usage log and its counters with realistic calls (demos, benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--calls", type=_not_negative, required=True, help="calls to add")
        parser.add_argument(
            "--days", type=_positive, required=True, help="spread over the last D days (UTC)"
        )
        parser.add_argument("--keys", type=_positive, default=5, help="keys (default 5)")
        parser.add_argument("--owner", default="seed", help='their owner (default "seed")')
        parser.add_argument("--seed", type=int, default=None, help="random seed")
        parser.add_argument("--chunk", type=_positive, default=50_000, help=argparse.SUPPRESS)

    def handle(self, *args, calls, days, keys, owner, seed, chunk, **options):
        if connection.vendor not in ("sqlite", "postgresql"):
            raise CommandError(f"seedusage supports SQLite and PostgreSQL, not {connection.vendor}")
        began = time.perf_counter()
        rng = random.Random(seed)
        now = windows.utc_now()
        start = now - timedelta(days=days)
        user = self._owner(owner)
        seeded = self._keys(user, keys, start)
        # The deleted key's calls stop before it was deleted (by this run or an earlier one).
        stops = start + (now - start) * DELETED_KEY_STOPS_AT if keys > 1 else now
        cutoff = windows.hour_start(min(stops, seeded[-1].deleted_at))

        templates = Templates(
            rng, [(key.pk, PROFILES[i % len(PROFILES)][3]) for i, key in enumerate(seeded)]
        )
        pools = {}
        for working in (True, False):
            for before in (True, False):
                pools[(working, before)] = self._pool(
                    rng, templates, seeded, working=working, deleted_active=before
                )
        schedule = Schedule(rng, start, now, calls)
        generator = Generator(
            templates=templates,
            schedule=schedule,
            pools=pools,
            cutoff=cutoff,
            vendor=connection.vendor,
            chunk_size=chunk,
            rng=rng,
        )
        first_id = Call.objects.aggregate(last=Max("id"))["last"] or 0
        inserted = self._write(generator, templates)
        keyless = self._fold_keyless(first_id)
        # Past days' counters changed: their cached sums are stale.
        daycache.forget()
        self._touch_keys(seeded)
        elapsed = time.perf_counter() - began
        rate = inserted / elapsed if elapsed > 0 else 0.0
        self.stdout.write(
            f"seedusage: {inserted} calls inserted in {elapsed:.2f} s ({rate:,.0f} calls/s; "
            f"{keyless} of them without a valid key, counted per minute and address), "
            f"{start:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC, {len(seeded)} keys of "
            f"{user.get_username()!r} (1 deleted), {connection.vendor}; now "
            f"{HourUsage.objects.count()} hour counters, "
            f"{MonthUsage.objects.count()} month counters"
        )

    def _fold_keyless(self, first_id: int) -> int:
        """Calls without a valid key, as the proxy counts them: per minute, address (a few
        documentation addresses) and outcome in KeylessCalls, no row of their own."""
        if connection.vendor == "postgresql":
            minute = "CAST(floor(extract(epoch FROM at) / 60) AS bigint)"
        else:
            minute = "CAST(strftime('%%s', at) AS INTEGER) / 60"
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "INSERT INTO usage_keylesscalls (minute, address, outcome, calls, bytes) "  # noqa: S608
                f"SELECT {minute}, '203.0.113.' || (id %% 5 + 1), outcome, COUNT(*), SUM(bytes) "
                "FROM usage_call WHERE key_id IS NULL AND id > %s GROUP BY 1, 2, 3 "
                "ON CONFLICT (minute, address, outcome) DO UPDATE SET "
                "calls = usage_keylesscalls.calls + excluded.calls, "
                "bytes = usage_keylesscalls.bytes + excluded.bytes",
                [first_id],
            )
            cur.execute("DELETE FROM usage_call WHERE key_id IS NULL AND id > %s", [first_id])
            return cur.rowcount

    # --- setup ---

    def _owner(self, username):
        users = get_user_model()
        user = users.objects.filter(**{users.USERNAME_FIELD: username}).first()
        if user is None:
            user = users.objects.create_user(username)  # no usable password: log in as staff
            self.stdout.write(f"seedusage: created user {username!r}")
        return user

    def _keys(self, user, count, start) -> list[ApiKey]:
        """The seed keys, reused by label; the last one is (or is now) soft-deleted."""
        seeded = []
        for i in range(count):
            label = f"seed {PROFILES[i % len(PROFILES)][0]} {i + 1}"
            mine = ApiKey.objects.filter(owner=user, label=label)
            last = i == count - 1
            key = mine.filter(deleted_at__isnull=True).first()
            if key is None and last:
                key = mine.order_by("-deleted_at", "-id").first()
            if key is None:
                key, _ = key_create(owner=user, label=label)
            if last and key.is_active:
                key_delete(key=key)
            seeded.append(key)
        # Keys that existed before their first call: created a day before the range.
        ApiKey.objects.filter(pk__in=[k.pk for k in seeded], created_at__gt=start).update(
            created_at=start - timedelta(days=1)
        )
        return seeded

    def _pool(self, rng, templates, seeded, *, working, deleted_active) -> list[int]:
        """Template numbers to draw from, in the proportions of this kind of hour."""
        weights = []
        lists = []
        for i, key in enumerate(seeded):
            _, work_share, off_share, _ = PROFILES[i % len(PROFILES)]
            share = work_share if working else off_share
            if key.deleted_at is not None and not deleted_active:
                share = 0.0
            weights.append(share)
            lists.append(templates.by_key[key.pk])
        total = sum(weights)
        pool = []
        if total > 0:
            for share, items in zip(weights, lists, strict=True):
                pool.extend(
                    rng.choices(items, k=round(POOL_SIZE * (1 - NO_KEY_SHARE) * share / total))
                )
        pool.extend(rng.choices(templates.no_key, k=max(1, round(POOL_SIZE * NO_KEY_SHARE))))
        return pool

    # --- writing ---

    def _write(self, generator, templates) -> int:
        """Generate in a thread, write here: SQLite and the network run without the GIL."""
        chunks = queue.Queue(maxsize=2)
        stop = threading.Event()
        done = object()

        def produce():
            try:
                for item in generator.chunks(stop):
                    while not stop.is_set():
                        try:
                            chunks.put(item, timeout=0.5)
                            break
                        except queue.Full:
                            continue
            except BaseException as exc:  # noqa: BLE001 - handed over to the main thread
                chunks.put(exc)
                return
            chunks.put(done)

        worker = threading.Thread(target=produce, name="seedusage-generator", daemon=True)
        inserted = 0
        writer = (
            SqliteWriter(templates) if connection.vendor == "sqlite" else PostgresWriter(templates)
        )
        try:
            worker.start()
            while True:
                item = chunks.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                with transaction.atomic():
                    writer.write(item)
                inserted += item.calls
        finally:
            stop.set()
            while worker.is_alive():
                try:
                    chunks.get(timeout=0.1)
                except queue.Empty:
                    pass
            writer.close()
        return inserted

    def _touch_keys(self, seeded):
        """What record() leaves on a key: last_used_at is the time of its latest call."""
        latest = dict(
            Call.objects.filter(key_id__in=[k.pk for k in seeded])
            .values("key_id")
            .annotate(last=Max("at"))
            .values_list("key_id", "last")
        )
        for key in seeded:
            last = latest.get(key.pk)
            if last is not None:
                ApiKey.objects.filter(pk=key.pk).exclude(last_used_at__gte=last).update(
                    last_used_at=last
                )
