import pytest

from usage.proxy.endpoints import endpoint_name


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/simple/price", "/simple/price"),
        ("/coins/markets", "/coins/markets"),
        ("/coins/bitcoin", "/coins/{id}"),
        ("/coins/ethereum/market_chart/range", "/coins/{id}/market_chart/range"),
        (
            "/onchain/networks/eth/pools/0xabc123/ohlcv/day",
            "/onchain/networks/{id}/pools/{id}/ohlcv/day",
        ),
        ("/ping/", "/ping"),
        ("/", "/"),
        ("/" + "x" * 500, "/{id}"),
    ],
)
def test_ids_become_placeholders_so_endpoints_stay_few(path, name):
    assert endpoint_name(path) == name
