"""The path editor and dock: where new keyframes go, duplicate/delete/retime/update/stretch
as one undo step each and exactly undone, refused edits change nothing and say why, the
widgets show the editor, scrubbing and go-to ask for the path's pose, playback runs to the
end or wraps on a loop, and the minimap gets the keyframes. No sleeps."""

import math

import numpy as np
import pytest

from app.pathdock import PathDock
from app.patheditor import SPACING, PathEditor
from engine.path import CameraPath, Keyframe

pytestmark = pytest.mark.gui


def pose_at(x: float, yaw_deg: float = 0.0) -> np.ndarray:
    c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    pose = np.eye(4)
    pose[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    pose[0, 3] = x
    return pose


def state_of(editor: PathEditor):
    """Everything an undo must bring back, comparable with ==."""
    s = editor.state
    keys = [(k.pose.tobytes(), k.fov, k.time) for k in s.keys]
    return keys, s.tension, s.loop, s.period, s.easing, s.constant_speed, s.fps, s.selected


def three_keys() -> PathEditor:
    ed = PathEditor(128, 96)
    for x in range(3):
        ed.add(pose_at(x, 10 * x), 60.0)
    return ed


def test_new_keyframes_go_after_the_last_or_at_the_playhead_inside():
    ed = PathEditor()
    assert ed.path is None and ed.duration == 0.0
    assert ed.add(pose_at(0), 60.0) == 0 and ed.keys[0].time == 0.0
    assert ed.path is None  # one keyframe is no path yet
    ed.add(pose_at(1), 60.0, at=0.0)  # on the first key: appended instead
    assert [k.time for k in ed.keys] == [0.0, SPACING]
    assert ed.path is not None and ed.duration == SPACING
    assert ed.add(pose_at(0.5), 50.0, at=0.5) == 1  # inside: at the playhead
    assert [k.time for k in ed.keys] == [0.0, 0.5, SPACING] and ed.selected == 1
    ed.add(pose_at(3), 60.0, at=99.0)  # past the end: appended
    assert ed.keys[-1].time == 2 * SPACING


def test_every_edit_is_one_undo_step_exactly_undone():
    ed = three_keys()
    edits = [
        lambda: ed.duplicate(0),
        lambda: ed.duplicate(2),
        lambda: ed.delete(1),
        lambda: ed.retime(0, 3.5),
        lambda: ed.set_view(1, pose_at(5, 45), 40.0),
        lambda: ed.set_fov(2, 90.0),
        lambda: ed.set_duration(10.0),
        lambda: ed.set_options(tension=0.5, constant_speed=True, fps=30.0),
        lambda: ed.set_options(loop=True),
        lambda: ed.replace(CameraPath([Keyframe(pose_at(0), 60, 0), Keyframe(pose_at(1), 60, 1)])),
        ed.clear,
    ]
    states = [state_of(ed)]
    for edit in edits:
        edit()
        assert state_of(ed) != states[-1]
        states.append(state_of(ed))
    for want in reversed(states[:-1]):
        assert ed.undo()
        assert state_of(ed) == want
    for _ in range(3):  # the three adds of three_keys
        assert ed.undo()
    assert not ed.keys and not ed.undo() and not ed.can_undo


def test_edits_do_what_they_say():
    ed = three_keys()
    assert ed.duplicate(0) == 1 and ed.keys[1].time == SPACING / 2
    np.testing.assert_array_equal(ed.keys[1].pose, ed.keys[0].pose)
    assert ed.duplicate(3) == 4 and ed.keys[4].time == ed.keys[3].time + SPACING
    moved = ed.keys[0].pose.copy()
    assert ed.retime(0, 100.0) == len(ed.keys) - 1  # moved to the end, found there
    np.testing.assert_array_equal(ed.keys[-1].pose, moved)
    before = ed.duration
    ed.set_duration(2 * before)
    assert ed.duration == pytest.approx(2 * before)
    ed.set_options(loop=True)
    period = ed.path.period
    ed.set_duration(period / 2)
    assert ed.duration == pytest.approx(period / 2) and ed.path.loop


def test_refused_edits_change_nothing_and_say_why():
    ed = three_keys()
    before = state_of(ed)
    with pytest.raises(ValueError, match="times must differ"):
        ed.retime(2, ed.keys[0].time)
    with pytest.raises(ValueError, match="fov"):
        ed.set_fov(0, 500.0)
    with pytest.raises(ValueError, match="pose"):
        ed.set_view(0, np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="positive"):
        ed.set_duration(0.0)
    with pytest.raises(ValueError, match="easing"):
        ed.set_options(easing="bounce")
    with pytest.raises(IndexError, match="no keyframe 7"):
        ed.delete(7)
    assert state_of(ed) == before and len(ed._undo) == 3  # the three adds only
    # looping turns easing linear rather than refusing the loop
    ed.set_options(easing="ease-in-out")
    ed.set_options(loop=True)
    assert ed.state.easing == "linear"


def test_the_dock_shows_the_editor_and_edits_through_its_widgets(qtbot):
    dock = PathDock()
    qtbot.addWidget(dock)
    errors = []
    dock.error.connect(errors.append)
    for x in range(3):
        dock.add_key(pose_at(x), 60.0)
    assert dock.table.rowCount() == 3 and dock.editor.selected == 2
    assert dock.table.item(2, 1).text() == f"{2 * SPACING:.3f}"
    assert dock.timeline.keys == [0.0, SPACING, 2 * SPACING]
    assert dock.time == pytest.approx(2 * SPACING)  # the playhead follows a new key
    dock.table.selectRow(0)
    assert dock.editor.selected == 0 and dock.key_time.value() == 0.0
    dock.key_time.setValue(2 * SPACING)  # onto another key's time: refused, said, kept
    assert errors and "times must differ" in errors[-1]
    assert dock.key_time.value() == 0.0 and dock.editor.keys[0].time == 0.0
    dock.key_time.setValue(5.0)  # moved: now the last
    assert dock.editor.selected == 2 and dock.table.item(2, 1).text() == "5.000"
    dock.duration_box.setValue(10.0)
    assert dock.editor.duration == pytest.approx(10.0)
    dock.loop_box.setChecked(True)
    assert dock.editor.path.loop and not dock.easing_box.isEnabled()
    dock.buttons["undo"].click()
    assert not dock.editor.path.loop and dock.easing_box.isEnabled()
    dock.buttons["delete"].click()
    assert dock.table.rowCount() == 2
    dock.buttons["duplicate"].click()
    assert dock.table.rowCount() == 3


def test_scrub_and_go_to_ask_for_the_paths_pose(qtbot):
    dock = PathDock()
    qtbot.addWidget(dock)
    dock.add_key(pose_at(0), 60.0)
    dock.add_key(pose_at(2, 30), 60.0)
    asked = []
    dock.view_requested.connect(asked.append)
    dock.timeline.scrubbed.emit(SPACING / 2)
    want, _ = dock.editor.path.poses([SPACING / 2])
    np.testing.assert_allclose(asked[-1], want[0])
    dock.go_to(1)
    np.testing.assert_array_equal(asked[-1], dock.editor.keys[1].pose)
    assert dock.time == SPACING and dock.editor.selected == 1


def test_playback_runs_to_the_end_or_wraps_on_a_loop(qtbot):
    dock = PathDock()
    qtbot.addWidget(dock)
    errors = []
    dock.error.connect(errors.append)
    dock.play()  # nothing to play: said, not started
    assert not dock.playing and "two keyframes" in errors[-1]
    dock.add_key(pose_at(0), 60.0)
    dock.add_key(pose_at(1), 60.0)
    dock.seek(0.0)
    dock.play()
    assert dock.playing
    dock.advance(0.5)
    assert dock.time == pytest.approx(0.5)
    dock.advance(10.0)
    assert dock.time == SPACING and not dock.playing
    dock.loop_box.setChecked(True)
    period = dock.editor.duration
    dock.play()
    dock.seek(0.0)
    dock.advance(period + 0.25)
    assert dock.time == pytest.approx(0.25) and dock.playing
    dock.toggle_play()
    assert not dock.playing
    with qtbot.waitSignal(dock.view_requested, timeout=5000):  # the timer drives it
        dock.play()
    dock.stop()


def test_the_window_puts_the_path_on_the_minimap(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from app.bridge import EngineBridge
    from app.window import MainWindow
    from engine.world import WorldConfig

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(
        bridge=EngineBridge(WorldConfig(width=128, height=96), threads=1),
        settings=settings,
        recovery=tmp_path / "recovery.lsworld",
    )
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.bridge.opened, timeout=30000):
            window.open_source("room")
        window.path_dock.add_from_view()
        window.viewport.navigator.look(100, 0)
        window.path_dock.add_from_view()
        poses, fovs, w, h, curve, selected = window.minimap.path
        assert len(poses) == 2 and (w, h) == (128, 96) and selected == 1
        np.testing.assert_allclose(fovs, window.view_fov())
        np.testing.assert_array_equal(poses[1], window.viewport.navigator.pose)
        assert curve.shape == (256, 3)
        window.path_dock.step(-1)  # [ : the previous keyframe, and the camera goes there
        assert window.minimap.path[5] == 0
        np.testing.assert_array_equal(window.viewport.navigator.pose, poses[0])
        window.path_dock.editor.clear()
        window.path_dock.changed.emit()
        assert window.minimap.path is None
    finally:
        window.bridge.shutdown()


def test_opening_a_nerfstudio_file_says_which_variant_was_read(qtbot, tmp_path):
    import json

    from engine.path import FLIP_YZ

    dock = PathDock()
    qtbot.addWidget(dock)
    notes: list[str] = []
    dock.note.connect(notes.append)
    elements = []
    for x in range(3):  # the legacy viewer's column-major strings, a 0 in the corner
        m = (pose_at(x, 10 * x) @ FLIP_YZ).T.reshape(-1)
        m[15] = 0.0
        elements.append({"matrix": json.dumps(m.tolist()), "fov": 50.0})
    file = tmp_path / "camera_path.json"
    file.write_text(json.dumps({"keyframes": elements, "seconds": 2.0}))
    assert dock.open_path(str(file))
    assert len(dock.editor.keys) == 3
    assert any("read as nerfstudio camera_path.json: 3 keyframes, column-major" in n for n in notes)
    assert any("homogeneous corner read as 1" in n for n in notes)
