# The README's commands. `make demo` and `make test` set everything up themselves.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
KAFKA  := deploy/kafka/kafka.sh
# The slowest tests are listed at the end of every run: CI aims to stay well under 20 min.
PYTEST_ARGS ?= --durations=20

.PHONY: install tools demo test test-unit lint format kafka-start kafka-stop bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found (Python 3.11 is required; PYTHON=... to choose)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## prometheus, promtool, alertmanager and amtool (rule tests, config checks, the demo's
## Prometheus, the alert-delivery test): from PATH, else unpacked from Debian's packages
## into .tools/bin without installing or starting a service. Then Debian's Chromium for
## the kiosk page's browser tests (installed with apt-get when run as root).
tools:
	@tools/fetch-ops-tools.sh
	@tools/fetch-browser.sh

## The whole pipeline in one process with simulated kiosks, Prometheus and Alertmanager
## beside it (Ctrl-C stops it).
demo: $(STAMP)
	@tools/fetch-ops-tools.sh || echo "make demo: no Prometheus or Alertmanager could be fetched; the demo runs without them"
	$(BIN)/kioskpulse demo

## Lint, type-check, start the local Kafka, run every test, stop Kafka again.
test: $(STAMP) tools lint
	@was_running=0; $(KAFKA) status >/dev/null 2>&1 && was_running=1; \
	$(KAFKA) start || exit 1; \
	$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	[ $$was_running = 1 ] || $(KAFKA) stop; \
	exit $$status

## Unit tests only: no broker needed.
test-unit: $(STAMP) tools
	$(BIN)/pytest -m "not kafka" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

kafka-start:
	$(KAFKA) start

kafka-stop:
	$(KAFKA) stop

## Ingest benchmark against the real broker (see docs/benchmarks.md).
bench: $(STAMP)
	$(KAFKA) start
	$(BIN)/python bench/ingest.py

clean:
	-$(KAFKA) stop
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
