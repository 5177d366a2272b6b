"""The `latentscape` launcher: the desktop explorer, or the command line of engine/cli.py.

`latentscape` alone and `latentscape explore [SOURCE]` open the main window; every other
command goes to engine.cli unchanged.
"""

from __future__ import annotations

import sys


def no_display_message() -> str | None:
    """Why no window can open here (Linux without X11 or Wayland), or None."""
    import os

    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "latentscape: error: no display to open the explorer on (neither DISPLAY nor "
        "WAYLAND_DISPLAY is set). Run it in a desktop session, or under a virtual one with "
        "`xvfb-run -a latentscape`; the command line works without one (`latentscape --help`)."
    )


def application(argv: list[str]):
    """The QApplication (the existing one if there is one)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("Latentscape")
    app.setOrganizationName("Latentscape")
    return app


def explore(source: str | None = None, argv: list[str] | None = None) -> int:
    """Open the main window (on SOURCE if given) and run until it closes; the exit code."""
    message = no_display_message()
    if message is not None:
        print(message, file=sys.stderr)
        return 1
    app = application(argv or [sys.argv[0]])
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
