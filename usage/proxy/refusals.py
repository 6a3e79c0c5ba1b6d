"""A refused call: its CoinGecko-shaped answer, its row in the ledger, its limit headers."""

from usage.metering import ledger
from usage.metering.completions import record_or_defer
from usage.proxy.errors import refusal


def limit_headers(response, minute) -> None:
    """CoinGecko's rate-limit headers, and Retry-After on a 429."""
    if minute is None:
        return
    response["x-ratelimit-limit"] = str(minute.limit)
    response["x-ratelimit-remaining"] = str(minute.remaining)
    response["x-ratelimit-reset"] = minute.reset.strftime("%Y-%m-%d %H:%M:%S +0000")
    if not minute.admitted:
        response["Retry-After"] = str(minute.retry_after)


def refuse(call: ledger.CallRecord, outcome: str, admission=None, *, message=None):
    """Answer ``call`` with ``outcome``'s error after recording it."""
    response = refusal(outcome, message)
    call.status = response.status_code
    call.outcome = outcome
    call.bytes = len(response.content)
    if admission is not None and admission.call_id is not None:
        # Forwarded already (a 502 or 504): like an answer, never hidden by a 503.
        record_or_defer(call, admission)
    else:
        ledger.record(call, admission)
    limit_headers(response, admission.minute if admission else None)
    return response
