# One way to run everything (STYLE habit 10). Each target does its own set-up on a fresh machine.
#   make run     install the runtime requirements at the lock's versions, then start the dashboard
#                (sample data is generated on first run)
#   make test    install the whole lock (runtime + dev), Debian's chromium and Java 17 when missing, then run every test
#   make lock    recompile requirements.lock from requirements-dev.txt (uv; a dev tool, never a runtime one)
#   make lint    ruff check and ruff format --check
#   make bench   the data-engine benchmark (not a test; see docs/BENCHMARK.md)

PYTHON ?= python
CHROMIUM ?= /usr/bin/chromium
# Extra streamlit options for `make run`, e.g. make run ARGS="--server.port 8502"
ARGS ?=
# apt-get needs root; use sudo when the caller is not root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench install install-run chromium java lock

# requirements.txt keeps the ranges; requirements.lock pins what the tests ran on (Python 3.11, linux).
# `make run` installs only the runtime requirements, constrained to the lock's versions.
install-run:
	$(PYTHON) -m pip install -q -r requirements.txt -c requirements.lock

install:
	$(PYTHON) -m pip install -q -r requirements.lock

lock:
	uv pip compile requirements-dev.txt --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
		--upgrade -o requirements.lock

# Debian's chromium brings no CJK font: without fonts-noto-cjk Chinese pages render as boxes.
chromium:
	@missing=""; \
	[ -x "$(CHROMIUM)" ] || missing="chromium"; \
	[ -n "$$(fc-list :lang=zh 2>/dev/null)" ] || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian's$$(printf ' %s' $$missing) (missing)"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

# Java for pyspark (rollup --engine spark, tests/test_spark_parity.py): Debian's JRE 17 when no java is on PATH.
java:
	@if ! command -v java >/dev/null 2>&1 && [ -z "$$JAVA_HOME" ]; then \
		echo "java is missing: installing Debian's openjdk-17-jre-headless"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openjdk-17-jre-headless; \
	fi

run: install-run
	$(PYTHON) -m streamlit run serve.py --browser.gatherUsageStats false $(ARGS)

test: install chromium java
	$(PYTHON) -m pytest -q

lint: install
	$(PYTHON) -m ruff check . && $(PYTHON) -m ruff format --check .

bench: install-run
	$(PYTHON) benchmarks/bench.py
