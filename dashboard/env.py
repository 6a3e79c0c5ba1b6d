"""Read settings from the environment and fail loudly, in one line, on a bad value.

Every helper raises ``SettingsError`` naming the variable, so an operator who typed
``DEBUG=yes please`` learns which variable is wrong instead of reading a traceback.
``manage.py`` and the gunicorn config turn that error into a one-line message.
"""

import os
import secrets
import zoneinfo
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class SettingsError(ImproperlyConfigured):
    """A setting from the environment has a value we cannot use."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean: use one of 1/0, true/false, on/off")


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and {maximum}" if maximum is not None else " or more"
        raise SettingsError(f"{name}={raw!r} must be between {minimum}{upper}")
    return value


def env_list(name: str, default: str) -> list[str]:
    raw = os.environ.get(name, default)
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if not items:
        raise SettingsError(f"{name} is empty: give at least one comma-separated value")
    return items


def env_time_zone(name: str, default: str) -> str:
    value = env_str(name, default) or default
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"{name}={value!r} is not an IANA time zone (e.g. Europe/Berlin)"
        ) from None
    return value


def secret_key(name: str, path: Path) -> str:
    """The SECRET_KEY from the environment, else one generated once and kept in ``path``.

    There is never a default in the code: a key baked into a public repository signs
    nothing. The file is created with mode 0600 and reused, so sessions survive restarts.
    """
    value = env_str(name)
    if value:
        if len(value) < 32:
            raise SettingsError(f"{name} is too short: use at least 32 random characters")
        return value
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    generated = secrets.token_urlsafe(50)
    # O_EXCL: when two processes start at once, exactly one writes and both read its key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(generated + "\n")
    return generated


def database(name: str, data_dir: Path) -> dict:
    """The database from ``DATABASE_URL``; SQLite in the data directory when unset.

    SQLite runs in WAL mode with a busy timeout and IMMEDIATE transactions, so that
    several gunicorn workers writing at once wait for each other instead of failing
    with "database is locked" when a read transaction is upgraded to a write.
    """
    url = env_str(name)
    if not url:
        config = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(data_dir / "tollgate.sqlite3"),
        }
    else:
        try:
            config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        except (ValueError, KeyError):
            raise SettingsError(
                f"{name} is not a database URL we support: use postgres://user@host:port/name "
                "or sqlite:////absolute/path.sqlite3"
            ) from None
        if config["ENGINE"] not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
            raise SettingsError(
                f"{name} must point at PostgreSQL (postgres://) or SQLite (sqlite://)"
            )
        if config["ENGINE"] == "django.db.backends.postgresql" and not config.get("NAME"):
            raise SettingsError(f"{name} names no database: add it after the last slash")
        if config["ENGINE"] == "django.db.backends.postgresql":
            # Statements run on a server-binding cursor are prepared on their first run:
            # the proxy's few statements (usage.metering.db) repeat on every call. Django's own
            # cursors bind on the client and never prepare, so this touches nothing else.
            # Behind PgBouncer in transaction mode, give it max_prepared_statements (1.21+).
            config.setdefault("OPTIONS", {}).setdefault("prepare_threshold", 0)
            # A pool per worker process (psycopg_pool): under gevent every request is a
            # greenlet with a "thread-local" connection of its own, so without a pool each
            # call would open a new PostgreSQL connection (that halved the proxy's rate).
            # Connections (and their prepared statements) are reused; a call that finds
            # the pool empty for `timeout` seconds gets 503.
            size = env_int("DATABASE_POOL_SIZE", 16, minimum=1, maximum=500)
            config["OPTIONS"]["pool"] = {"min_size": 1, "max_size": size, "timeout": 10}
            config["CONN_MAX_AGE"] = 0  # pooled: Django hands the connection back instead
            config["CONN_HEALTH_CHECKS"] = False
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Each worker thread keeps its connection: opening one costs a file open and the
        # PRAGMAs below, which would otherwise run on every proxied call.
        config["CONN_MAX_AGE"] = 600
        config["OPTIONS"] = {
            # How long a writer waits for another's lock before "database is locked".
            "timeout": env_float("SQLITE_BUSY_TIMEOUT", 20.0, minimum=0.1, maximum=600),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


def env_float(name: str, default: float, *, minimum: float, maximum: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name}={raw!r} must be between {minimum:g} and {maximum:g}")
    return value


def env_url(name: str, default: str, *, schemes: tuple[str, ...]) -> str:
    """A URL with one of ``schemes`` and a host, without a trailing slash."""
    from urllib.parse import urlsplit

    value = env_str(name) or default
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.netloc or parts.scheme == "unix"):
        raise SettingsError(f"{name}={value!r} must be a {' or '.join(schemes)} URL with a host")
    return value.rstrip("/")


def env_header_name(name: str, default: str) -> str:
    import re

    value = env_str(name) or default
    if not re.fullmatch(r"[A-Za-z0-9-]+", value):
        raise SettingsError(f"{name}={value!r} is not an HTTP header name")
    return value


def env_networks(name: str) -> list[str]:
    """Comma-separated IP addresses or networks (``127.0.0.1, 10.0.0.0/8``); empty: none."""
    import ipaddress

    items = [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise SettingsError(
                f"{name}: {item!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)"
            ) from None
    return items
