"""Benchmarks, importable and run from the `latentscape bench` command."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_json(result: dict, path: str | os.PathLike) -> None:
    """Write a benchmark's result as JSON (its folder made), and say where."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {path}")
