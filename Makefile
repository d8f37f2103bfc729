# cmlinfra — every target installs what it needs first (scripts/setup.sh is idempotent).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: setup localcloud lint test test-fast demo bench clean

setup:
	scripts/setup.sh

localcloud: setup
	scripts/localcloud.sh up

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## The whole suite, from a fresh machine: installs packages, starts the local cloud, lints, tests.
test: localcloud lint
	$(PY) -m pytest

## Unit tests only: no LXD, quick feedback while editing.
test-fast: setup
	$(PY) -m pytest -m "not lxd"

## The main job: the furthest real end-to-end path (see README).
demo: localcloud
	scripts/demo.sh

## Benchmarks: writes docs/benchmarks.md.
bench: localcloud
	$(PY) benchmarks/run.py

clean:
	scripts/localcloud.sh clean-containers || true
	rm -rf .cache/stacks
