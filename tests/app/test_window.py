"""The main window offscreen: keys fly the camera as the fly controller says, a sample scene
opens from the start page, frames reach the viewport, the minimap and inspector follow the
world, errors are shown and the window lives on, a recording saves a path, an unsaved world
survives a crash. (The viewport's GL drawing is tested on EGL in test_renderer.py and under
Xvfb.)"""

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QImage

from app.bridge import EngineBridge
from app.viewport import Navigator
from app.window import MainWindow
from engine.camera import FlyController, FlyInput
from engine.world import WorldConfig

pytestmark = pytest.mark.gui


CONFIG = WorldConfig(width=128, height=96, frames_per_segment=2)


def make_window(qtbot, tmp_path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    bridge = EngineBridge(CONFIG, threads=1)
    w = MainWindow(bridge=bridge, settings=settings, recovery=tmp_path / "recovery.lsworld")
    qtbot.addWidget(w)
    w.show()
    return w


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    yield w
    w.bridge.shutdown()


def open_room(qtbot, window) -> None:
    with qtbot.waitSignal(window.bridge.opened, timeout=30000):
        window.open_source("room")
    qtbot.waitUntil(lambda: window.viewport.frame is not None, timeout=10000)


def test_navigator_moves_as_the_fly_controller_says():
    start = np.eye(4)
    nav = Navigator(start, up=(0.0, -1.0, 0.0), speed=0.5)
    ref = FlyController(start, up=(0.0, -1.0, 0.0), speed=0.5)
    assert nav.press(Qt.Key.Key_W) and nav.press(Qt.Key.Key_D) and nav.press(Qt.Key.Key_Shift)
    assert not nav.press(Qt.Key.Key_X)  # not a navigation key
    assert nav.tick(0.1)
    ref.step(FlyInput(forward=1.0, right=1.0, sprint=True), 0.1)
    np.testing.assert_allclose(nav.pose, ref.pose.numpy())
    nav.look(40, -10)
    ref.look(40, -10)
    np.testing.assert_allclose(nav.pose, ref.pose.numpy())
    # W and S together cancel; released keys stop the camera
    nav.press(Qt.Key.Key_S)
    nav.release(Qt.Key.Key_D)
    before = nav.pose
    nav.tick(0.1)
    np.testing.assert_allclose(nav.pose, before)
    nav.clear()
    assert not nav.tick(0.1)


def test_keys_on_the_viewport_fly_the_camera(qtbot, window):
    vp = window.viewport
    vp.start(np.eye(4), np.array([0.0, -1.0, 0.0]))
    poses = []
    vp.pose_changed.connect(poses.append)
    vp.setFocus()
    qtbot.keyPress(vp, Qt.Key.Key_W)
    with qtbot.waitSignal(vp.pose_changed, timeout=2000):
        pass
    qtbot.keyRelease(vp, Qt.Key.Key_W)
    z = poses[-1][2, 3]
    assert z > 0  # forward is +z for the identity camera
    assert abs(poses[-1][0, 3]) < 1e-9 and abs(poses[-1][1, 3]) < 1e-9
    n = len(poses)
    qtbot.wait(60)
    assert len(poses) == n  # released: no more motion
    # a drag to the right turns right
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=vp.rect().center())
    qtbot.mouseMove(vp, vp.rect().center() + type(vp.rect().center())(50, 0))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton)
    forward = poses[-1][:3, 2]
    assert forward[0] > 0.05 and math.isclose(np.linalg.norm(forward), 1.0)


def test_sample_scene_opens_and_frames_reach_the_viewport(qtbot, window):
    assert window.pages.currentWidget() is window.start_page
    assert window.start_page.scenes.count() >= 3
    with qtbot.waitSignal(window.bridge.opened, timeout=30000):
        window.open_source("room")
    assert window.pages.currentWidget() is window.viewport
    qtbot.waitUntil(lambda: window.viewport.frame is not None, timeout=10000)
    assert window.viewport.frame.rgb.shape == (96, 128, 3)
    qtbot.waitUntil(lambda: "entries" in window.hud.text(), timeout=5000)
    assert "MiB" in window.hud.text()


def test_errors_are_shown_and_the_window_lives_on(qtbot, window, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    with qtbot.waitSignal(window.bridge.error, timeout=10000):
        window.open_source(str(bad))
    assert window.messages and "broken.jpg" in window.messages[-1]
    assert "broken.jpg" in window.log.toPlainText()
    assert window.isVisible()
    with qtbot.waitSignal(window.bridge.opened, timeout=30000):  # still works
        window.open_source("room")
    # the recent list remembers the file that was tried
    assert any("broken.jpg" in p for p in window.start_page.recent_files())


def test_shortcuts_are_in_the_menus(window):
    shortcuts = {
        a.text().replace("&", ""): a.shortcut().toString()
        for a in window.actions()
        if not a.shortcut().isEmpty()
    }
    for text, key in [
        ("Generate (start / pause)", "Space"),
        ("Undo last segment or erase", "Ctrl+Z"),
        ("Settings...", "Ctrl+,"),
        ("Record path", "R"),
        ("Add keyframe at the view", "K"),
        ("Update keyframe to the view", "U"),
        ("Duplicate keyframe", "Ctrl+D"),
        ("Delete keyframe", "Del"),
        ("Go to keyframe", "G"),
        ("Play / pause preview", "P"),
        ("Render path to video...", "Ctrl+Shift+R"),
        ("Camera path", "T"),
        ("Capture mouse (Esc releases)", "C"),
        ("Minimap", "M"),
        ("Memory inspector", "I"),
        ("Save world...", "Ctrl+S"),
        ("Open photo...", "Ctrl+O"),
        ("Screenshot", "F12"),
        ("Controls", "F1"),
        ("Overlay (generated tokens / depth / none)", "F"),
    ]:
        assert shortcuts.get(text) == key, (text, shortcuts)


def test_minimap_and_inspector_follow_the_world(qtbot, window):
    open_room(qtbot, window)
    qtbot.waitUntil(lambda: window.minimap.redraws > 0, timeout=10000)
    assert window.minimap.image.image[..., 3].any()  # the room, seen from above
    window.inspector_dock.show()
    window.inspector_dock.raise_()
    qtbot.waitUntil(lambda: window.inspector.redraws > 0, timeout=10000)
    assert window.inspector.images["pca"].image.std() > 5
    # the erase brush goes to the memory, and Ctrl+Z brings it back
    held = window.minimap.map
    maps = []
    window.bridge.memory_map.connect(maps.append)
    with qtbot.waitSignal(window.bridge.memory_map, timeout=10000):
        window.minimap.erase.emit(middle_of(held), 0.5)
    assert maps[-1].count.sum() < held.count.sum()
    with qtbot.waitSignal(window.bridge.memory_map, timeout=10000):
        window.bridge.undo()
    assert maps[-1].count.sum() == held.count.sum()


def middle_of(m) -> np.ndarray:
    """The ground point (1, 2) of the median occupied cell of a MemoryMap."""
    rows, cols = np.nonzero(m.count)
    x0, x1, y0, y1 = m.extent
    n, w = m.count.shape
    x = x0 + (np.median(cols) + 0.5) / w * (x1 - x0)
    y = y1 - (np.median(rows) + 0.5) / n * (y1 - y0)
    return np.array([[x, y]])


def test_clicking_the_minimap_turns_the_camera_to_face_the_point(qtbot, window):
    open_room(qtbot, window)
    with qtbot.waitSignal(window.viewport.pose_changed, timeout=5000) as moved:
        window.minimap.face.emit(1.0, 0.0)  # straight to the right of the seed camera
    forward = moved.args[0][:3, 2]
    np.testing.assert_allclose(forward, [1.0, 0.0, 0.0], atol=1e-9)


def angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angles between the poses (n, 4, 4) a and b, degrees."""
    rel = np.einsum("nji,njk->nik", a[:, :3, :3], b[:, :3, :3])
    cos = (np.trace(rel, axis1=1, axis2=2) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def test_a_recorded_flight_plays_back_through_the_path_dock(qtbot, window, tmp_path):
    from engine.path import load_path

    open_room(qtbot, window)
    vp, dock = window.viewport, window.path_dock
    window.record_action.trigger()
    assert window.path_dock.recording is not None and dock.buttons["record"].isChecked()
    vp.setFocus()
    qtbot.keyPress(vp, Qt.Key.Key_W)
    # long enough a flight (half a second at display rate) that it is more than its keyframes
    qtbot.waitUntil(lambda: len(window.path_dock.recording) > 30, timeout=10000)
    qtbot.keyRelease(vp, Qt.Key.Key_W)
    for _ in range(10):  # and a turn
        vp.navigator.look(8, 1)
        vp.pose_changed.emit(vp.navigator.pose)
    window.record_action.trigger()
    assert window.path_dock.recording is None and not window.record_action.isChecked()
    times = np.array([t for t, _ in window.path_dock.recorded])
    times -= times[0]
    flown = np.stack([p for _, p in window.path_dock.recorded])
    path = dock.editor.path
    assert path is not None and 2 <= len(path.keyframes) < len(times)
    # played back through the dock at the times flown: the camera is where it was flown,
    # within the recording's tolerance (1 cm, 0.5 degrees)
    shown = []
    for t in times:
        dock.seek(t)
        shown.append(vp.navigator.pose)
    shown = np.stack(shown)
    assert np.linalg.norm(shown[:, :3, 3] - flown[:, :3, 3], axis=1).max() <= 0.01 + 1e-9
    assert angles_deg(shown, flown).max() <= 0.5 + 1e-6
    # played in real time it runs from the start to the end and stops there
    dock.seek(0.0)
    dock.play()
    assert dock.playing
    qtbot.waitUntil(lambda: not dock.playing, timeout=10000)
    np.testing.assert_allclose(vp.navigator.pose, flown[-1], atol=0.01)
    # saved and opened again: the same keyframes (the project's JSON and nerfstudio's)
    for fmt in ("latentscape", "nerfstudio"):
        file = tmp_path / f"{fmt}.json"
        assert window.path_dock.save_path(str(file), fmt)
        again = load_path(file)
        assert len(again.keyframes) == len(path.keyframes)
        got, _ = again.poses(times)
        want, _ = path.poses(times)
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert window.path_dock.open_path(str(tmp_path / "nerfstudio.json"))
    assert len(dock.editor.keys) == len(path.keyframes)


def test_bad_camera_path_files_are_refused_and_the_path_kept(qtbot, window, tmp_path):
    open_room(qtbot, window)
    window.path_dock.add_from_view()
    window.viewport.navigator.look(50, 0)
    window.path_dock.add_from_view()
    before = [k.time for k in window.path_dock.editor.keys]
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "latentscape.camera_path", "version": 9, "keyframes": []}')
    assert not window.path_dock.open_path(str(bad))
    assert "version 9" in window.messages[-1]
    assert [k.time for k in window.path_dock.editor.keys] == before


def test_captured_mouse_looks_without_a_button_and_esc_releases_it(qtbot, window):
    open_room(qtbot, window)
    vp = window.viewport
    vp.set_captured(True)
    assert vp.captured
    before = vp.navigator.pose
    qtbot.mouseMove(vp, vp.rect().center() + QPoint(40, 0))
    qtbot.waitUntil(lambda: not np.allclose(vp.navigator.pose, before), timeout=2000)
    assert vp.navigator.pose[0, 2] > before[0, 2]  # turned right
    qtbot.keyClick(vp, Qt.Key.Key_Escape)
    assert not vp.captured


def test_settings_apply_to_the_next_world(qtbot, window):
    window.bridge.set_config(WorldConfig(width=64, height=48, frames_per_segment=2))
    with qtbot.waitSignal(window.bridge.opened, timeout=30000) as opened:
        window.open_source("room")
    assert (opened.args[0].width, opened.args[0].height) == (64, 48)


def test_an_unsaved_world_survives_a_crash_and_is_offered_back(qtbot, tmp_path):
    first = make_window(qtbot, tmp_path)
    open_room(qtbot, first)
    qtbot.waitUntil(lambda: first.minimap.map is not None, timeout=10000)
    with qtbot.waitSignal(
        first.bridge.stats, timeout=10000, check_params_cb=lambda s: s["unsaved"]
    ):
        first.minimap.erase.emit(middle_of(first.minimap.map), 0.5)
    qtbot.waitUntil(lambda: first.hud.stats.get("unsaved"), timeout=5000)
    first.minimap_dock.hide()
    first.close()  # unsaved: a recovery copy is written before the engine stops
    recovery = tmp_path / "recovery.lsworld"
    assert (recovery / "world.json").is_file()
    # a clean close: the next start says so, offers the copy, remembers the layout
    second = make_window(qtbot, tmp_path)
    assert not second.crashed and second.start_page.recovery.isVisible()
    assert "not saved" in second.start_page.recovery_text.text()
    assert not second.minimap_dock.isVisible()
    # the session dies without closing: the start after says it crashed
    second.settings.sync()
    second.bridge.shutdown()
    third = make_window(qtbot, tmp_path)
    assert third.crashed and "did not close cleanly" in third.start_page.recovery_text.text()
    with qtbot.waitSignal(third.bridge.opened, timeout=30000) as opened:
        third.start_page.restore_button.click()
    assert opened.args[0].source == str(recovery)
    assert str(recovery.resolve()) not in third.start_page.recent_files()
    third.discard_recovery()
    assert not recovery.exists()
    third.close()
    second.close()


def test_the_viewport_shows_the_engine_frame(qtbot, window, gl_context):
    """Offscreen too: the viewport draws with a headless context and paints the pixels.
    (gl_context: skipped where no headless OpenGL exists, unless CI requires it.)"""
    vp = window.viewport
    vp.setFixedSize(128, 96)  # the frame's size: one pixel per pixel
    open_room(qtbot, window)
    qtbot.waitUntil(lambda: vp.renderer is not None and vp.renderer.frame is not None, timeout=5000)
    assert vp.gl_error is None
    assert_shows(vp, vp.frame.rgb)
    # turned: the engine's readout at the new pose is what is shown, not the first frame
    vp.navigator.look(120, 0)
    pose = vp.navigator.pose
    with qtbot.waitSignal(
        window.bridge.frame, timeout=10000, check_params_cb=lambda f: np.allclose(f.pose, pose)
    ) as got:
        vp.pose_changed.emit(pose)
    qtbot.waitUntil(lambda: vp.frame is got.args[0], timeout=5000)
    assert_shows(vp, got.args[0].rgb)


def assert_shows(vp, rgb) -> None:
    image = vp.grab_view().convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    pixels = data.reshape(h, image.bytesPerLine())[:, : w * 3].reshape(h, w, 3)
    assert (h, w) == rgb.shape[:2]
    assert np.abs(pixels.astype(int) - rgb).max() <= 1


def test_the_camera_path_survives_a_close_and_clear_is_undoable(qtbot, tmp_path):
    first = make_window(qtbot, tmp_path)
    open_room(qtbot, first)
    first.path_dock.add_from_view()
    first.viewport.navigator.look(60, 0)
    first.path_dock.add_from_view()
    poses = [k.pose.copy() for k in first.path_dock.editor.keys]
    first.close()
    second = make_window(qtbot, tmp_path)
    try:
        keys = second.path_dock.editor.keys
        assert len(keys) == 2
        for k, pose in zip(keys, poses):
            np.testing.assert_array_equal(k.pose, pose)
        assert "last session" in second.log.toPlainText()
        second.path_dock.clear()
        assert not second.path_dock.editor.keys and not second.path_recovery.exists()
        second.path_dock.undo()
        assert len(second.path_dock.editor.keys) == 2 and second.path_recovery.is_file()
    finally:
        second.bridge.shutdown()


def test_a_recovery_copy_cut_short_mid_save_is_still_offered(qtbot, tmp_path):
    """The app died between an autosave's two renames: the copy before it, set aside, is
    offered and restored; discarding removes it."""
    from engine.files import set_aside
    from engine.io import save_world
    from engine.render import open_source

    recovery = tmp_path / "recovery.lsworld"
    save_world(open_source("room", CONFIG), set_aside(recovery))  # where the swap left it
    w = make_window(qtbot, tmp_path)
    assert not recovery.exists() and w.start_page.recovery.isVisible()
    with qtbot.waitSignal(w.bridge.opened, timeout=30000):
        w.start_page.restore_button.click()
    w.discard_recovery()
    assert not set_aside(recovery).exists()
    w.bridge.shutdown()
