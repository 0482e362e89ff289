# One front door. `make up` runs the platform; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install test-tools up down test test-fast lint fmt bench schemas clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[local,dev]'
	touch $(STAMP)

## What the tests drive besides Python, from Debian's packages, installed once when missing:
## chromium and the Chinese fonts the pages are drawn in (Playwright drives it in the pages'
## browser tests; Playwright's own browser download needs the internet), and promtool (from the
## prometheus package: it runs the alert rules' tests and checks the dashboard's queries); and,
## from the npm registry, the AsyncAPI initiative's parser that validates docs/asyncapi/ (Node.js
## from Debian when the machine has none).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHROMIUM ?= /usr/bin/chromium
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
PROMTOOL := /usr/bin/promtool
ASYNCAPI_CHECK := tests/contracts/asyncapi
test-tools: $(ASYNCAPI_CHECK)/node_modules/.installed
	@test -x $(CHROMIUM) && test -e $(CJK_FONT) && test -x $(PROMTOOL) || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	  chromium fonts-noto-cjk prometheus >/dev/null; }

$(ASYNCAPI_CHECK)/node_modules/.installed: $(ASYNCAPI_CHECK)/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --prefix $(ASYNCAPI_CHECK) --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

## Run the platform on its embedded defaults (or DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS);
## WORKERS=dispatch=3,notify=3,reporting=2 runs several processes of those services.
up: install
	$(BIN)/python -m deploy.local up $(if $(WORKERS),--workers $(WORKERS))

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m deploy.local down; else echo "nothing to stop"; fi

## Lint, then every test (unit, integration, end-to-end) against real Postgres and a real broker.
## Two test processes share the modules (a module stays in one: its fixtures start once), each
## with its own Postgres, broker and port range (tests/conftest.py). TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
test: install lint test-tools
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m shared.events.snapshots --check
	$(BIN)/python -m shared.asyncapi --check
	$(BIN)/python -m deploy.check  # docker-compose.yml and deploy/k8s/ against their schemas, offline

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## End-to-end latency and rate, event-store and relay rates, SLA timers, notify under a slow gateway,
## filing against a grown store, storage per complaint, 1-2-3 workers per service and the
## rebalance pause, a Beijing-size city; tables + bench-results/*.json.
bench: install
	$(BIN)/python -m tests.bench.latency $(BENCH_ARGS)
	$(BIN)/python -m tests.bench.store
	$(BIN)/python -m tests.bench.timers
	$(BIN)/python -m tests.bench.notify
	$(BIN)/python -m tests.bench.rebuild
	$(BIN)/python -m tests.bench.filing
	$(BIN)/python -m tests.bench.storage
	$(BIN)/python -m tests.bench.workers
	$(BIN)/python -m tests.bench.city

## Refresh the committed JSON-Schema snapshots of the versioned contracts (new contracts, new
## versions, new optional properties; a breaking change is refused, older versions' snapshots
## stay) and the AsyncAPI documents generated from them (docs/asyncapi/).
schemas: install
	$(BIN)/python -m shared.events.snapshots --write
	$(BIN)/python -m shared.asyncapi --write

clean: down
	rm -rf .run bench-results .pytest_cache .mypy_cache .ruff_cache
