"""engine.synth: the analytic room scene, checked against geometry and a slow ray marcher."""

import math

import pytest
import torch

from engine.camera import Camera, look_at
from engine.synth import Box, RoomScene, SynthView, Texture, room_scene

FOV = 60.0


@pytest.fixture(scope="module")
def scene() -> RoomScene:
    return room_scene(seed=0)


def small_views(scene: RoomScene, poses, w: int = 64, h: int = 48) -> list[SynthView]:
    return [scene.render(Camera.from_fov(FOV, w, h, pose)) for pose in poses]


def all_boxes(scene: RoomScene) -> tuple[Box, ...]:
    return scene.cells + scene.solids


def on_some_face(point: list[float], boxes: tuple[Box, ...], tol: float) -> bool:
    """Whether the point lies on a face of one of the boxes: one coordinate on a face plane,
    the other two within the face's extent."""
    for box in boxes:
        if not box.contains(point, margin=tol):
            continue
        for axis in range(3):
            if min(abs(point[axis] - box.lo[axis]), abs(point[axis] - box.hi[axis])) <= tol:
                return True
    return False


def free_space(scene: RoomScene, points: torch.Tensor) -> torch.Tensor:
    """(N,) bool: inside some cell (closed box) and not strictly inside furniture. points (N,3)."""

    def inside(box: Box, strict: bool) -> torch.Tensor:
        lo, hi = torch.tensor(box.lo), torch.tensor(box.hi)
        if strict:
            return ((points > lo) & (points < hi)).all(dim=1)
        return ((points >= lo) & (points <= hi)).all(dim=1)

    free = torch.zeros(points.shape[0], dtype=torch.bool)
    for cell in scene.cells:
        free |= inside(cell, strict=False)
    for solid in scene.solids:
        free &= ~inside(solid, strict=True)
    return free


def marched_depth(scene: RoomScene, camera: Camera, dt: float, t_max: float) -> torch.Tensor:
    """Slow twin of render's depth: step along every ray until it leaves free space.

    Returns (H,W): the first step t = k dt whose point is not free (so the true depth lies
    in (t - dt, t])."""
    dirs = camera.ray_directions(torch.float64).reshape(-1, 3)
    origin = camera.position
    steps = torch.arange(1, int(t_max / dt) + 1, dtype=torch.float64) * dt  # (S,)
    depth = torch.empty(dirs.shape[0], dtype=torch.float64)
    for i, d in enumerate(dirs):
        points = origin + steps[:, None] * d  # (S,3)
        blocked = ~free_space(scene, points)
        depth[i] = steps[int(blocked.nonzero()[0, 0])]
    return depth.reshape(camera.height, camera.width)


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_views():
    camera = Camera.from_fov(FOV, 64, 48)
    a, b = room_scene(seed=3).render(camera), room_scene(seed=3).render(camera)
    for name in ("rgb", "depth", "sky", "dynamic"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_different_seeds_give_different_furniture():
    layouts = [[(s.lo, s.hi) for s in room_scene(seed).solids] for seed in range(5)]
    assert all(4 <= len(layout) <= 6 for layout in layouts)
    assert len({tuple(layout) for layout in layouts}) == 5
    camera = Camera.from_fov(FOV, 64, 48)
    assert not torch.equal(room_scene(0).render(camera).rgb, room_scene(1).render(camera).rgb)


def test_furniture_keeps_clear_of_start_and_does_not_overlap():
    for seed in range(20):
        scene = room_scene(seed)
        assert scene.clearance((0.0, 0.0, 0.0)) > 1.0
        for i, a in enumerate(scene.solids):
            for b in scene.solids[i + 1 :]:
                assert not all(a.lo[k] < b.hi[k] and b.lo[k] < a.hi[k] for k in range(3))


# --------------------------------------------------------------------------- depth / geometry


def test_render_shapes_dtypes_and_ranges(scene):
    view = scene.render(Camera.from_fov(FOV, 512, 384))
    assert view.rgb.shape == (3, 384, 512) and view.rgb.dtype == torch.float32
    assert view.depth.shape == (384, 512) and view.depth.dtype == torch.float32
    assert view.sky.shape == view.dynamic.shape == (384, 512)
    assert view.sky.dtype == view.dynamic.dtype == torch.bool
    assert not view.sky.any() and not view.dynamic.any()
    assert 0.0 <= float(view.rgb.min()) and float(view.rgb.max()) <= 1.0


def test_depth_is_finite_and_positive_along_paths(scene):
    poses = scene.sample_path("loop", 8) + scene.sample_path("orbit", 8, start=(0.5, 0.3, 3.0))
    for view in small_views(scene, poses):
        assert torch.isfinite(view.depth).all()
        assert float(view.depth.min()) > 0.0


def test_unprojected_depth_lies_on_a_box_face(scene):
    poses = scene.sample_path("orbit", 6, start=(0.3, -0.2, 2.0))
    rows, cols = torch.meshgrid(torch.arange(1, 48, 7), torch.arange(2, 64, 9), indexing="ij")
    for pose in poses:
        camera = Camera.from_fov(FOV, 64, 48, pose)
        view = scene.render(camera)
        uv = camera.pixel_grid(torch.float64)[rows, cols]  # (R,C,2)
        points = camera.unproject(uv, view.depth[rows, cols].double()).reshape(-1, 3)
        for point in points.tolist():
            assert on_some_face(point, all_boxes(scene), tol=1e-4), point


def test_depth_matches_slow_ray_marcher(scene):
    dt = 2e-3
    pose = scene.sample_path("forward", 2, start=(0.2, -0.1, 1.0))[0]
    for w, h, yaw in ((16, 12, 0.0), (12, 9, 0.9), (12, 9, -2.0)):
        rotated = pose.clone()
        c, s = math.cos(yaw), math.sin(yaw)
        rotated[:3, :3] = torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float64)
        camera = Camera.from_fov(FOV, w, h, rotated)
        fast = scene.render(camera).depth.double()
        slow = marched_depth(scene, camera, dt=dt, t_max=14.0)
        assert ((slow - fast) > -1e-5).all() and ((slow - fast) < dt + 1e-5).all()


def test_view_through_the_door_sees_the_back_room(scene):
    view = scene.render(Camera.from_fov(FOV, 64, 48))
    # The door (x in [-0.6, 0.6], y in [-0.6, 1.5] at z = 8) is in the lower middle of the
    # image; the pixel straight ahead of the floor's door sill sees past the wall at z = 8.
    assert float(view.depth[30, 32]) > 8.25
    assert float(view.depth.max()) <= 12.0 + 1e-4
    assert float(view.depth[5, 2]) < 8.0  # upper left: main-room wall or ceiling


def test_camera_outside_the_room_is_refused(scene):
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, 3] = torch.tensor([0.0, 0.0, -5.0])
    with pytest.raises(ValueError, match="outside the room"):
        scene.render(Camera.from_fov(FOV, 16, 12, pose))


# --------------------------------------------------------------------------- texture


def seen_point(camera: Camera, view: SynthView, i: int, j: int) -> torch.Tensor:
    """(3,) world point seen at pixel [i, j]."""
    return camera.unproject(camera.pixel_grid(torch.float64)[i, j], view.depth[i, j].double())


def test_texture_is_world_anchored(scene):
    """A floor point seen by two different cameras has the same colour in both."""
    cam_a = Camera.from_fov(FOV, 64, 48)
    view_a = scene.render(cam_a)
    base_b = Camera.from_fov(FOV, 64, 48, look_at((0.6, -0.4, 1.0), (-0.3, 1.0, 4.5)))
    for i, j in ((40, 20), (44, 33), (36, 40)):
        point = seen_point(cam_a, view_a, i, j)
        assert abs(float(point[1]) - 1.5) < 1e-4  # on the floor
        # Camera B: moved, turned, looking down, with its principal point shifted so that
        # the floor point falls exactly on the centre of pixel [ib, jb].
        uv, _ = base_b.project(point)
        jb, ib = math.floor(float(uv[0])), math.floor(float(uv[1]))
        assert 0 <= ib < 48 and 0 <= jb < 64
        cam_b = Camera(
            base_b.fx,
            base_b.fy,
            base_b.cx + jb + 0.5 - float(uv[0]),
            base_b.cy + ib + 0.5 - float(uv[1]),
            64,
            48,
            base_b.pose,
        )
        view_b = scene.render(cam_b)
        assert torch.allclose(seen_point(cam_b, view_b, ib, jb), point, atol=1e-4)  # visible
        assert torch.allclose(view_a.rgb[:, i, j], view_b.rgb[:, ib, jb], atol=1e-4)


def test_views_have_texture_at_all_scales(scene):
    view = scene.render(Camera.from_fov(FOV, 256, 192))
    rgb = view.rgb
    assert float(rgb.std()) > 0.05
    # Fine detail: neighbouring pixels differ almost everywhere, not just at edges.
    dx = (rgb[:, :, 1:] - rgb[:, :, :-1]).abs().amax(dim=0)
    assert float((dx > 1e-3).float().mean()) > 0.8
    # Per-surface variation: a patch of plain wall is not flat.
    assert float(rgb[:, 60:80, 200:230].std()) > 0.01


def test_texture_kind_is_checked():
    with pytest.raises(ValueError, match="unknown texture kind"):
        Texture("marble", (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), 1.0, 0)


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize("kind", ["forward", "loop", "orbit"])
def test_sample_path_poses_are_valid_and_clear(scene, kind):
    poses = scene.sample_path(kind, 17)
    assert len(poses) == 17
    again = scene.sample_path(kind, 17)
    for pose, same in zip(poses, again):
        assert pose.shape == (4, 4) and pose.dtype == torch.float64
        assert torch.equal(pose, same)
        rotation = pose[:3, :3]
        assert torch.allclose(rotation.T @ rotation, torch.eye(3, dtype=torch.float64), atol=1e-9)
        assert abs(float(torch.linalg.det(rotation)) - 1.0) < 1e-9
        assert scene.clearance(pose[:3, 3]) >= 0.3


def test_loop_path_closes(scene):
    poses = scene.sample_path("loop", 21, distance=3.0)
    assert torch.allclose(poses[0][:3, 3], poses[-1][:3, 3], atol=1e-12)
    assert torch.allclose(poses[0][:3, 2], -poses[-1][:3, 2], atol=1e-12)  # turned around
    assert float(max(p[2, 3] for p in poses)) == pytest.approx(3.0)


def test_sample_path_rejects_bad_requests(scene):
    with pytest.raises(ValueError, match="unknown path kind"):
        scene.sample_path("spiral", 10)
    with pytest.raises(ValueError, match="passes within"):
        scene.sample_path("forward", 10, distance=11.9)  # ends 0.1 from the back room's wall
