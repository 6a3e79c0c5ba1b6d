"""Refusals in CoinGecko's shape: ``{"status": {"timestamp", "error_code", "error_message"}}``.

Every answer Tollgate gives under /api/v3/ on its own account comes from here, so no
refusal or failure is ever an HTML page. The README's table lists the same rows.
"""

import json

from django.http import HttpResponse

from usage.metering import windows
from usage.models import Outcome

# outcome -> (HTTP status, error_code, message)
ERRORS = {
    Outcome.MISSING_KEY: (
        401,
        10002,
        "API Key Missing. Please make sure you're using the right authentication method: "
        "the x-cg-pro-api-key header or the x_cg_pro_api_key query parameter.",
    ),
    Outcome.INVALID_KEY: (
        401,
        10001,
        "Invalid API Key. The key is unknown or was deleted: create one in the Tollgate console.",
    ),
    Outcome.KEY_EXPIRED: (
        401,
        10001,
        "API Key Expired. This Tollgate key has passed its expiry date: ask its owner or a "
        "Tollgate admin for a new key or a later expiry date.",
    ),
    Outcome.ADDRESS_REFUSED: (
        403,
        403,
        "Forbidden. This Tollgate key may not be used from your address: its address "
        "allowlist does not include it.",
    ),
    Outcome.RATE_LIMITED: (
        429,
        429,
        "You've exceeded the Rate Limit. Please wait for the next minute or ask your "
        "Tollgate admin for a higher rate limit.",
    ),
    Outcome.CREDITS_EXHAUSTED: (
        402,
        10006,
        "You've used up the monthly call credits and overage is off. Calls resume next "
        "month, or when an admin raises the credits or turns on overage.",
    ),
    Outcome.BAD_REQUEST: (400, 400, "Bad request path: it must stay under /api/v3/."),
    Outcome.METHOD_NOT_ALLOWED: (
        405,
        405,
        "Method not allowed: the CoinGecko API is read-only, use GET (or HEAD).",
    ),
    Outcome.TOO_LARGE: (413, 413, "Request body too large: the CoinGecko API takes none."),
    Outcome.UPSTREAM_UNREACHABLE: (502, 502, "Tollgate could not reach the CoinGecko API."),
    Outcome.UPSTREAM_TIMEOUT: (504, 504, "The CoinGecko API did not answer in time."),
}


# Tollgate's own failures, which no client caused.
DATABASE_UNAVAILABLE = (503, 503, "Tollgate's database is unavailable; try again shortly.")
INTERNAL_ERROR = (500, 500, "Tollgate failed to handle this request.")


def json_response(status: int, body) -> HttpResponse:
    return HttpResponse(
        json.dumps(body, separators=(",", ":")), status=status, content_type="application/json"
    )


def error_response(status: int, code: int, message: str) -> HttpResponse:
    """CoinGecko's error body, stamped with the time of the answer."""
    timestamp = windows.utc_now().isoformat(timespec="milliseconds")
    body = {"status": {"timestamp": timestamp, "error_code": code, "error_message": message}}
    return json_response(status, body)


INACTIVE_OWNER = (
    "Invalid API Key. Its owner's Tollgate account is deactivated: ask a Tollgate admin."
)
ROLLED_AWAY = (
    "Invalid API Key. This key was rolled and its grace period is over: use the new key "
    "its owner was given."
)
ALLOWED_METHODS = "GET, HEAD"


def refusal(outcome: str, message: str | None = None) -> HttpResponse:
    """The answer to a call refused (or failed) with ``outcome``."""
    status, code, default = ERRORS[outcome]
    response = error_response(status, code, message or default)
    if outcome == Outcome.CREDITS_EXHAUSTED:
        # The official SDK would otherwise not know that retrying cannot help.
        response["x-should-retry"] = "false"
    elif outcome == Outcome.METHOD_NOT_ALLOWED:
        response["Allow"] = ALLOWED_METHODS
    return response
