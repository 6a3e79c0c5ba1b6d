"""``make demo``: Tollgate in front of the simulated CoinGecko upstream, with demo data.

Run through ``make demo`` (which migrates and collects static files first, like
``make run``). This script then:

- makes sure an admin exists (``ensureadmin``), creates a ``demo`` user if there is none
  and issues its demo keys ("pricing bot", "dashboard", "notebook"). A raw key is shown
  only once and never stored, so the demo keys are re-issued on every run: the previous
  run's keys are deleted (soft delete: their usage stays in the reports);
- starts the simulated upstream (``python -m devtools.simulator``) on a free loopback port
  and points Tollgate at it (UPSTREAM_URL, UPSTREAM_API_KEY), so no call reaches the real
  CoinGecko API;
- serves Tollgate with gunicorn on PORT (default 8000) exactly as ``make run`` does, and
  once it answers sends a few dozen calls through it in the background;
- stops both servers on Ctrl-C.

Data goes to the normal data directory (./data) unless DATA_DIR is set.
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).parent / "gunicorn")
LOOPBACK = "127.0.0.1"
KEY_HEADER = "x-cg-pro-api-key"
LABELS = ("pricing bot", "dashboard", "notebook")

# (path, which key: an index into the demo keys, "bad" or "none"), sent in this order.
TRAFFIC = [
    ("/api/v3/ping", 0),
    ("/api/v3/key", 0),
    *[("/api/v3/simple/price?ids=bitcoin&vs_currencies=usd", 0)] * 8,
    ("/api/v3/simple/price?ids=bitcoin,ethereum&vs_currencies=usd,eur", 0),
    ("/api/v3/ping", 1),
    *[("/api/v3/coins/markets?vs_currency=usd&per_page=10", 1)] * 5,
    ("/api/v3/global", 1),
    ("/api/v3/search?query=eth", 1),
    ("/api/v3/key", 1),
    ("/api/v3/ping", 2),
    *[("/api/v3/search?query=bitcoin", 2)] * 3,
    *[("/api/v3/global", 2)] * 3,
    ("/api/v3/coins/bitcoin", 2),
    ("/api/v3/coins/ethereum/market_chart?vs_currency=usd&days=1", 2),
    ("/api/v3/coins/not-a-coin", 2),  # upstream answers 404: logged as an upstream error
    ("/api/v3/key", 2),
    ("/api/v3/simple/price?ids=bitcoin&vs_currencies=usd", "bad"),  # refused: invalid key
    ("/api/v3/ping", "none"),  # refused: missing key
]

SETUP = """
import secrets
from django.contrib.auth import get_user_model
from keys.models import ApiKey
from keys.services import key_create, keys_delete

User = get_user_model()
user = User.objects.filter(username="demo").first()
if user is None:
    password = secrets.token_urlsafe(12)
    user = User.objects.create_user(username="demo", password=password)
    print("=password", password)
for label in LABELS:
    keys_delete(queryset=ApiKey.objects.filter(owner=user, label__iexact=label))
    _key, raw = key_create(owner=user, label=label, rate_limit=None, monthly_credits=None)
    print("=key", raw)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _manage(env, *argv) -> str:
    done = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [PYTHON, "manage.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"demo: manage.py {argv[0]} failed")
    return done.stdout


def _get(port, path, headers, timeout=5.0) -> int:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _wait_until_up(port, path, headers, proc, seconds) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if _get(port, path, headers, timeout=2) == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _traffic(port, keys, banner, tollgate):
    """Wait for Tollgate, print the banner, then send the demo calls (background thread)."""
    if not _wait_until_up(port, "/accounts/login/", {}, tollgate, 60):
        if tollgate.poll() is None:
            print("demo: Tollgate did not answer within 60 s; no demo traffic sent", flush=True)
        return
    print(banner, flush=True)
    statuses: dict[int, int] = {}
    failed = 0
    for path, which in TRAFFIC:
        if which == "none":
            headers = {}
        elif which == "bad":
            headers = {KEY_HEADER: "tg_" + secrets.token_hex(20)}
        else:
            headers = {KEY_HEADER: keys[which]}
        try:
            status = _get(port, path, headers)
            statuses[status] = statuses.get(status, 0) + 1
        except OSError:
            failed += 1
        time.sleep(0.05)
    summary = ", ".join(f"{n} x {status}" for status, n in sorted(statuses.items()))
    # In the console's words: requests made with a demo key are its "requests"; the rest
    # had no valid key and are counted apart ("refused without a valid key").
    keyless = sum(1 for _, which in TRAFFIC if which in ("none", "bad"))
    print(
        f"\n  demo traffic sent: {len(TRAFFIC)} requests through Tollgate ({summary}"
        f"{f', {failed} failed' if failed else ''}): {len(TRAFFIC) - keyless} with a demo "
        f"key (the console's requests), {keyless} without a valid key (counted apart). "
        "See them in the console.\n",
        flush=True,
    )


def main() -> int:
    env = dict(os.environ)
    port = env.get("PORT") or "8000"
    host = env.get("HOST") or LOOPBACK
    env["PORT"] = port
    sim_port = _free_port()
    team_key = "sim-" + secrets.token_hex(16)
    env["UPSTREAM_URL"] = f"http://{LOOPBACK}:{sim_port}/api/v3"
    env["UPSTREAM_API_KEY"] = team_key
    env.pop("UPSTREAM_KEY_HEADER", None)  # the simulator checks x-cg-pro-api-key

    try:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
            s.bind((host, int(port)))
    except (OSError, ValueError) as exc:
        raise SystemExit(
            f"demo: cannot serve on {host}:{port} ({exc}); try PORT=8001 make demo"
        ) from None

    admin = _manage(env, "ensureadmin").strip("\n")
    out = _manage(env, "shell", "--no-imports", "-v", "0", "-c", f"LABELS = {LABELS!r}\n{SETUP}")
    keys, password = [], None
    for line in out.splitlines():
        if line.startswith("=key "):
            keys.append(line.split(" ", 1)[1])
        elif line.startswith("=password "):
            password = line.split(" ", 1)[1]

    if len(keys) != len(LABELS):
        sys.stderr.write(out)
        raise SystemExit("demo: could not issue the demo keys")
    url = f"http://{LOOPBACK}:{port}/"
    demo_login = (
        f"    demo user: demo / {password}  (shown only now: it was just created)"
        if password
        else "    demo user: demo (password as shown when the demo first ran; "
        "reset: .venv/bin/python manage.py changepassword demo)"
    )
    banner = "\n".join(
        [
            "",
            "=" * 78,
            f"  Tollgate demo: {url}",
            f"  Upstream: SIMULATED CoinGecko on {LOOPBACK}:{sim_port}"
            " (python -m devtools.simulator): no call reaches the real API.",
            "",
            *("  " + line.strip() for line in admin.splitlines() if line.strip()),
            demo_login,
            "",
            "  Demo keys of user demo (re-issued each run; the last run's are deleted):",
            *(f"    {label:<12} {key}" for label, key in zip(LABELS, keys, strict=True)),
            f'  Try: curl -H "{KEY_HEADER}: {keys[0]}" \\',
            f'         "{url}api/v3/simple/price?ids=bitcoin&vs_currencies=usd"',
            "",
            "  Ctrl-C stops Tollgate and the simulated upstream.",
            "=" * 78,
        ]
    )

    def _on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_term)
    children: list[subprocess.Popen] = []
    try:
        sim = subprocess.Popen(  # noqa: S603
            [
                PYTHON,
                "-m",
                "devtools.simulator",
                "--host",
                LOOPBACK,
                "--port",
                str(sim_port),
                "--api-key",
                team_key,
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        children.append(sim)
        if not _wait_until_up(sim_port, "/api/v3/ping", {KEY_HEADER: team_key}, sim, 15):
            raise SystemExit("demo: the simulated upstream did not start")
        # Same command as `make run`; its log (access lines included) goes to this terminal.
        tollgate = subprocess.Popen(  # noqa: S603
            [GUNICORN, "-c", "python:dashboard.gunicorn_conf", "dashboard.wsgi"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        children.append(tollgate)
        threading.Thread(
            target=_traffic, args=(int(port), keys, banner, tollgate), daemon=True
        ).start()
        return tollgate.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # On Ctrl-C both children got SIGINT from the terminal already; SIGTERM covers a
        # `kill` of this script and a child that is still running for any other reason.
        for proc in reversed(children):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(children):
            try:
                proc.wait(25)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        print("demo: Tollgate and the simulated upstream stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
