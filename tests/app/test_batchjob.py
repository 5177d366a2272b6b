"""Render a batch... from the app: two saved camera paths rendered from a snapshot of the
explored world, each into its own folder, with progress in the status bar's job and a line
per job in the log; the batch's job list runs again from the command line and skips what is
done; cancel keeps what finished; a batch without paths or world is refused by name. Waits
on signals, never sleeps."""

import json

import pytest

from app.batchjob import JOBS, WORLD, job_names
from engine import cli
from engine.camera import look_at
from engine.path import CameraPath, Keyframe, save_path

pytestmark = pytest.mark.gui


@pytest.fixture
def window(room_window):
    return room_window


def saved_paths(folder, count: int = 2) -> list:
    files = []
    for k in range(count):
        end = [0.3 * (k + 1), 0.0, 1.0]
        path = CameraPath(
            [
                Keyframe(look_at([0, 0, 0], [0, 0, 1]), time=0.0),
                Keyframe(look_at(end, [end[0], 0, 2.0]), time=0.5),
            ]
        )
        path.render.fps = 8.0
        files.append(folder / f"shot {k}.json")
        save_path(path, files[-1])
    return files


def test_a_batch_of_saved_paths_renders_each_into_its_folder(qtbot, window, tmp_path):
    paths = saved_paths(tmp_path)
    out = tmp_path / "batch"
    lines, reports = [], []
    window.batches.note.connect(lines.append)
    window.jobs.changed.connect(lambda job: reports.append(job.done))
    with qtbot.waitSignal(window.batches.runner.finished, timeout=180000) as done:
        assert window.batches.start(paths, str(out), workers=1)
    results = done.args[0]
    assert [r.status for r in results] == ["done", "done"]
    for name in ("shot-0", "shot-1"):  # named after the files
        assert (out / name / "video.mp4").is_file()
        assert (out / name / "frames" / "transforms.json").is_file()
    assert (out / WORLD / "world.json").is_file()
    assert any(line.startswith("shot-0: done") for line in lines)
    assert any("2 of 2 jobs done" in line for line in lines)
    assert 2 in reports  # the status bar's job saw both end
    # the job list it wrote runs again from the command line, skipping both
    jobs = json.loads((out / JOBS).read_text())
    assert [j["name"] for j in jobs] == ["shot-0", "shot-1"]
    assert cli.main(["batch", str(out / JOBS), "--out", str(out)]) == 0
    summary = json.loads((out / "batch.json").read_text())
    assert [row["status"] for row in summary["jobs"]] == ["skipped", "skipped"]


def test_cancel_keeps_the_finished_jobs(qtbot, window, tmp_path):
    paths = saved_paths(tmp_path, count=3)
    out = tmp_path / "batch"
    window.batches.runner.progress.connect(lambda done, total, line: window.batches.cancel())
    with qtbot.waitSignal(window.batches.runner.finished, timeout=180000) as done:
        assert window.batches.start(paths, str(out), workers=1)
    assert done.args[0] is None  # cancelled
    finished = [p for p in out.iterdir() if p.is_dir() and (p / "video.mp4").is_file()]
    assert 1 <= len(finished) < 3
    assert not list(out.glob(".*partial*"))


def test_a_batch_needs_paths_a_world_and_a_folder(qtbot, window, tmp_path):
    errors = []
    window.batches.error.connect(errors.append)
    assert not window.batches.start([], str(tmp_path / "b"))
    assert not window.batches.start([tmp_path / "missing.json"], str(tmp_path / "b"))
    assert not window.batches.start(saved_paths(tmp_path, 1), "  ")
    assert "add the camera paths" in errors[0]
    assert "not found" in errors[1] and "missing.json" in errors[1]
    assert "give the batch a folder" in errors[2]
    assert not window.batches.running


def test_job_names_are_folder_names_and_unique(tmp_path):
    names = job_names([tmp_path / "a b.json", tmp_path / "x" / "a b.json", tmp_path / "é.json"])
    assert names == ["a-b", "a-b-2", "é"]
