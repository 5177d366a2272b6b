"""engine.explore: the app's policy without Qt. The state table, when a move generates,
where a segment goes, the autosave cadence, and what the GUI is told. Plain pytest."""

import errno
import math
import os

import numpy as np
import pytest

from engine.camera import rotation_about
from engine.explore import POLICY, REPORTS, STATES, TRANSITIONS, Explorer, Listener, failure
from engine.messages import Inspection, MemoryMap, ViewFrame, WorldInfo
from engine.world import WorldConfig

CONFIG = WorldConfig(width=128, height=96, frames_per_segment=2)


class Record(Listener):
    """Every report, in order: (kind, payload)."""

    def __init__(self):
        self.got = []
        for name in REPORTS:
            setattr(self, name, lambda *args, name=name: self.got.append((name, args)))

    def of(self, kind):
        return [args for k, args in self.got if k == kind]


def turned(pose, degrees):
    out = np.array(pose, copy=True)
    out[:3, :3] = rotation_about((0.0, -1.0, 0.0), math.radians(degrees)).numpy() @ out[:3, :3]
    return out


@pytest.fixture(scope="module")
def opened():
    """An explorer on the room (opened once; tests that change the world undo it)."""
    rec = Record()
    ex = Explorer(CONFIG, rec)
    ex.open("room")
    return ex, rec


def test_the_state_table_is_closed_and_pausing_stops_a_segment():
    assert {s for s, _ in TRANSITIONS} <= set(STATES) and set(TRANSITIONS.values()) <= set(STATES)
    assert set(POLICY) == set(STATES) and [s for s in STATES if POLICY[s]] == ["viewing"]
    ex = Explorer(CONFIG)
    assert ex.state == "paused"  # generation starts off
    ex.cancel()  # nothing being made: no state change
    assert ex.state == "paused"
    ex.set_generating(True)
    assert ex.state == "viewing"
    assert ex.fire("start") == "generating"
    ex.cancelled.clear()
    ex.set_generating(False)  # pausing stops the segment being made
    assert ex.state == "cancelling" and ex.cancelled.is_set()
    assert ex.fire("done") == "viewing"
    assert ex.fire("pause") == "paused"


def test_open_reports_the_world_and_its_first_view(opened):
    ex, rec = opened
    (info,) = rec.of("opened")[0]
    assert isinstance(info, WorldInfo) and (info.width, info.height) == (128, 96)
    frames = [f for (f,) in rec.of("frame")]
    assert frames and isinstance(frames[0], ViewFrame) and frames[0].segment == 0
    (first_map,) = rec.of("memory_map")[0]
    assert isinstance(first_map, MemoryMap) and first_map.current == 0
    assert ex.stats()["segments"] == 0 and not ex.unsaved


def test_a_move_generates_only_if_generation_was_on_when_it_was_made(opened):
    ex, rec = opened
    pose = turned(ex.world.camera.pose.numpy(), 40.0)
    ex.set_generating(True)
    ex.move(pose, 0.0, generating=False)  # made while generation was off
    assert ex.world.segments == 0 and not rec.of("busy")
    ex.set_generating(False)
    ex.move(pose, 0.1, generating=True)  # made while on, but paused since
    assert ex.world.segments == 0
    ex.set_generating(True)
    n = len(rec.got)
    ex.move(pose, 0.2, generating=True)  # standing still: a segment of the one pose
    assert ex.world.segments == 1 and ex.world.segment_ends == [2]
    kinds = [k for k, _ in rec.got[n:]]
    assert kinds.count("busy") == 2 and rec.of("busy")[-2:] == [(True,), (False,)]
    assert any(f.segment == 1 for k, (f, *_) in rec.got[n:] if k == "frame")
    assert ex.state == "viewing" and ex.unsaved
    assert ex.memory_map().keyframes.shape == (2, 2)
    ex.world.undo()
    ex.set_generating(False)


def test_a_segment_runs_ahead_along_the_motion():
    ex = Explorer(CONFIG, lookahead_s=0.5)
    start = np.eye(4)
    moved = start.copy()
    moved[2, 3] = 0.1  # 0.1 forward in 0.1 s: 1 unit/s
    poses = ex.ahead((start, 0.0), moved, 0.1)
    assert len(poses) == CONFIG.frames_per_segment
    np.testing.assert_allclose(poses[-1][2, 3], 0.1 + 0.5, atol=1e-9)  # 0.5 s further
    assert [p.tolist() for p in ex.ahead(None, moved, 0.1)] == [moved.tolist()]
    assert len(ex.ahead((moved, 0.0), moved, 0.1)) == 1  # standing still


def test_autosave_every_segment_and_inspection_while_inspecting(tmp_path):
    rec = Record()
    ex = Explorer(CONFIG, rec, autosave=str(tmp_path / "r.lsworld"), autosave_every=1)
    ex.open("room")
    ex.set_inspecting(True)
    (ins,) = rec.of("inspection")[-1]
    assert isinstance(ins, Inspection) and ins.known.all()
    ex.set_generating(True)
    ex.move(turned(ex.world.camera.pose.numpy(), 40.0), 0.0, generating=True)
    assert rec.of("autosaved") == [(str(tmp_path / "r.lsworld"),)]
    assert (tmp_path / "r.lsworld" / "world.json").is_file()
    ex.save_recovery()  # still unsaved (a recovery copy is not a save): written again
    assert len(rec.of("autosaved")) == 2


def test_commands_without_a_world_say_so():
    ex = Explorer(CONFIG)
    with pytest.raises(RuntimeError, match="no world to save"):
        ex.save("x.lsworld")
    with pytest.raises(RuntimeError, match="no world to undo"):
        ex.undo()
    ex.move(np.eye(4), 0.0)  # nothing to show: nothing happens


def test_a_fault_in_any_stage_is_raised_for_the_app_and_the_world_goes_on(
    opened, stage, stage_fault
):
    """A stage of a segment failing halfway (tests/engine/conftest.py): the move raises,
    and the app says failure("move", e) (app/bridge.py); the state is back to viewing, the
    world at its last good segment, the view shown again from it, and the next segment
    works."""
    ex, rec = opened
    world = ex.world
    start = world.camera.pose.numpy()
    pose = turned(start, 40.0)
    ex.set_generating(True)
    ex.move(start, 0.0, generating=False)
    entries, nbytes, unsaved = len(world.memory), world.memory.nbytes, ex.unsaved
    n = len(rec.got)
    fault = stage_fault(world, stage)
    with pytest.raises(RuntimeError, match=f"{stage} failed") as failed:
        ex.run("move", (pose, 0.1, True))  # turning: a segment of two frames ahead
    assert fault.fired is not None and fault.fired > entries  # failed after a write
    assert failure("move", failed.value) == f"The engine failed while generating: {stage} failed"
    fault.disarm()
    assert ex.state == "viewing" and rec.of("busy")[-2:] == [(True,), (False,)]
    assert (world.segments, len(world.memory), world.memory.nbytes) == (0, entries, nbytes)
    assert ex.unsaved == unsaved and rec.of("stats")[-1][0]["entries"] == entries
    frames = [f for k, (f, *_) in rec.got[n:] if k == "frame"]
    assert frames[0].segment == 0 and frames[-1].segment == 0  # the view, then again
    assert any(f.segment == 1 for f in frames)  # the failed segment's first frame was shown
    np.testing.assert_array_equal(frames[-1].rgb, frames[0].rgb)
    ex.move(pose, 0.2, generating=True)  # the next segment
    assert world.segments == 1 and len(world.memory) > entries
    assert world.undo() == "segment 1"
    ex.set_generating(False)


def test_a_save_that_cannot_write_is_said_and_the_world_stays_unsaved(
    opened, tmp_path, monkeypatch
):
    """A read-only folder (mkdtemp refused): the save raises for the app to say, the
    recovery copy's failure is reported, the world is still unsaved; then it saves."""
    ex, rec = opened
    ex.unsaved = True

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), kwargs.get("dir"))

    monkeypatch.setattr("tempfile.mkdtemp", denied)
    with pytest.raises(PermissionError) as failed:
        ex.run("save", str(tmp_path / "w.lsworld"))
    assert failure("save", failed.value) == (
        f"Could not save the world: cannot write to the folder {tmp_path.resolve()}: "
        "it is read-only (permission denied); nothing was written"
    )
    assert ex.unsaved and rec.of("saved") == []
    ex.autosave = str(tmp_path / "recovery.lsworld")
    try:
        ex.save_recovery()
        (message,) = rec.of("error")[-1]
        assert message.startswith(f"Could not write the recovery copy to {ex.autosave}")
        assert "it is read-only" in message and rec.of("autosaved") == []
        monkeypatch.undo()
        ex.save(str(tmp_path / "w.lsworld"))
        assert rec.of("saved")[-1] == (str(tmp_path / "w.lsworld"),) and not ex.unsaved
    finally:
        ex.autosave = None
