"""Settings come from the environment; a bad value stops the start with one line naming it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, tmp_path, **env):
    environ = {
        k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "DATABASE_URL")
    }
    environ.update({"DATA_DIR": str(tmp_path / "data"), **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "yes please"),
        ("DATABASE_URL", "mysql://root@localhost/db"),
        ("DATABASE_URL", "not a url"),
        ("TIME_ZONE", "Mars/Olympus_Mons"),
        ("SECRET_KEY", "short"),
        ("ALLOWED_HOSTS", " , "),
        ("UPSTREAM_URL", "ftp://pro-api.coingecko.com/api/v3"),
        ("UPSTREAM_TIMEOUT", "soon"),
        ("UPSTREAM_KEY_HEADER", "x cg key"),
        ("REDIS_URL", "localhost:6379"),
        ("LOGIN_FAILURE_LIMIT", "five"),
        ("LOGIN_COOLOFF_MINUTES", "0"),
    ],
)
def test_a_bad_value_stops_the_start_with_one_line_naming_it(tmp_path, name, value):
    result = manage("check", tmp_path=tmp_path, **{name: value})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0] and "Traceback" not in result.stderr


def test_a_bad_port_stops_gunicorn_with_one_line(tmp_path):
    environ = {**os.environ, "PORT": "eighty", "DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "import dashboard.gunicorn_conf"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        == "tollgate: configuration error: PORT='eighty' is not a whole number"
    )


def test_the_secret_key_is_generated_once_and_kept(tmp_path):
    script = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = manage("shell", "-v", "0", "-c", script, tmp_path=tmp_path)
    second = manage("shell", "-v", "0", "-c", script, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "data" / "secret_key"
    assert first.stdout.strip() == second.stdout.strip() == key_file.read_text().strip()
    assert len(first.stdout.strip()) >= 50
    assert key_file.stat().st_mode & 0o777 == 0o600
    other = manage("shell", "-v", "0", "-c", script, tmp_path=tmp_path / "elsewhere")
    assert other.stdout.strip() != first.stdout.strip()


def test_debug_is_off_unless_asked_for(tmp_path):
    script = "from django.conf import settings; print(settings.DEBUG, settings.TIME_ZONE)"
    assert manage("shell", "-v", "0", "-c", script, tmp_path=tmp_path).stdout.split() == [
        "False",
        "UTC",
    ]
    on = manage(
        "shell", "-v", "0", "-c", script, tmp_path=tmp_path, DEBUG="on", TIME_ZONE="Asia/Tokyo"
    )
    assert on.stdout.split() == ["True", "Asia/Tokyo"]


def test_sqlite_runs_in_wal_mode_with_immediate_transactions(tmp_path):
    script = (
        "from django.db import connection; c = connection.cursor(); "
        "c.execute('PRAGMA journal_mode'); print(c.fetchone()[0], "
        "connection.settings_dict['OPTIONS']['transaction_mode'])"
    )
    result = manage("shell", "-v", "0", "-c", script, tmp_path=tmp_path)
    assert result.stdout.split() == ["wal", "IMMEDIATE"], result.stderr
    assert (tmp_path / "data" / "tollgate.sqlite3").exists()
