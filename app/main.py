"""The `latentscape` launcher: the desktop explorer, or the command line of engine/cli.py.

`latentscape` alone and `latentscape explore [SOURCE]` open the main window; every other
command goes to engine.cli unchanged.
"""

from __future__ import annotations

import sys


def explore(source: str | None = None, argv: list[str] | None = None) -> int:
    """Open the main window (on SOURCE if given) and run until it closes; the exit code."""
    from PySide6.QtGui import QSurfaceFormat
    from PySide6.QtWidgets import QApplication

    from app.viewport import gl_format

    QSurfaceFormat.setDefaultFormat(gl_format())  # before the QApplication exists
    app = QApplication.instance() or QApplication(argv or [sys.argv[0]])
    app.setApplicationName("Latentscape")
    app.setOrganizationName("Latentscape")
    from app.window import MainWindow

    window = MainWindow()
    window.show()
    if source:
        window.open_source(source)
    return app.exec()


def main(argv: list[str] | None = None) -> int:
    from engine import cli

    return cli.main(argv, explore=explore)


if __name__ == "__main__":
    sys.exit(main())
