"""Tollgate's settings: one module, every value from the environment (see README).

Nothing here has a production-unsafe default: DEBUG is off, the secret key is generated
per installation, and a value we cannot parse stops the start with a one-line message.
"""

import importlib.util
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF

from dashboard.env import (
    database,
    env_bool,
    env_float,
    env_header_name,
    env_int,
    env_list,
    env_networks,
    env_str,
    env_time_zone,
    env_url,
    secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR") or BASE_DIR / "data").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = secret_key("SECRET_KEY", DATA_DIR / "secret_key")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "http://127.0.0.1,http://localhost")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "crispy_forms",
    "crispy_bootstrap5",
    "bootstrap",
    "axes",
    "csp",
    "dashboard",
    "keys",
    "usage",
]
# The development tools (simulated upstream, usage seeder) live in a checkout only: the
# installed distribution does not ship them, and production never loads them.
if importlib.util.find_spec("devtools") is not None:
    INSTALLED_APPS.append("devtools")

MIDDLEWARE = [
    # First: answers /api/v3/ itself, so proxied calls skip sessions, CSRF and templates.
    "usage.proxy.middleware.ProxyMiddleware",
    # Second, so proxied calls never pass it: /healthz, /readyz, /metrics (dashboard/ops).
    "dashboard.ops.middleware.OpsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "dashboard.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Below htmx: a session gone mid-page sends the browser, not the fragment, to log in.
    "dashboard.htmx_login.HtmxLoginRedirectMiddleware",
    # Last, as axes asks: it turns a login refused during a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Reverse proxies whose X-Forwarded-For names the client (dashboard/forwarded.py). None by
# default: the header is anyone's to forge, and believed only from addresses listed here.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
if TRUSTED_PROXIES:
    # Before the proxy's middleware: the usage log and the login throttle see the client.
    MIDDLEWARE.insert(0, "dashboard.forwarded.ForwardedForMiddleware")

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database("DATABASE_URL", DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The metering proxy's upstream: where calls go, and the team's real key they carry.
UPSTREAM_URL = env_url(
    "UPSTREAM_URL", "https://pro-api.coingecko.com/api/v3", schemes=("http", "https")
)
UPSTREAM_API_KEY = env_str("UPSTREAM_API_KEY")
UPSTREAM_KEY_HEADER = env_header_name("UPSTREAM_KEY_HEADER", "x-cg-pro-api-key")
UPSTREAM_TIMEOUT = env_float("UPSTREAM_TIMEOUT", 10.0, minimum=0.1, maximum=300)
UPSTREAM_CONNECT_TIMEOUT = env_float("UPSTREAM_CONNECT_TIMEOUT", 3.05, minimum=0.1, maximum=60)
# A call still "in flight" this long after both timeouts was cut off (a killed worker).
SETTLE_MARGIN = env_float("SETTLE_MARGIN", 30.0, minimum=0.5, maximum=3600)

# Set: the per-minute limiter keeps its windows in Redis instead of the database.
REDIS_URL = env_url("REDIS_URL", "", schemes=("redis", "rediss", "unix"))
REDIS_PREFIX = env_str("REDIS_PREFIX", "tollgate") or "tollgate"
# Seconds to connect to or hear from Redis before it counts as away, and seconds before a
# worker that found it away tries it again (meanwhile the database counts the windows).
REDIS_TIMEOUT = env_float("REDIS_TIMEOUT", 0.25, minimum=0.01, maximum=10)
REDIS_RETRY_INTERVAL = env_float("REDIS_RETRY_INTERVAL", 10.0, minimum=0.1, maximum=3600)

# Call rows older than this many days are deleted by prunecalls (the alert sender runs it
# daily); 400 keeps a year and a month, to compare a month with the same month a year
# before. 0 keeps every row. Counters are kept for ever.
CALL_LOG_RETENTION_DAYS = env_int("CALL_LOG_RETENTION_DAYS", 400, minimum=0, maximum=36_500)

# The response cache (off until staff turn it on): how long past its time-to-live a copy
# may still answer when the upstream fails, and the size of the embedded store (without
# Redis), a file beside the database.
CACHE_STALE_SECONDS = env_int("CACHE_STALE_SECONDS", 300, minimum=0, maximum=86_400)
CACHE_MAX_MB = env_int("CACHE_MAX_MB", 256, minimum=1, maximum=65_536)
CACHE_FILE = DATA_DIR / "response-cache.sqlite3"

# Alert emails. With no EMAIL_HOST they go to the console log (the sender's output).
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1, maximum=300)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL") or "tollgate@localhost"
# The console's address as the team reaches it: links in alert emails point here.
CONSOLE_URL = env_url("CONSOLE_URL", "http://127.0.0.1:8000", schemes=("http", "https"))

# Health and metrics (dashboard/ops). The alert sender is expected (and /readyz waits for
# its heartbeat) where gunicorn starts it, or where a service of its own runs it.
SENDALERTS_EXPECTED = env_bool("SENDALERTS_EXPECTED", env_bool("SENDALERTS", False))
# Set: /metrics wants "Authorization: Bearer <token>"; unset: it answers this host only.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# prometheus-client's multiprocess folder: gunicorn's config sets and empties it (a fresh
# temporary one when unset). A manage.py command that finds it set writes its (unused)
# figures there too, and must not crash because the folder is not there yet.
if env_str("PROMETHEUS_MULTIPROC_DIR"):
    Path(env_str("PROMETHEUS_MULTIPROC_DIR")).mkdir(parents=True, exist_ok=True)

# Password reset links ("Forgot password?") and invitations use Django's reset tokens;
# an invitation's link lasts longer (dashboard/team/tokens.py).
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_HOURS", 2, minimum=1, maximum=72) * 3600
INVITE_VALID_DAYS = env_int("INVITE_VALID_DAYS", 7, minimum=1, maximum=60)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Messages never carry a secret (new keys are rendered straight into the response), but
# keeping them in a signed cookie means no session row is written just to say "Saved".
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"

LANGUAGE_CODE = "en-us"
# The team's reporting time zone; everything is stored in UTC.
TIME_ZONE = env_time_zone("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Tests and a checkout that never ran collectstatic still render pages (unhashed URLs).
WHITENOISE_MANIFEST_STRICT = False

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # htmx gets the token from the page, never from the cookie
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
# Behind the TLS-terminating proxy that SECURE_COOKIES implies, the proxy says "https" in
# X-Forwarded-Proto (it must overwrite a client's own); without that, Django would see
# plain http and never send HSTS. One year, once the console is known to be https-only.
if SESSION_COOKIE_SECURE:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
# Features the console never uses, refused to any script that might ask (dashboard.middleware).
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
# No inline script or style anywhere in the console: an injected <script> or style="" does
# nothing. htmx's own inline indicator style and its eval are off (base.html's htmx-config).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],  # Bootstrap draws its form icons as data: SVGs
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

# Login throttling (django-axes). Failures are counted per username and address together,
# in the database, so every gunicorn worker sees the same count; a success clears them.
# Behind a proxy the address is the proxy's, unless TRUSTED_PROXIES names that proxy.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = timedelta(
    minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1, maximum=10080)
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A try during the lockout does not restart it, so "try again in 15 minutes" stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "dashboard.lockout.lockout_response"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper() or "INFO"},
    # Axes says "warning" for failed logins and lockouts; its info lines repeat every login.
    "loggers": {
        "axes": {"level": "WARNING"},
        # "Connection pool is full, discarding connection": expected past POOL_SIZE
        # concurrent upstream calls (usage/proxy/upstream.py), not worth a line each.
        "urllib3.connectionpool": {"level": "ERROR"},
    },
}
