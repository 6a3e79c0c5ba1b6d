"""Refusals in CoinGecko's error shape: ``{"status": {"error_code": N, "error_message": "…"}}``.

Every answer Tollgate gives under /api/v3/ on its own account comes from here, so no
refusal is ever an HTML page or a 500. The README's table lists the same rows.
"""

import json

from django.http import HttpResponse

from usage import windows
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
    Outcome.UPSTREAM_UNREACHABLE: (502, 502, "Tollgate could not reach the CoinGecko API."),
    Outcome.UPSTREAM_TIMEOUT: (504, 504, "The CoinGecko API did not answer in time."),
}


def error_response(outcome: str, message: str | None = None) -> HttpResponse:
    status, code, default = ERRORS[outcome]
    body = {
        "status": {
            "timestamp": windows.utc_now().isoformat(timespec="milliseconds"),
            "error_code": code,
            "error_message": message or default,
        }
    }
    response = HttpResponse(
        json.dumps(body, separators=(",", ":")), status=status, content_type="application/json"
    )
    if outcome == Outcome.CREDITS_EXHAUSTED:
        # The official SDK would otherwise not know that retrying cannot help.
        response["x-should-retry"] = "false"
    return response
