# modelfleet — the two commands a newcomer needs are `make demo` and `make test`.
# Every target installs what it needs itself, idempotently (stamps under .venv/).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export CONTAINERS_CONF := $(CURDIR)/containers/containers.conf
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
PYTEST_ARGS ?=

.PHONY: help venv tf system image demo test test-fast soak lint pytest molecule bench chaos protos fmt clean

help:
	@echo "make demo      local fleet on loopback: master + 3 nodes, publish, predict, promote"
	@echo "make test      the whole test suite (lint, pytest, molecule) - what CI runs"
	@echo "make test-fast the in-process tier (about a minute): ruff + pytest without processes"
	@echo "make soak      long runs: the model-based fleet test with many more examples, site.yml --check on a bare host"
	@echo "make bench     every benchmark, one table + bench/results.json"
	@echo "make chaos     the chaos suite on a local fleet"
	@echo "make lint      ruff, mypy, ansible-lint, syntax checks"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when any requirements file or pyproject changes.
$(VENV)/.stamp-dev: requirements.txt requirements-dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV)/.stamp-tf: requirements-tf.txt | $(VENV)/.stamp-dev
	$(BIN)/pip install -q -r requirements-tf.txt
	$(BIN)/pip install -q --no-deps "tensorflow-serving-api>=2.16,<3"
	touch $@

venv: $(VENV)/.stamp-dev
tf: $(VENV)/.stamp-tf

system:
	@scripts/install-system-deps.sh

# The podman image of the molecule hosts (debootstrap, built once and reused).
image: system venv
	@molecule/image/build.sh

protos: venv
	$(BIN)/python -m modelfleet.tfserving.proto.build

fmt: venv
	$(BIN)/ruff format daemons tests bench
	$(BIN)/ruff check --fix daemons tests bench

lint: venv
	$(BIN)/ruff check daemons tests bench
	$(BIN)/ruff format --check daemons tests bench
	$(BIN)/mypy daemons/modelfleet
	@if [ -d roles ] && ls playbooks/*.yml >/dev/null 2>&1; then \
	  $(BIN)/ansible-playbook --syntax-check -i inventory/production playbooks/*.yml && \
	  $(BIN)/ansible-lint --profile production --offline playbooks roles molecule; fi

pytest: venv tf system
	$(BIN)/pytest -m "not (molecule or soak)" $(PYTEST_ARGS)

molecule: venv system image
	$(BIN)/pytest -m molecule $(PYTEST_ARGS)

test: lint pytest molecule

# The inner loop: in-process tests only (no TensorFlow, no daemons, no podman), about a minute.
FAST_MARKERS := not (molecule or chaos or slow or tensorflow or soak)
test-fast: venv
	$(BIN)/ruff check daemons tests bench
	$(BIN)/pytest -m "$(FAST_MARKERS)" $(PYTEST_ARGS)

# Long runs behind their own target (CI does not run them): more examples, longer sequences.
soak: venv tf system image
	MODELFLEET_SOAK=1 $(BIN)/pytest -m soak $(PYTEST_ARGS)

demo: venv tf
	$(BIN)/modelfleet localfleet demo

bench: venv tf
	$(BIN)/python -m bench.run_all

chaos: venv tf
	$(BIN)/pytest -m chaos $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .localfleet
