# One way to run everything (STYLE habit 10). Each target does its own set-up on a fresh machine
# that has only `python3` (3.11+): everything is installed into the project's virtual environment
# .venv (made with `python3 -m venv`, or `uv venv` when uv is on PATH), never into the system Python.
#   make run           install the runtime requirements at the lock's versions into .venv, generate the
#                      sample when data/sample/ is missing, then start the dashboard
#   make test          install the whole lock (runtime + dev) into .venv, Debian's chromium and Java 17
#                      when missing, then run every test (PYTEST_ARGS="-k foo tests/test_x.py" narrows it)
#   make reset-sample  delete the generated sample and the DuckDB files made from it (both modes)
#   make lock          recompile requirements.lock from requirements-dev.txt (uv; a dev tool, never a runtime one)
#   make lint          ruff check and ruff format --check
#   make bench         the data-engine benchmark (not a test; see docs/BENCHMARK.md)

# The interpreter that makes the virtual environment; everything after runs in the venv's own python.
PYTHON3 ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null)
CHROMIUM ?= /usr/bin/chromium
# Extra streamlit options for `make run`, e.g. make run ARGS="--server.port 8502"
ARGS ?=
# Extra pytest arguments for `make test`, e.g. make test PYTEST_ARGS="-m 'not e2e' tests/engine/test_generate.py"
PYTEST_ARGS ?=
# apt-get needs root; use sudo when the caller is not root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench install install-run chromium java lock venv reset-sample

# The virtual environment, made once. Debian ships `python3 -m venv` in the python3-venv package:
# when it is missing (ensurepip not available) it is installed like chromium below, then tried again.
$(PYTHON):
	@$(PYTHON3) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
		{ echo "make: $(PYTHON3) is missing or older than 3.11; install Python 3.11+ or pass PYTHON3=/path/to/python3.11"; exit 2; }
	@echo "creating the project's virtual environment $(VENV) with $(if $(UV),uv venv,$(PYTHON3) -m venv)"
	@if [ -n "$(UV)" ]; then \
		"$(UV)" venv -q --python "$$(command -v $(PYTHON3))" "$(VENV)"; \
	else \
		if ! $(PYTHON3) -c 'import ensurepip' 2>/dev/null; then \
			echo "$(PYTHON3) -m venv needs Debian's python3-venv (missing): installing it"; \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv; \
		fi; \
		$(PYTHON3) -m venv "$(VENV)"; \
	fi

venv: $(PYTHON)

# pip, or uv's faster pip when uv is on PATH (a venv made by uv has no pip of its own).
PIP = $(if $(UV),"$(UV)" pip install -q --python "$(PYTHON)",$(PYTHON) -m pip install -q)

# requirements.txt keeps the ranges; requirements.lock pins what the tests ran on (Python 3.11, linux).
# A stamp file in the venv per requirement set: a second `make run` or `make test` installs nothing
# until requirements.txt or requirements.lock changes.
$(VENV)/.installed-run: requirements.txt requirements.lock | $(PYTHON)
	@echo "installing the runtime requirements (requirements.txt at the versions of requirements.lock) into $(VENV)"
	$(PIP) -r requirements.txt -c requirements.lock
	@touch $@

$(VENV)/.installed-all: requirements.lock | $(PYTHON)
	@echo "installing the whole lock (runtime + tests + lint) into $(VENV)"
	$(PIP) -r requirements.lock
	@touch $@ $(VENV)/.installed-run

# `make run` installs only the runtime requirements, constrained to the lock's versions.
install-run: $(VENV)/.installed-run

install: $(VENV)/.installed-all

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

# Java for pyspark (rollup --engine spark, tests/engine/test_spark_parity.py): Debian's JRE 17 when no java is on PATH.
java:
	@if ! command -v java >/dev/null 2>&1 && [ -z "$$JAVA_HOME" ]; then \
		echo "java is missing: installing Debian's openjdk-17-jre-headless"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openjdk-17-jre-headless; \
	fi

# serve.py generates the sample (with its progress here) before the server takes its first visitor.
run: install-run
	$(PYTHON) -m streamlit run serve.py --browser.gatherUsageStats false $(ARGS)

test: install chromium java
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

reset-sample: install-run
	$(PYTHON) -m token_analytics reset-sample

lint: install
	$(PYTHON) -m ruff check . && $(PYTHON) -m ruff format --check .

bench: install-run
	$(PYTHON) benchmarks/bench.py
