"""World: seed, the segment cycle, determinism, all-or-nothing segments, bad input."""

import math
from pathlib import Path

import pytest
import torch

from engine.camera import Camera
from engine.models.codec import PCACodec
from engine.models.depth import EmbeddedDepth
from engine.models.generator import ExemplarGenerator
from engine.models.refiner import NoRefiner
from engine.synth import room_scene
from engine.world import World, WorldCancelled, WorldConfig, WorldEvent, fit_photo

W, H = 128, 96


@pytest.fixture(scope="module")
def scene():
    room = room_scene(0)
    camera = Camera.from_fov(60.0, W, H)
    view = room.render(camera)
    poses = room.sample_path("loop", n=12)
    return view, camera, poses


@pytest.fixture(scope="module")
def codec(scene):
    view, _, _ = scene
    return PCACodec(factor=8, channels=8).fit(view.rgb[None], seed=0)


def make_world(codec, **kw):
    cfg = WorldConfig(width=W, height=H, **kw)
    return World(cfg, codec=codec, depth=EmbeddedDepth(network=False))


def test_seed_then_segments_keep_what_memory_knows(scene, codec):
    view, camera, poses = scene
    world = make_world(codec)
    first = world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    assert first.shape == (3, H, W) and len(world.memory) == (W // 8) * (H // 8)
    events: list[WorldEvent] = []
    seg = world.segment(poses[:4], on_event=events.append)
    assert seg.frames.shape == (4, 3, H, W) and seg.latents.shape == (4, 8, H // 8, W // 8)
    assert bool(torch.isfinite(seg.frames).all())
    for z, r in zip(seg.latents, seg.readouts):
        k = r.known[None].expand_as(z)
        assert torch.equal(z[k], r.latent[k])  # known tokens pass through untouched
    assert [e.kind for e in events].count("frame") == 4
    assert events[-1].kind == "segment" and events[-1].segment == 1
    assert any(e.kind == "progress" for e in events)
    entries = len(world.memory)
    seg2 = world.segment(poses[4:8])
    assert seg2.index == 2 and world.segments == 2 and len(world.memory) >= entries
    assert len(world.trajectory) == 1 + 8


def test_same_inputs_and_seed_give_identical_frames(scene, codec):
    view, camera, poses = scene
    runs = []
    for _ in range(2):
        world = make_world(codec, seed=3)
        world.seed(view.rgb, depth=view.depth, intrinsics=camera)
        runs.append(world.segment(poses[:6]).frames)
    assert torch.equal(runs[0], runs[1])


def test_cancel_leaves_the_world_at_its_last_good_segment(scene, codec):
    view, camera, poses = scene
    world = make_world(codec)
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    world.segment(poses[:3])
    before = (len(world.memory), world.memory.nbytes, world.segments, len(world.trajectory))
    reference = world.view(poses[5])[0]
    polls = []

    def cancel():
        polls.append(1)
        return len(polls) > 4  # after a few steps of the second frame

    with pytest.raises(WorldCancelled):
        world.segment(poses[3:9], cancel=cancel)
    after = (len(world.memory), world.memory.nbytes, world.segments, len(world.trajectory))
    assert after == before
    assert torch.equal(world.view(poses[5])[0], reference)
    assert world.segment(poses[3:5]).index == 2  # and it goes on


def test_a_failing_generator_leaves_the_memory_as_it_was(scene, codec):
    view, camera, poses = scene

    class Flaky(ExemplarGenerator):
        calls = 0

        def fill(self, *args):
            Flaky.calls += 1
            if Flaky.calls == 3:
                raise RuntimeError("boom")
            return super().fill(*args)

    world = World(
        WorldConfig(width=W, height=H),
        codec=codec,
        depth=EmbeddedDepth(network=False),
        generator=Flaky(),
    )
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    entries = len(world.memory)
    with pytest.raises(RuntimeError, match="boom"):
        world.segment(poses[:4])
    assert len(world.memory) == entries and world.segments == 0


def world_state(world, pose):
    """What a failed segment must leave as it was: the memory's size, the segments, the
    trajectory, the undo stack, the generator's recent frames, and the view at a pose."""
    rgb, r = world.view(pose)
    return {
        "entries": len(world.memory),
        "nbytes": world.memory.nbytes,
        "segments": world.segments,
        "trajectory": [p.tolist() for p in world.trajectory],
        "segment_ends": list(world.segment_ends),
        "undo": [(u.what, len(u.memory), u.poses, u.segments) for u in world._undo],
        "recent": [z.clone() for z in world.recent],
        "view": (rgb, r.latent, r.known, r.depth),
    }


def assert_same_state(a, b):
    for key in a:
        if key in ("recent", "view"):
            assert len(a[key]) == len(b[key]), key
            assert all(torch.equal(x, y) for x, y in zip(a[key], b[key])), key
        else:
            assert a[key] == b[key], key


def test_a_fault_in_any_stage_leaves_the_world_at_its_last_good_segment(
    scene, codec, stage, stage_fault
):
    """readout, refine, generate, depth, update or decode raising halfway through a segment
    (after its first frame was written to the memory): the memory, segments, trajectory,
    undo stack and views are those of the last good segment, and the world goes on."""
    view, camera, poses = scene
    world = make_world(codec, exemplar_frames=2)  # recent frames kept: restored too
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    world.segment(poses[:3])
    before = world_state(world, poses[5])
    fault = stage_fault(world, stage)
    with pytest.raises(RuntimeError, match=f"{stage} failed"):
        world.segment(poses[3:7])
    assert fault.fired is not None and fault.fired > before["entries"]  # written, then failed
    fault.disarm()
    assert_same_state(world_state(world, poses[5]), before)
    # it goes on: the next segment is segment 2, and undoing it comes back to the same state
    seg = world.segment(poses[3:7])
    assert seg.index == 2 and world.segments == 2 and world.segment_ends == [4, 8]
    assert world.undo() == "segment 2"
    assert_same_state(world_state(world, poses[5]), before)


def test_rgb_memory_runs_the_same_loop(scene, codec):
    view, camera, poses = scene
    world = make_world(codec, memory="rgb")
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    seg = world.segment(poses[:3])
    assert seg.frames.shape == (3, 3, H, W) and len(world.memory) > W * H // 2
    assert isinstance(world.refiner, NoRefiner)  # its readout is an encode: nothing to refine
    # the minimap's brush works on it too (one undo step)
    n = len(world.memory)
    removed = world.erase_ground([[0.0, 2.0]], 1.0)
    assert 0 < removed < n and len(world.memory) == n - removed
    world.undo()
    assert len(world.memory) == n


def test_world_asks_no_memory_which_kind_it_is():
    """World runs on any SceneMemory (engine.memory.protocol): what differs is declared by
    the memory (readout_is_encoded), not found by testing its kind."""
    source = (Path(__file__).resolve().parents[2] / "engine" / "world.py").read_text()
    for branch in ('memory == "rgb"', "isinstance(self.memory", "hasattr(self.memory"):
        assert branch not in source


def test_dynamic_mask_keeps_tokens_out_of_memory(scene, codec):
    view, camera, _ = scene
    mask = torch.zeros(H, W, dtype=torch.bool)
    mask[40:72, 48:80] = True
    world = make_world(codec)
    world.seed(view.rgb, depth=view.depth, intrinsics=camera, masks=mask)
    _, readout = world.view(camera.pose)
    assert not bool(readout.known[5:9, 6:10].any())  # the masked tokens
    assert int(readout.known.sum()) == (W // 8) * (H // 8) - 4 * 4


def test_estimated_depth_and_sky(codec):
    from engine.synth import street_scene

    street = street_scene(0)
    camera = Camera.from_fov(60.0, W, H)
    view = street.render(camera)
    world = make_world(codec)
    world.seed(view.rgb, intrinsics=camera)  # depth from the embedded estimator
    _, readout = world.view(camera.pose)
    assert bool(readout.sky.any()) and bool(readout.known.all())


def test_photo_of_another_size_is_fitted(scene, codec):
    view, camera, poses = scene
    big = torch.nn.functional.interpolate(view.rgb[None], size=(120, 200), mode="bilinear")[0]
    world = make_world(codec)
    first = world.seed(big)
    assert first.shape == (3, H, W)
    assert world.camera.width == W and world.camera.height == H
    rgb, cam, maps = fit_photo(big, Camera.from_fov(60.0, 200, 120), W, H, torch.ones(1, 120, 200))
    assert rgb.shape == (3, H, W) and maps.shape == (1, H, W)
    assert cam.cx == pytest.approx(W / 2) and cam.cy == pytest.approx(H / 2)
    assert cam.fov_y_deg == pytest.approx(60.0)  # only columns were cropped


@pytest.mark.parametrize(
    "pose, match",
    [
        (torch.full((4, 4), math.nan), "finite"),
        (torch.zeros(4, 4), "bottom row"),
        (torch.eye(3), "shape"),
    ],
)
def test_bad_poses_are_refused_before_any_work(scene, codec, pose, match):
    view, camera, poses = scene
    world = make_world(codec)
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    entries = len(world.memory)
    with pytest.raises(ValueError, match=match):
        world.segment([poses[0], pose])
    assert len(world.memory) == entries and world.segments == 0


def test_bad_input_messages(scene, codec):
    view, camera, poses = scene
    world = make_world(codec)
    with pytest.raises(RuntimeError, match="no seed"):
        world.segment(poses[:1])
    with pytest.raises(ValueError, match="same size"):
        world.seed(view.rgb, depth=torch.ones(10, 10), intrinsics=camera)
    with pytest.raises(ValueError, match="NaN or negative"):
        world.seed(view.rgb, depth=torch.full((H, W), math.nan), intrinsics=camera)
    with pytest.raises(ValueError, match=r"photo \(3, H, W\)"):
        world.seed(torch.rand(H, W))
    with pytest.raises(ValueError, match="intrinsics are for"):
        world.seed(view.rgb, intrinsics=Camera.from_fov(60.0, 64, 48))
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    with pytest.raises(ValueError, match="at least one pose"):
        world.segment([])


def test_config_round_trip_overrides_and_errors():
    cfg = WorldConfig(seed=4)
    assert WorldConfig.from_dict(cfg.to_dict()) == cfg
    over = cfg.with_overrides(["seed=9", "memory=rgb", "fov_y_deg=50"])
    assert (over.seed, over.memory, over.fov_y_deg) == (9, "rgb", 50.0)
    with pytest.raises(ValueError, match="unknown world config keys"):
        WorldConfig.from_dict({"sede": 1})
    with pytest.raises(ValueError, match="key=value"):
        cfg.with_overrides(["nonsense"])
    with pytest.raises(ValueError, match="is not a int"):
        cfg.with_overrides(["seed=abc"])
    with pytest.raises(ValueError, match="memory must be"):
        WorldConfig(memory="voxels")
    with pytest.raises(ValueError, match="multiples of the codec"):
        World(WorldConfig(width=100, height=96), codec=PCACodec(8, 8))


def test_cracks_are_closed_from_their_neighbours_and_not_holes_any_more():
    from engine.world import fill_cracks

    latent = torch.arange(2 * 6 * 6, dtype=torch.float32).reshape(2, 6, 6)
    depth = torch.full((6, 6), 2.0)
    known = torch.ones(6, 6, dtype=torch.bool)
    known[2, 3] = False  # a crack: surrounded
    known[:, 0] = False  # a border strip: not a crack
    lat, k, d = fill_cracks(torch.where(known, latent, 0.0), known, torch.where(known, depth, 0.0))
    assert bool(k[2, 3]) and not bool(k[:, 0].any())
    neighbours = [latent[:, y, x] for y in (1, 2, 3) for x in (2, 3, 4) if (y, x) != (2, 3)]
    torch.testing.assert_close(lat[:, 2, 3], torch.stack(neighbours).mean(0))
    assert float(d[2, 3]) == 2.0 and torch.equal(lat[:, known], latent[:, known])


def test_flying_out_and_back_returns_the_seed_content(scene, codec):
    """Tokens generated on the way (cracks included) never cover what the seed wrote: back at
    the start pose the view is the seed's, entry for entry."""
    view, camera, _ = scene
    from engine.path import default_path

    world = make_world(codec)
    first = world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    for poses in default_path(camera.pose, segments=5, frames=2, distance=1.0):
        last = world.segment(poses).frames[-1]
    _, readout = world.view(camera.pose)
    seen = world.memory.entries(readout.ids[readout.known])["segment"]
    assert bool((seen == 0).all())
    assert float(((last - first) ** 2).mean()) < 1e-4


def test_undo_takes_back_exactly_the_latest_segments(scene, codec):
    view, camera, poses = scene
    world = make_world(codec, undo_segments=2)
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    with pytest.raises(RuntimeError, match="nothing to undo"):
        world.undo()
    states = []
    for k in range(3):
        states.append((len(world.memory), len(world.trajectory), world.memory.nbytes))
        world.segment(poses[4 * k : 4 * k + 4])
    assert world.can_undo == 2  # only the latest two are kept
    assert world.undo() == "segment 3" and world.segments == 2
    assert (len(world.memory), len(world.trajectory), world.memory.nbytes) == states[2]
    assert world.undo() == "segment 2" and world.segments == 1
    assert (len(world.memory), len(world.trajectory), world.memory.nbytes) == states[1]
    with pytest.raises(RuntimeError):
        world.undo()
    # the world goes on from there exactly as a world that never went further
    again = world.segment(poses[4:8])
    fresh = make_world(codec, undo_segments=2)
    fresh.seed(view.rgb, depth=view.depth, intrinsics=camera)
    fresh.segment(poses[0:4])
    assert torch.equal(again.frames, fresh.segment(poses[4:8]).frames)


def test_frame_events_carry_depth_known_and_camera(scene, codec):
    view, camera, poses = scene
    world = make_world(codec)
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    frames = []
    world.segment(poses[:2], on_event=lambda e: frames.append(e) if e.kind == "frame" else None)
    for e, pose in zip(frames, poses[:2]):
        assert e.depth.shape == (H // 8, W // 8) and e.known.shape == (H // 8, W // 8)
        assert bool(torch.isfinite(e.depth[e.depth != math.inf]).all())
        assert torch.allclose(e.camera.pose, torch.as_tensor(pose, dtype=e.camera.pose.dtype))


def test_erase_ground_removes_a_disc_at_every_height_and_undoes(scene, codec):
    view, camera, poses = scene
    world = make_world(codec)
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    ground = world.memory.frame.to_ground(world.memory.store.positions())
    before = len(world.memory)
    centre = ground.median(0).values
    stroke = torch.stack([centre, centre + torch.tensor([0.3, 0.0], dtype=torch.float64)])
    radius = 0.2
    # the slow twin: each entry's distance to each stroke point
    inside = torch.zeros(before, dtype=torch.bool)
    for p in stroke:
        inside |= ((ground - p) ** 2).sum(1).sqrt() <= radius
    assert 0 < int(inside.sum()) < before
    readout = world.view(world.camera.pose)[1]
    assert world.erase_ground(stroke.numpy(), radius) == int(inside.sum())
    assert len(world.memory) == before - int(inside.sum())
    left = world.memory.frame.to_ground(world.memory.store.positions())
    assert bool((torch.cdist(left, stroke) > radius).all())
    assert world.can_undo == 1 and world.undo() == "erase"
    assert len(world.memory) == before
    assert torch.equal(world.view(world.camera.pose)[1].latent, readout.latent)
    assert world.erase_ground([[1e6, 1e6]], 0.1) == 0 and world.can_undo == 0  # no empty step
    with pytest.raises(ValueError, match="radius"):
        world.erase_ground([[0.0, 0.0]], 0.0)


def _turn(world, degrees=180.0, n=8):
    """Poses turning in place from the seed pose by `degrees` about the up axis."""
    from engine.camera import rotation_about

    poses = []
    for i in range(1, n + 1):
        pose = world.camera.pose.clone()
        pose[:3, :3] = rotation_about((0, 1, 0), math.radians(degrees * i / n)) @ pose[:3, :3]
        poses.append(pose)
    return poses


def _luma_stats(rgb):
    y = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    grad = ((y[:, 1:] - y[:, :-1]).abs().mean() + (y[1:] - y[:-1]).abs().mean()) / 2
    return float(y.std()), float(grad)


def test_facing_away_the_room_goes_on_with_texture(scene, codec):
    """Turned away from the photo the generator copies the room's tokens by layout (floor
    below, wall, ceiling above): the frame keeps most of the seed frame's contrast and
    texture (the averaging generator gave a flat field: about a tenth)."""
    view, camera, _ = scene
    world = make_world(codec)
    first = world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    seg = world.segment(_turn(world))
    away = seg.frames[-1].clamp(0, 1)
    (c0, g0), (c1, g1) = _luma_stats(first.clamp(0, 1)), _luma_stats(away)
    assert c1 >= 0.5 * c0 and g1 >= 0.4 * g0

    # the floor is at the bottom and the ceiling at the top, as in the photo: the bottom
    # rows take their colour from the photo's bottom rows more than from its top rows
    def mean_rgb(x):
        return x.reshape(3, -1).mean(1)

    bottom, top = mean_rgb(away[:, -16:]), mean_rgb(away[:, :16])
    photo_bottom, photo_top = mean_rgb(first[:, -16:]), mean_rgb(first[:, :16])
    assert (bottom - photo_bottom).norm() < (bottom - photo_top).norm()
    assert (top - photo_top).norm() < (top - photo_bottom).norm()


def test_another_seed_makes_another_world(scene, codec):
    view, camera, _ = scene
    frames = []
    for seed in (3, 3, 4):
        world = make_world(codec, seed=seed)
        world.seed(view.rgb, depth=view.depth, intrinsics=camera)
        frames.append(world.segment(_turn(world, 90.0, 4)).frames)
    assert torch.equal(frames[0], frames[1]) and not torch.equal(frames[0], frames[2])


@pytest.mark.slow
def test_flying_the_same_loop_twice_grows_the_memory_little(scene, codec):
    from engine.path import default_path

    view, camera, _ = scene
    world = make_world(codec)
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    path = default_path(world.camera.pose)
    for poses in path:
        world.segment(poses)
    once = len(world.memory)
    for poses in path:
        world.segment(poses)
    assert len(world.memory) <= 1.05 * once


def test_the_seed_is_also_an_exemplar_at_half_and_a_quarter_of_its_size(scene, codec):
    """Far surfaces of the layout are filled from tokens that saw as much of a surface: the
    seed photo taken again at 1/2 and 1/4 of its size, whose tokens each cover 2 and 4 times
    the width (the guide's scale channel, log2 of a token's world size, tells them apart)."""
    from engine.models.layout import SCALE_WEIGHT

    view, camera, _ = scene
    world = World(
        WorldConfig(width=256, height=192), codec=codec, depth=EmbeddedDepth(network=False)
    )
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    lw, lh = world.latent_size
    _, seed_guide = world.layout
    scaled = world.scaled_seeds
    assert [tuple(x.shape) for x, _ in scaled] == [
        (codec.channels, lh // k, lw // k) for k in (2, 4)
    ]
    assert all(tuple(g.shape) == (7, *x.shape[1:]) for x, g in scaled)
    full = float(seed_guide[6].median()) / SCALE_WEIGHT
    half, quarter = (float(g[6].median()) / SCALE_WEIGHT for _, g in scaled)
    # a token of the half-size photo covers twice the width: log2 one more (the nearest
    # depth of its block, so a little less)
    assert 0.5 < half - full <= 1.01 and 1.5 < quarter - full <= 2.01
    assert world.scaled_seeds is scaled  # made once
    small = make_world(codec)  # 16 x 12 tokens: a quarter (4 x 3) holds no 4 x 4 window
    small.seed(view.rgb, depth=view.depth, intrinsics=camera)
    assert [tuple(x.shape[1:]) for x, _ in small.scaled_seeds] == [(6, 8)]


def test_segment_ends_are_recorded_for_segments_of_any_length_and_undone(scene, codec):
    """The minimap marks where each segment ended: segments of 1, 3 and 2 frames end at
    trajectory poses 1, 4 and 6 (not every frames_per_segment-th pose), and undo forgets
    the last one."""
    view, camera, poses = scene
    world = make_world(codec, frames_per_segment=8)
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    assert world.segment_ends == [] and len(world.segment_poses) == 1
    world.segment(poses[:1])
    world.segment(poses[1:4])
    world.segment(poses[4:6])
    assert world.segment_ends == [2, 5, 7] and len(world.trajectory) == 7
    ends = world.segment_poses
    assert torch.equal(ends[0], world.trajectory[0])
    for got, want in zip(ends[1:], (poses[0], poses[3], poses[5])):
        assert torch.allclose(got, torch.as_tensor(want, dtype=got.dtype))
    world.undo()
    assert world.segment_ends == [2, 5] and len(world.segment_poses) == 3
    world.seed(view.rgb, depth=view.depth, intrinsics=camera)
    assert world.segment_ends == []
