"""RGBMemory, the pixel-space baseline: same loop, pixel points, rasterise + encode."""

import math

import pytest
import torch

from engine.camera import Camera, look_at
from engine.memory.rgb import RGBMemory
from engine.models.codec import PCACodec

F = 8
W, H = 8, 6  # latent grid; pixels are 64 x 48


@pytest.fixture(scope="module")
def codec():
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, H * F, W * F, generator=gen)
    return PCACodec(factor=F, channels=4).fit(images)


def frame(seed: int):
    gen = torch.Generator().manual_seed(seed)
    rgb = torch.rand(3, H * F, W * F, generator=gen)
    depth = 2 + torch.rand(H * F, W * F, generator=gen)
    return rgb, depth


def pixel_camera(pose=None) -> Camera:
    return Camera.from_fov(60, W * F, H * F, pose=pose)


def test_lift_then_rasterize_returns_the_colours(codec):
    mem = RGBMemory(codec)
    rgb, depth = frame(0)
    cam = pixel_camera()
    latent = codec.encode(rgb[None])[0]
    stats = mem.lift(latent, depth, cam, rgb=rgb)
    assert stats.appended == len(mem) == H * W * F * F
    raster, known, d = mem.rasterize(cam)
    assert known.all()
    assert (raster - rgb).abs().max() <= 0.5 / 255 + 1e-6
    torch.testing.assert_close(d, depth, rtol=1e-5, atol=1e-5)
    assert mem.nbytes == 17 * len(mem) + mem.store.keys.numel() * 8 + mem.store.starts.numel() * 8


def test_readout_is_rasterise_then_encode(codec):
    mem = RGBMemory(codec)
    rgb, depth = frame(1)
    cam = pixel_camera()
    keep = torch.ones(H * F, W * F, dtype=torch.bool)
    keep[:F, :F] = False  # one whole latent token unknown
    keep[F : F + 2, :F] = False  # a quarter of the next one: still known
    mem.lift(codec.encode(rgb[None])[0], depth, cam, keep=keep, rgb=rgb)
    r = mem.readout(cam.scaled(W, H))
    expected = codec.encode(mem.last_raster[None])[0]
    assert not r.known[0, 0] and r.known[1, 0] and r.known.sum() == H * W - 1
    torch.testing.assert_close(r.latent[:, r.known], expected[:, r.known])
    assert torch.all(r.latent[:, ~r.known] == 0)
    assert torch.all(r.ids == -1)


def test_update_same_view_does_not_grow(codec):
    mem = RGBMemory(codec)
    rgb, depth = frame(2)
    latent = codec.encode(rgb[None])[0]
    mem.update(latent, depth, pixel_camera(), rgb=rgb)
    n = len(mem)
    stats = mem.update(latent, depth, pixel_camera(), rgb=rgb)
    assert stats.appended == 0 and stats.fused == n and len(mem) == n


def test_colours_come_from_the_codec_when_no_rgb_is_given(codec):
    mem = RGBMemory(codec)
    rgb, depth = frame(3)
    latent = codec.encode(rgb[None])[0]
    mem.lift(latent, depth, pixel_camera())
    raster, _, _ = mem.rasterize(pixel_camera())
    assert (raster - codec.decode(latent[None])[0]).abs().max() <= 0.5 / 255 + 1e-6


def test_sky_pixels_go_to_the_dome(codec):
    mem = RGBMemory(codec)
    rgb, depth = frame(4)
    depth[: H * F // 2] = math.inf
    mem.lift(codec.encode(rgb[None])[0], depth, pixel_camera(), rgb=rgb)
    assert len(mem) == (H * F // 2) * W * F
    assert not mem.rasterize(pixel_camera(look_at((0, 0, 0), (0, 0, -1))))[1].any()
    raster, known, d = mem.rasterize(pixel_camera())
    assert known.all() and torch.isinf(d[0]).all()


def test_bad_input_is_rejected(codec):
    mem = RGBMemory(codec)
    rgb, depth = frame(5)
    latent = codec.encode(rgb[None])[0]
    depth[3, 3] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        mem.lift(latent, depth, pixel_camera(), rgb=rgb)
    with pytest.raises(ValueError, match="rgb must have shape"):
        mem.lift(latent, depth, pixel_camera(), rgb=rgb[:, :8])
    with pytest.raises(ValueError, match="latent must have shape"):
        mem.lift(latent[:2], depth, pixel_camera(), rgb=rgb)
    assert len(mem) == 0


def test_both_memories_are_scene_memories_made_by_name(codec):
    from engine.memory import make_memory
    from engine.memory.latent import LatentMemory
    from engine.memory.protocol import SceneMemory

    rgb_mem, latent_mem = make_memory("rgb", codec), make_memory("latent", codec)
    assert isinstance(rgb_mem, RGBMemory) and isinstance(latent_mem, LatentMemory)
    assert isinstance(rgb_mem, SceneMemory) and isinstance(latent_mem, SceneMemory)
    assert rgb_mem.readout_is_encoded and not latent_mem.readout_is_encoded
    with pytest.raises(ValueError, match="latent, rgb"):
        make_memory("voxels", codec)


def test_erase_and_occupancy_of_the_rgb_memory(codec):
    mem = RGBMemory(codec)
    rgb, depth = frame(2)
    cam = pixel_camera()
    mem.lift(codec.encode(rgb[None])[0], depth, cam, rgb=rgb)
    n = len(mem)
    occ = mem.occupancy(16)
    assert occ.count.shape == (16, 16) and int(occ.count.sum()) == n
    assert (occ.segment[occ.count > 0] == 0).all() and (occ.segment[occ.count == 0] == -1).all()
    xyz = mem.positions()
    assert xyz.shape == (n, 3)
    left = xyz[:, 0] < 0
    removed = mem.erase(box=((-100.0, -100.0, -100.0), (0.0, 100.0, 100.0)))
    assert removed == int((xyz[:, 0] <= 0).sum()) and len(mem) == n - removed
    assert bool(left.any()) and removed > 0
    assert mem.erase(ids=[0, 1]) == 2 and len(mem) == n - removed - 2
    with pytest.raises(ValueError, match="box or entry ids"):
        mem.erase()


def test_occupancy_shows_the_latest_segment_per_cell(codec):
    """Each point keeps the segment that wrote it, like the latent memory's entries: a cell's
    segment is the newest of its points, -1 where it is empty; lift/update without a segment
    use the newest written."""
    mem = RGBMemory(codec)
    rgb, depth = frame(6)
    near = torch.full_like(depth, 2.0)
    left = torch.zeros(H * F, W * F, dtype=torch.bool)
    left[:, : W * F // 2] = True
    cam = pixel_camera()
    latent = codec.encode(rgb[None])[0]
    mem.lift(latent, near, cam, rgb=rgb, segment=0)
    stats = mem.update(latent, near * 2, cam, keep=left, rgb=rgb, segment=3)
    assert stats.appended == int(left.sum()) and mem.segment == 3
    segs = mem.store.column("segment")
    assert sorted(torch.unique(segs).tolist()) == [0, 3] and int((segs == 3).sum()) == left.sum()
    occ = mem.occupancy(8, extent=(-3.0, 3.0, 0.0, 6.0))
    assert set(torch.unique(occ.segment).tolist()) == {-1, 0, 3}
    assert (occ.segment[occ.count == 0] == -1).all() and (occ.segment[occ.count > 0] >= 0).all()
    # the far points (segment 3) lie left of the camera, behind the near ones (segment 0)
    g = mem.frame.to_ground(mem.positions())
    far_left = g[segs == 3]
    assert bool((far_left[:, 0] <= 0).all()) and float(far_left[:, 1].min()) > 3.0
    mem.update(latent, near * 2.5, cam, keep=~left, rgb=rgb)  # no segment: the newest, 3
    assert int((mem.store.column("segment") == 3).sum()) == 2 * int(left.sum())
    with pytest.raises(ValueError, match="segment id"):
        mem.lift(latent, near, cam, rgb=rgb, segment=-1)


def test_save_load_round_trip_with_segments_and_sky(codec, tmp_path):
    mem = RGBMemory(codec, sky_resolution=(32, 64))
    rgb, depth = frame(7)
    depth[: H * F // 3] = math.inf
    cam = pixel_camera()
    latent = codec.encode(rgb[None])[0]
    mem.lift(latent, depth, cam, rgb=rgb, segment=0)
    turned = pixel_camera(look_at((0.3, 0, 0), (0.3, 0, 1)))
    mem.update(latent, depth * 0.7, turned, rgb=rgb, segment=2)
    path = tmp_path / "rgb.safetensors"
    mem.save(path)
    back = RGBMemory.load(path, codec)
    assert len(back) == len(mem) and back.nbytes == mem.nbytes and back.segment == 2
    assert back.sky.allocated and back.config() == mem.config()
    assert torch.equal(back.store.column("segment"), mem.store.column("segment"))
    assert torch.equal(back.occupancy(16).segment, mem.occupancy(16).segment)
    for view in (cam, turned):
        a, b = mem.readout(view.scaled(W, H)), back.readout(view.scaled(W, H))
        assert torch.equal(a.latent, b.latent) and torch.equal(a.known, b.known)
        assert torch.equal(a.depth, b.depth) and torch.equal(a.sky, b.sky) and a.sky.any()
    with pytest.raises(ValueError, match="needs the codec"):
        RGBMemory.load(path)
    other = PCACodec(factor=4, channels=4).fit(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="factor 8.*has 4 and 4"):
        RGBMemory.load(path, other)
    with pytest.raises(FileNotFoundError, match="no memory file"):
        RGBMemory.load(tmp_path / "missing.safetensors", codec)
