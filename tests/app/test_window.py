"""The main window offscreen: keys fly the camera as the fly controller says, a sample scene
opens from the start page, frames reach the viewport, errors are shown and the window lives
on. (The viewport's GL drawing is tested on EGL in test_renderer.py and under Xvfb.)"""

import math

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from app.bridge import EngineBridge
from app.viewport import Navigator
from app.window import MainWindow
from engine.camera import FlyController, FlyInput
from engine.world import WorldConfig

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    bridge = EngineBridge(WorldConfig(width=128, height=96, frames_per_segment=2), threads=1)
    w = MainWindow(bridge=bridge, settings=settings)
    qtbot.addWidget(w)
    w.show()
    yield w
    bridge.shutdown()


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
    assert any("broken.jpg" in p for p in window.recent_files())


def test_shortcuts_are_in_the_menus(window):
    shortcuts = {
        a.text().replace("&", ""): a.shortcut().toString()
        for a in window.actions()
        if not a.shortcut().isEmpty()
    }
    for text, key in [
        ("Generate (start / pause)", "Space"),
        ("Undo last segment", "Ctrl+Z"),
        ("Save world...", "Ctrl+S"),
        ("Open photo...", "Ctrl+O"),
        ("Screenshot", "F12"),
        ("Controls", "F1"),
        ("Tint generated tokens", "F"),
    ]:
        assert shortcuts.get(text) == key, (text, shortcuts)
