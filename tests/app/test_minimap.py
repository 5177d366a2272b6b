"""The minimap: ground coordinates, the frustum and the colours by their properties; the
widget redraws once per tick whatever the number of maps, puts each cell at its ground
point, faces the camera on a click and erases one stroke per drag without panning; a camera
path is drawn as one frustum per keyframe (the selected one again), its curve on the ground.
Waits on signals and conditions; never sleeps."""

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from app.minimap import (
    Minimap,
    colorize,
    densify,
    fov_intrinsics,
    frustum_outline,
    to_ground,
)
from engine.camera import Camera
from engine.messages import MemoryMap

pytestmark = pytest.mark.gui

W, H = 128, 96
K = np.array([[83.0, 0, 70.0], [0, 83.0, 48.0], [0, 0, 1.0]])  # off-centre: cx != W / 2


def random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q * np.linalg.det(q)  # det +1


def random_ground(rng) -> np.ndarray:
    rot = random_rotation(rng)
    return np.stack([rng.normal(size=3) * 5, rot[:, 0], rot[:, 1], rot[:, 2]])


def seed_ground() -> np.ndarray:
    """The ground frame of an identity seed camera: right +x, forward +z, up -y."""
    return np.array([[0.0, 0, 0], [1, 0, 0], [0, 0, 1], [0, -1, 0]])


def yaw(angle: float) -> np.ndarray:
    """Camera-to-world of a camera at the origin turned right by angle about world up."""
    c, s = math.cos(angle), math.sin(angle)
    pose = np.eye(4)
    pose[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    return pose


def ground_pose(ground: np.ndarray, angle: float, at) -> np.ndarray:
    """Camera-to-world of a level camera at ground coordinates at = (right, forward, up),
    turned right by angle from the ground frame's forward."""
    origin, right, forward, up = ground
    c, s = math.cos(angle), math.sin(angle)
    pose = np.eye(4)
    # OpenCV axes: x right, y down, z forward
    pose[:3, :3] = np.stack([c * right - s * forward, -up, c * forward + s * right], axis=1)
    pose[:3, 3] = origin + np.asarray(at, np.float64) @ ground[1:]
    return pose


def one_cell_map(row=2, col=3, rows=8, cols=16, extent=(-2.0, 2.0, -1.0, 3.0), count=5.0):
    c = np.zeros((rows, cols), np.float32)
    s = np.full((rows, cols), -1, np.int64)
    c[row, col], s[row, col] = count, 1
    traj = np.array([[0.0, 0.0], [0.5, 1.0]])
    return MemoryMap(c, s, extent, 2, traj, traj[:1])


def cell_centre(m: MemoryMap, row: int, col: int) -> tuple[float, float]:
    rows, cols = m.count.shape
    x0, x1, y0, y1 = m.extent
    return x0 + (col + 0.5) * (x1 - x0) / cols, y1 - (row + 0.5) * (y1 - y0) / rows


# ---- pure functions


def test_to_ground_reads_right_and_forward_of_any_frame():
    rng = np.random.default_rng(0)
    for _ in range(20):
        ground = random_ground(rng)
        abc = rng.normal(size=(50, 3)) * 10
        points = ground[0] + abc @ ground[1:]
        np.testing.assert_allclose(to_ground(ground, points), abc[:, :2], atol=1e-9)
    with pytest.raises(ValueError, match=r"points \(n, 3\)"):
        to_ground(ground, np.zeros((4, 2)))


def test_frustum_spans_the_horizontal_field_of_view():
    ground, length = seed_ground(), 2.5
    outline = frustum_outline(ground, np.eye(4), K, W, H, length)
    assert outline.shape == (4, 2)
    np.testing.assert_allclose(outline[0], 0, atol=1e-12)
    np.testing.assert_allclose(outline[-1], 0, atol=1e-12)
    left, right = outline[1], outline[2]
    np.testing.assert_allclose(np.linalg.norm([left, right], axis=1), length)
    # angle from forward (+y), positive to the right (+x)
    np.testing.assert_allclose(math.atan2(*left), -math.atan(K[0, 2] / K[0, 0]))
    np.testing.assert_allclose(math.atan2(*right), math.atan((W - K[0, 2]) / K[0, 0]))
    # yawed right by 90 degrees: the same outline turned from +forward to +right
    turned = frustum_outline(ground, yaw(math.pi / 2), K, W, H, length)
    np.testing.assert_allclose(turned, outline @ [[0, -1], [1, 0]], atol=1e-12)
    assert turned[1:3, 0].min() > 0
    # pitching down shortens nothing: the outline lies on the ground plane at full length
    pitched = yaw(0.3)
    c, s = math.cos(0.5), math.sin(0.5)
    pitched[:3, :3] = pitched[:3, :3] @ np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    pitched[:3, 3] = [1.0, -2.0, 3.0]
    out = frustum_outline(ground, pitched, K, W, H, length)
    np.testing.assert_allclose(out[0], [1.0, 3.0])
    np.testing.assert_allclose(np.linalg.norm(out[1:3] - out[0], axis=1), length)


def test_fov_intrinsics_is_the_engine_cameras_K():
    rng = np.random.default_rng(3)
    for _ in range(20):
        fov = rng.uniform(1.0, 179.0)
        width, height = (int(n) for n in rng.integers(1, 2000, size=2))
        pose = ground_pose(random_ground(rng), rng.uniform(-3, 3), rng.normal(size=3))
        want = Camera.from_fov(fov, width, height, pose).K.numpy()
        np.testing.assert_allclose(fov_intrinsics(fov, width, height), want, rtol=1e-12)
    for fov in (0.0, 180.0, -10.0):
        with pytest.raises(ValueError, match="fov_deg"):
            fov_intrinsics(fov, W, H)
    with pytest.raises(ValueError, match="frame size"):
        fov_intrinsics(60.0, 0, H)


def test_colorize_alpha_brightness_and_hue():
    rng = np.random.default_rng(1)
    count = rng.integers(0, 20, size=(12, 10)).astype(np.float32)
    count[0, :3] = 0
    segment = np.where(count > 0, rng.integers(0, 6, size=count.shape), -1)
    for mode in ("segment", "age"):
        rgba = colorize(count, segment, 6, mode)
        assert rgba.shape == (12, 10, 4) and rgba.dtype == np.uint8
        np.testing.assert_array_equal(rgba[..., 3] == 0, count == 0)
        # same segment, more entries: brighter
        c = np.array([[1.0, 4.0, 30.0]], np.float32)
        s = np.full(c.shape, 2)
        lum = colorize(c, s, 6, mode)[0, :, :3].astype(int).sum(1)
        assert lum[0] < lum[1] < lum[2]
    assert not colorize(np.zeros((3, 3)), np.full((3, 3), -1), 0, "age").any()
    # segment mode: every pair of segments differs (same count)
    seg = np.arange(8)[None]
    colours = colorize(np.ones(seg.shape), seg, 8, "segment")[0, :, :3]
    assert len({tuple(c) for c in colours}) == 8
    # age mode: the colour is a function of current - segment only
    seg = np.array([[3, 5, 0, 2, 4]])
    current = np.array([5, 7, 2, 6, 8])  # ages 2, 2, 2, 4, 4
    colours = [
        colorize(np.ones((1, 1)), seg[:, i : i + 1], current[i], "age")[0, 0] for i in range(5)
    ]
    np.testing.assert_array_equal(colours[0], colours[1])
    np.testing.assert_array_equal(colours[0], colours[2])
    np.testing.assert_array_equal(colours[3], colours[4])
    assert not np.array_equal(colours[0], colours[3])
    # new is warm and brighter than old
    new, old = colorize(np.ones((1, 2)), np.array([[9, 0]]), 9, "age")[0, :, :3].astype(int)
    assert new.sum() > old.sum() and new[0] > new[2] and old[2] > old[0]
    with pytest.raises(ValueError, match="mode"):
        colorize(count, segment, 6, "height")


def test_densify_keeps_the_stroke_and_closes_its_gaps():
    rng = np.random.default_rng(2)
    points = rng.normal(size=(6, 2)) * 3
    dense = densify(points, 0.1)
    assert np.linalg.norm(np.diff(dense, axis=0), axis=1).max() <= 0.1 + 1e-12
    # every vertex kept, in order, with collinear points between neighbours
    at = [int(np.argmin(np.linalg.norm(dense - p, axis=1))) for p in points]
    np.testing.assert_allclose(dense[at], points)
    assert at == sorted(at) and at[0] == 0 and at[-1] == len(dense) - 1
    for a, b, i, j in zip(points[:-1], points[1:], at[:-1], at[1:]):
        d = dense[i : j + 1] - a
        np.testing.assert_allclose(d[:, 0] * (b - a)[1] - d[:, 1] * (b - a)[0], 0, atol=1e-9)
    np.testing.assert_array_equal(densify(points[:1], 0.1), points[:1])


# ---- the widget


@pytest.fixture
def minimap(qtbot):
    mm = Minimap(interval_ms=10)
    qtbot.addWidget(mm)
    mm.resize(480, 420)
    mm.show()
    qtbot.waitExposed(mm)
    mm.timer.stop()  # the tests tick by hand unless they say otherwise
    return mm


def view_pos(mm: Minimap, x: float, y: float) -> QPoint:
    """The graphics view's viewport position of ground point (x, y)."""
    return mm.plot.mapFromScene(mm.view.mapViewToScene(QPointF(x, y)))


def test_maps_between_ticks_cost_one_redraw_into_the_same_image(minimap):
    mm = minimap
    image = mm.image
    mm.set_map(one_cell_map(count=1))
    mm.timer.timeout.emit()
    before = mm.redraws
    newest = one_cell_map(row=5, col=9)
    for m in (one_cell_map(row=1), one_cell_map(col=12), newest):
        mm.set_map(m)
    mm.timer.timeout.emit()
    assert mm.redraws == before + 1 and mm.image is image
    np.testing.assert_array_equal(
        mm.image.image, np.flipud(colorize(newest.count, newest.segment, 2, "segment"))
    )
    mm.timer.timeout.emit()  # nothing new: nothing redrawn
    assert mm.redraws == before + 1
    mm.set_mode("age")
    mm.timer.timeout.emit()
    assert mm.redraws == before + 2
    np.testing.assert_array_equal(
        mm.image.image, np.flipud(colorize(newest.count, newest.segment, 2, "age"))
    )


def test_the_running_timer_redraws(qtbot, minimap):
    minimap.timer.start()
    minimap.set_map(one_cell_map())
    qtbot.waitUntil(lambda: minimap.redraws == 1, timeout=2000)


def test_a_cell_is_drawn_at_its_ground_point(qtbot, minimap):
    mm = minimap
    m = one_cell_map(row=2, col=3)
    mm.set_map(m)
    mm.timer.timeout.emit()
    ((i, j),) = np.argwhere(mm.image.image[..., 3] > 0)
    p = mm.image.mapToView(QPointF(j + 0.5, i + 0.5))
    np.testing.assert_allclose([p.x(), p.y()], cell_centre(m, 2, 3), atol=1e-9)
    # and on screen: the pixel at that ground point has the cell's colour
    qtbot.waitUntil(lambda: mm.view.viewRange()[0][0] < m.extent[0])  # fitted on the first map
    shot = mm.plot.viewport().grab().toImage()
    pos = view_pos(mm, *cell_centre(m, 2, 3)) * shot.devicePixelRatio()
    pixel = shot.pixelColor(pos)
    want = colorize(m.count, m.segment, m.current, "segment")[2, 3, :3]
    np.testing.assert_allclose([pixel.red(), pixel.green(), pixel.blue()], want, atol=2)


def test_only_the_first_map_of_a_world_fits_the_view(minimap):
    mm = minimap
    mm.set_map(one_cell_map())
    mm.timer.timeout.emit()
    fitted = mm.view.viewRange()
    mm.view.setRange(xRange=(10, 11), yRange=(10, 11), padding=0)  # the user looks elsewhere
    mine = mm.view.viewRange()
    mm.set_map(one_cell_map(extent=(-5.0, 5.0, -5.0, 5.0)))
    mm.timer.timeout.emit()
    assert mm.view.viewRange() == mine
    mm.clear()
    mm.set_map(one_cell_map())
    mm.timer.timeout.emit()
    np.testing.assert_allclose(mm.view.viewRange(), fitted)


def test_empty_maps_and_clear_show_nothing(minimap):
    mm = minimap
    mm.clear()
    mm.timer.timeout.emit()
    m = one_cell_map()
    m.count[:] = 0
    m.segment[:] = -1
    mm.set_map(m)
    mm.set_ground(seed_ground())
    mm.set_camera(np.eye(4), K, W, H)
    mm.timer.timeout.emit()
    assert not mm.image.isVisible() and mm.redraws == 0
    assert len(mm.frustum.getData()[0]) == 4
    mm.set_map(one_cell_map())
    mm.timer.timeout.emit()
    assert mm.image.isVisible()
    mm.clear()
    mm.timer.timeout.emit()
    assert not mm.image.isVisible()
    assert all(len(item.getData()[0]) == 0 for item in (mm.trajectory, mm.frustum, mm.keyframes))


def test_frustum_follows_the_camera(minimap):
    mm = minimap
    mm.set_camera(yaw(math.pi / 2), K, W, H)
    mm.timer.timeout.emit()
    assert len(mm.frustum.getData()[0]) == 0  # no ground frame yet
    mm.set_ground(seed_ground())
    mm.set_map(one_cell_map())
    mm.timer.timeout.emit()
    x, y = mm.frustum.getData()
    length = 0.12 * 4.0  # FRUSTUM_FRACTION of the map's larger side
    want = frustum_outline(seed_ground(), yaw(math.pi / 2), K, W, H, length)
    np.testing.assert_allclose(np.stack([x, y], 1), want)


def test_a_click_faces_the_point_under_the_mouse(qtbot, minimap):
    mm = minimap
    mm.set_map(one_cell_map())
    mm.timer.timeout.emit()
    target = (0.7, 1.9)
    with qtbot.waitSignal(mm.face, timeout=2000) as faced:
        qtbot.mouseClick(mm.plot.viewport(), Qt.MouseButton.LeftButton, pos=view_pos(mm, *target))
    pixel = max(mm.view.viewPixelSize())
    np.testing.assert_allclose(faced.args, target, atol=pixel)


def drag(qtbot, widget, a: QPoint, b: QPoint, steps: int = 12) -> None:
    """Press at a, move to b in steps, release. pyqtgraph drops moves closer than
    1 / mouseRateLimit apart, so each move waits for the next event-loop turn."""
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=a)
    for k in range(1, steps + 1):
        qtbot.mouseMove(widget, a + (b - a) * (k / steps))
        qtbot.wait(15)
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=b)


def test_brush_erases_one_stroke_and_does_not_pan(qtbot, minimap):
    mm = minimap
    mm.set_map(one_cell_map())
    mm.timer.timeout.emit()
    vp = mm.plot.viewport()
    start, end = (-1.0, 0.0), (1.0, 2.0)
    a, b = view_pos(mm, *start), view_pos(mm, *end)
    # brush off, the drag pans (so the drag below really is a drag)
    before = mm.view.viewRange()
    drag(qtbot, vp, a, b)
    assert mm.view.viewRange() != before
    mm.clear()
    mm.set_map(one_cell_map())
    mm.timer.timeout.emit()
    a, b = view_pos(mm, *start), view_pos(mm, *end)
    mm.set_brush(True, radius=0.3)
    before = mm.view.viewRange()
    strokes = []
    mm.erase.connect(lambda points, radius: strokes.append((points, radius)))
    drag(qtbot, vp, a, b)
    qtbot.waitUntil(lambda: len(strokes) == 1, timeout=2000)
    assert mm.view.viewRange() == before
    points, radius = strokes[0]
    assert radius == pytest.approx(0.3) and points.dtype == np.float64 and points.shape[1] == 2
    pixel = max(mm.view.viewPixelSize())
    np.testing.assert_allclose(points[0], start, atol=2 * pixel)
    np.testing.assert_allclose(points[-1], end, atol=2 * pixel)
    # along the line y = x + 1, with no gap wider than the brush
    np.testing.assert_allclose(points[:, 1] - points[:, 0], 1.0, atol=3 * pixel)
    assert np.linalg.norm(np.diff(points, axis=0), axis=1).max() <= radius / 2 + 1e-9
    assert len(mm.stroke.data) == 0  # the preview is gone
    # a click with the brush erases one disc, and does not face
    with qtbot.assertNotEmitted(mm.face):
        qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=view_pos(mm, 0.5, 0.5))
    qtbot.waitUntil(lambda: len(strokes) == 2, timeout=2000)
    np.testing.assert_allclose(strokes[1][0], [[0.5, 0.5]], atol=pixel)
    # brush off again: clicks face
    mm.set_brush(False)
    with qtbot.waitSignal(mm.face, timeout=2000):
        qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=view_pos(mm, 0.5, 0.5))
    assert len(strokes) == 2


def test_turning_the_brush_off_mid_stroke_erases_nothing(qtbot, minimap):
    mm = minimap
    mm.set_brush(True)
    mm.view.add_point(QPointF(0.0, 0.0))  # a stroke under way (as mouseDragEvent feeds it)
    mm.view.add_point(QPointF(1.0, 0.0))
    assert len(mm.stroke.data) > 0  # previewed
    with qtbot.assertNotEmitted(mm.erase):
        mm.set_brush(False)
        mm.view.finish_stroke()
    assert len(mm.stroke.data) == 0


# ---- the camera path


def random_path(rng, ground, k=4, n=30):
    """k level keyframes at random ground points and headings, their fovs, and a curve of n
    world points; returns (poses, fovs, curve, ground positions (k, 2), headings (k,))."""
    at = rng.normal(size=(k, 3)) * 2
    headings = rng.uniform(-math.pi, math.pi, size=k)
    poses = np.stack([ground_pose(ground, a, p) for a, p in zip(headings, at)])
    fovs = rng.uniform(30.0, 100.0, size=k)
    curve = ground[0] + (rng.normal(size=(n, 3)) * 2) @ ground[1:]
    return poses, fovs, curve, at[:, :2], headings


def path_outlines(mm: Minimap) -> np.ndarray:
    """The keyframe item's data as outlines (k, 4, 2), checking the NaN row after each."""
    x, y = mm.path_frustums.getData()
    rows = np.stack([x, y], axis=1).reshape(-1, 5, 2)
    assert np.isnan(rows[:, 4]).all() and np.isfinite(rows[:, :4]).all()
    return rows[:, :4]


def item_points(item) -> np.ndarray:
    x, y = item.getData()
    return np.stack([np.asarray(x), np.asarray(y)], axis=1).reshape(-1, 2)


def test_path_draws_every_keyframe_its_selection_and_its_curve(minimap):
    mm = minimap
    rng = np.random.default_rng(4)
    ground = random_ground(rng)
    poses, fovs, curve, at, headings = random_path(rng, ground, k=5)
    mm.set_ground(ground)
    mm.set_map(one_cell_map())  # extent 4 x 4
    mm.set_path(poses, fovs, W, H, curve=curve, selected=2)
    mm.timer.timeout.emit()
    assert mm.path_redraws == 1
    assert mm.path_frustums.opts["connect"] == "finite"
    outlines = path_outlines(mm)
    assert outlines.shape == (5, 4, 2)
    # each outline closes at its keyframe's ground position
    np.testing.assert_allclose(outlines[:, 0], at, atol=1e-9)
    np.testing.assert_allclose(outlines[:, 3], at, atol=1e-9)
    left, right = outlines[:, 1] - at, outlines[:, 2] - at
    length = 0.7 * 0.12 * 4.0  # 0.7 of the live frustum's length
    np.testing.assert_allclose(np.linalg.norm(left, axis=1), length)
    np.testing.assert_allclose(np.linalg.norm(right, axis=1), length)
    # the side rays span the horizontal field of view of the fov and the aspect ...
    fx = H / 2 / np.tan(np.radians(fovs) / 2)
    cos = (left * right).sum(1) / length**2
    np.testing.assert_allclose(np.arccos(cos), 2 * np.arctan(W / 2 / fx), atol=1e-9)
    # ... around the keyframe's heading (angle from forward, positive to the right)
    middle = left + right
    np.testing.assert_allclose(np.arctan2(middle[:, 0], middle[:, 1]), headings, atol=1e-9)
    np.testing.assert_allclose(item_points(mm.path_selected), outlines[2])
    np.testing.assert_allclose(item_points(mm.path_curve), to_ground(ground, curve))
    # over the map, under the live frustum
    for item in (mm.path_frustums, mm.path_selected, mm.path_curve):
        assert mm.image.zValue() < item.zValue() < mm.frustum.zValue()
    # a new map: the frustums follow its extent
    mm.set_map(one_cell_map(extent=(-5.0, 5.0, -5.0, 5.0)))
    mm.timer.timeout.emit()
    assert mm.path_redraws == 2
    outlines = path_outlines(mm)
    np.testing.assert_allclose(np.linalg.norm(outlines[:, 1] - at, axis=1), 0.7 * 0.12 * 10.0)
    # no selection, no curve
    mm.set_path(poses[:2], fovs[:2], W, H)
    mm.timer.timeout.emit()
    assert path_outlines(mm).shape == (2, 4, 2)
    assert len(item_points(mm.path_selected)) == len(item_points(mm.path_curve)) == 0


def test_clear_path_and_a_new_world_empty_the_path(minimap):
    mm = minimap
    rng = np.random.default_rng(5)
    poses, fovs, curve, *_ = random_path(rng, seed_ground())
    mm.set_ground(seed_ground())
    mm.set_path(poses, fovs, W, H, curve=curve, selected=0)
    mm.timer.timeout.emit()
    items = (mm.path_frustums, mm.path_selected, mm.path_curve)
    assert all(len(item_points(item)) > 0 for item in items)
    mm.clear_path()
    mm.timer.timeout.emit()
    assert all(len(item_points(item)) == 0 for item in items)
    mm.set_path(poses, fovs, W, H, curve=curve, selected=1)
    mm.timer.timeout.emit()
    drawn = mm.path_redraws
    mm.clear()
    assert all(len(item_points(item)) == 0 for item in items)
    mm.set_ground(seed_ground())  # the new world's ground: the old path stays gone
    mm.timer.timeout.emit()
    assert mm.path is None and mm.path_redraws == drawn
    assert all(len(item_points(item)) == 0 for item in items)


def test_a_path_waits_for_the_ground(qtbot, minimap):
    mm = minimap
    rng = np.random.default_rng(6)
    ground = random_ground(rng)
    poses, fovs, curve, at, _ = random_path(rng, ground, k=3)
    mm.set_path(poses, fovs, W, H, curve=curve, selected=1)
    mm.timer.timeout.emit()
    assert mm.path_redraws == 0
    for item in (mm.path_frustums, mm.path_selected, mm.path_curve):
        assert len(item_points(item)) == 0
    mm.timer.start()
    mm.set_ground(ground)
    qtbot.waitUntil(lambda: mm.path_redraws == 1, timeout=2000)
    np.testing.assert_allclose(path_outlines(mm)[:, 0], at, atol=1e-9)
    np.testing.assert_allclose(item_points(mm.path_curve), to_ground(ground, curve))


def test_fit_takes_in_the_path(minimap):
    mm = minimap
    ground = seed_ground()
    far = [ground_pose(ground, 0.0, (40.0, 50.0, 0.0)), ground_pose(ground, 1.0, (-30, 45, 0))]
    mm.set_ground(ground)
    mm.set_map(one_cell_map())
    mm.set_path(np.stack(far), [60.0, 60.0], W, H, curve=[[0.0, 0.0, 60.0]])
    mm.timer.timeout.emit()
    mm.fit()
    (x0, x1), (y0, y1) = mm.view.viewRange()
    for x, y in [(40.0, 50.0), (-30.0, 45.0), (0.0, 60.0), (0.0, -1.0)]:  # (0, -1): the map
        assert x0 < x < x1 and y0 < y < y1


def test_set_path_checks_its_arguments(minimap):
    mm = minimap
    poses, fovs = np.stack([np.eye(4)] * 3), np.full(3, 60.0)
    with pytest.raises(ValueError, match=r"poses \(k, 4, 4\) and fovs \(k,\)"):
        mm.set_path(poses[:, :3], fovs, W, H)
    with pytest.raises(ValueError, match=r"fovs \(k,\)"):
        mm.set_path(poses, fovs[:2], W, H)
    with pytest.raises(ValueError, match=r"curve \(n, 3\)"):
        mm.set_path(poses, fovs, W, H, curve=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="selected"):
        mm.set_path(poses, fovs, W, H, selected=3)
    with pytest.raises(ValueError, match="fov_deg"):
        mm.set_path(poses, [60.0, 0.0, 60.0], W, H)
    assert mm.path is None
