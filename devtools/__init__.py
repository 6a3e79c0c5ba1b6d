"""Development tools: a simulated CoinGecko upstream and a usage seeder.

For tests, benchmarks and ``make demo``. Not part of the installed distribution
(pyproject.toml packages only dashboard, keys and usage), and product code never
imports from here.
"""
