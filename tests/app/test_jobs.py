"""The app's long jobs as asyncio tasks on the Qt loop (app/jobs.py): opening shows its
stages in the status bar and ends; a cancelled open leaves the world that was open, whether
the engine had begun it or not; a save is a job that cannot be cancelled halfway; a job's
own fault is said by name. Waits on signals and conditions, never sleeps."""

import threading

import pytest

from app.jobs import JobBar, Jobs
from tests.app.test_window import CONFIG, make_window

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    yield w
    w.bridge.shutdown()


def test_opening_is_a_job_with_its_stages_shown(qtbot, window):
    seen = []
    window.jobs.changed.connect(lambda job: seen.append((job.done, job.total, job.text)))
    bar = window.findChild(JobBar)
    assert bar.isHidden()
    with qtbot.waitSignal(window.jobs.ended, timeout=30000) as ended:
        job = window.open_source("room")
        assert job.name == "opening room" and window.jobs.running == [job]
        assert bar.isVisible() and bar.label.text().startswith("opening room")
    assert bar.isHidden()
    assert ended.args[0] is job and not job.task.cancelled() and job.task.exception() is None
    assert window.info is not None and window.info.source == "room"
    assert [total for _, total, _ in seen[1:]] == [3, 3, 3]  # read, load, seed
    assert "depth, encoding and lifting" in seen[-1][2]
    assert window.jobs.running == []


def test_a_cancelled_open_leaves_the_world_that_was_open(qtbot, window):
    with qtbot.waitSignal(window.jobs.ended, timeout=30000):
        window.open_source("room")
    opened = []
    window.bridge.opened.connect(opened.append)
    # queued behind a busy engine: cancelled before it begins, it never runs
    release = threading.Event()
    window.bridge.call(lambda world: release.wait(30))
    job = window.open_source("street")
    with qtbot.waitSignal(window.jobs.ended, timeout=30000):
        assert window.jobs.cancel()
    release.set()
    assert job.task.cancelled()
    # begun: the engine stops between its stages
    explorer = window.bridge.explorer
    stage = threading.Event()
    report = explorer.listener.progress

    def held(done, total, what):  # on the engine thread: wait until the cancel has arrived
        report(done, total, what)
        if done == 1:
            stage.set()
            assert explorer.cancelled.wait(30)

    explorer.listener.progress = held
    job = window.open_source("street")
    qtbot.waitUntil(stage.is_set, timeout=30000)
    with qtbot.waitSignal(window.jobs.ended, timeout=30000):
        window.jobs.cancel()
    assert job.task.cancelled()
    alive = window.bridge.request("call", lambda world: world.camera.width)  # still up
    qtbot.waitUntil(alive.done, timeout=10000)
    assert alive.result() == CONFIG.width
    assert opened == [] and window.info.source == "room"
    assert explorer.world is not None and window.messages == []
    assert "opening street cancelled" in window.log.toPlainText()


def test_a_save_is_a_job_that_is_not_cancelled_halfway(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.jobs.ended, timeout=30000):
        window.open_source("room")
    with qtbot.waitSignal(window.jobs.ended, timeout=30000):
        job = window.save_world(str(tmp_path / "saved.lsworld"))
        assert not job.cancellable and not window.jobs.cancel()
    assert (tmp_path / "saved.lsworld" / "world.json").is_file()
    assert "saved the world to" in window.log.toPlainText()
    # a failed save is said once, by the engine's message, and the job ends
    (tmp_path / "blocker").write_text("a file where the folder's parent should be")
    with qtbot.waitSignal(window.jobs.ended, timeout=30000):
        window.save_world(str(tmp_path / "blocker" / "w.lsworld"))
    assert len(window.messages) == 1 and "Could not save the world" in window.messages[0]


def test_a_fault_in_a_job_is_said_by_name(qtbot):
    jobs = Jobs()
    errors = []
    jobs.error.connect(errors.append)

    async def broken(job):
        job.report(1, 2, "half")
        raise RuntimeError("a bug")

    with qtbot.waitSignal(jobs.ended, timeout=5000):
        job = jobs.start("thinking", broken)
    assert job.text == "thinking 50% (half)" and jobs.running == []
    assert errors == ["thinking failed: a bug"]


def test_closing_the_window_ends_every_job(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    job = w.open_source("room")
    w.close()  # while it opens: cancelled, and ended before the loop could stop
    assert w.jobs.running == [] and job.task.done()
