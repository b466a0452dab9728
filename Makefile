# Every command sets up what it needs first: a virtual environment from the
# pinned requirements and the npm parts of the local stack from their lockfile.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NODE_PARTS := devstack/node_modules/.installed

.PHONY: setup test lint demo run stack token bench clean

setup: $(VENV)/.installed $(NODE_PARTS)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(NODE_PARTS): devstack/package.json devstack/package-lock.json
	cd devstack && npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest

demo: setup
	$(PY) -m devstack demo

run: setup
	$(PY) -m devstack run $(if $(port),--port $(port))

# The local parts without the functions, for `func start`.
stack: setup
	$(PY) -m devstack stack

# make token user=alice  or  make token sender=backend  (needs `make run`)
token: $(VENV)/.installed
	@$(PY) -m devstack token $(if $(user),--user "$(user)") $(if $(sender),--sender "$(sender)")

bench: setup
	$(PY) -m devstack bench

clean:
	rm -rf $(VENV) devstack/node_modules .devstack .pytest_cache .ruff_cache .mypy_cache
