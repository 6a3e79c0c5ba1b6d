# Tollgate: `make run` sets up and starts the console, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint install install-test migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall only when the pinned dependencies change, so a second `make run` is quick.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

migrate: install
	$(BIN)/python manage.py migrate --noinput -v 0

# Collect again only when our own static files or the installed packages changed.
staticfiles/staticfiles.json: $(VENV)/.installed $(shell find static -type f)
	$(BIN)/python manage.py collectstatic --noinput -v 0

run: migrate staticfiles/staticfiles.json
	$(BIN)/python manage.py ensureadmin
	SENDALERTS=on exec $(BIN)/gunicorn -c python:dashboard.gunicorn_conf dashboard.wsgi

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache *.egg-info

.PHONY: bench demo

# Load-test the metering proxy against the simulated upstream (throwaway database).
# Options: make bench DURATION=10 CONCURRENCY=8 (seconds per phase, connections).
bench: install staticfiles/staticfiles.json
	$(BIN)/python bench/proxy.py

# Tollgate in front of the simulated CoinGecko upstream, with a demo user, keys and some
# traffic; set up like `make run` (./data unless DATA_DIR is set). Ctrl-C stops both.
demo: migrate staticfiles/staticfiles.json
	exec $(BIN)/python bench/demo.py

.PHONY: bench-report bench-faults bench-isolation bench-cache

# The response cache under a dashboard-like load: upstream calls, credits, the saved
# share, calls per question per TTL; hits against uncached calls. DURATION=60, CLIENTS=64.
bench-cache: install staticfiles/staticfiles.json
	$(BIN)/python bench/cache.py

# Slow clients and a slow upstream against make run's settings: console p99, the fast
# endpoint's rate, 504s at UPSTREAM_TIMEOUT, memory. DURATION=60 seconds of slow clients.
bench-isolation: install staticfiles/staticfiles.json
	$(BIN)/python bench/isolation.py

# Faults, measured: a keyless flood against the disk (WAL size during and after, rows it
# cost) and kill -9 against the ledger (time to settle). FLOOD=60 seconds by default.
bench-faults: install staticfiles/staticfiles.json
	$(BIN)/python bench/faults.py

# The usage report on a big call log (seedusage): page times, CSV export speed and the
# export command's memory at 1M and 10M calls, each on a throwaway database (a scratch
# one beside DATABASE_URL when it is PostgreSQL). Quick run: make bench-report SIZES=100000
bench-report: install staticfiles/staticfiles.json
	$(BIN)/python bench/report.py

.PHONY: screenshots

# The console's main pages at phone (390x844) and desktop (1440x900) size, as staff and
# as a member, into screenshots/ (git-ignored). Needs Debian's chromium, like the e2e tests.
screenshots: install-test
	TOLLGATE_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q -p no:randomly tests/e2e/screenshots.py
	@echo "screenshots in $(CURDIR)/screenshots/"
