"""The minimap: the latent spatial memory seen from above, the path flown, the camera's view.

The engine thread sends a `MemoryMap` (app/bridge.py) after every change; the window sends
the camera whenever it moves. Both only land in attributes with a dirty flag: a timer
redraws at display rate, so a burst of maps costs one redraw, never one per engine step.
Every plot item is made once and updated in place (`setImage(autoLevels=False)`,
`setData`), as in pyqtgraph's ImageItem and VideoSpeedTest examples.

Ground coordinates are (x, y) = (right, forward) of the seed camera (the bridge's
`MemoryMap`); the plot shows them with y up, so forward is up the screen. A click faces the
camera to the point under the mouse; with the erase brush on, a left drag paints a stroke
(the view does not pan) and its release asks the engine to erase under it, one undo step.

A camera path (the path editor's keyframes and the curve sampled between them) is drawn over
the map and under the live frustum: all keyframe frustums in one curve item, NaN rows
between outlines (connect="finite"), the selected one again in orange, the curve dashed.

Numpy only: the GUI thread never touches a tensor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.inspector import age_ramp

if TYPE_CHECKING:
    from engine.messages import MemoryMap

MODES = ("segment", "age")
SEED_COLOUR = (225, 225, 215)  # segment 0, the seed photo
# a qualitative palette for segments 1, 2, ... (Tableau 10 without its grey)
PALETTE = np.array(
    [
        (78, 121, 167),
        (242, 142, 43),
        (225, 87, 89),
        (118, 183, 178),
        (89, 161, 79),
        (237, 201, 72),
        (176, 122, 161),
        (255, 157, 167),
        (156, 117, 95),
    ],
    np.float64,
)
MIN_BRIGHTNESS = 0.3  # a cell with one entry stays visible on the dark background
FRUSTUM_FRACTION = 0.12  # frustum length, as a fraction of the map's larger side
PATH_FRUSTUM_SCALE = 0.7  # a path keyframe's frustum, relative to the live camera's
PATH_COLOUR = (90, 200, 255)
SELECTED_COLOUR = (255, 170, 0)
# stacking: the map image, the flown trajectory, the camera path, the live frustum on top
Z_IMAGE, Z_PATH, Z_FRUSTUM = -10, 5, 10
DEFAULT_RADIUS = 0.25


def to_ground(ground: np.ndarray, points: np.ndarray) -> np.ndarray:
    """ground (4, 3) rows origin, right, forward, up; world points (n, 3) -> ground (n, 2):
    ((p - origin) @ right, (p - origin) @ forward)."""
    ground = np.asarray(ground, np.float64)
    points = np.asarray(points, np.float64)
    if ground.shape != (4, 3) or points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(
            f"expected ground (4, 3) and points (n, 3), got {ground.shape}, {points.shape}"
        )
    return (points - ground[0]) @ ground[1:3].T


def fov_intrinsics(fov_deg: float, width: int, height: int) -> np.ndarray:
    """(3, 3) pinhole K of a vertical field of view, as engine.camera.Camera.from_fov makes
    it: square pixels fx = fy = (height / 2) / tan(fov / 2), principal point at the frame's
    centre (width / 2, height / 2)."""
    if not 0 < fov_deg < 180:
        raise ValueError(f"fov_deg must be in (0, 180), got {fov_deg}")
    if width <= 0 or height <= 0:
        raise ValueError(f"expected a positive frame size, got {width} x {height}")
    focal = 0.5 * height / np.tan(np.radians(fov_deg) / 2)
    return np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


def frustum_outline(ground, pose, K, width, height, length) -> np.ndarray:
    """The camera's horizontal field of view as a closed polyline (4, 2) in ground coords:
    position, far left, far right, position. pose (4, 4) camera-to-world with OpenCV axes
    (x right, y down, z forward), K (3, 3) in pixels. The side rays R @ [(u - cx) / fx, 0, 1]
    for u = 0 and u = width are laid on the ground plane and scaled to `length`; height is
    part of the camera's description but the horizontal outline does not depend on it."""
    ground, pose, K = (np.asarray(a, np.float64) for a in (ground, pose, K))
    fx, cx = K[0, 0], K[0, 2]
    rays = np.array([[-cx / fx, 0.0, 1.0], [(width - cx) / fx, 0.0, 1.0]]) @ pose[:3, :3].T
    flat = rays @ ground[1:3].T  # the up component dropped
    flat /= np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
    c = to_ground(ground, pose[None, :3, 3])[0]
    return np.stack([c, c + length * flat[0], c + length * flat[1], c])


def colorize(count, segment, current, mode) -> np.ndarray:
    """(rows, cols, 4) uint8 RGBA of an occupancy grid: brightness from log density, hue
    from the cell's segment (mode "segment": PALETTE, the seed photo grey-white) or its age
    current - segment (mode "age": app.inspector.age_ramp, the inspector's age colours),
    alpha 0 on empty cells."""
    count = np.asarray(count, np.float64)
    segment = np.asarray(segment, np.int64)
    if count.ndim != 2 or segment.shape != count.shape:
        raise ValueError(
            f"expected count and segment (rows, cols), got {count.shape}, {segment.shape}"
        )
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    rgba = np.zeros((*count.shape, 4), np.uint8)
    occupied = count > 0
    if not occupied.any():
        return rgba
    if mode == "segment":
        colour = np.where(
            (segment > 0)[..., None],
            PALETTE[(np.maximum(segment, 1) - 1) % len(PALETTE)],
            np.array(SEED_COLOUR, np.float64),
        )
    else:
        colour = age_ramp(current - segment)  # the inspector's age colours
    density = np.log1p(np.maximum(count, 0)) / np.log1p(count.max())
    brightness = MIN_BRIGHTNESS + (1.0 - MIN_BRIGHTNESS) * density
    rgba[..., :3] = np.clip(colour * brightness[..., None], 0, 255).round()
    rgba[..., 3] = np.where(occupied, 255, 0)
    return rgba


def densify(points: np.ndarray, step: float) -> np.ndarray:
    """The polyline points (n, 2) with points added so that neighbours are at most step
    apart: a fast stroke erases without gaps."""
    if len(points) < 2:
        return points
    out = [points[:1]]
    for a, b in zip(points[:-1], points[1:]):
        k = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        out.append(a + np.arange(1, k + 1)[:, None] / k * (b - a))
    return np.concatenate(out)


class StrokeViewBox(pg.ViewBox):
    """pyqtgraph's ViewBox (drag pans, wheel zooms) that, while `painting`, turns left-button
    drags into brush strokes instead of pans."""

    stroke_moved = Signal(object)  # the stroke so far, (n, 2) view coordinates
    stroke_done = Signal(object)  # the whole stroke, once, on release

    def __init__(self) -> None:
        super().__init__()
        self.painting = False
        self.stroke: list[tuple[float, float]] = []

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 (pyqtgraph's name)
        if not self.painting or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            self.stroke = []
            self.add_point(self.mapSceneToView(ev.buttonDownScenePos()))
        self.add_point(self.mapSceneToView(ev.scenePos()))
        if ev.isFinish():
            self.finish_stroke()

    def add_point(self, p) -> None:
        self.stroke.append((p.x(), p.y()))
        self.stroke_moved.emit(np.array(self.stroke, np.float64))

    def finish_stroke(self) -> None:
        points, self.stroke = np.array(self.stroke, np.float64).reshape(-1, 2), []
        self.stroke_done.emit(points)


class Minimap(QWidget):
    """See the module docstring."""

    face = Signal(float, float)  # the ground point clicked: turn the camera to face it
    erase = Signal(object, float)  # one brush stroke: points (n, 2) float64, radius

    def __init__(self, parent=None, interval_ms: int = 50) -> None:
        super().__init__(parent)
        self.map: MemoryMap | None = None
        self.ground: np.ndarray | None = None
        self.camera: tuple | None = None  # (pose, K, width, height)
        self.path: tuple | None = None  # (poses, fovs, width, height, curve, selected)
        self.mode = "segment"
        self.redraws = 0  # map images drawn
        self.path_redraws = 0  # camera paths drawn
        self._map_dirty = self._camera_dirty = self._path_dirty = False
        self._fit_pending = True  # auto-range on the first map of a world only

        self.mode_box = QComboBox()
        self.mode_box.addItems(MODES)
        self.mode_box.currentTextChanged.connect(self.set_mode)
        self.brush_button = QPushButton("Erase brush")
        self.brush_button.setCheckable(True)
        self.brush_button.toggled.connect(self._brush_toggled)
        self.radius_box = QDoubleSpinBox()
        self.radius_box.setRange(0.01, 100.0)
        self.radius_box.setDecimals(2)
        self.radius_box.setSingleStep(0.05)
        self.radius_box.setValue(DEFAULT_RADIUS)
        self.radius_box.setToolTip("brush radius, scene units")
        fit = QPushButton("Fit")
        fit.clicked.connect(self.fit)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("colour by:"))
        bar.addWidget(self.mode_box)
        bar.addWidget(self.brush_button)
        bar.addWidget(self.radius_box)
        bar.addStretch(1)
        bar.addWidget(fit)

        self.view = StrokeViewBox()
        self.view.setAspectLocked(True)
        self.view.disableAutoRange()  # the user's pan and zoom stay across updates
        self.plot = pg.PlotWidget(viewBox=self.view)
        self.plot.setLabel("bottom", "right")
        self.plot.setLabel("left", "forward")
        self.plot.hideButtons()  # "Fit" does what the corner button would
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(Z_IMAGE)
        self.trajectory = pg.PlotCurveItem(pen=pg.mkPen((235, 235, 235, 170), width=1))
        self.keyframes = pg.ScatterPlotItem(
            size=7, pen=pg.mkPen((20, 20, 20)), brush=pg.mkBrush(235, 235, 235)
        )
        self.frustum = pg.PlotCurveItem(pen=pg.mkPen((255, 220, 0), width=2))
        self.frustum.setZValue(Z_FRUSTUM)
        # the camera path: every keyframe's outline in one item, NaN rows between outlines
        self.path_frustums = pg.PlotCurveItem(pen=pg.mkPen(PATH_COLOUR, width=1), connect="finite")
        self.path_selected = pg.PlotCurveItem(pen=pg.mkPen(SELECTED_COLOUR, width=2))
        self.path_curve = pg.PlotCurveItem(
            pen=pg.mkPen((*PATH_COLOUR, 150), width=1, style=Qt.PenStyle.DashLine)
        )
        self.path_items = (self.path_curve, self.path_frustums, self.path_selected)
        for z, item in enumerate(self.path_items):
            item.setZValue(Z_PATH + z)
        # the stroke as discs of the brush radius, in scene units (pxMode off)
        self.stroke = pg.ScatterPlotItem(pxMode=False, pen=None, brush=pg.mkBrush(255, 80, 80, 60))
        for item in (self.image, self.trajectory, self.keyframes, *self.path_items):
            self.view.addItem(item)
        for item in (self.frustum, self.stroke):
            self.view.addItem(item)
        self.image.hide()
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.view.stroke_moved.connect(self._show_stroke)
        self.view.stroke_done.connect(self._stroke_done)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.plot, 1)

        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.timer.start(interval_ms)

    # ---- state from outside (drawn at the next tick)

    def set_ground(self, ground: np.ndarray) -> None:
        """The ground frame (4, 3) rows origin, right, forward, up of the world that opened."""
        self.ground = np.asarray(ground, np.float64).reshape(4, 3)
        self._camera_dirty = self._path_dirty = True

    def set_map(self, m: MemoryMap) -> None:
        self.map = m
        # the frustums' length follows the map
        self._map_dirty = self._camera_dirty = self._path_dirty = True

    def set_camera(self, pose, K, width, height) -> None:
        self.camera = (np.asarray(pose, np.float64), np.asarray(K, np.float64), width, height)
        self._camera_dirty = True

    def set_path(self, poses, fovs, width, height, curve=None, selected=None) -> None:
        """A camera path: poses (k, 4, 4) camera-to-world (OpenCV axes) of its keyframes,
        fovs (k,) their vertical fields of view in degrees, the frame size width x height;
        curve (n, 3) world points sampled along the interpolated path, or None; selected the
        index of the selected keyframe, or None."""
        poses = np.asarray(poses, np.float64)
        fovs = np.asarray(fovs, np.float64)
        if poses.ndim != 3 or poses.shape[1:] != (4, 4) or fovs.shape != poses.shape[:1]:
            raise ValueError(
                f"expected poses (k, 4, 4) and fovs (k,), got {poses.shape}, {fovs.shape}"
            )
        if curve is not None:
            curve = np.asarray(curve, np.float64)
            if curve.ndim != 2 or curve.shape[1] != 3:
                raise ValueError(f"expected curve (n, 3), got {curve.shape}")
        if selected is not None and not 0 <= selected < len(poses):
            raise ValueError(f"selected must index one of {len(poses)} keyframes, got {selected}")
        for fov in fovs:  # a bad fov or frame size fails here, not at the next tick
            fov_intrinsics(fov, width, height)
        self.path = (poses, fovs, width, height, curve, selected)
        self._path_dirty = True

    def clear_path(self) -> None:
        self.path = None
        self._path_dirty = True

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.mode_box.setCurrentText(mode)
        self._map_dirty = True

    def set_brush(self, on: bool, radius: float | None = None) -> None:
        if radius is not None:
            self.radius_box.setValue(radius)
        self.brush_button.setChecked(on)

    @property
    def radius(self) -> float:
        return self.radius_box.value()

    def clear(self) -> None:
        """A new world: nothing shown until its first map."""
        self.map = self.ground = self.camera = self.path = None
        self._map_dirty = self._camera_dirty = self._path_dirty = False
        self._fit_pending = True
        self.image.hide()
        for item in (
            self.trajectory,
            self.frustum,
            self.path_frustums,
            self.path_selected,
            self.path_curve,
        ):
            item.setData([], [])
        for item in (self.keyframes, self.stroke):
            item.clear()
        self.view.stroke = []

    def fit(self) -> None:
        self.view.autoRange(items=[self.image, self.trajectory, self.keyframes, *self.path_items])

    # ---- drawing

    def _tick(self) -> None:
        if self._map_dirty:
            self._map_dirty = False
            self._draw_map()
        if self._camera_dirty:
            self._camera_dirty = False
            self._draw_camera()
        if self._path_dirty:
            self._path_dirty = False
            self._draw_path()

    def _draw_map(self) -> None:
        m = self.map
        if m is None:
            return
        if (m.count > 0).any():
            rgba = colorize(m.count, m.segment, m.current, self.mode)
            # row 0 of the map is the far edge; the plot's y goes up, so row 0 drawn is y0
            self.image.setImage(np.flipud(rgba), autoLevels=False)
            x0, x1, y0, y1 = m.extent
            self.image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            self.image.show()
            self.redraws += 1
        else:
            self.image.hide()
        traj = np.asarray(m.trajectory, np.float64).reshape(-1, 2)
        self.trajectory.setData(traj[:, 0], traj[:, 1])
        keys = np.asarray(m.keyframes, np.float64).reshape(-1, 2)
        self.keyframes.setData(keys[:, 0], keys[:, 1])
        if self._fit_pending and (self.image.isVisible() or len(traj)):
            self._fit_pending = False
            self.fit()

    def _draw_camera(self) -> None:
        if self.ground is None or self.camera is None:
            self.frustum.setData([], [])
            return
        outline = frustum_outline(self.ground, *self.camera, self._frustum_length())
        self.frustum.setData(outline[:, 0], outline[:, 1])

    def _frustum_length(self) -> float:
        """The live camera's frustum length: FRUSTUM_FRACTION of the map's larger side."""
        if self.map is None:
            return 1.0
        x0, x1, y0, y1 = self.map.extent
        return FRUSTUM_FRACTION * max(x1 - x0, y1 - y0)

    def _draw_path(self) -> None:
        if self.ground is None or self.path is None:
            for item in (self.path_frustums, self.path_selected, self.path_curve):
                item.setData([], [])
            return
        poses, fovs, width, height, curve, selected = self.path
        length = PATH_FRUSTUM_SCALE * self._frustum_length()
        outlines = np.array(
            [
                frustum_outline(
                    self.ground, pose, fov_intrinsics(fov, width, height), width, height, length
                )
                for pose, fov in zip(poses, fovs)
            ]
        ).reshape(len(poses), 4, 2)
        # one NaN row after each outline: connect="finite" lifts the pen there
        gaps = np.full((len(poses), 1, 2), np.nan)
        rows = np.concatenate([outlines, gaps], axis=1).reshape(-1, 2)
        self.path_frustums.setData(rows[:, 0], rows[:, 1], connect="finite")
        if selected is None:
            self.path_selected.setData([], [])
        else:
            self.path_selected.setData(outlines[selected, :, 0], outlines[selected, :, 1])
        flat = np.zeros((0, 2)) if curve is None else to_ground(self.ground, curve)
        self.path_curve.setData(flat[:, 0], flat[:, 1])
        self.path_redraws += 1

    # ---- input

    def _brush_toggled(self, on: bool) -> None:
        self.view.painting = on
        if not on:  # a stroke cut short by turning the brush off erases nothing
            self.view.stroke = []
            self.stroke.clear()
        self.plot.viewport().setCursor(
            Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor
        )

    def _clicked(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or ev.double():
            return
        if not self.view.sceneBoundingRect().contains(ev.scenePos()):
            return  # on an axis, not on the map
        p = self.view.mapSceneToView(ev.scenePos())
        if self.view.painting:  # a click with the brush: one disc
            self._stroke_done(np.array([[p.x(), p.y()]], np.float64))
        else:
            self.face.emit(p.x(), p.y())

    def _show_stroke(self, points: np.ndarray) -> None:
        dense = densify(points, self.radius / 2)
        self.stroke.setData(dense[:, 0], dense[:, 1], size=2 * self.radius)

    def _stroke_done(self, points: np.ndarray) -> None:
        self.stroke.clear()
        if len(points):
            self.erase.emit(densify(points, self.radius / 2), self.radius)
