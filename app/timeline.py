"""The timeline: the time strip of the camera-path editor.

A horizontal track for path time 0 .. `duration` seconds, a diamond at each keyframe time
(the selected one larger, in orange), a playhead at the current time and a few time labels
under the track. Painted with QPainter in `paintEvent`; every setter calls `update()` only
when something it draws changed, so a burst of calls costs one repaint.

Time and pixels map linearly with a margin of MARGIN px on either side, so the diamonds at
0 and at `duration` are drawn whole: `x_at(t) = MARGIN + t / duration * (width - 2 MARGIN)`,
and `time_at` is its inverse, clamped to [0, duration]. A duration of 0 is an empty track:
every time is 0 and everything sits at the left margin.

Input. A left press within KEY_HIT_PX of a keyframe's diamond emits `key_clicked(index)` and
nothing else (the editor decides what a click on a key selects); a left press anywhere else
on the strip moves the playhead there and emits `scrubbed(time)`; a drag after either press
scrubs. With focus, Left / Right step the playhead by `step` seconds, Home / End go to 0 /
`duration`, each emitting `scrubbed`. `set_time` and the other setters never emit: they are
how the editor tells the strip what is, not user input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPolygonF
from PySide6.QtWidgets import QWidget

MARGIN = 10  # px left and right of the track: room for the diamonds at 0 and at duration
KEY_HIT_PX = 6  # a press this close to a diamond's centre is a click on that key
KEY_HALF = 4  # half the diagonal of a key's diamond, px
SELECTED_HALF = 6
LABEL_GAP_PX = 48  # the least distance between two intermediate time labels
LABEL_STEPS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)
DEFAULT_STEP = 1 / 24  # Left / Right: one frame at 24 fps

BACKGROUND = QColor(28, 28, 32)
TRACK = QColor(88, 88, 96)
LABEL = QColor(150, 150, 160)
KEY = QColor(225, 225, 225)
SELECTED = QColor(255, 170, 0)
PLAYHEAD = QColor(80, 200, 255)


def format_seconds(t: float) -> str:
    """A time label: "0 s", "2.5 s", "4.17 s" (at most two decimals, no trailing zeros)."""
    return f"{round(t, 2):g} s"


def label_step(duration: float, px_per_s: float) -> float | None:
    """The smallest of LABEL_STEPS whose labels are at least LABEL_GAP_PX apart, or None
    when none fits (or the track is empty)."""
    if duration <= 0 or px_per_s <= 0:
        return None
    for step in LABEL_STEPS:
        if step * px_per_s >= LABEL_GAP_PX:
            return step
    return None


class Timeline(QWidget):
    """See the module docstring."""

    scrubbed = Signal(float)  # the user pressed, dragged or stepped: the new time, seconds
    key_clicked = Signal(int)  # a press on a keyframe's diamond: its index in `keys`

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._time = 0.0
        self._duration = 0.0
        self._keys: list[float] = []
        self._selected: int | None = None
        self._dragging = False
        self.step = DEFAULT_STEP  # seconds per Left / Right press
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumHeight(36)

    # ---- state from outside (never emits)

    @property
    def time(self) -> float:
        return self._time

    @property
    def duration(self) -> float:
        return self._duration

    @property
    def keys(self) -> list[float]:
        """A copy: change the keys with set_keys, which repaints."""
        return list(self._keys)

    @property
    def selected(self) -> int | None:
        return self._selected

    def set_keys(self, times: Sequence[float], selected: int | None = None) -> None:
        """The keyframe times in seconds, in the path's order; `selected` an index or None."""
        keys = [float(t) for t in times]
        if not all(math.isfinite(t) for t in keys):
            raise ValueError(f"key times must be finite, got {keys}")
        if selected is not None and not 0 <= selected < len(keys):
            raise ValueError(f"selected must be None or in [0, {len(keys)}), got {selected}")
        if keys != self._keys or selected != self._selected:
            self._keys, self._selected = keys, selected
            self.update()

    def set_duration(self, seconds: float) -> None:
        """The path's length, seconds >= 0; the playhead is clamped to it."""
        seconds = float(seconds)
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"duration must be finite and >= 0, got {seconds}")
        if seconds != self._duration:
            self._duration = seconds
            self._time = min(self._time, seconds)
            self.update()

    def set_time(self, seconds: float) -> None:
        """Move the playhead, clamped to [0, duration]; emits nothing."""
        t = self._clamp(seconds)
        if t != self._time:
            self._time = t
            self.update()

    # ---- time <-> pixels

    def _span(self) -> float:
        """Pixels from time 0 to `duration` (at least 1, however narrow the widget)."""
        return max(self.width() - 2 * MARGIN, 1)

    def _clamp(self, t: float) -> float:
        return min(max(float(t), 0.0), self._duration)

    def x_at(self, t: float) -> float:
        """The widget x of time t (clamped to [0, duration]); MARGIN when the track is empty."""
        if self._duration <= 0:
            return float(MARGIN)
        return MARGIN + self._clamp(t) / self._duration * self._span()

    def time_at(self, x: float) -> float:
        """The time under widget x, clamped to [0, duration]; 0 when the track is empty."""
        if self._duration <= 0:
            return 0.0
        return self._clamp((x - MARGIN) / self._span() * self._duration)

    def key_at(self, x: float) -> int | None:
        """The index of the key whose diamond is nearest x, if within KEY_HIT_PX, else None."""
        if not self._keys:
            return None
        dist = [abs(self.x_at(t) - x) for t in self._keys]
        i = min(range(len(dist)), key=dist.__getitem__)
        return i if dist[i] <= KEY_HIT_PX else None

    # ---- input

    def _scrub(self, t: float) -> None:
        """User input asked for time t: move there and say so (even if it is where it was)."""
        self.set_time(t)
        self.scrubbed.emit(self._time)

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        event.accept()
        self._dragging = True
        x = event.position().x()
        key = self.key_at(x)
        if key is not None:
            self.key_clicked.emit(key)
        else:
            self._scrub(self.time_at(x))

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if not self._dragging:
            super().mouseMoveEvent(event)
            return
        event.accept()
        self._scrub(self.time_at(event.position().x()))

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._dragging = False
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        key = event.key()
        if key == Qt.Key.Key_Left:
            self._scrub(self._time - self.step)
        elif key == Qt.Key.Key_Right:
            self._scrub(self._time + self.step)
        elif key == Qt.Key.Key_Home:
            self._scrub(0.0)
        elif key == Qt.Key.Key_End:
            self._scrub(self._duration)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # ---- drawing

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(300, 44)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(2 * MARGIN + 20, 36)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        h = self.height()
        p.fillRect(self.rect(), BACKGROUND)
        metrics = QFontMetrics(self.font())
        label_h = metrics.height()
        y = max((h - label_h) / 2, SELECTED_HALF + 1)  # the track's centre line
        x0, x1 = self.x_at(0.0), self.x_at(self._duration)

        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(TRACK)
        p.drawRoundedRect(QRectF(x0 - 2, y - 2, x1 - x0 + 4, 4), 2, 2)
        self._paint_labels(p, metrics, y + SELECTED_HALF + 1)

        for i, t in enumerate(self._keys):
            if i != self._selected:
                self._paint_diamond(p, self.x_at(t), y, KEY_HALF, KEY)
        if self._selected is not None:  # on top of any key it overlaps
            self._paint_diamond(
                p, self.x_at(self._keys[self._selected]), y, SELECTED_HALF, SELECTED
            )

        # the playhead, full height, unsmoothed so its colour is exact at its column
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        px = round(self.x_at(self._time))
        p.fillRect(px - 1, 0, 2, h, PLAYHEAD)
        p.end()

    @staticmethod
    def _paint_diamond(p: QPainter, x: float, y: float, half: float, colour: QColor) -> None:
        p.setBrush(colour)
        p.drawPolygon(
            QPolygonF(
                [
                    QPointF(x, y - half),
                    QPointF(x + half, y),
                    QPointF(x, y + half),
                    QPointF(x - half, y),
                ]
            )
        )

    def _paint_labels(self, p: QPainter, metrics: QFontMetrics, top: float) -> None:
        """Time labels under the track: "0 s" at the left end, the duration at the right
        end, and round times between where they fit without touching the end labels."""
        p.setPen(LABEL)
        rect = QRectF(0, top, self.width(), metrics.height())
        left = format_seconds(0.0)
        p.drawText(rect.adjusted(MARGIN - 2, 0, 0, 0), Qt.AlignmentFlag.AlignLeft, left)
        if self._duration <= 0:
            return
        right = format_seconds(self._duration)
        p.drawText(rect.adjusted(0, 0, -(MARGIN - 2), 0), Qt.AlignmentFlag.AlignRight, right)
        step = label_step(self._duration, self._span() / self._duration)
        if step is None:
            return
        gap = metrics.horizontalAdvance("0")  # the least blank between two labels
        lo = self.x_at(0.0) + metrics.horizontalAdvance(left) + gap
        hi = self.width() - (MARGIN - 2) - metrics.horizontalAdvance(right) - gap
        for k in range(1, math.ceil(self._duration / step)):
            t = k * step
            text = format_seconds(t)
            half = metrics.horizontalAdvance(text) / 2
            x = self.x_at(t)
            if lo <= x - half and x + half <= hi:
                p.drawText(QPointF(x - half, top + metrics.ascent()), text)
