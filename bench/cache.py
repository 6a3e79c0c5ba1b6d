"""The credit saver, measured: what a dashboard-like team spends with the cache on.

    make bench-cache DURATION=60     # or: bench/cache.py --duration 60 --clients 64

Tollgate runs with ``make run``'s settings on a throwaway database, the response cache on
(its default times), in front of the simulated upstream answering in 100 ms. In one run:

1. CLIENTS clients poll a skewed mix of 30 questions (prices, markets pages, coins,
   charts, /global; the most asked ten times the tenth) for DURATION s, each pausing
   0.25 s between calls. Printed: client calls, upstream calls, credits spent, the share
   saved, and the most upstream calls any one question made within one of its TTLs
   (target: at most 1);
2. with the upstream answering at once, one keep-alive connection calls a cached question
   (hits) and then the same question with ``Cache-Control: no-cache`` (each goes upstream),
   and the upstream directly: the rate and the latency Tollgate adds, for both (target:
   hits at least as fast as uncached calls).

It prints figures beside the targets and never fails on a missed target. With
DATABASE_URL and REDIS_URL set it runs on them (the cache then lives in Redis).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import HOST, Harness, free_port, print_figures  # noqa: E402

TEAM_KEY = "CG-bench-cache-team-key"
COINS = ["bitcoin", "ethereum", "tether", "solana", "ripple", "dogecoin"]
COINS += ["cardano", "tron", "chainlink", "polkadot", "litecoin", "sui"]
QUESTIONS = (
    [(f"/api/v3/simple/price?ids={coin}&vs_currencies=usd", 20) for coin in COINS]
    + [(f"/api/v3/coins/markets?vs_currency=usd&page={page}", 45) for page in range(1, 11)]
    + [("/api/v3/coins/bitcoin", 60), ("/api/v3/coins/ethereum", 60)]
    + [
        (f"/api/v3/coins/bitcoin/market_chart?vs_currency=usd&days={days}", 30)
        for days in (1, 7, 14, 30, 90)
    ]
    + [("/api/v3/global", 600)]
)
PAUSE = 0.25
UPSTREAM_DELAY = 0.1
HIT = QUESTIONS[0][0]


def poll(port: int, key: str, seconds: float, clients: int, queue) -> None:
    """``clients`` threads asking the skewed mix until time is up; puts (calls, failures)."""
    rng = random.Random(7)
    order = QUESTIONS[:]
    rng.shuffle(order)
    weights = [1 / rank for rank in range(1, len(order) + 1)]  # Zipf-like skew
    until = time.monotonic() + seconds
    totals = []

    def client(seed: int) -> None:
        pick = random.Random(seed)
        conn, calls, failed = http.client.HTTPConnection(HOST, port, timeout=30), 0, 0
        while time.monotonic() < until:
            path = pick.choices(order, weights)[0][0]
            try:
                conn.request("GET", path, headers={"x-cg-pro-api-key": key})
                response = conn.getresponse()
                response.read()
                calls += 1
                failed += response.status != 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=30)
                failed += 1
            time.sleep(PAUSE)
        totals.append((calls, failed))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put((sum(c for c, _ in totals), sum(f for _, f in totals)))


def latencies(port: int, path: str, headers: dict, seconds: float) -> tuple[float, list]:
    """One keep-alive connection calling ``path`` back to back: (calls/s, sorted ms)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    times = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        conn.getresponse().read()
        times.append((time.perf_counter() - started) * 1000)
    conn.close()
    return len(times) / seconds, sorted(times)


def pct(times: list, q: float) -> float:
    return times[min(len(times) - 1, int(len(times) * q))]


def most_in_one_ttl(requests: list[dict]) -> tuple[int, str]:
    """The most upstream calls one question made within any span of its TTL."""
    ttl_of = {path: ttl for path, ttl in QUESTIONS}
    times = defaultdict(list)
    for request in requests:
        question = request["path"] + ("?" + request["query"] if request["query"] else "")
        times[question].append(request["time"])
    worst, which = 0, ""
    for question, moments in times.items():
        ttl = ttl_of.get(question)
        if ttl is None:
            continue
        moments.sort()
        start = 0
        for end, moment in enumerate(moments):
            while moment - moments[start] >= ttl:
                start += 1
            if end - start + 1 > worst:
                worst, which = end - start + 1, question
    return worst, which


class CacheBench(Harness):
    def __init__(self, duration: float, clients: int):
        tmp = Path(tempfile.mkdtemp(prefix="tollgate-cache-"))
        super().__init__(tmp, dict(os.environ))
        self.duration, self.clients = duration, clients
        self.port, self.sim_port = free_port(), free_port()
        self.env.update(
            DATA_DIR=str(tmp / "data"),
            HOST=HOST,
            PORT=str(self.port),
            UPSTREAM_URL=f"http://{HOST}:{self.sim_port}/api/v3",
            UPSTREAM_API_KEY=TEAM_KEY,
            # A Redis key space of this run's own: no copy left by an earlier run answers.
            REDIS_PREFIX=f"tollgate-bench-cache-{os.getpid()}-{time.time():.0f}",
        )
        self.rows: list[tuple[str, str, str]] = []

    def sim(self, method: str, path: str, body: dict | None = None):
        conn = http.client.HTTPConnection(HOST, self.sim_port, timeout=30)
        conn.request(method, path, body=json.dumps(body) if body is not None else None)
        answer = json.loads(conn.getresponse().read())
        conn.close()
        return answer

    def start(self) -> None:
        self.key, _ = self.start_behind_upstream(
            port=self.port, sim_port=self.sim_port, team_key=TEAM_KEY, user="cache"
        )
        self.manage("setplan", "--cache", "on")

    def ledger(self) -> tuple[int, int, int]:
        """(credits used by the plan, calls answered from the cache, usage rows)."""
        return tuple(
            int(figure)
            for figure in self.shell(
                "from django.db.models import Sum\n"
                "from usage.models import Call, MonthUsage, BUCKETS, Bucket\n"
                "used = MonthUsage.objects.filter(key_ref=0).aggregate(s=Sum('credits_used'))\n"
                "saved = sum(1 for o in Call.objects.values_list('outcome', flat=True) "
                "if BUCKETS[o] == Bucket.SAVED)\n"
                "print('=', used['s'] or 0, saved, Call.objects.count())"
            ).split()
        )

    def workload(self) -> None:
        before = self.ledger()  # a PostgreSQL database may hold earlier runs' calls
        self.sim("POST", "/__sim/reset")
        self.sim("POST", "/__sim/config", {"delay": UPSTREAM_DELAY})
        print(f"1. {self.clients} clients polling 30 questions for {self.duration:g} s", flush=True)
        queue = multiprocessing.Queue()
        args = (self.port, self.key, self.duration, self.clients, queue)
        load = multiprocessing.Process(target=poll, args=args)
        load.start()
        calls, failed = queue.get()
        load.join()
        upstream = self.sim("GET", "/__sim/stats")["count"]
        requests = self.sim("GET", "/__sim/requests")
        credits, saved, rows = (a - b for a, b in zip(self.ledger(), before, strict=True))
        worst, which = most_in_one_ttl(requests)
        share = saved / max(rows, 1) * 100
        self.rows += [
            ("client calls", f"{calls:,} ({failed} not 200)", "(reference)"),
            ("upstream calls", f"{upstream:,}", "(reference)"),
            ("credits spent", f"{credits:,}", "= upstream 2xx answers"),
            ("usage rows", f"{rows:,}", f"= client calls ({calls:,})"),
            ("saved share", f"{share:.1f} %", "(reference)"),
            ("most upstream calls, one question, one TTL", f"{worst} ({which[8:40]})", "<= 1"),
        ]

    def hit_path(self) -> None:
        self.sim("POST", "/__sim/config", {"delay": 0})
        print("2. hits against uncached calls, upstream answering at once", flush=True)
        headers = {"x-cg-pro-api-key": self.key}
        seconds = 5.0
        direct_rate, direct = latencies(self.sim_port, HIT, {"x-cg-pro-api-key": TEAM_KEY}, seconds)
        hit_rate, hits = latencies(self.port, HIT, headers, seconds)
        fresh = {**headers, "Cache-Control": "no-cache"}
        miss_rate, misses = latencies(self.port, HIT, fresh, seconds)
        base = pct(direct, 0.5)
        self.rows += [
            ("upstream direct, 1 connection", f"{direct_rate:,.0f}/s p50 {base:.2f} ms", "(ref)"),
            ("hits, 1 connection", f"{hit_rate:,.0f}/s", f">= uncached ({miss_rate:,.0f}/s)"),
            ("uncached calls, 1 connection", f"{miss_rate:,.0f}/s", "(reference)"),
            (
                "hit: total p50 / p99",
                f"{pct(hits, 0.5):.2f} / {pct(hits, 0.99):.2f} ms",
                "<= uncached added",
            ),
            (
                "uncached: added p50 / p99",
                f"{pct(misses, 0.5) - base:.2f} / {pct(misses, 0.99) - base:.2f} ms",
                "(reference)",
            ),
        ]

    def report(self) -> None:
        database = "PostgreSQL + Redis" if self.env.get("REDIS_URL") else "SQLite, cache file"
        print_figures(f"Response cache ({database}), {self.clients} clients", self.rows, 44)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=float(os.environ.get("DURATION", 60)))
    parser.add_argument("--clients", type=int, default=int(os.environ.get("CLIENTS", 64)))
    args = parser.parse_args()
    bench = CacheBench(args.duration, args.clients)
    return bench.run_steps("bench-cache", bench.start, bench.workload, bench.hit_path, bench.report)


if __name__ == "__main__":
    sys.exit(main())
