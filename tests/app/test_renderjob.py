"""Render... from the app: the same video as `latentscape render` bit for bit (run as its
own process on the snapshot and the path the app kept), progress reaches the dock, cancel
keeps the frames done without touching an existing video, the temporary snapshot goes,
and a render without a path or a world is refused by name. Waits on signals, never
sleeps."""

import subprocess
import sys

import av
import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.renderjob import RenderPlan

pytestmark = pytest.mark.gui


@pytest.fixture
def window(room_window):
    return room_window


def key_path(window, turn: float = 60.0, seconds: float = 1.0, fps: float = 8.0) -> None:
    """Two keyframes a turn and a step apart, `seconds` long at fps."""
    nav = window.viewport.navigator
    window.path_dock.add_from_view()
    nav.look(turn, 0)
    nav.press(Qt.Key.Key_W)  # and a step forward
    nav.tick(0.4)
    nav.release(Qt.Key.Key_W)
    window.path_dock.add_from_view()
    window.path_dock.duration_box.setValue(seconds)
    window.path_dock.fps_box.setValue(fps)
    assert window.path_dock.editor.duration == pytest.approx(seconds)


def frames_of(file) -> np.ndarray:
    with av.open(str(file)) as video:
        return np.stack([f.to_ndarray(format="rgb24") for f in video.decode(video=0)])


def test_rendering_from_the_app_equals_latentscape_render_bit_for_bit(qtbot, window, tmp_path):
    key_path(window)
    started, progress = [], []
    window.renders.runner.started.connect(lambda total, what: started.append(total))
    window.renders.runner.progress.connect(lambda done, total, what: progress.append(done))
    with qtbot.waitSignal(window.renders.runner.finished, timeout=120000) as done:
        assert window.renders.render(str(tmp_path / "app.mp4"), keep=True)
    result = done.args[0]
    assert not result.interrupted and result.frames == 9  # 1 s at 8 fps, both ends
    assert started == [9] and progress[-1] == 9 and window.path_dock.render_row.isHidden()
    snapshot, path = tmp_path / "app.lsworld", tmp_path / "app.path.json"
    assert (snapshot / "world.json").is_file() and path.is_file()
    # the same job from the command line, in a process of its own
    cli = tmp_path / "cli.mp4"
    run = subprocess.run(
        [sys.executable, "-m", "engine.cli", "render", str(snapshot), "--path", str(path)]
        + ["--out", str(cli)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "app.mp4").read_bytes() == cli.read_bytes()
    app_frames = frames_of(tmp_path / "app.mp4")
    assert app_frames.shape == (9, 96, 128, 3) and app_frames.std() > 5
    np.testing.assert_array_equal(app_frames, frames_of(cli))
    assert window.renders.runner.plan.command(8.0).startswith("latentscape render")


def test_cancel_keeps_the_frames_done_and_the_old_video(qtbot, window, tmp_path):
    key_path(window, seconds=4.0)
    out = tmp_path / "take.mp4"
    out.write_bytes(b"an earlier take")
    window.renders.runner.progress.connect(lambda done, total, what: window.renders.cancel())
    with qtbot.waitSignal(window.renders.runner.finished, timeout=120000) as done:
        assert window.renders.render(str(out), keep=False)
    result = done.args[0]
    assert result.interrupted and result.frames < 33
    assert out.read_bytes() == b"an earlier take"
    assert not list(tmp_path.glob(".render-*"))  # the temporary snapshot is gone
    assert "render cancelled" in window.log.toPlainText()


def test_a_render_needs_a_path_and_one_at_a_time(qtbot, window, tmp_path):
    assert not window.renders.render(str(tmp_path / "x.mp4"))
    assert "no camera path" in window.messages[-1]
    key_path(window)
    with qtbot.waitSignal(window.renders.runner.finished, timeout=120000):
        assert window.renders.render(str(tmp_path / "a.mp4"), keep=False)
        assert not window.renders.render(str(tmp_path / "b.mp4"))
        assert "a render is running" in window.messages[-1]
    assert (tmp_path / "a.mp4").is_file() and not (tmp_path / "b.mp4").exists()


def test_a_plan_puts_the_snapshot_and_the_path_beside_the_video(tmp_path):
    plan = RenderPlan.beside(tmp_path / "shot", keep=True)
    assert plan.out == tmp_path / "shot.mp4"
    assert plan.world == tmp_path / "shot.lsworld" and plan.path == tmp_path / "shot.path.json"
    assert plan.temporary is None
    temp = RenderPlan.beside(tmp_path / "shot.mp4", keep=False)
    assert temp.temporary.is_dir() and temp.world.parent == temp.temporary
