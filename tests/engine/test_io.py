"""World save / load: identical continuation, atomic replacement, refusals with a message."""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from engine.camera import Camera
from engine.files import set_aside
from engine.io import load_world, save_world
from engine.models.codec import PCACodec
from engine.models.depth import EmbeddedDepth
from engine.synth import room_scene
from engine.world import World, WorldConfig

W, H = 128, 96


@pytest.fixture(scope="module")
def setup():
    room = room_scene(0)
    camera = Camera.from_fov(60.0, W, H)
    view = room.render(camera)
    codec = PCACodec(factor=8, channels=8).fit(view.rgb[None], seed=0)
    return view, camera, room.sample_path("loop", n=12), codec


def seeded(setup, segments=1):
    view, camera, poses, codec = setup
    world = World(WorldConfig(width=W, height=H, seed=5), codec=codec, depth=EmbeddedDepth())
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    for k in range(segments):
        world.segment(poses[3 * k : 3 * k + 3])
    return world


def test_saved_world_loads_back_and_goes_on_identically(setup, tmp_path):
    _, _, poses, codec = setup
    world = seeded(setup, segments=2)
    path = save_world(world, tmp_path / "a.lsworld")
    assert sorted(p.name for p in path.iterdir()) == [
        "memory.safetensors",
        "state.safetensors",
        "thumbnail.png",
        "world.json",
    ]
    back = load_world(path, codec=codec, depth=EmbeddedDepth())
    assert back.config == world.config and back.camera == world.camera
    assert back.segments == 2 and len(back.trajectory) == len(world.trajectory)
    assert back.segment_ends == world.segment_ends == [4, 7]
    assert len(back.memory) == len(world.memory) and back.memory.nbytes == world.memory.nbytes
    a = world.segment(poses[6:9]).frames
    b = back.segment(poses[6:9]).frames
    assert torch.equal(a, b)


def test_save_replaces_an_existing_world_atomically(setup, tmp_path, monkeypatch):
    _, _, _, codec = setup
    path = tmp_path / "w.lsworld"
    save_world(seeded(setup, 1), path)
    first = json.loads((path / "world.json").read_text())
    save_world(seeded(setup, 2), path)
    assert json.loads((path / "world.json").read_text())["segments"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["w.lsworld"]  # no temp folders left

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("engine.memory.latent.LatentMemory.save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_world(seeded(setup, 1), path)
    assert json.loads((path / "world.json").read_text())["segments"] == 2  # old world intact
    assert [p.name for p in tmp_path.iterdir()] == ["w.lsworld"]
    assert first["segments"] == 1


def test_refusals_name_the_problem(setup, tmp_path):
    _, _, _, codec = setup
    path = save_world(seeded(setup, 1), tmp_path / "ok.lsworld")
    with pytest.raises(FileNotFoundError, match="no saved world"):
        load_world(tmp_path / "missing", codec=codec)
    meta = json.loads((path / "world.json").read_text())

    def variant(name, change):
        target = tmp_path / name
        import shutil

        shutil.copytree(path, target)
        change(target)
        return target

    newer = variant(
        "newer", lambda t: (t / "world.json").write_text(json.dumps({**meta, "version": 9}))
    )
    with pytest.raises(ValueError, match="newer Latentscape"):
        load_world(newer, codec=codec)
    truncated = variant(
        "trunc", lambda t: (t / "world.json").write_text((t / "world.json").read_text()[:40])
    )
    with pytest.raises(ValueError, match="damaged"):
        load_world(truncated, codec=codec)

    def cut_memory(t):
        data = (t / "memory.safetensors").read_bytes()
        (t / "memory.safetensors").write_bytes(data[: len(data) // 2])

    with pytest.raises(ValueError, match="memory"):
        load_world(variant("cut", cut_memory), codec=codec)

    def bad_state(t):
        save_file(
            {"seed_latent": torch.zeros(8, 5, 5), "recent": torch.zeros(0, 8, 12, 16)},
            str(t / "state.safetensors"),
        )

    with pytest.raises(ValueError, match="seed_latent"):
        load_world(variant("state", bad_state), codec=codec)
    with pytest.raises(ValueError, match="codec of 8 channels"):
        load_world(path, codec=PCACodec(factor=8, channels=4).fit(torch.rand(1, 3, 32, 32)))
    with pytest.raises(ValueError, match="no seed"):
        save_world(World(WorldConfig(width=W, height=H), codec=codec), tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a world folder"):
        save_world(seeded(setup, 0), tmp_path / "file")


# --------------------------------------------------------------------------- exports


def test_ply_holds_every_entry_with_its_decoded_colour(setup, tmp_path):
    from engine.io import entry_colours, export_ply, read_ply

    world = seeded(setup, 1)
    n = export_ply(world.memory, world.codec, tmp_path / "m.ply")
    xyz, rgb = read_ply(tmp_path / "m.ply")
    assert n == len(world.memory) == xyz.shape[0] and rgb.dtype == torch.uint8
    e = world.memory.entries(torch.arange(len(world.memory)))
    torch.testing.assert_close(xyz, e["xyz"].float())
    _, colours = entry_colours(world.memory, world.codec, batch=7)  # batching changes nothing
    assert torch.equal(colours, rgb)
    # each seed entry's colour is close to the photo's mean colour over its token: find the
    # token by projecting the entry into the seed camera at the latent grid
    view = setup[0]
    token_mean = torch.nn.functional.avg_pool2d(view.rgb[None], 8)[0]  # (3, h, w)
    seeds = e["segment"] == 0
    uv, _ = world.camera.scaled(W // 8, H // 8).project(e["xyz"][seeds].double())
    cols, rows = uv[:, 0].floor().long(), uv[:, 1].floor().long()
    expected = token_mean[:, rows, cols].T
    err = (rgb[seeds].float() / 255 - expected).abs().mean()
    assert float(err) < 0.06, float(err)
    shuffled = expected[
        torch.randperm(expected.shape[0], generator=torch.Generator().manual_seed(0))
    ]
    assert float((rgb[seeds].float() / 255 - shuffled).abs().mean()) > 2 * float(err)


def test_frames_export_nerfstudio_and_colmap(setup, tmp_path):
    from engine.camera import OPENCV_TO_OPENGL
    from engine.io import export_frames, rotation_to_quaternion

    _, camera, poses, _ = setup
    world = seeded(setup, 0)
    seg = world.segment(poses[:3])
    folder = export_frames(tmp_path / "out", seg.frames, seg.cameras)
    assert sorted(p.name for p in (folder / "images").iterdir()) == [
        "frame_00001.png",
        "frame_00002.png",
        "frame_00003.png",
    ]
    transforms = json.loads((folder / "transforms.json").read_text())
    assert transforms["w"] == W and transforms["h"] == H and len(transforms["frames"]) == 3
    for frame, cam in zip(transforms["frames"], seg.cameras):
        back = torch.tensor(frame["transform_matrix"], dtype=torch.float64) @ OPENCV_TO_OPENGL
        torch.testing.assert_close(back, cam.pose)
    lines = [
        line
        for line in (folder / "sparse/0/images.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(lines) == 3
    for line, cam in zip(lines, seg.cameras):
        values = [float(v) for v in line.split()[1:8]]
        q, t = torch.tensor(values[:4]).double(), torch.tensor(values[4:]).double()
        torch.testing.assert_close(q, rotation_to_quaternion(cam.world_to_camera[:3, :3]))
        # the camera centre from COLMAP's world-to-camera: c = -R^T t
        from scipy.spatial.transform import Rotation

        r = torch.from_numpy(Rotation.from_quat([*q[1:].tolist(), q[0].item()]).as_matrix())
        torch.testing.assert_close(-r.T @ t, cam.position)
    cams = (folder / "sparse/0/cameras.txt").read_text().splitlines()
    assert cams[1].startswith("1 PINHOLE 128 96")
    with pytest.raises(ValueError, match="T cameras"):
        export_frames(tmp_path / "bad", seg.frames, seg.cameras[:2])


def test_quaternion_round_trip_over_random_rotations():
    from scipy.spatial.transform import Rotation

    from engine.io import rotation_to_quaternion

    for r in Rotation.random(50, random_state=0):
        m = torch.from_numpy(r.as_matrix())
        q = rotation_to_quaternion(m)
        assert float(q[0]) >= 0 and abs(float(q.norm()) - 1) < 1e-12
        back = torch.from_numpy(Rotation.from_quat([*q[1:].tolist(), q[0].item()]).as_matrix())
        torch.testing.assert_close(back, m)


def test_a_world_saved_before_the_layout_loads_and_goes_on(setup, tmp_path):
    """Worlds saved before issue 14 have no seed_depth: the layout is fitted to the memory
    seen from the seed camera instead, and the world goes on; a bad seed_depth is refused."""
    from safetensors.torch import load_file

    _, _, poses, codec = setup
    world = seeded(setup)
    path = save_world(world, tmp_path / "old.lsworld")
    state = load_file(str(path / "state.safetensors"))
    assert torch.equal(state.pop("seed_depth"), world.seed_depth)
    save_file(state, str(path / "state.safetensors"))
    back = load_world(path, codec=codec, depth=EmbeddedDepth())
    assert back.seed_depth is None
    layout, guide = back.layout
    assert layout.indoor and layout.floor == pytest.approx(world.layout[0].floor, rel=0.05)
    assert back.segment(poses[3:6]).frames.shape == (3, 3, H, W)
    state["seed_depth"] = torch.full((5, 5), -1.0)
    save_file(state, str(path / "state.safetensors"))
    with pytest.raises(ValueError, match="seed_depth"):
        load_world(path, codec=codec)


def test_older_saves_without_segment_ends_get_segments_of_the_configured_length(setup, tmp_path):
    _, _, _, codec = setup
    world = seeded(setup, segments=2)
    world.config.frames_per_segment = 3
    path = save_world(world, tmp_path / "old.lsworld")
    header = json.loads((path / "world.json").read_text())
    del header["segment_ends"]
    (path / "world.json").write_text(json.dumps(header))
    assert load_world(path, codec=codec, depth=EmbeddedDepth()).segment_ends == [4, 7]


@pytest.mark.parametrize("ends", [[4], [4, 99], [5, 4], [0, 7]])
def test_bad_segment_ends_are_refused(setup, tmp_path, ends):
    _, _, _, codec = setup
    path = save_world(seeded(setup, segments=2), tmp_path / "bad.lsworld")
    header = json.loads((path / "world.json").read_text())
    header["segment_ends"] = ends
    (path / "world.json").write_text(json.dumps(header))
    with pytest.raises(ValueError, match="segment_ends"):
        load_world(path, codec=codec, depth=EmbeddedDepth())


# --------------------------------------------------------------------------- the RGB memory


def rgb_seeded(setup, segments=1):
    view, camera, poses, codec = setup
    config = WorldConfig(width=W, height=H, seed=5, memory="rgb")
    world = World(config, codec=codec, depth=EmbeddedDepth())
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    for k in range(segments):
        world.segment(poses[3 * k : 3 * k + 3])
    return world


def test_an_rgb_world_saves_and_loads_with_the_same_readout(setup, tmp_path):
    """A world made with memory="rgb" saves through the same SceneMemory surface as the
    latent one: its points and their segments come back exactly, so the readout is
    identical and the world goes on as the saved one would."""
    from engine.memory.rgb import RGBMemory

    _, camera, poses, codec = setup
    world = rgb_seeded(setup, segments=2)
    path = save_world(world, tmp_path / "rgb.lsworld")
    assert json.loads((path / "world.json").read_text())["config"]["memory"] == "rgb"
    back = load_world(path, codec=codec, depth=EmbeddedDepth())
    assert isinstance(back.memory, RGBMemory) and back.config == world.config
    assert len(back.memory) == len(world.memory) > 0
    assert back.memory.nbytes == world.memory.nbytes and back.memory.segment == 2
    store, saved = back.memory.store, world.memory.store
    assert torch.equal(store.column("segment"), saved.column("segment"))
    assert torch.equal(back.memory.positions(), world.memory.positions())
    occ, occ_saved = back.memory.occupancy(32), world.memory.occupancy(32)
    assert torch.equal(occ.segment, occ_saved.segment)
    assert {0, 2} <= set(occ.segment.unique().tolist())  # the seed's cells and the newest's
    for pose in (camera.pose, poses[4], poses[8]):
        cam = camera.with_pose(pose).scaled(*world.latent_size)
        a, b = world.memory.readout(cam), back.memory.readout(cam)
        for name in ("latent", "known", "depth", "sky"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert torch.equal(world.segment(poses[6:9]).frames, back.segment(poses[6:9]).frames)


def test_a_damaged_rgb_save_is_refused_by_name(setup, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    _, _, _, codec = setup
    path = save_world(rgb_seeded(setup, 0), tmp_path / "ok.lsworld")
    memory = path / "memory.safetensors"
    with safe_open(str(memory), framework="pt") as f:
        meta = f.metadata()
    arrays = load_file(str(memory))
    assert arrays["col.segment"].dtype == torch.int16 and arrays["pos"].dtype == torch.float32

    def broken(name, change, message):
        bad = dict(arrays)
        change(bad)
        save_file(bad, str(memory), metadata=meta)
        with pytest.raises(ValueError, match=message) as e:
            load_world(path, codec=codec)
        assert "memory.safetensors" in str(e.value), name

    broken("dtype", lambda a: a.update({"col.rgb": a["col.rgb"].float()}), "col.rgb.*uint8")
    broken("shape", lambda a: a.update({"col.segment": a["col.segment"][1:]}), "col.segment")
    broken("missing", lambda a: a.pop("pos"), "'pos' is missing")
    broken("nan", lambda a: a.update({"pos": a["pos"] * float("nan")}), "'pos'.*NaN")
    small_sky = torch.zeros(3, 4, 8, dtype=torch.uint8)  # the room has no sky: a wrong dome
    broken("sky", lambda a: a.update({"sky_feat": small_sky}), "sky_feat.*shape")
    save_file(
        arrays,
        str(memory),
        metadata={"latentscape": meta["latentscape"].replace('"factor": 8', '"factor": 4')},
    )
    with pytest.raises(ValueError, match="codec of 8 channels and factor 4"):
        load_world(path, codec=codec)
    # a latent memory where the world says rgb: the kind is checked, not guessed
    seeded(setup, 0).memory.save(memory)
    with pytest.raises(ValueError, match="not an RGB memory"):
        load_world(path, codec=codec)


def test_a_world_saved_without_a_memory_kind_is_latent(setup, tmp_path):
    from engine.memory.latent import LatentMemory

    _, _, _, codec = setup
    path = save_world(seeded(setup, 0), tmp_path / "old.lsworld")
    header = json.loads((path / "world.json").read_text())
    del header["config"]["memory"]
    (path / "world.json").write_text(json.dumps(header))
    assert isinstance(load_world(path, codec=codec).memory, LatentMemory)


# --------------------------------------------------------------------------- faults

SAVE_LOOP = Path(__file__).with_name("save_loop.py")
ROOT = Path(__file__).resolve().parents[2]


class SaveLoop:
    """tests/engine/save_loop.py run as a subprocess: forks children that save over one
    folder until killed."""

    def __init__(self, folder: Path):
        env = dict(os.environ, OMP_NUM_THREADS="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, str(SAVE_LOOP), str(folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        first = self.readline()
        self.worlds = {tuple(w) for w in json.loads(first)["worlds"]}
        self.save_s = float(json.loads(first)["save_s"])

    def readline(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the save loop stopped (exit code {self.proc.poll()})"
        return line

    def child(self, command: str = "fork") -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return int(self.readline())

    def died(self) -> str:
        return self.readline().strip()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.slow  # 15-20 s here, most of it the random delays
@pytest.mark.skipif(not hasattr(os, "fork"), reason="the save loop forks its children (POSIX)")
def test_a_save_killed_at_any_moment_leaves_the_old_or_the_new_world(tmp_path):
    """50 processes saving over one folder, each SIGKILLed after a random delay (seeded):
    after every kill the folder loads, as one of the two worlds being saved there, never a
    mixture of them (their segments and memory entries go together). Then kills between the
    two renames of the folder swap, the one moment without the folder."""
    folder = tmp_path / "w.lsworld"
    loop = SaveLoop(folder)
    try:
        assert len(loop.worlds) == 2
        # load_world uses the codec's shape only: any codec of 8 channels and factor 8
        codec = PCACodec(factor=8, channels=8).fit(torch.rand(1, 3, 32, 32), seed=0)
        rng = random.Random(16)
        loaded = []
        for _ in range(50):
            pid = loop.child()
            time.sleep(rng.uniform(0.0, 3.0 * loop.save_s))  # within the first saves
            os.kill(pid, signal.SIGKILL)
            assert loop.died() == "killed"
            world = load_world(folder, codec=codec)
            loaded.append((world.segments, len(world.memory)))
        assert set(loaded) <= loop.worlds, loaded
        assert set(loaded) == loop.worlds  # kills fell before and after the ends of saves
        for _ in range(3):
            before = load_world(folder, codec=codec)
            loop.child("window")  # kills itself in the swap
            assert loop.died() == "killed"
            assert not folder.exists()  # the moment the swap had reached
            back = load_world(folder, codec=codec)  # the previous world, set aside
            assert (back.segments, len(back.memory)) == (before.segments, len(before.memory))
            pid = loop.child()  # the next save puts a world in place again
            time.sleep(3.0 * loop.save_s)
            os.kill(pid, signal.SIGKILL)
            assert loop.died() == "killed"
            world = load_world(folder, codec=codec)
            assert (world.segments, len(world.memory)) in loop.worlds
    finally:
        loop.close()
    assert len(list(tmp_path.iterdir())) > 1  # the killed saves' temporary folders
    save_world(world, folder)  # a save that ends removes them
    assert [p.name for p in tmp_path.iterdir()] == ["w.lsworld"]


def test_a_swap_stopped_between_its_renames_keeps_the_old_world(setup, tmp_path):
    """The state a process killed inside replace_folder leaves (the old world moved aside,
    the new one not in place) loads as the old world; the next save replaces it."""
    _, _, _, codec = setup
    path = save_world(seeded(setup, 1), tmp_path / "w.lsworld")
    os.replace(path, set_aside(path))  # what the first rename of the swap does
    assert load_world(path, codec=codec).segments == 1
    save_world(seeded(setup, 2), path)
    assert load_world(path, codec=codec).segments == 2
    assert [p.name for p in tmp_path.iterdir()] == ["w.lsworld"]  # nothing left aside


def facts(world):
    return world.segments, len(world.memory), world.memory.nbytes, len(world.trajectory)


def full_disk(memory, path):
    """LatentMemory.save on a disk that fills up halfway through the file."""
    Path(path).write_bytes(b"\0" * 64)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def denied(*args, **kwargs):
    """A folder that refuses new files (what mkdtemp meets in a read-only folder)."""
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), kwargs.get("dir"))


@pytest.mark.parametrize(
    "fault, problem, kind",
    [
        ("engine.memory.latent.LatentMemory.save", "the disk is full", OSError),
        ("tempfile.mkdtemp", "it is read-only", PermissionError),
    ],
    ids=["disk-full", "read-only"],
)
def test_a_save_that_cannot_write_says_why_by_the_folder_and_loses_nothing(
    setup, tmp_path, monkeypatch, fault, problem, kind
):
    """A full disk or a read-only folder: an error of its kind naming the folder and the
    problem; the world saved there before still loads, nothing is left behind, and the
    world in memory is as it was and saves elsewhere."""
    _, _, _, codec = setup
    path = save_world(seeded(setup, 1), tmp_path / "w.lsworld")
    world = seeded(setup, 2)
    before = facts(world)
    monkeypatch.setattr(fault, full_disk if "save" in fault else denied)
    with pytest.raises(kind) as failed:
        save_world(world, path)
    message = str(failed.value)
    assert message.startswith(f"cannot write to the folder {tmp_path.resolve()}: {problem}")
    assert message.endswith("the world saved there before is unchanged")
    with pytest.raises(kind, match="nothing was written"):
        save_world(world, tmp_path / "new.lsworld")
    monkeypatch.undo()
    assert load_world(path, codec=codec).segments == 1
    assert [p.name for p in tmp_path.iterdir()] == ["w.lsworld"]  # no temporary folder left
    assert facts(world) == before
    elsewhere = save_world(world, tmp_path / "other" / "w.lsworld")  # (compacts the memory)
    assert facts(load_world(elsewhere, codec=codec)) == facts(world)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes in any folder")
def test_a_read_only_folder_by_mode(setup, tmp_path):
    _, _, _, codec = setup
    folder = tmp_path / "ro"
    path = save_world(seeded(setup, 1), folder / "w.lsworld")
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match=f"{folder.resolve()}: it is read-only"):
            save_world(seeded(setup, 2), path)
    finally:
        folder.chmod(0o755)
    assert load_world(path, codec=codec).segments == 1
    assert [p.name for p in folder.iterdir()] == ["w.lsworld"]
