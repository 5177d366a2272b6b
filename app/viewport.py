"""The viewport: fly with WASD and the mouse, see the latest frame warped to the camera.

`Navigator` turns held keys, mouse drags and the wheel into the engine's `FlyController`
(engine/camera.py): W/S forward/back, A/D left/right, Q/E down/up, Shift sprint, drag to
look, wheel for speed. It knows Qt's key codes and nothing else, so tests drive it
directly. `Viewport` is the QOpenGLWidget: a timer ticks the navigator at display rate,
sends each new pose to the engine (`pose_changed`) and redraws; `FrameRenderer` draws the
newest engine frame reprojected to the current pose, so the view answers a key at display
rate even while the engine is busy.

The controller's small pose math runs on the GUI thread (3-vectors and 4x4 matrices with
torch, microseconds); every image-sized tensor stays on the engine thread.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from PySide6.QtCore import QEvent, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QCursor, QSurfaceFormat
from PySide6.QtOpenGLWidgets import QOpenGLWidget
from PySide6.QtWidgets import QLabel

from app.renderer import FrameRenderer, ViewFrame

MOVE_KEYS = {
    Qt.Key.Key_W: ("forward", 1.0),
    Qt.Key.Key_S: ("forward", -1.0),
    Qt.Key.Key_D: ("right", 1.0),
    Qt.Key.Key_A: ("right", -1.0),
    Qt.Key.Key_E: ("up", 1.0),
    Qt.Key.Key_Q: ("up", -1.0),
}

CONTROLS = [
    ("W / S", "forward / back"),
    ("A / D", "left / right"),
    ("Q / E", "down / up"),
    ("Shift", "sprint (3x)"),
    ("drag", "look around"),
    ("C", "capture the mouse to look (Esc releases)"),
    ("wheel", "flying speed"),
    ("Space", "start / pause generation"),
    ("F", "tint generated tokens"),
    ("R", "record the camera path (again: stop)"),
    ("Esc", "release the mouse / cancel the segment"),
    ("Ctrl+O", "open a photo"),
    ("Ctrl+S", "save the world"),
    ("Ctrl+Z", "undo the last segment or erase"),
    ("F12", "screenshot"),
    ("F1", "this help"),
]


def gl_format() -> QSurfaceFormat:
    """OpenGL 3.3 core: set as the default before the QApplication exists."""
    fmt = QSurfaceFormat()
    fmt.setVersion(3, 3)
    fmt.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    fmt.setDepthBufferSize(24)
    fmt.setSwapInterval(0)
    return fmt


class Navigator:
    """Keys, drags and wheel -> FlyController (see the module docstring)."""

    def __init__(self, pose, up, speed: float = 0.5) -> None:
        from engine.camera import FlyController

        self.controller = FlyController(pose, up=up, speed=speed)
        self.held: set[Qt.Key] = set()
        self.sprint = False

    def press(self, key) -> bool:
        """A key went down; True when it is one of the navigator's."""
        return self._key(key, True)

    def release(self, key) -> bool:
        """A key went up; True when it is one of the navigator's."""
        return self._key(key, False)

    def _key(self, key, down: bool) -> bool:
        if key == Qt.Key.Key_Shift:
            self.sprint = down
        elif key in MOVE_KEYS:
            (self.held.add if down else self.held.discard)(key)
        else:
            return False
        return True

    def clear(self) -> None:
        """Forget held keys (focus lost: no key-up will come)."""
        self.held.clear()
        self.sprint = False

    def fly_input(self):
        from engine.camera import FlyInput

        axes = {"forward": 0.0, "right": 0.0, "up": 0.0}
        for key in self.held:
            axis, sign = MOVE_KEYS[key]
            axes[axis] += sign
        return FlyInput(**axes, sprint=self.sprint)

    @property
    def moving(self) -> bool:
        return bool(self.held)

    def tick(self, dt: float) -> bool:
        """Move for dt seconds with the held keys; True when the camera moved."""
        if not self.held:
            return False
        self.controller.step(self.fly_input(), dt)
        return True

    def look(self, dx: float, dy: float) -> None:
        self.controller.look(dx, dy)

    def wheel(self, steps: float) -> None:
        self.controller.wheel(steps)

    def set_pose(self, pose) -> None:
        self.controller.set_pose(pose)

    def face(self, point) -> None:
        """Turn about up toward a world point (3,)."""
        self.controller.face(point)

    @property
    def pose(self) -> np.ndarray:
        return self.controller.pose.numpy().copy()


class Viewport(QOpenGLWidget):
    """See the module docstring."""

    pose_changed = Signal(object)  # (4, 4) camera-to-world, numpy
    gl_failed = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 240)
        self.navigator: Navigator | None = None
        self.renderer: FrameRenderer | None = None
        self.frame: ViewFrame | None = None
        self._pending: ViewFrame | None = None
        self.show_holes = False
        self.gl_error: str | None = None
        self._drag: QPoint | None = None
        self.captured = False  # the mouse looks around without a button; Esc releases
        self._last_tick = time.perf_counter()
        self._paints: deque = deque(maxlen=240)  # repaint times, for fps
        # for the interactive benchmark: (time, view pose, engine frame index) per repaint,
        # and the time of every timer tick
        self.paint_log: deque = deque(maxlen=4096)
        self.tick_log: deque = deque(maxlen=4096)
        self.paint_ms: deque = deque(maxlen=4096)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.timer.start(16)
        self.help = QLabel(self)
        self.help.setText(
            "<table>"
            + "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in CONTROLS)
            + "</table>"
        )
        self.help.setStyleSheet(
            "QLabel { background: rgba(20, 20, 24, 210); color: #eee; padding: 10px; }"
        )
        self.help.adjustSize()
        self.help.move(12, 12)
        self.help.hide()

    # ---- state from outside

    def start(self, pose, up) -> None:
        """A world opened: fly from pose with world up `up`."""
        self.navigator = Navigator(pose, up)
        self.frame = self._pending = None
        self.pose_changed.emit(self.navigator.pose)
        self.update()

    def set_frame(self, frame: ViewFrame) -> None:
        """The newest engine frame; drawn at the next repaint."""
        self._pending = frame
        self.frame = frame
        self.update()

    def set_captured(self, on: bool) -> None:
        """Capture the mouse (hidden; every move looks around) or release it."""
        if on == self.captured or (on and self.navigator is None):
            return
        self.captured = on
        self.setMouseTracking(on)
        if on:
            self.setFocus()
            self.grabMouse()
            self.setCursor(Qt.CursorShape.BlankCursor)
            self._recentre()
        else:
            self.releaseMouse()
            self.unsetCursor()

    def _recentre(self) -> None:
        QCursor.setPos(self.mapToGlobal(self.rect().center()))

    def toggle_help(self) -> None:
        self.help.setVisible(not self.help.isVisible())

    @property
    def fps(self) -> float:
        """Repaints per second over the last second."""
        now = time.perf_counter()
        return float(sum(now - t <= 1.0 for t in self._paints))

    # ---- input

    def event(self, event) -> bool:
        # while captured, Esc releases the mouse before it is any window's shortcut
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and self.captured
            and event.key() == Qt.Key.Key_Escape
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self.captured and event.key() == Qt.Key.Key_Escape:
            self.set_captured(False)
            event.accept()
            return
        if self.navigator is not None and not event.isAutoRepeat():
            if self.navigator.press(event.key()):
                event.accept()
                return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:  # noqa: N802
        if self.navigator is not None and not event.isAutoRepeat():
            if self.navigator.release(event.key()):
                event.accept()
                return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:  # noqa: N802
        if self.navigator is not None:
            self.navigator.clear()
        self.set_captured(False)
        super().focusOutEvent(event)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag = event.position().toPoint()
            self.setFocus()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self.navigator is None:
            return
        p = event.position().toPoint()
        if self.captured:  # relative to the centre, where the cursor is put back
            d = p - self.rect().center()
            if d.x() or d.y():
                self._recentre()
        elif self._drag is not None:
            d = p - self._drag
            self._drag = p
        else:
            return
        if d.x() or d.y():
            self.navigator.look(d.x(), d.y())
            self._moved()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag = None

    def wheelEvent(self, event) -> None:  # noqa: N802
        if self.navigator is not None:
            self.navigator.wheel(event.angleDelta().y() / 120.0)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.tick_log.append(now)
        dt, self._last_tick = min(now - self._last_tick, 0.1), now
        if self.navigator is not None and self.navigator.tick(dt):
            self._moved()

    def _moved(self) -> None:
        self.pose_changed.emit(self.navigator.pose)
        self.update()

    # ---- drawing

    def initializeGL(self) -> None:  # noqa: N802
        import moderngl

        try:
            self.ctx = moderngl.create_context(require=330)
            self.renderer = FrameRenderer(self.ctx)
        except Exception as e:  # no usable OpenGL: say so, keep the window alive
            self.gl_error = f"OpenGL 3.3 is not available for the viewport: {e}"
            self.gl_failed.emit(self.gl_error)

    def paintGL(self) -> None:  # noqa: N802
        if self.renderer is None:
            return
        self._paint_start = time.perf_counter()
        self._paints.append(self._paint_start)
        if self._pending is not None:
            self.renderer.set_frame(self._pending)
            self._pending = None
        self.renderer.show_holes = self.show_holes
        fbo = self.ctx.detect_framebuffer(self.defaultFramebufferObject())
        fbo.use()
        ratio = self.devicePixelRatio()
        w, h = int(self.width() * ratio), int(self.height() * ratio)
        self.ctx.viewport = (0, 0, w, h)
        self.ctx.clear(0.08, 0.08, 0.09, 1.0, depth=1.0)
        if self.renderer.frame is not None:
            fh, fw, _ = self.renderer.frame.rgb.shape
            scale = min(w / fw, h / fh)  # letterbox: keep the frame's aspect
            vw, vh = int(fw * scale), int(fh * scale)
            self.ctx.viewport = ((w - vw) // 2, (h - vh) // 2, vw, vh)
            pose = self.navigator.pose if self.navigator is not None else None
            self.renderer.draw(pose, clear=False)
            self.paint_log.append((time.perf_counter(), pose, self.renderer.frame.index))
            self.paint_ms.append(1e3 * (time.perf_counter() - self._paint_start))
