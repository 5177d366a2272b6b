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
#   make dist       the desktop bundle in dist/latentscape/ (PyInstaller, packaging/); installs
#                   the `dist` extra if missing, prints the build time and the bundle's size.
#                   BIN=other/venv/bin builds with that environment as it is
#   make dist-test  make dist, then its smoke test (pytest -m dist: the bundle opens a sample
#                   scene offscreen and exits 0)
#   make clean      remove caches and build output (keeps .venv)

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp

ARGS ?=
PYTEST_ARGS ?=

# `make dist BIN=...` uses that environment as it is: no .venv is made for it
DIST_VENV := $(if $(filter $(VENV)/bin,$(BIN)),venv)

.PHONY: help venv sysdeps run test lint bench dist dist-test clean

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

dist: $(DIST_VENV)
	@$(BIN)/python -c "import PyInstaller" 2>/dev/null || $(BIN)/python -m pip install -e '.[dist]'
	@start=$$(date +%s); \
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
		packaging/latentscape.spec || exit 1; \
	echo "make dist: dist/latentscape/ built in $$(( $$(date +%s) - start )) s;" \
		"size $$(du -sh dist/latentscape | cut -f1) (run it: dist/latentscape/latentscape)"

dist-test: dist sysdeps
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m dist tests/packaging $(PYTEST_ARGS)

clean:
	rm -rf .pytest_cache .ruff_cache .import_linter_cache .mypy_cache build dist *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
