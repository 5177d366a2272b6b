"""engine/ never imports app/ or a GUI/GL package.

import-linter checks the same rule from pyproject.toml; this test also sees imports made
through importlib.import_module("...") and checks what `import engine` really loads.
"""

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("app", "PySide6", "qasync", "pyqtgraph", "moderngl")
DYNAMIC_IMPORTERS = {"import_module", "__import__"}


def is_forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in the tree, at any depth.

    Relative imports are left out: they resolve inside the package being checked.
    """
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args:
            func, first = node.func, node.args[0]
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if (
                name in DYNAMIC_IMPORTERS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and not first.value.startswith(".")
            ):
                yield node.lineno, first.value


def find_forbidden_imports(package_dir: Path) -> list[str]:
    """'path:line: module' for each forbidden import in the .py files under package_dir."""
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        shown = path.relative_to(package_dir.parent).as_posix()
        for line, module in sorted(imported_modules(tree)):
            if is_forbidden(module):
                found.append(f"{shown}:{line}: {module}")
    return found


def test_engine_imports_no_gui_or_app():
    found = find_forbidden_imports(REPO / "engine")
    assert not found, "engine/ imports GUI/GL code or app/:\n" + "\n".join(found)


def test_checker_reports_forbidden_imports(tmp_path):
    package = tmp_path / "engine"
    package.mkdir()
    (package / "bad.py").write_text(
        textwrap.dedent(
            """\
            import os
            import PySide6.QtCore
            import apple
            from . import app


            def late():
                from app import x
                import importlib
                importlib.import_module("moderngl")
                importlib.import_module(".app", package="engine")
                return x
            """
        )
    )
    assert find_forbidden_imports(package) == [
        "engine/bad.py:2: PySide6.QtCore",
        "engine/bad.py:8: app",
        "engine/bad.py:10: moderngl",
    ]


def test_importing_engine_loads_no_gui_package():
    script = "import sys, engine, engine.cli; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = [name for name in result.stdout.split() if is_forbidden(name)]
    assert not loaded, f"`import engine, engine.cli` loaded: {loaded}"
