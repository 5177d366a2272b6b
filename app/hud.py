"""The status bar's HUD: frame rate, segment, memory size (and what an RGB memory of the
same points would need), the backends, and what generation is doing. It keeps the engine's
latest stats (`stats`) and whether a segment is being made (`busy`), and redraws four
times a second."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel

INTERVAL_MS = 250


class Hud(QLabel):
    def __init__(self, viewport) -> None:
        super().__init__()
        self.viewport = viewport
        self.stats: dict = {}  # the engine's latest (EngineBridge.stats)
        self.busy = False  # a segment is being generated
        self.generating = False  # generation is on
        self.progress_text = ""
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.redraw)
        self.timer.start(INTERVAL_MS)

    def set_stats(self, stats: dict) -> None:
        self.stats = stats

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        if not busy:
            self.progress_text = ""

    def set_progress(self, done: int, total: int, what: str) -> None:
        self.progress_text = f"{what} {100 * done // total}%" if total else what

    def redraw(self) -> None:
        s = self.stats
        parts = [f"{self.viewport.fps:.0f} fps"]
        if s:
            parts += [
                f"segment {s['segments']}",
                f"memory {s['bytes'] / 2**20:.2f} MiB ({s['entries']:,} entries; "
                f"RGB would need {s['rgb_bytes'] / 2**20:.1f} MiB)",
                s["backend"],
            ]
        parts.append(
            ("generating " + self.progress_text)
            if self.busy
            else ("generation on" if self.generating else "generation paused")
        )
        self.setText("  |  ".join(parts))
