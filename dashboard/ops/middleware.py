"""Answers /healthz, /readyz and /metrics before the rest of the console's middleware.

It sits right after the proxy's middleware, so a proxied call never pays for it, and
before the host check, sessions and CSRF: probes and scrapers reach it by IP address and
leave no session behind. Nothing else is answered here.
"""

from django.http import HttpResponseNotAllowed

from dashboard.ops import health, metrics


class OpsMiddleware:
    ROUTES = {
        "/healthz": health.healthz,
        "/readyz": health.readyz,
        "/metrics": metrics.metrics,
    }

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = self.ROUTES.get(request.path_info)
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        response = view(request)
        response["Cache-Control"] = "no-store"
        return response
