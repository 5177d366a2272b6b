"""Multi-frame consistency on the synthetic street with moving cars: the cars are kept out
of the memory (no ghost trail), the static scene goes in."""

import pytest
import torch

from engine import synth
from engine.camera import Camera
from engine.dynamic import consistent_tokens
from engine.memory.latent import LatentMemory, pool_depth
from engine.models.embedded_codec import DEFAULT_WEIGHTS
from engine.models.registry import make_codec

W, H, F = 256, 192, 8
TIMES = [0.3 * k for k in range(6)]


@pytest.fixture(scope="module")
def segment():
    """A 'video generator' that is right about everything: the street rendered along a
    forward path while the cars drive, encoded; exact depth."""
    codec = make_codec("embedded") if DEFAULT_WEIGHTS.is_file() else None
    if codec is None:
        pytest.skip("needs the embedded codec weights")
    scene = synth.street_scene(0)
    path = scene.sample_path("forward", n=40, distance=20.0)
    cams, views = [], []
    for k, t in enumerate(TIMES):
        cam = Camera.from_fov(60.0, W, H, path[2 * k])
        cams.append(cam)
        views.append(scene.render(cam, time=t))
    latents = codec.encode(torch.stack([v.rgb for v in views]))
    depths = torch.stack([pool_depth(v.depth, F) for v in views])
    dynamic = torch.stack(
        [v.dynamic.float().reshape(H // F, F, W // F, F).mean(dim=(1, 3)) for v in views]
    )
    return scene, cams, latents, depths, dynamic


def inside_cars(scene, xyz, shrink=0.05):
    """Entries strictly inside a car at one of the segment's times (boxes shrunk a little,
    so the road surface under the wheels does not count)."""
    inside = torch.zeros(xyz.shape[0], dtype=torch.bool)
    for t in TIMES:
        for mover in scene.movers:
            for box in mover.boxes(t):
                lo = torch.tensor(box.lo, dtype=xyz.dtype) + shrink
                hi = torch.tensor(box.hi, dtype=xyz.dtype) - shrink
                inside |= ((xyz >= lo) & (xyz <= hi)).all(dim=1)
    return inside


def write(cams, latents, depths, keep):
    memory = LatentMemory(latents.shape[1])
    for k, cam in enumerate(cams):
        memory.update(latents[k], depths[k], cam.scaled(W // F, H // F), keep=keep[k])
    return memory


def test_moving_cars_are_flagged_and_the_static_street_kept(segment):
    _, cams, latents, depths, dynamic = segment
    keep = consistent_tokens(latents, depths, cams)
    moving = dynamic > 0.5
    static = (dynamic == 0) & torch.isfinite(depths)
    assert int(moving.sum()) > 20
    assert float((~keep[moving]).float().mean()) > 0.8
    assert float(keep[static].float().mean()) > 0.75


def test_no_ghost_trail_in_memory(segment):
    scene, cams, latents, depths, _ = segment
    everything = torch.ones(depths.shape, dtype=torch.bool)
    unfiltered = write(cams, latents, depths, everything)
    filtered = write(cams, latents, depths, consistent_tokens(latents, depths, cams))
    ghosts = int(inside_cars(scene, filtered.entries(torch.arange(len(filtered)))["xyz"]).sum())
    before = int(inside_cars(scene, unfiltered.entries(torch.arange(len(unfiltered)))["xyz"]).sum())
    assert before >= 5  # without the check, the cars land in memory
    assert ghosts <= 1, ghosts
    assert len(filtered) > 0.8 * len(unfiltered)


def test_single_frame_and_bad_shapes():
    cam = Camera.from_fov(60.0, 16, 12)
    keep = consistent_tokens(torch.randn(1, 4, 12, 16), torch.ones(1, 12, 16), [cam])
    assert bool(keep.all())
    with pytest.raises(ValueError, match="T cameras"):
        consistent_tokens(torch.randn(2, 4, 12, 16), torch.ones(2, 12, 16), [cam])


def test_a_still_scene_seen_twice_is_all_kept():
    """The same frame twice from the same camera contradicts nothing."""
    cam = Camera.from_fov(60.0, 16, 12)
    latents = torch.randn(1, 4, 12, 16).repeat(2, 1, 1, 1)
    depths = (1 + torch.rand(1, 12, 16)).repeat(2, 1, 1)
    assert bool(consistent_tokens(latents, depths, [cam, cam]).all())
    changed = latents.clone()
    changed[1, :, 3:6, 4:8] += 10.0  # something appears in frame 1
    keep = consistent_tokens(changed, depths, [cam, cam])
    assert not bool(keep[:, 3:6, 4:8].any()) and bool(keep[:, 8:, :].all())
