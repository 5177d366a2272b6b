"""The memory inspector: what the latent memory holds, how it grew, and what it reads out in
the current view (a dock beside the viewport).

The bridge makes an `Inspection` on the engine thread (numpy only) as often as the engine
likes; `set_inspection` only keeps the newest one and marks it dirty. A timer redraws at
display rate when dirty, so inspections that arrive faster than that are skipped, never
queued. Every plot item (the four ImageItems, the two growth curves) is made once, in
__init__, and updated in place with setImage(autoLevels=False) / setData.

The colour functions are plain numpy and deterministic, so tests check them directly. This
module never imports torch: the GUI thread never touches tensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from engine.messages import Inspection

MIB = 2**20
HOLE = np.array([24, 24, 28], np.uint8)  # no entry seen here
SKY = np.array([150, 190, 235], np.uint8)  # the sky: known, but no surface
DIM = np.array([64, 64, 64], np.uint8)  # tokens the dynamic filter kept
REMOVED = np.array([230, 40, 40], np.uint8)  # tokens the dynamic filter kept out
CHECKER = np.array([[96, 96, 96], [150, 150, 150]], np.uint8)  # holes over the latent
# age 0 (newest) warm and bright to AGE_SPAN segments and older cool and dark; the luma of
# the anchors falls strictly, so it falls strictly along the interpolation too
AGE_ANCHORS = np.array(
    [[255, 245, 160], [255, 190, 60], [230, 110, 60], [150, 70, 140], [60, 60, 150], [35, 45, 110]],
    np.float64,
)
AGE_SPAN = 10
FIGURES = (
    ("entries", "entries"),
    ("memory", "memory"),
    ("rgb", "RGB points"),
    ("ratio", "latent vs RGB"),
    ("per_entry", "bytes / entry"),
    ("chunks", "chunks"),
    ("sky", "sky cells"),
    ("segments", "segments"),
    ("backend", "backend"),
)
VIEWS = (
    ("pca", "latent (PCA)<br>+ known mask"),
    ("age", "age"),
    ("depth", "depth"),
    ("dynamic", "dynamic filter"),
)
NO_DYNAMIC = "no dynamic mask given"


def age_ramp(age: np.ndarray) -> np.ndarray:
    """(..., 3) float64 colours of ages in segments (...): AGE_ANCHORS, newest warm and
    bright, older cooler and darker, saturating at AGE_SPAN. The minimap uses it too."""
    t = np.clip(age, 0, AGE_SPAN).astype(np.float64) * (len(AGE_ANCHORS) - 1) / AGE_SPAN
    return np.stack([np.interp(t, np.arange(len(AGE_ANCHORS)), c) for c in AGE_ANCHORS.T], -1)


def age_colours(age: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 from age (h, w) int (segments since written) and known (h, w) bool:
    age_ramp; HOLE where not known, SKY where known but age < 0."""
    out = np.round(age_ramp(age)).astype(np.uint8)
    out[age < 0] = SKY
    out[~known] = HOLE
    return out


def depth_colours(depth: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 from depth (h, w) (camera z): inverse depth as grey, near bright, over
    the 2nd-98th percentile of the finite positive depths (farthest 48, nearest 255); black
    at holes (0, negative or nan), SKY at +inf."""
    ok = np.isfinite(depth) & (depth > 0)
    grey = np.zeros(depth.shape, np.float64)
    if ok.any():
        inv = 1.0 / depth[ok].astype(np.float64)
        lo, hi = np.percentile(inv, [2, 98])
        v = np.clip((inv - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.ones_like(inv)
        grey[ok] = 48 + 207 * v
    out = np.repeat(np.round(grey).astype(np.uint8)[..., None], 3, -1)
    out[np.isposinf(depth)] = SKY
    return out


def mask_overlay(pca: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8: the PCA colours where known, a grey checkerboard (one token a square)
    at holes, so that 'unknown' reads differently from a black latent."""
    h, w = known.shape
    checker = CHECKER[(np.arange(h)[:, None] + np.arange(w)[None, :]) % 2]
    return np.where(known[..., None], pca, checker).astype(np.uint8)


def dynamic_colours(dynamic: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """(h, w, 3) uint8: REMOVED on the tokens the dynamic filter kept out, DIM elsewhere (all
    DIM when no mask was given)."""
    out = np.broadcast_to(DIM, (*shape, 3)).copy()
    if dynamic is not None:
        out[dynamic] = REMOVED
    return out


class Inspector(QWidget):
    """Figures, the growth plot and the current readout (see the module docstring)."""

    def __init__(self, parent: QWidget | None = None, interval_ms: int = 100) -> None:
        super().__init__(parent)
        self.redraws = 0
        self._pending: Inspection | None = None
        self._dirty = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        form = QFormLayout()
        self.figures = {key: QLabel("-") for key, _ in FIGURES}
        for key, text in FIGURES:
            form.addRow(text, self.figures[key])
        layout.addLayout(form)

        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(140)
        self.plot.setLabel("bottom", "segment")
        self.plot.setLabel("left", "MiB")
        self.plot.addLegend(offset=(5, 5))
        self.latent_curve = self._curve("latent", (255, 190, 60))
        self.rgb_curve = self._curve("RGB points", (120, 170, 235))
        layout.addWidget(self.plot, 1)

        # 2 x 2 views of equal width: a title row above each row of images, then the note
        self.views = pg.GraphicsLayoutWidget()
        self.views.setMinimumHeight(260)
        self.images: dict[str, pg.ImageItem] = {}
        for i, (key, title) in enumerate(VIEWS):
            row, col = 2 * (i // 2), i % 2
            self.views.addLabel(title, row=row, col=col, size="8pt")
            vb = self.views.addViewBox(
                row=row + 1, col=col, lockAspect=True, invertY=True, enableMouse=False
            )
            self.images[key] = pg.ImageItem(axisOrder="row-major", levels=(0, 255))
            vb.addItem(self.images[key])
        self.dynamic_note = self.views.addLabel(NO_DYNAMIC, row=4, col=0, colspan=2, size="8pt")
        for col in (0, 1):
            self.views.ci.layout.setColumnStretchFactor(col, 1)
        layout.addWidget(self.views, 2)

        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        self.clear()

    def set_stats(self, stats: dict) -> None:
        """The bridge's stats dict (entries, bytes, rgb_bytes, segments, can_undo, backend)."""
        self._show_bytes(stats.get("entries"), stats.get("bytes"), stats.get("rgb_bytes"))
        self._set("segments", stats.get("segments"))
        self._set("backend", stats.get("backend"))

    def set_inspection(self, ins: Inspection) -> None:
        """Keep the newest inspection; the next timer tick draws it."""
        self._pending = ins
        self._dirty = True

    def clear(self) -> None:
        """A new world (or none): empty views and '-' everywhere."""
        self._pending = None
        self._dirty = False
        for label in self.figures.values():
            label.setText("-")
        for item in self.images.values():
            item.clear()
        self.latent_curve.setData([], [])
        self.rgb_curve.setData([], [])
        self.dynamic_note.setVisible(False)

    def _tick(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        ins = self._pending
        s = ins.summary
        self._show_bytes(s.get("entries"), s.get("bytes"), s.get("rgb_bytes"))
        per_entry = s.get("bytes_per_entry")
        self._set("per_entry", None if per_entry is None else f"{per_entry:.1f} B")
        self._set("chunks", s.get("chunks"))
        self._set("sky", s.get("sky_cells"))
        self._set("segments", s.get("segment"))

        g = np.asarray(ins.growth, np.float64).reshape(-1, 3)
        self.latent_curve.setData(g[:, 0], g[:, 2] / MIB)
        entries, rgb = s.get("entries") or 0, s.get("rgb_bytes")
        if entries > 0 and rgb is not None:
            self.rgb_curve.setData(g[:, 0], g[:, 1] * (rgb / entries) / MIB)
        else:
            self.rgb_curve.setData([], [])

        shown = {
            "pca": mask_overlay(ins.pca, ins.known),
            "age": age_colours(ins.age, ins.known),
            "depth": depth_colours(ins.depth),
            "dynamic": dynamic_colours(ins.dynamic, ins.known.shape),
        }
        for key, img in shown.items():
            self.images[key].setImage(img, autoLevels=False)
        self.dynamic_note.setVisible(ins.dynamic is None)
        self.redraws += 1

    def _curve(self, name: str, colour: tuple[int, int, int]) -> pg.PlotDataItem:
        pen = pg.mkPen(colour, width=2)
        return self.plot.plot(
            [], [], name=name, pen=pen, symbol="o", symbolSize=4, symbolBrush=colour
        )

    def _show_bytes(self, entries, nbytes, rgb_bytes) -> None:
        self._set("entries", entries)
        self._set("memory", None if nbytes is None else f"{nbytes / MIB:.2f} MiB")
        self._set("rgb", None if rgb_bytes is None else f"{rgb_bytes / MIB:.2f} MiB")
        if nbytes and rgb_bytes:
            r = rgb_bytes / nbytes
            self._set("ratio", f"{r:.1f} x smaller" if r >= 1 else f"{1 / r:.1f} x larger")
        else:
            self._set("ratio", None)

    def _set(self, key: str, value) -> None:
        self.figures[key].setText("-" if value is None else str(value))
