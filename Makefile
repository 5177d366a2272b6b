# Latentscape developer commands. `make run` and `make test` install whatever is missing.
#
#   make venv       create .venv: torch 2.13.0 first, then `pip install -e '.[dev]'`
#                   (TORCH_INDEX_URL=... picks the index of the torch wheel, PYTHON=... the
#                   interpreter); re-runs only when pyproject.toml or the script change
#   make sysdeps    Debian packages for Qt, Mesa OpenGL/EGL and Xvfb (apt-get as root,
#                   otherwise prints what is missing and carries on)
#   make run        start Latentscape; ARGS="..." go to the `latentscape` command
#   make test       ruff, the import contract, mypy, then pytest (PYTEST_ARGS="..." go to
#                   pytest)
#   make lint       ruff, the import contract and mypy over engine/ only
#   make bench      `latentscape bench memory` (ARGS="--quick" for the short run)
#   make clean      remove caches and build output (keeps .venv)

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp

ARGS ?=
PYTEST_ARGS ?=

.PHONY: help venv sysdeps run test lint bench clean

help:
	@sed -n 's/^#   //p' Makefile

venv: $(STAMP)

$(STAMP): pyproject.toml scripts/setup-env.sh
	sh scripts/setup-env.sh
	touch $@

sysdeps:
	@sh scripts/sysdeps.sh

run: venv sysdeps
	$(BIN)/latentscape $(ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: venv sysdeps lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv
	$(BIN)/latentscape bench memory $(ARGS)

clean:
	rm -rf .pytest_cache .ruff_cache .import_linter_cache .mypy_cache build dist *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
