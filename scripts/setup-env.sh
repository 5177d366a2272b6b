#!/bin/sh
# Create .venv (if missing) and install Latentscape into it with its dev tools.
#
# torch is installed first, pinned, so that the project's range ("torch>=2.4,<2.14") is
# already met and `pip install -e .` never swaps it for another (multi-GB CUDA) build.
#
# Environment:
#   PYTHON           interpreter that creates the venv (default: python3)
#   VENV             venv folder (default: .venv)
#   TORCH_INDEX_URL  if set, passed as --index-url to the torch install only, e.g.
#                    https://download.pytorch.org/whl/cpu for the CPU-only build
set -eu

cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=2.13.0

torch_version() {
    "$VENV/bin/python" -m pip show torch 2>/dev/null | sed -n 's/^Version: //p'
}

# True when the installed torch is $TORCH_VERSION, with or without a local tag (+cpu, +cu128).
torch_ok() {
    case "$(torch_version)" in
        "$TORCH_VERSION" | "$TORCH_VERSION"+*) return 0 ;;
        *) return 1 ;;
    esac
}

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup-env: creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi

if torch_ok; then
    echo "setup-env: torch $(torch_version) already installed"
elif [ -n "${TORCH_INDEX_URL:-}" ]; then
    "$VENV/bin/python" -m pip install --index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION"
else
    "$VENV/bin/python" -m pip install "torch==$TORCH_VERSION"
fi

"$VENV/bin/python" -m pip install -e '.[dev]'

if ! torch_ok; then
    echo "setup-env: ERROR: torch in $VENV is '$(torch_version)', expected $TORCH_VERSION." >&2
    echo "setup-env: a later install replaced or removed it; reinstall with: $VENV/bin/python -m pip install torch==$TORCH_VERSION" >&2
    exit 1
fi
echo "setup-env: ready (torch $(torch_version))"
