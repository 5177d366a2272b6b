"""The engine bridge: frames arrive as signals, the newest pose wins, generation runs ahead
of the camera, saves load back, bad files and engine failures leave the world usable.
Waits on signals; never sleeps."""

import math
import time

import numpy as np
import pytest

from app.bridge import EngineBridge
from engine.camera import rotation_about
from engine.messages import Inspection, MemoryMap, ViewFrame, WorldInfo
from engine.world import WorldConfig

pytestmark = pytest.mark.gui

CONFIG = WorldConfig(width=128, height=96, frames_per_segment=2)


@pytest.fixture
def bridge():
    b = EngineBridge(CONFIG, threads=1)
    yield b
    b.shutdown()


def open_room(qtbot, bridge) -> WorldInfo:
    with qtbot.waitSignal(bridge.opened, timeout=30000) as opened:
        with qtbot.waitSignal(bridge.frame, timeout=30000):
            bridge.open("room")
    return opened.args[0]


def settle(qtbot, bridge, pose):
    """Move to pose and wait until the engine has shown it (so the next move is a motion
    from it, not merged with it: the newest pose wins)."""
    with qtbot.waitSignal(
        bridge.frame, timeout=30000, check_params_cb=lambda f: np.allclose(f.pose, pose)
    ):
        bridge.move(pose)


def turned(pose, degrees):
    out = np.array(pose, copy=True)
    out[:3, :3] = rotation_about((0.0, -1.0, 0.0), math.radians(degrees)).numpy() @ out[:3, :3]
    return out


def test_open_gives_world_info_and_the_first_frame(qtbot, bridge):
    frames = []
    bridge.frame.connect(frames.append)
    info = open_room(qtbot, bridge)
    assert (info.width, info.height) == (128, 96) and info.segments == 0
    assert np.allclose(info.pose, np.eye(4)) and info.K.shape == (3, 3)
    f = frames[-1]
    assert isinstance(f, ViewFrame) and f.rgb.shape == (96, 128, 3) and f.rgb.dtype == np.uint8
    assert f.holes.shape == (12, 16) and not f.holes.all()
    assert f.rgb.std() > 10  # the room, not a blank image


def test_moves_show_the_memory_and_the_newest_pose_wins(qtbot, bridge):
    info = open_room(qtbot, bridge)
    frames = []
    bridge.frame.connect(frames.append)
    last = turned(info.pose, 20)
    # posted in one go: the worker skips the stale ones
    with qtbot.waitSignal(
        bridge.frame, timeout=10000, check_params_cb=lambda f: np.allclose(f.pose, last)
    ):
        for deg in range(1, 21):
            bridge.move(turned(info.pose, deg))
    assert len(frames) < 20
    assert frames[-1].holes.any()  # turned toward what the photo did not show


def test_generation_runs_ahead_of_the_camera_and_fills_the_memory(qtbot, bridge):
    info = open_room(qtbot, bridge)
    stats = []
    bridge.stats.connect(stats.append)
    bridge.set_generating(True)
    bridge.move(turned(info.pose, 0.0))
    with qtbot.waitSignal(
        bridge.stats, timeout=30000, check_params_cb=lambda s: s["segments"] == 1
    ):
        bridge.move(turned(info.pose, 10.0))
    assert stats[-1]["entries"] > 0 and stats[-1]["can_undo"] == 1
    # undo takes it back
    with qtbot.waitSignal(bridge.undone, timeout=10000) as undone:
        bridge.undo()
    assert undone.args == ["segment 1"]


def test_save_and_load_back(qtbot, bridge, tmp_path):
    info = open_room(qtbot, bridge)
    bridge.set_generating(True)
    settle(qtbot, bridge, info.pose)
    with qtbot.waitSignal(
        bridge.stats, timeout=30000, check_params_cb=lambda s: s["segments"] == 1
    ):
        bridge.move(turned(info.pose, 15.0))

    def snapshot(into):
        def read(world):
            _, r = world.view(info.pose)
            into.update(entries=len(world.memory), latent=r.latent.clone())

        return read

    held = {}
    bridge.call(snapshot(held))
    with qtbot.waitSignal(bridge.saved, timeout=30000) as saved:
        bridge.save(str(tmp_path / "w.lsworld"))
    with qtbot.waitSignal(bridge.opened, timeout=30000) as opened:
        bridge.open(saved.args[0])
    assert opened.args[0].segments == 1 and len(opened.args[0].trajectory) == 1 + 2
    loaded = {}
    with qtbot.waitSignal(bridge.frame, timeout=10000, check_params_cb=lambda f: bool(loaded)):
        bridge.call(snapshot(loaded))
        bridge.move(info.pose)
    assert loaded["entries"] == held["entries"]
    assert (loaded["latent"] == held["latent"]).all()


def test_corrupt_image_and_world_give_messages_and_keep_the_world(qtbot, bridge, tmp_path):
    open_room(qtbot, bridge)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    with qtbot.waitSignal(bridge.error, timeout=10000) as err:
        bridge.open(str(bad))
    assert "Could not open" in err.args[0] and "broken.png" in err.args[0]
    world = tmp_path / "bad.lsworld"
    world.mkdir()
    (world / "world.json").write_text("{ truncated")
    with qtbot.waitSignal(bridge.error, timeout=10000) as err:
        bridge.open(str(world))
    assert "Could not open" in err.args[0]
    # the room is still there and answers
    with qtbot.waitSignal(bridge.frame, timeout=10000) as f:
        bridge.move(np.eye(4))
    assert f.args[0].rgb.std() > 10


class FailingGenerator:
    """Fails on its second call: an engine exception in the middle of a segment."""

    name = "failing"

    def __init__(self):
        from engine.models.generator import ExemplarGenerator

        self.inner, self.calls = ExemplarGenerator(), 0

    def fill(self, latent, known, depth, context):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("the generator broke")
        return self.inner.fill(latent, known, depth, context)


def test_engine_exception_mid_segment_leaves_the_last_good_segment(qtbot):
    bridge = EngineBridge(CONFIG, backends={"generator": FailingGenerator()}, threads=1)
    try:
        info = open_room(qtbot, bridge)
        before = {}
        bridge.call(lambda w: before.update(entries=len(w.memory), segments=w.segments))
        bridge.set_generating(True)
        settle(qtbot, bridge, info.pose)
        with qtbot.waitSignal(bridge.error, timeout=30000) as err:
            bridge.move(turned(info.pose, 12.0))
        assert "the generator broke" in err.args[0]
        after = {}
        with qtbot.waitSignal(bridge.frame, timeout=10000, check_params_cb=lambda f: bool(after)):
            bridge.call(lambda w: after.update(entries=len(w.memory), segments=w.segments))
            bridge.move(info.pose)
        assert after == before
    finally:
        bridge.shutdown()


def test_bad_pose_is_refused_with_a_message(qtbot, bridge):
    with qtbot.waitSignal(bridge.error, timeout=1000) as err:
        bridge.move(np.full((4, 4), np.nan))
    assert "4x4" in err.args[0]


def test_the_map_follows_segments_erases_and_undo(qtbot, bridge):
    maps = []
    bridge.memory_map.connect(maps.append)
    info = open_room(qtbot, bridge)
    qtbot.waitUntil(lambda: bool(maps), timeout=5000)
    first = maps[-1]
    assert isinstance(first, MemoryMap) and first.count.shape == (128, 128)
    assert first.count.sum() > 0 and first.current == 0 and (first.segment <= 0).all()
    assert first.trajectory.shape == (1, 2) and np.allclose(first.trajectory, 0.0)
    np.testing.assert_allclose(info.ground[0], info.pose[:3, 3])  # the seed camera is the origin
    total = first.count.sum()
    # erase a disc around the middle of what is held: fewer entries, one undo step
    x0, x1, y0, y1 = first.extent
    rows, cols = np.nonzero(first.count)
    centre = (
        x0 + (np.median(cols) + 0.5) / 128 * (x1 - x0),
        y1 - (np.median(rows) + 0.5) / 128 * (y1 - y0),
    )
    with qtbot.waitSignal(bridge.memory_map, timeout=10000) as erased:
        bridge.erase([centre], 0.3 * (x1 - x0))
    assert 0 < erased.args[0].count.sum() < total
    with qtbot.waitSignal(bridge.undone, timeout=10000) as undone:
        with qtbot.waitSignal(bridge.memory_map, timeout=10000) as restored:
            bridge.undo()
    assert undone.args == ["erase"]
    assert restored.args[0].count.sum() == total


def test_inspections_while_inspecting(qtbot, bridge):
    inspections = []
    bridge.inspection.connect(inspections.append)
    info = open_room(qtbot, bridge)
    assert not inspections  # off by default: no work for a hidden inspector
    with qtbot.waitSignal(bridge.inspection, timeout=10000) as got:
        bridge.set_inspecting(True)  # the current view at once
    assert got.args[0].known.all()  # the seed view
    with qtbot.waitSignal(bridge.inspection, timeout=10000) as got:
        bridge.move(turned(info.pose, 25.0))
    ins = got.args[0]
    assert isinstance(ins, Inspection)
    assert ins.pca.shape == (12, 16, 3) and ins.pca.dtype == np.uint8
    assert not ins.known.all() and ins.known.any()  # turned: part of the view is unknown
    assert (ins.pca[~ins.known] == 0).all() and ins.pca[ins.known].std() > 5
    assert (ins.age[ins.known & np.isfinite(ins.depth)] == 0).all()  # all from the seed
    assert (ins.age[~ins.known] == -1).all() and (ins.depth[~ins.known] == 0).all()
    assert ins.dynamic is None  # the room comes without a dynamic mask
    assert ins.growth.shape == (1, 3) and ins.growth[0, 1] == ins.summary["entries"]
    assert ins.summary["rgb_bytes"] > ins.summary["bytes"]
    # after a segment: what it wrote is new (age 0), the seed's tokens one segment old.
    # No lookahead: the segment is made at the pose shown, not ahead along the turn by an
    # amount that depends on the time between the two moves (what made this test flaky).
    bridge.lookahead_s = 0.0
    bridge.set_generating(True)
    with qtbot.waitSignal(
        bridge.inspection, timeout=30000, check_params_cb=lambda i: i.summary["segment"] == 1
    ) as got:
        bridge.move(turned(info.pose, 30.0))
    ins = got.args[0]
    geometry = ins.known & np.isfinite(ins.depth)
    assert set(np.unique(ins.age[geometry])) == {0, 1}
    assert ins.growth.shape == (2, 3) and ins.growth[-1, 1] == ins.summary["entries"]


def test_map_keyframes_are_where_segments_ended(qtbot, bridge):
    """A segment made standing still is one pose long (no motion to run ahead along): the
    map's keyframes are the seed and that pose, not every frames_per_segment-th pose of the
    trajectory (which drifted off the segments' ends)."""
    info = open_room(qtbot, bridge)
    settle(qtbot, bridge, turned(info.pose, 40.0))  # moved there with generation off
    bridge.set_generating(True)
    with qtbot.waitSignal(
        bridge.memory_map, timeout=30000, check_params_cb=lambda m: m.current == 1
    ) as got:
        bridge.move(turned(info.pose, 40.0))  # the same pose again: standing still
    m = got.args[0]
    assert m.trajectory.shape == (2, 2)  # the seed pose and the segment's one pose
    np.testing.assert_allclose(m.keyframes, m.trajectory[[0, 1]])


def test_autosave_writes_a_recovery_copy_every_few_segments(qtbot, tmp_path):
    recovery = tmp_path / "recovery.lsworld"
    bridge = EngineBridge(CONFIG, threads=1, autosave=str(recovery), autosave_every=1)
    try:
        info = open_room(qtbot, bridge)
        bridge.set_generating(True)
        settle(qtbot, bridge, info.pose)
        with qtbot.waitSignal(bridge.autosaved, timeout=30000) as saved:
            bridge.move(turned(info.pose, 15.0))
        assert saved.args[0] == str(recovery) and (recovery / "world.json").is_file()
        with qtbot.waitSignal(bridge.opened, timeout=30000) as opened:
            bridge.open(str(recovery))
        assert opened.args[0].segments == 1
    finally:
        bridge.shutdown()


class WaitingGenerator:
    """Never finishes a frame on its own: waits until the segment is cancelled, as a slow
    diffusion step would be interrupted between steps."""

    name = "waiting"

    def __init__(self):
        self.calls = 0

    def fill(self, latent, known, depth, context):
        from engine.models.generator import GenerationCancelled

        self.calls += 1
        while not context.cancel():
            time.sleep(0.005)  # a step's work, between two polls of the cancel flag
        raise GenerationCancelled("cancelled between steps")


def test_pausing_generation_stops_the_segment_being_made(qtbot):
    generator = WaitingGenerator()
    bridge = EngineBridge(CONFIG, backends={"generator": generator}, threads=1)
    try:
        info = open_room(qtbot, bridge)
        bridge.set_generating(True)
        settle(qtbot, bridge, info.pose)
        with qtbot.waitSignal(bridge.busy, timeout=10000, check_params_cb=lambda b: b):
            bridge.move(turned(info.pose, 15.0))
        qtbot.waitUntil(lambda: generator.calls == 1, timeout=10000)  # inside the first frame
        with qtbot.waitSignal(bridge.busy, timeout=10000, check_params_cb=lambda b: not b):
            bridge.set_generating(False)
        # paused: moving into the unknown generates nothing; the world has no segment
        after = {}
        with qtbot.waitSignal(bridge.frame, timeout=10000, check_params_cb=lambda f: bool(after)):
            bridge.move(turned(info.pose, 40.0))
            bridge.call(lambda w: after.update(segments=w.segments, calls=generator.calls))
        assert after == {"segments": 0, "calls": 1}
    finally:
        bridge.shutdown()
