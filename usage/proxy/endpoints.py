"""Endpoint names for the counters: ``/coins/bitcoin/market_chart`` -> ``/coins/{id}/market_chart``.

The report breaks usage down by endpoint from the hour counters, so the name must have few
values: ids, addresses and contract names become ``{id}``. A segment counts as part of the
endpoint's name only if it is one of CoinGecko's path words below; anything else (a coin
id, a network, a pool address, a typo) is a parameter. Unknown words cost nothing worse
than a ``{id}`` in the breakdown.
"""

from functools import lru_cache

PATH_WORDS = frozenset(
    """
    ping key simple price token_price supported_vs_currencies coins list markets categories
    tickers history market_chart range ohlc contract circulating_supply_chart
    total_supply_chart top_gainers_losers new asset_platforms token_lists all.json exchanges
    volume_chart derivatives nfts exchange_rates search trending global
    decentralized_finance_defi companies public_treasury onchain networks dexes pools tokens
    info multi trades ohlcv megafilter trending_pools new_pools recently_updated
    top_holders holders holders_chart day hour minute
    """.split()
)


@lru_cache(maxsize=4096)
def endpoint_name(path: str) -> str:
    """The endpoint of a proxied path (without /api/v3), with parameters as ``{id}``."""
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return "/"
    named = [seg if seg in PATH_WORDS else "{id}" for seg in segments]
    return ("/" + "/".join(named))[:100]
