"""deploy/nginx/tollgate.conf in front of a real Tollgate (gunicorn) and the simulated
upstream: TLS ends at nginx, and proxied calls, the console's login with CSRF, the client's
real address and a large streamed answer all come through.

The site file is used as shipped; only what a host decides is swapped in (ports, the
certificate, log paths, where Tollgate listens), and each swap must find its line. The
client connects from 127.0.0.5 (any 127/8 address is this host's on Linux) so that its
address differs from nginx's own 127.0.0.1.
"""

import http.client
import json
import re
import shutil
import socket
import ssl
import subprocess
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest

from devtools.simulator import SimulatedUpstream
from tests.servers import ROOT, TollgateServer
from tests.support import PASSWORD, TEAM_KEY, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLIENT = "127.0.0.5"
SITE = ROOT / "deploy" / "nginx" / "tollgate.conf"

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not Path(NGINX).exists(),
        reason="nginx is not installed: apt-get install nginx-light (CI does)",
    ),
    pytest.mark.skipif(
        not shutil.which("openssl"), reason="openssl is needed for a test certificate"
    ),
]


def swap(text: str, old: str, new: str) -> str:
    assert old in text, f"deploy/nginx/tollgate.conf no longer has {old!r}"
    return text.replace(old, new)


def site_for_test(tmp: Path, tollgate_port: int, https_port: int, http_port: int) -> str:
    site = SITE.read_text()
    site = swap(site, "server 127.0.0.1:8000;", f"server 127.0.0.1:{tollgate_port};")
    site = swap(site, "    listen 80;\n", f"    listen 127.0.0.1:{http_port};\n")
    site = swap(site, "    listen [::]:80;\n", "")
    site = swap(
        site, "    listen 443 ssl http2;\n", f"    listen 127.0.0.1:{https_port} ssl http2;\n"
    )
    site = swap(site, "    listen [::]:443 ssl http2;\n", "")
    site = swap(
        site, "/etc/letsencrypt/live/tollgate.example.com/fullchain.pem", str(tmp / "cert.pem")
    )
    site = swap(
        site, "/etc/letsencrypt/live/tollgate.example.com/privkey.pem", str(tmp / "key.pem")
    )
    return swap(site, "/var/log/nginx/tollgate.access.log", str(tmp / "access.log"))


def main_config(tmp: Path, site: Path) -> str:
    temp = "\n".join(
        f"    {kind}_temp_path {tmp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
daemon off;
worker_processes 1;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
{temp}
    include {site};
}}
"""


class Nginx:
    def __init__(self, tmp: Path, tollgate_port: int):
        self.tmp = tmp
        self.https_port, self.http_port = free_port(), free_port()
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(tmp / "key.pem"),
                "-out",
                str(tmp / "cert.pem"),
            ],
            check=True,
            capture_output=True,
        )
        site = tmp / "tollgate.conf"
        site.write_text(site_for_test(tmp, tollgate_port, self.https_port, self.http_port))
        config = tmp / "nginx.conf"
        config.write_text(main_config(tmp, site))
        checked = subprocess.run(
            [NGINX, "-t", "-p", str(tmp), "-c", str(config), "-e", str(tmp / "error.log")],
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(
            [NGINX, "-p", str(tmp), "-c", str(config), "-e", str(tmp / "error.log")]
        )
        self.tls = ssl.create_default_context(cafile=str(tmp / "cert.pem"))
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp / "error.log").read_text()
                time.sleep(0.05)

    def connect(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            "127.0.0.1",
            self.https_port,
            context=self.tls,
            timeout=30,
            source_address=(CLIENT, 0),
        )

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def upstream():
    with SimulatedUpstream(api_key=TEAM_KEY) as sim:
        yield sim


@pytest.fixture(scope="module")
def front_door(upstream, tmp_path_factory):
    """Tollgate as deploy/ runs it (TRUSTED_PROXIES, SECURE_COOKIES) behind nginx."""
    tmp = tmp_path_factory.mktemp("front-door")
    tollgate = TollgateServer(
        "sqlite",
        "",
        tmp,
        upstream.url,
        WEB_WORKERS="2",
        TRUSTED_PROXIES="127.0.0.1",
        SECURE_COOKIES="on",
    )
    tollgate.manage(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user('dana', 'dana@example.com', '{PASSWORD}')",
    )
    tollgate.raw = tollgate.key("front door")
    # Console pages under gunicorn want the collected (hashed) static files, as make run.
    tollgate.manage("collectstatic", "--noinput", "-v", "0")
    tollgate.start()
    nginx = Nginx(tmp, tollgate.port)
    yield tollgate, nginx
    nginx.stop()
    tollgate.stop()


def get(nginx, path, headers=None):
    conn = nginx.connect()
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def in_tollgate(tollgate, code: str):
    """Run ``code`` (which prints JSON) in Tollgate's own database."""
    return json.loads(tollgate.manage("shell", "-v", "0", "-c", code))


def test_a_proxied_call_comes_through_tls_and_is_metered(front_door):
    tollgate, nginx = front_door
    response, body = get(
        nginx,
        "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd",
        {"x-cg-pro-api-key": tollgate.raw},
    )
    assert response.status == 200
    assert "bitcoin" in json.loads(body)
    assert response.getheader("x-ratelimit-limit")
    calls = in_tollgate(
        tollgate,
        "import json; from usage.models import Call; "
        "print(json.dumps(list(Call.objects.values_list('path', 'status'))))",
    )
    assert ["/simple/price", 200] in calls
    # The key never reaches nginx's log, even sent as a query parameter.
    get(nginx, f"/api/v3/ping?x_cg_pro_api_key={tollgate.raw}")
    time.sleep(0.2)
    log = (nginx.tmp / "access.log").read_text()
    assert "/api/v3/ping" in log and tollgate.raw not in log


def test_the_usage_log_has_the_clients_address_not_nginxs(front_door):
    tollgate, nginx = front_door
    # No key: counted per client address. A forged X-Forwarded-For changes nothing.
    response, _ = get(nginx, "/api/v3/coins/bitcoin", {"X-Forwarded-For": "203.0.113.66"})
    assert response.status == 401
    addresses = in_tollgate(
        tollgate,
        "import json; from usage.models import KeylessCalls; "
        "print(json.dumps(sorted(set(KeylessCalls.objects.values_list('address', flat=True)))))",
    )
    # (127.0.0.1: the server's own start-up check, straight to gunicorn.)
    assert addresses == sorted([CLIENT, "127.0.0.1"])


def test_the_console_login_works_with_csrf_over_https(front_door):
    tollgate, nginx = front_door
    origin = f"https://127.0.0.1:{nginx.https_port}"
    response, body = get(nginx, "/accounts/login/")
    assert response.status == 200
    cookies = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie"):
        cookies.load(header)
    assert cookies["csrftoken"]["secure"]  # SECURE_COOKIES, trusted from X-Forwarded-Proto
    assert response.getheader("Strict-Transport-Security")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()

    def post_login(password, csrf=True):
        conn = nginx.connect()
        form = {"username": "dana", "password": password}
        if csrf:
            form["csrfmiddlewaretoken"] = token
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookies['csrftoken'].value}",
            "Origin": origin,
            "Referer": origin + "/accounts/login/",
        }
        conn.request("POST", "/accounts/login/", urlencode(form), headers)
        answer = conn.getresponse()
        answer.read()
        conn.close()
        return answer

    assert post_login(PASSWORD, csrf=False).status == 403
    assert post_login("wrong").status == 200
    # The login throttle counted the client's address, not nginx's.
    attempts = in_tollgate(
        tollgate,
        "import json; from axes.models import AccessAttempt; "
        "print(json.dumps(list(AccessAttempt.objects.values_list('ip_address', flat=True))))",
    )
    assert attempts == [CLIENT]
    done = post_login(PASSWORD)
    assert done.status == 302 and done.getheader("Location") == "/"
    session = SimpleCookie()
    for header in done.headers.get_all("Set-Cookie"):
        session.load(header)
    assert session["sessionid"]["secure"]
    home, page = get(nginx, "/", {"Cookie": f"sessionid={session['sessionid'].value}"})
    assert home.status == 200 and b'data-testid="username">dana<' in page


def test_a_large_answer_streams_through_whole(front_door):
    tollgate, nginx = front_door
    size = 40 * 1024 * 1024
    conn = nginx.connect()
    conn.request(
        "GET", f"/api/v3/__sim/large?bytes={size}", headers={"x-cg-pro-api-key": tollgate.raw}
    )
    response = conn.getresponse()
    assert response.status == 200
    received = 0
    while chunk := response.read(1 << 20):
        received += len(chunk)
    conn.close()
    assert received == size
    # The row's byte count is completed when the stream ends.
    deadline = time.monotonic() + 10
    while True:
        logged = in_tollgate(
            tollgate,
            "import json; from usage.models import Call; "
            "print(json.dumps(Call.objects.filter(path='/__sim/large').get().bytes))",
        )
        if logged == size or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert logged == size


def test_health_is_public_and_metrics_is_not(front_door):
    _tollgate, nginx = front_door
    response, body = get(nginx, "/healthz")
    assert response.status == 200 and json.loads(body) == {"status": "ok"}
    response, _ = get(nginx, "/metrics")
    assert response.status == 404


def test_plain_http_is_sent_to_https(front_door):
    _tollgate, nginx = front_door
    conn = http.client.HTTPConnection("127.0.0.1", nginx.http_port, timeout=10)
    conn.request("GET", "/accounts/login/", headers={"Host": "tollgate.example.com"})
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == "https://tollgate.example.com/accounts/login/"
