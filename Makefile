# Two commands set everything up on a fresh machine:  make demo  and  make test.
# torch is pinned to the local CPU build and installed *before* the package, so pip never
# resolves an unpinned torch (which would pull several GB of CUDA wheels). Override it with
#   make demo TORCH="torch==2.5.1"      or      make test TORCH=torch  (newest, with CUDA)
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
TORCH_INDEX ?=
# e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu for a CPU-only torch on a machine whose
# default index would give the CUDA build.
DEMO_OUT ?= demo-out
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --disable-pip-version-check -q

.PHONY: venv install demo test test-fast lint format bench clean

venv:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)

install: venv
	$(PIP) "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PIP) -e ".[dev]"

demo: install
	$(VENV)/bin/sarcolor demo --out $(DEMO_OUT)

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports  # the layers of the README's Design section ([tool.importlinter])

format: install
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

bench: install
	$(PY) benchmarks/data_speed.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) build dist src/*.egg-info .pytest_cache .ruff_cache
