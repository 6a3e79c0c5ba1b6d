"""gunicorn's logger, minus access lines for proxied calls."""

from gunicorn.glogging import Logger

# usage.proxy.middleware.PREFIX, spelled again: this module loads in gunicorn's master,
# before Django.
PROXY_PREFIX = "/api/v3/"


class ConsoleAccessLogger(Logger):
    """Access lines for the console only; /api/v3/ calls are in the usage log already.

    The usage log has more than an access line would (key, outcome, credits, latency,
    bytes, query without the key) and is committed before the answer leaves; a second
    line per call on standard output would only repeat it, at several hundred a second.
    """

    def access(self, resp, req, environ, request_time):
        path = environ.get("PATH_INFO", "")
        if path.startswith(PROXY_PREFIX) or path == PROXY_PREFIX[:-1]:  # as ProxyMiddleware
            return
        super().access(resp, req, environ, request_time)
