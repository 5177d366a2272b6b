"""The viewport: fly with WASD and the mouse, see the latest frame warped to the camera.

`Navigator` turns held keys, mouse drags and the wheel into the engine's `FlyController`
(engine/camera.py): W/S forward/back, A/D left/right, Q/E down/up, Shift sprint, drag to
look, wheel for speed. It knows Qt's key codes and nothing else, so tests drive it
directly. `Viewport` is the widget: a timer ticks the navigator at display rate, sends each
new pose to the engine (`pose_changed`) and repaints; `FrameRenderer` draws the newest
engine frame reprojected to the current pose, so the view answers a key at display rate
even while the engine is busy.

Drawing: moderngl renders with the programs in shaders/ into an offscreen framebuffer of a
headless context (EGL; the platform's default where there is none), and paintEvent puts
the pixels on the widget with QPainter. Not a QOpenGLWidget: with one in the window Qt
composes the whole window through OpenGL at every repaint, which on a CPU renderer
(Mesa's llvmpipe) held the GUI thread 50-60 ms at a time while a segment generated; read
back and painted, the longest gap is 32-39 ms and the redraw rate went from ~50 to ~70 fps
(scripts/interactive_bench.py). The read-back is 0.2 ms at 872x654; the draw itself 6 ms.

The controller's small pose math runs on the GUI thread (3-vectors and 4x4 matrices with
torch, microseconds; the pose is made once per change); every image-sized tensor stays on
the engine thread.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QCursor, QImage, QPainter
from PySide6.QtWidgets import QLabel, QWidget

from app.keys import help_rows
from app.renderer import FrameRenderer
from engine.messages import ViewFrame

MOVE_KEYS = {
    Qt.Key.Key_W: ("forward", 1.0),
    Qt.Key.Key_S: ("forward", -1.0),
    Qt.Key.Key_D: ("right", 1.0),
    Qt.Key.Key_A: ("right", -1.0),
    Qt.Key.Key_E: ("up", 1.0),
    Qt.Key.Key_Q: ("up", -1.0),
}

CONTROLS = help_rows()  # the help overlay (F1): app.keys, like the menus and the README


BACKGROUND = QColor(20, 20, 23)


class Navigator:
    """Keys, drags and wheel -> FlyController (see the module docstring)."""

    def __init__(self, pose, up, speed: float = 0.5) -> None:
        from engine.camera import FlyController

        self.controller = FlyController(pose, up=up, speed=speed)
        self.held: set[Qt.Key] = set()
        self.sprint = False
        self._pose: np.ndarray | None = None  # the controller's pose, made once per change

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
        self._pose = None
        return True

    def look(self, dx: float, dy: float) -> None:
        self.controller.look(dx, dy)
        self._pose = None

    def wheel(self, steps: float) -> None:
        self.controller.wheel(steps)

    def set_pose(self, pose) -> None:
        self.controller.set_pose(pose)
        self._pose = None

    def face(self, point) -> None:
        """Turn about up toward a world point (3,)."""
        self.controller.face(point)
        self._pose = None

    @property
    def pose(self) -> np.ndarray:
        """(4, 4) camera-to-world; a copy, the caller may keep it."""
        if self._pose is None:
            self._pose = self.controller.pose.numpy()
        return self._pose.copy()


class Viewport(QWidget):
    """See the module docstring."""

    pose_changed = Signal(object)  # (4, 4) camera-to-world, numpy
    gl_failed = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # paintEvent fills it all
        self.navigator: Navigator | None = None
        self.renderer: FrameRenderer | None = None
        self.ctx = None
        self.gl_renderer = ""  # the OpenGL renderer's name, once the context exists
        self._fbo = None
        self.frame: ViewFrame | None = None
        self._pending: ViewFrame | None = None
        self.overlay = "none"  # app.renderer.OVERLAYS
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

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
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

    def _init_gl(self) -> None:
        """The renderer's headless OpenGL context (EGL, else the platform's default)."""
        import moderngl

        from app.renderer import offscreen_context

        try:
            try:
                self.ctx = offscreen_context()
            except Exception:
                self.ctx = moderngl.create_context(standalone=True, require=330)
            self.renderer = FrameRenderer(self.ctx)
            self.gl_renderer = self.ctx.info["GL_RENDERER"]
        except Exception as e:  # no usable OpenGL: say so, keep the window alive
            self.gl_error = f"OpenGL 3.3 is not available for the viewport: {e}"
            self.gl_failed.emit(self.gl_error)

    def _target(self, size: tuple[int, int]):
        """The offscreen framebuffer of the letterboxed view, (w, h) device pixels."""
        if self._fbo is None or self._fbo.size != size:
            if self._fbo is not None:
                for a in [*self._fbo.color_attachments, self._fbo.depth_attachment]:
                    a.release()
                self._fbo.release()
            ctx = self.ctx
            self._fbo = ctx.framebuffer(
                color_attachments=[ctx.renderbuffer(size, 4)],
                depth_attachment=ctx.depth_renderbuffer(size),
            )
        return self._fbo

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        if self.renderer is None and self.gl_error is None:
            self._init_gl()
        if self.renderer is None:
            return
        self._paint_start = time.perf_counter()
        self._paints.append(self._paint_start)
        if self._pending is None and self.renderer.frame is None:
            return
        self.renderer.overlay = self.overlay
        ratio = self.devicePixelRatioF()
        w, h = int(self.width() * ratio), int(self.height() * ratio)
        pose = self.navigator.pose if self.navigator is not None else None
        with self.ctx:  # current for every GL call here, the one before restored after
            if self._pending is not None:
                self.renderer.set_frame(self._pending)
                self._pending = None
            fh, fw, _ = self.renderer.frame.rgb.shape
            scale = min(w / fw, h / fh)  # letterbox: keep the frame's aspect
            vw, vh = max(1, int(fw * scale)), max(1, int(fh * scale))
            fbo = self._target((vw, vh))
            fbo.use()
            self.ctx.viewport = (0, 0, vw, vh)
            self.renderer.draw(pose)
            pixels = fbo.read(components=4, alignment=1)
        image = QImage(pixels, vw, vh, 4 * vw, QImage.Format.Format_RGBA8888)
        image.setDevicePixelRatio(ratio)
        # GL rows start at the bottom: draw the image flipped, centred
        painter.translate((self.width() - vw / ratio) / 2, (self.height() + vh / ratio) / 2)
        painter.scale(1.0, -1.0)
        painter.drawImage(0, 0, image)
        painter.end()
        self.paint_log.append((time.perf_counter(), pose, self.renderer.frame.index))
        self.paint_ms.append(1e3 * (time.perf_counter() - self._paint_start))

    def grab_view(self) -> QImage:
        """What the viewport shows, as an image (screenshots and checks)."""
        return self.grab().toImage()
