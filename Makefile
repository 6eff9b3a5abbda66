# Two commands on a fresh machine: `make demo` and `make test`. Each creates or reuses .venv itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BATON := $(VENV)/bin/baton
# The stamp is newer than pyproject.toml and constraints.txt once the environment matches them, so a
# ready machine reinstalls nothing.
STAMP := $(VENV)/.baton-installed
# pyproject.toml asks for ranges (an existing environment keeps its versions); the project's own venv
# takes the versions the tests and the demo's table were run with.
CONSTRAINTS := constraints.txt

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: demo test bench lint venv clean browser postgres

venv: $(STAMP)

# The install uses uv (a much faster pip, itself installed from the index into the venv) and falls back
# to the pip commands if any uv step fails; `make venv USE_UV=0` uses pip only. uv keeps its downloads
# in ~/.cache/uv (UV_CACHE_DIR moves it).
USE_UV ?= 1
UV_SPEC := uv~=0.13.9

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing torch 2.13.0 (CPU) and baton into $(VENV) ..."
	@# pip: torch first, so the project's torch range then installs nothing more. uv resolves both at once.
	@if [ "$(USE_UV)" = 1 ] \
	    && $(PY) -m pip install --quiet --disable-pip-version-check '$(UV_SPEC)' \
	    && $(PY) tools/uv_install.py $(VENV)/bin/uv --quiet -c $(CONSTRAINTS) torch==2.13.0 -e '.[dev]'; then \
	  echo "Installed with uv."; \
	else \
	  if [ "$(USE_UV)" = 1 ]; then echo "uv could not install: installing with pip instead ..."; fi; \
	  set -e; \
	  $(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0; \
	  $(PY) -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e '.[dev]'; \
	fi
	@# soundfile's plain wheel (py3-none-any) holds no libsndfile; where an index offers it beside the
	@# platform wheel of the same version, uv may take it. pip then takes the platform wheel.
	@$(PY) -c 'import soundfile' 2>/dev/null || $(PY) -m pip install --quiet --disable-pip-version-check \
	  --force-reinstall --no-deps "soundfile==$$($(PY) -c 'import importlib.metadata as m; print(m.version("soundfile"))')"
	@$(PY) -c 'import soundfile' || { echo "soundfile cannot load libsndfile: install it (apt-get install libsndfile1)"; exit 1; }
	@touch $(STAMP)

demo: $(STAMP)
	$(BATON) demo $(DEMO_ARGS)

# The browser tests drive Debian's chromium through Playwright; install it when we can (root + apt).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing chromium for the browser tests ..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: the browser tests will say so"; \
	  else echo "chromium is not installed (needs root and apt): the browser tests will say so"; fi; \
	fi

# The database tests run a real PostgreSQL 15 server (tests/annotation/postgres.py); install it when we
# can (root + apt).
postgres:
	@if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing PostgreSQL 15 for the database tests ..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null) \
	      || echo "PostgreSQL 15 could not be installed: the database tests will say so"; \
	  else echo "PostgreSQL 15 is not installed (needs root and apt): the database tests will say so"; fi; \
	fi

# Under CI=true (.ci/run sets it) a test whose browser or database is missing fails instead of skipping.
test: $(STAMP) browser postgres
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks.run $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
