"""Permissions-Policy on every console response.

Django has no setting for this header. It does not depend on https, so unlike HSTS it is
sent whatever SECURE_COOKIES says. Proxied calls never get here: the proxy answers first.
"""

from django.conf import settings


class PermissionsPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.PERMISSIONS_POLICY
        if policy:
            response.headers.setdefault("Permissions-Policy", policy)
        return response
