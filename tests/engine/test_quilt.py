"""The layout (engine.models.layout) and guided latent quilting (engine.models.quilt):
the room's layout found from one view, rays traced into it, holes filled with copies of
the scene's tokens where the guide says they belong, deterministic per seed."""

import math

import pytest
import torch

from engine import synth
from engine.camera import Camera, rotation_about
from engine.memory.latent import pool_depth
from engine.models.generator import GenerationCancelled, GenerationContext, Generator
from engine.models.layout import (
    CEILING,
    FLOOR,
    RELIEF_WEIGHT,
    SKY,
    WALL,
    Layout,
    guide_features,
)
from engine.models.quilt import QuiltGenerator


def room_view(pose=None, w=64, h=48):
    scene = synth.room_scene(0)
    cam = Camera.from_fov(60.0, w * 8, h * 8, pose=pose)
    view = scene.render(cam)
    return cam.scaled(w, h), pool_depth(view.depth, 8)


def turned(deg):
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, :3] = rotation_about((0, 1, 0), math.radians(deg))
    return pose


def test_layout_of_the_sample_room_from_one_view():
    cam, depth = room_view()
    layout = Layout.estimate(cam, depth)
    # the room: floor 1.5 below the camera, ceiling 1.5 above, far wall 8 ahead, side walls 4
    assert layout.indoor
    assert layout.floor == pytest.approx(-1.5, abs=0.1)
    assert layout.top == pytest.approx(1.5, abs=0.15)
    lo_r, hi_r, lo_f, hi_f = layout.box
    assert hi_f == pytest.approx(8.0, rel=0.1) and lo_f == -hi_f  # the back: the front reflected
    assert lo_r < -2.5 and hi_r > 2.5
    # the view's own tokens sorted into classes: floor at the bottom, ceiling at the top
    classes = layout.classify(cam, depth)
    assert (classes[-3:] == FLOOR).float().mean() > 0.9
    assert (classes[:3] == CEILING).float().mean() > 0.9
    assert (classes[20:28, 28:36] == WALL).float().mean() > 0.9  # the far wall


def test_tracing_behind_the_camera_gives_the_room_shape():
    cam, depth = room_view()
    layout = Layout.estimate(cam, depth)
    back = cam.with_pose(turned(180))
    classes, traced = layout.trace(back)
    assert (classes[-4:] == FLOOR).all() and (classes[:4] == CEILING).all()
    assert (classes[20:28] == WALL).float().mean() > 0.9
    # the reflected back wall stands as far behind as the far wall ahead, facing the camera
    assert float(traced[24, 32]) == pytest.approx(layout.box[3], rel=0.05)
    # the floor's depth at the bottom row as it is ahead (the same plane, seen the same way)
    ahead, ahead_depth = layout.trace(cam)
    assert float(traced[-1, 32]) == pytest.approx(float(ahead_depth[-1, 32]), rel=1e-6)


def test_outdoors_the_walls_stop_and_the_sky_is_above():
    cam = Camera.from_fov(60.0, 64, 48)
    depth = torch.full((48, 64), 20.0)
    depth[:20] = math.inf  # sky over the top
    depth[36:] = torch.linspace(12.0, 4.0, 12)[:, None]  # ground
    layout = Layout.estimate(cam, depth)
    assert not layout.indoor
    classes, traced = layout.trace(cam.with_pose(turned(180)))
    assert (classes[:8] == SKY).all() and torch.isinf(traced[:8]).all()
    assert (classes[-4:] == FLOOR).all() and torch.isfinite(traced[-4:]).all()
    assert Layout.from_dict(layout.to_dict()).to_dict() == layout.to_dict()


def patches_of(x: torch.Tensor) -> set:
    """Every token (C,) of x (C, h, w) as a tuple, for membership tests."""
    return {tuple(v.tolist()) for v in x.reshape(x.shape[0], -1).T}


def two_regions(seed=0):
    """An exemplar whose top half is one random texture and bottom half another, and the
    guide (1 channel) that tells them apart."""
    g = torch.Generator().manual_seed(seed)
    ex = torch.cat([torch.randn(4, 8, 24, generator=g), 5 + torch.randn(4, 8, 24, generator=g)], 1)
    guide = torch.cat([torch.zeros(1, 8, 24), torch.full((1, 8, 24), 3.0)], 1)
    return ex, guide


def test_known_kept_holes_are_copies_and_the_guide_puts_them_where_they_belong():
    gen = QuiltGenerator()
    assert isinstance(gen, Generator)
    ex, ex_guide = two_regions()
    known = torch.zeros(1, 12, 20, dtype=torch.bool)
    known[0, :, :3] = True
    latent = torch.zeros(1, 4, 12, 20)
    latent[0, :, :, :3] = ex[:, 2:14, :3]
    guide = torch.zeros(1, 1, 12, 20)
    guide[0, :, 6:] = 3.0  # the lower half of the frame asks for the lower texture
    ctx = GenerationContext(exemplars=[ex], exemplar_guides=[ex_guide], guide=guide, seed=1)
    out = gen.fill(latent, known, torch.ones(1, 12, 20), ctx)
    assert torch.equal(out[0, :, :, :3], latent[0, :, :, :3])
    sources = patches_of(ex) | patches_of(latent[0, :, :, :3])
    assert patches_of(out[0]) <= sources  # every token a copy: nothing averaged
    top, bottom = out[0, :, :5, 3:], out[0, :, 7:, 3:]
    assert float(top.mean()) < 1.0 and float(bottom.mean()) > 4.0


def test_same_seed_same_world_another_seed_another():
    ex, _ = two_regions()
    known = torch.zeros(1, 12, 20, dtype=torch.bool)
    known[0, :4] = True
    # known tokens that continue no source exactly: the fill has choices to make
    noise = torch.randn(1, 4, 12, 20, generator=torch.Generator().manual_seed(9))
    latent = torch.where(known[:, None], noise, 0.0)

    def run(seed):
        ctx = GenerationContext(exemplars=[ex], seed=seed)
        return QuiltGenerator().fill(latent, known, torch.ones(1, 12, 20), ctx)

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_cancel_and_nothing_to_copy_from():
    gen = QuiltGenerator()
    latent, known = torch.zeros(2, 4, 8, 8), torch.zeros(2, 8, 8, dtype=torch.bool)
    with pytest.raises(GenerationCancelled):
        gen.fill(latent, known, torch.ones(2, 8, 8), GenerationContext(cancel=lambda: True))
    ctx = GenerationContext()
    out = gen.fill(latent, known, torch.ones(2, 8, 8), ctx)
    assert torch.equal(out[0], torch.zeros(4, 8, 8)) and ctx.notes
    with pytest.raises(ValueError, match="guide"):
        gen.fill(latent, known, torch.ones(2, 8, 8), GenerationContext(guide=torch.zeros(1, 8, 8)))


def test_guide_features_of_a_level_camera():
    cam, depth = room_view()
    layout = Layout.estimate(cam, depth)
    guide = guide_features(layout, cam, layout.classify(cam, depth).clamp(min=0), depth)
    assert guide.shape == (7, 48, 64)
    elevation = guide[4, :, 32]
    assert float(elevation[0]) > 0 > float(elevation[-1])  # up at the top, down at the bottom
    assert torch.all(elevation[:-1] > elevation[1:])
    # relief: the floor, the ceiling and the far wall lie on the layout (0); the furniture
    # stands well in front of the walls it hides
    relief = guide[5] / RELIEF_WEIGHT
    assert relief[-3:].abs().max() < 0.05 and relief[:3].abs().max() < 0.05
    assert float(relief.min()) < -0.25
    assert torch.equal(
        guide_features(layout, cam, torch.zeros(48, 64, dtype=torch.long))[5], torch.zeros(48, 64)
    )


def test_a_fill_that_continues_one_source_copies_it_whole():
    """Where the known tokens are a piece of an exemplar, the hole gets the rest of it
    (coherent copying: the continuation matches its overlap exactly)."""
    g = torch.Generator().manual_seed(5)
    ex = torch.randn(4, 16, 24, generator=g)
    frame = ex[:, :12, :20].clone()
    known = torch.ones(1, 12, 20, dtype=torch.bool)
    known[0, :, 12:] = False
    ctx = GenerationContext(exemplars=[ex], seed=2)
    out = QuiltGenerator().fill(
        torch.where(known[:, None], frame, 0.0), known, torch.ones(1, 12, 20), ctx
    )
    assert torch.equal(out[0], frame)


def test_windows_of_a_wave_share_no_token():
    from engine.models.quilt import _starts, _waves

    starts = [(y, x) for y in _starts(20, 4, 3) for x in _starts(30, 4, 3)]
    waves = _waves(starts, 4)
    assert sorted(i for wave in waves for i in wave) == list(range(len(starts)))
    for wave in waves:
        for a in wave:
            for b in wave:
                if a < b:
                    (ya, xa), (yb, xb) = starts[a], starts[b]
                    assert abs(ya - yb) >= 4 or abs(xa - xb) >= 4
    # an overlapping later window comes in a later wave
    level = {i: n for n, wave in enumerate(waves) for i in wave}
    for a in range(len(starts)):
        for b in range(a + 1, len(starts)):
            (ya, xa), (yb, xb) = starts[a], starts[b]
            if abs(ya - yb) < 4 and abs(xa - xb) < 4:
                assert level[b] > level[a]


def test_bland_sources_do_not_take_over_where_the_scene_is_textured():
    """Matching overlaps by squared distance favours bland patches (a flat patch continues a
    flat overlap exactly), so a fill drifts to the blandest tokens of the scene; the detail
    term charges a source for being blander than the median source of its surface class,
    so the fill keeps the scene's texture, and a class that is bland everywhere (a clear
    sky) is not charged for it."""
    from engine.models.quilt import _detail_deficit

    g = torch.Generator().manual_seed(11)
    ex = torch.randn(4, 16, 24, generator=g)
    ex[:, :, 12:] = 0.2 * ex[:, :, 12:] + 0.5  # the right half: nearly flat
    textured = patches_of(ex[:, :, :12])
    latent = torch.zeros(1, 4, 12, 20)
    known = torch.zeros(1, 12, 20, dtype=torch.bool)

    def share_textured(detail_weight):  # of the tokens filled, over two seeds
        n = 0
        for seed in (4, 5):
            ctx = GenerationContext(exemplars=[ex], seed=seed)
            gen = QuiltGenerator(detail_weight=detail_weight)
            out = gen.fill(latent, known, torch.ones(1, 12, 20), ctx)[0]
            n += sum(tuple(t.tolist()) in textured for t in out.permute(1, 2, 0).reshape(-1, 4))
        return n / (2 * 12 * 20)

    # half the sources are textured; without the term the fill takes 61% of its tokens
    # from them, with the default 79%
    assert share_textured(0.25) > share_textured(0.0) + 0.1
    # the deficit: per class against that class's median, zero at and above it
    detail = torch.tensor([1.0, 2.0, 3.0, 10.0, 20.0, 30.0])
    onehot = torch.zeros(6, 6 * 4)  # window size 2: 4 tokens, classes sky (0) and wall (2)
    onehot[:3, 0:4] = 1.0
    onehot[3:, 8:12] = 1.0
    assert _detail_deficit(detail, onehot, 2).tolist() == [1.0, 0.0, 0.0, 10.0, 0.0, 0.0]
