"""The `latentscape` launcher: the desktop explorer, or the command line of engine/cli.py.

`latentscape` alone and `latentscape explore [SOURCE]` open the main window; every other
command goes to engine.cli unchanged. `latentscape explore SOURCE --exit-after-first-frame`
is a start-up check (the desktop bundle's smoke test, tests/packaging/): the real window
opens SOURCE and the program exits 0 once the first view is drawn.
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
    # the desktop entry (packaging/): the window gets its name and icon on Wayland
    app.setDesktopFileName("org.latentscape.Latentscape")
    return app


def explore(
    source: str | None = None,
    argv: list[str] | None = None,
    exit_after_first_frame: bool = False,
    timeout: float = 300.0,
) -> int:
    """Open the main window (on SOURCE if given) and run until it closes; the exit code.

    exit_after_first_frame: the start-up check (see FirstFrameCheck); the window then keeps
    its settings and recovery copy in a temporary folder, never the user's."""
    message = no_display_message()
    if message is not None:
        print(message, file=sys.stderr)
        return 1
    app = application(argv or [sys.argv[0]])
    from app.window import MainWindow

    if not exit_after_first_frame:
        window = MainWindow()
        window.show()
        if source:
            window.open_source(source)
        return app.exec()

    import tempfile

    from PySide6.QtCore import QSettings

    with tempfile.TemporaryDirectory(prefix="latentscape-check-") as folder:
        settings = QSettings(f"{folder}/settings.ini", QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, recovery=f"{folder}/recovery.lsworld")
        check = FirstFrameCheck(app, window, source, timeout)
        window.show()
        window.open_source(source)
        app.exec()
        return 1 if check.code is None else check.code  # None: closed before an outcome


class FirstFrameCheck:
    """Ends the program once the window has drawn SOURCE's first view (code 0), or when the
    engine reports an error, the viewport has no OpenGL, or `timeout` seconds pass (code 1);
    the outcome is printed, and the window is closed as a user would close it."""

    def __init__(self, app, window, source: str, timeout: float) -> None:
        import time

        from PySide6.QtCore import QTimer

        self.app, self.window, self.source = app, window, source
        self.code: int | None = None
        self.started = time.monotonic()
        window.bridge.frame.connect(self._on_frame)
        window.bridge.error.connect(lambda m: self._finish(1, f"latentscape: error: {m}"))
        window.viewport.gl_failed.connect(lambda m: self._finish(1, f"latentscape: error: {m}"))
        self.timer = QTimer(window)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(
            lambda: self._finish(1, f"latentscape: error: no view of {source} after {timeout:g} s")
        )
        self.timer.start(int(timeout * 1000))

    def _on_frame(self, frame) -> None:
        viewport = self.window.viewport
        viewport.repaint()  # draw it now, through the viewport's OpenGL renderer
        if self.code is not None or viewport.gl_error:  # gl_failed has finished it
            return
        if viewport.renderer is None or viewport.renderer.frame is None:
            self._finish(1, "latentscape: error: the first view arrived but was not drawn")
            return
        import time

        h, w = frame.rgb.shape[:2]
        self._finish(
            0,
            f"latentscape: first view of {self.source} drawn {time.monotonic() - self.started:.1f}"
            f" s after opening it ({w}x{h}; OpenGL: {viewport.gl_renderer})",
        )

    def _finish(self, code: int, message: str) -> None:
        if self.code is not None:
            return
        self.code = code
        self.timer.stop()
        print(message, file=sys.stdout if code == 0 else sys.stderr, flush=True)
        self.window.close()  # as a user would: the engine thread finishes and stops
        self.app.quit()


def main(argv: list[str] | None = None) -> int:
    import multiprocessing

    multiprocessing.freeze_support()  # a batch's worker processes in the desktop bundle
    from engine import cli

    return cli.main(argv, explore=explore)


if __name__ == "__main__":
    sys.exit(main())
