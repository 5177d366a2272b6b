"""Property tests for engine/camera.py over seeded random batches.

Each test draws a fixed-seed batch of random cameras, points or controller inputs and checks
an identity that must hold for all of them (round trips, group axioms, invariances) rather
than a few hand-picked numbers. Bad input must raise ValueError saying what was wrong.
"""

import json
import math

import pytest
import torch

from engine.camera import (
    Camera,
    FlyController,
    FlyInput,
    as_pose,
    interpolate_pose,
    look_at,
    rotation_about,
    rotation_log,
)

N = 256  # cameras / poses per property test
POINTS = 64  # points per camera

# Round-trip tolerances per dtype: pixels, and world units relative to the scene scale.
UV_TOL = {torch.float32: 2e-2, torch.float64: 1e-8}
XYZ_TOL = {torch.float32: 5e-4, torch.float64: 1e-10}


# --------------------------------------------------------------------------------------------
# Random batches


def make_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def uniform(gen: torch.Generator, low: float, high: float, *shape: int) -> torch.Tensor:
    return low + (high - low) * torch.rand(*shape, generator=gen, dtype=torch.float64)


def random_rotations(gen: torch.Generator, n: int) -> torch.Tensor:
    """(n, 3, 3) rotations, uniform over SO(3): QR of a Gaussian matrix, signs fixed."""
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    flip = torch.linalg.det(q) < 0
    q[flip, :, 0] = -q[flip, :, 0]
    return q


def random_poses(gen: torch.Generator, n: int, extent: float = 5.0) -> torch.Tensor:
    """(n, 4, 4) camera-to-world poses with positions in [-extent, extent]^3."""
    poses = torch.eye(4, dtype=torch.float64).repeat(n, 1, 1)
    poses[:, :3, :3] = random_rotations(gen, n)
    poses[:, :3, 3] = uniform(gen, -extent, extent, n, 3)
    return poses


def random_unit_vectors(gen: torch.Generator, n: int) -> torch.Tensor:
    vectors = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    return vectors / vectors.norm(dim=-1, keepdim=True)


def random_cameras(seed: int, n: int = N) -> list[Camera]:
    """Cameras with random size, field of view, aspect, off-centre principal point and pose."""
    gen = make_generator(seed)
    poses = random_poses(gen, n)
    sizes = torch.randint(8, 1025, (n, 2), generator=gen)
    fov = uniform(gen, 20.0, 120.0, n)
    aspect = uniform(gen, 0.8, 1.25, n)
    offset = uniform(gen, -0.1, 0.1, n, 2)
    cameras = []
    for i in range(n):
        width, height = sizes[i].tolist()
        fy = 0.5 * height / math.tan(math.radians(fov[i].item()) / 2)
        cx = width * (0.5 + offset[i, 0].item())
        cy = height * (0.5 + offset[i, 1].item())
        cameras.append(Camera(fy * aspect[i].item(), fy, cx, cy, width, height, poses[i]))
    return cameras


def random_pixels(gen: torch.Generator, camera: Camera, n: int = POINTS):
    """uv (n, 2) inside the image and depth (n,) in [0.5, 50], float64."""
    u = uniform(gen, 0.0, camera.width, n)
    v = uniform(gen, 0.0, camera.height, n)
    return torch.stack((u, v), dim=-1), uniform(gen, 0.5, 50.0, n)


def points_in_front(gen: torch.Generator, camera: Camera, n: int = POINTS) -> torch.Tensor:
    """(n, 3) float64 world points in front of the camera, built with plain pose algebra."""
    p_cam = torch.stack(
        (uniform(gen, -10, 10, n), uniform(gen, -10, 10, n), uniform(gen, 0.5, 50, n)), dim=-1
    )
    return p_cam @ camera.pose[:3, :3].T + camera.pose[:3, 3]


def assert_close(actual: torch.Tensor, expected: torch.Tensor, atol=1e-12, rtol=0.0) -> None:
    """|actual - expected| <= atol + rtol |expected| everywhere, and the same shape.

    (torch.testing.assert_close would do, but its first call imports torch.distributed,
    which costs about a second.)
    """
    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    error = (actual.double() - expected.double()).abs()
    bound = atol + rtol * expected.double().abs()
    assert (error <= bound).all(), f"max error {error.max().item():.3g} > atol {atol:g}"


def assert_rotation(matrix: torch.Tensor, atol: float = 1e-9) -> None:
    eye = torch.eye(3, dtype=matrix.dtype)
    assert_close(matrix.T @ matrix, eye, atol=atol, rtol=0)
    assert abs(torch.linalg.det(matrix).item() - 1.0) < atol


# --------------------------------------------------------------------------------------------
# Camera: projection round trips


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_project_unproject_returns_pixels(dtype):
    gen = make_generator(1)
    for camera in random_cameras(seed=1):
        uv, depth = random_pixels(gen, camera)
        uv, depth = uv.to(dtype), depth.to(dtype)
        uv_back, depth_back = camera.project(camera.unproject(uv, depth))
        assert uv_back.dtype == dtype and depth_back.dtype == dtype
        assert_close(uv_back, uv, atol=UV_TOL[dtype], rtol=0)
        assert_close(depth_back, depth, atol=XYZ_TOL[dtype] * 50, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_unproject_project_returns_points(dtype):
    gen = make_generator(2)
    for camera in random_cameras(seed=2):
        points = points_in_front(gen, camera).to(dtype)
        uv, depth = camera.project(points)
        assert (depth > 0).all()
        scale = points.abs().max().item()
        assert_close(camera.unproject(uv, depth), points, atol=XYZ_TOL[dtype] * scale, rtol=0)


def test_project_matches_matrix_form():
    """project() == dehomogenise(K [R^T | -R^T t] p), with the inverse taken generically."""
    gen = make_generator(3)
    for camera in random_cameras(seed=3):
        points = points_in_front(gen, camera)
        homogeneous = torch.cat((points, torch.ones(POINTS, 1, dtype=torch.float64)), dim=-1)
        p_cam = (homogeneous @ torch.linalg.inv(camera.pose).T)[:, :3]
        pixels = p_cam @ camera.K.T
        uv, depth = camera.project(points)
        assert_close(uv, pixels[:, :2] / pixels[:, 2:], atol=1e-8, rtol=0)
        assert_close(depth, p_cam[:, 2], atol=1e-10, rtol=0)


def test_project_keeps_batch_shape_and_behind_camera_is_negative_depth():
    gen = make_generator(4)
    for camera in random_cameras(seed=4, n=32):
        points = points_in_front(gen, camera, n=2 * 3 * 5).reshape(2, 3, 5, 3)
        # reflect through the camera centre: the same rays, behind the camera
        behind = 2 * camera.position - points
        uv, depth = camera.project(behind)
        assert uv.shape == (2, 3, 5, 2) and depth.shape == (2, 3, 5)
        assert (depth < 0).all()


def test_pose_times_world_to_camera_is_identity():
    gen = make_generator(5)
    eye = torch.eye(4, dtype=torch.float64)
    for pose in random_poses(gen, N, extent=100.0):
        camera = Camera(500.0, 500.0, 320.0, 240.0, 640, 480, pose)
        assert_close(camera.pose @ camera.world_to_camera, eye, atol=1e-12, rtol=0)
        assert_close(camera.world_to_camera @ camera.pose, eye, atol=1e-12, rtol=0)


def test_axes_follow_opencv():
    """+x projects right of cx, +y below cy (y is down), +z (in front) has positive depth."""
    for camera in random_cameras(seed=6, n=32):
        p_cam = torch.tensor(
            [[1.0, 0.0, 2.0], [0.0, 1.0, 2.0], [0.0, 0.0, 2.0]], dtype=torch.float64
        )
        uv, depth = camera.project(p_cam @ camera.R.T + camera.position)
        assert uv[0, 0] > camera.cx and uv[1, 1] > camera.cy
        assert_close(uv[2], torch.tensor([camera.cx, camera.cy], dtype=torch.float64), atol=1e-9)
        assert_close(depth, torch.full((3,), 2.0, dtype=torch.float64), atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pixel_grid_holds_pixel_centres(dtype):
    """Entry [i, j] is (j + 0.5, i + 0.5): pixel (row i, col j) covers [j, j + 1) x [i, i + 1)."""
    gen = make_generator(6)
    for width, height in torch.randint(1, 100, (16, 2), generator=gen).tolist():
        grid = Camera.from_fov(60.0, width, height).pixel_grid(dtype)
        assert grid.shape == (height, width, 2) and grid.dtype == dtype
        rows = torch.arange(height, dtype=torch.float64)[:, None].expand(height, width)
        cols = torch.arange(width, dtype=torch.float64)[None, :].expand(height, width)
        assert_close(grid, torch.stack((cols + 0.5, rows + 0.5), dim=-1), atol=0)


# --------------------------------------------------------------------------------------------
# Camera: intrinsics, scaling, rays, serialisation


def test_from_fov_round_trips_and_is_centred():
    gen = make_generator(7)
    for fov, width, height in zip(
        uniform(gen, 1.0, 179.0, N).tolist(),
        torch.randint(1, 4000, (N,), generator=gen).tolist(),
        torch.randint(1, 4000, (N,), generator=gen).tolist(),
    ):
        camera = Camera.from_fov(fov, width, height)
        assert camera.fov_y_deg == pytest.approx(fov, rel=1e-12)
        assert (camera.fx, camera.cx, camera.cy) == (camera.fy, width / 2, height / 2)
        # square pixels: tan(fov_x / 2) / tan(fov_y / 2) = width / height
        ratio = math.tan(math.radians(camera.fov_x_deg) / 2) / math.tan(math.radians(fov) / 2)
        assert ratio == pytest.approx(width / height, rel=1e-12)


def test_scaled_scales_projections():
    gen = make_generator(8)
    for camera in random_cameras(seed=8):
        w, h = torch.randint(1, 2049, (2,), generator=gen).tolist()
        small = camera.scaled(w, h)
        points = points_in_front(gen, camera)
        uv, depth = camera.project(points)
        uv_small, depth_small = small.project(points)
        factor = torch.tensor([w / camera.width, h / camera.height], dtype=torch.float64)
        assert_close(uv_small, uv * factor, atol=1e-8, rtol=1e-12)
        assert_close(depth_small, depth, atol=0, rtol=0)
        assert torch.equal(small.pose, camera.pose)


def test_scaled_twice_returns_original_intrinsics():
    gen = make_generator(9)
    for camera in random_cameras(seed=9):
        w, h = torch.randint(1, 2049, (2,), generator=gen).tolist()
        back = camera.scaled(w, h).scaled(camera.width, camera.height)
        assert (back.width, back.height) == (camera.width, camera.height)
        for name in ("fx", "fy", "cx", "cy"):
            assert getattr(back, name) == pytest.approx(getattr(camera, name), rel=1e-12)


def test_scaled_pixel_centres_map_to_scaled_positions():
    """Continuous pixels: the image corners (0, 0) and (W, H) map to (0, 0) and (w, h)."""
    for camera in random_cameras(seed=10, n=32):
        small = camera.scaled(max(1, camera.width // 8), max(1, camera.height // 8))
        corners = torch.tensor([[0.0, 0.0], [camera.width, camera.height]], dtype=torch.float64)
        points = camera.unproject(corners, torch.tensor([3.0, 7.0], dtype=torch.float64))
        uv, _ = small.project(points)
        expected = torch.tensor([[0.0, 0.0], [small.width, small.height]], dtype=torch.float64)
        assert_close(uv, expected, atol=1e-9, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ray_directions_reproject_to_pixel_centres(dtype):
    gen = make_generator(11)
    for camera in random_cameras(seed=11, n=64):
        # small grids (under ~128 rays) keep torch single-threaded, so the test stays fast
        # on a loaded machine; the aspect change also makes fx != fy
        camera = camera.scaled(*torch.randint(1, 12, (2,), generator=gen).tolist())
        dirs = camera.ray_directions(dtype)
        assert dirs.shape == (camera.height, camera.width, 3) and dirs.dtype == dtype
        depth = uniform(gen, 0.5, 50.0, camera.height, camera.width).to(dtype)
        points = camera.position.to(dtype) + depth[..., None] * dirs
        uv, depth_back = camera.project(points)
        assert_close(uv, camera.pixel_grid(dtype), atol=UV_TOL[dtype], rtol=0)
        assert_close(depth_back, depth, atol=XYZ_TOL[dtype] * 50, rtol=0)


def test_dict_round_trip_is_exact_through_json():
    for camera in random_cameras(seed=12):
        back = Camera.from_dict(json.loads(json.dumps(camera.to_dict())))
        assert back == camera and hash(back) == hash(camera)
        assert torch.equal(back.pose, camera.pose)
        assert (back.fx, back.fy, back.cx, back.cy) == (camera.fx, camera.fy, camera.cx, camera.cy)


def test_with_pose_keeps_intrinsics_and_copies_pose():
    gen = make_generator(13)
    cameras = random_cameras(seed=13, n=32)
    for camera, pose in zip(cameras, random_poses(gen, 32)):
        source = pose.float().numpy()  # any array-like is accepted and stored as float64
        moved = camera.with_pose(source)
        assert moved.to_dict() | {"pose": None} == camera.to_dict() | {"pose": None}
        assert moved.pose.dtype == torch.float64
        assert_close(moved.pose, pose, atol=1e-6)
        before = moved.pose.clone()
        source[0, 3] += 1.0  # the camera owns its copy
        assert torch.equal(moved.pose, before)


# --------------------------------------------------------------------------------------------
# Rotations and look_at


def test_rotation_about_is_a_rotation_fixing_its_axis():
    gen = make_generator(14)
    axes = random_unit_vectors(gen, N)
    angles = uniform(gen, -10.0, 10.0, N).tolist()
    for axis, angle in zip(axes, angles):
        rotation = rotation_about(axis * 3.0, angle)
        assert_rotation(rotation)
        assert_close(rotation @ axis, axis, atol=1e-12, rtol=0)
        # the angle: trace R = 1 + 2 cos(angle)
        assert torch.trace(rotation).item() == pytest.approx(1 + 2 * math.cos(angle), abs=1e-12)
        assert_close(rotation_about(axis, -angle), rotation.T, atol=1e-12, rtol=0)


def test_look_at_points_forward_to_target_and_keeps_x_level():
    gen = make_generator(15)
    eyes, targets = uniform(gen, -10, 10, N, 3), uniform(gen, -10, 10, N, 3)
    ups = random_unit_vectors(gen, N)
    for eye, target, up in zip(eyes, targets, ups):
        pose = look_at(eye, target, up)
        rotation = pose[:3, :3]
        assert_rotation(rotation)
        offset = target - eye
        assert_close(rotation[:, 2], offset / offset.norm(), atol=1e-12, rtol=0)
        assert abs(rotation[:, 0].dot(up).item()) < 1e-12  # x is perpendicular to up
        assert rotation[:, 1].dot(up).item() < 0  # y (down) points away from up
        assert_close(pose[:3, 3], eye)
        uv, depth = Camera.from_fov(60.0, 64, 48, pose).project(target)
        assert_close(uv, torch.tensor([32.0, 24.0], dtype=torch.float64), atol=1e-9)
        assert depth.item() == pytest.approx(offset.norm().item())


def test_look_at_default_up_is_identity_along_z():
    pose = look_at((0.0, 0.0, 0.0), (0.0, 0.0, 5.0))
    assert_close(pose, torch.eye(4, dtype=torch.float64))


# --------------------------------------------------------------------------------------------
# Fly controller


def random_controllers(seed: int, n: int = N) -> list[FlyController]:
    """Controllers with random initial pose, up vector, speed and sprint factor."""
    gen = make_generator(seed)
    poses = random_poses(gen, n)
    ups = random_unit_vectors(gen, n)
    speeds = uniform(gen, 0.1, 10.0, n).tolist()
    sprints = uniform(gen, 1.5, 5.0, n).tolist()
    return [
        FlyController(pose, up=up, speed=speed, sprint_factor=sprint)
        for pose, up, speed, sprint in zip(poses, ups, speeds, sprints)
    ]


def random_input(gen: torch.Generator) -> FlyInput:
    """Axes in [-1.5, 1.5] (so clamping is exercised) and a random sprint flag."""
    forward, right, up = uniform(gen, -1.5, 1.5, 3).tolist()
    return FlyInput(forward, right, up, sprint=bool(torch.rand(1, generator=gen) < 0.5))


def look_randomly(controller: FlyController, gen: torch.Generator) -> None:
    dx, dy = uniform(gen, -500.0, 500.0, 2).tolist()
    controller.look(dx, dy)


def test_identity_pose_gives_identity_frame():
    controller = FlyController(torch.eye(4))
    assert_close(controller.f0, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    assert_close(controller.r0, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    assert_close(controller.pose, torch.eye(4, dtype=torch.float64))


def test_roll_free_initial_pose_is_kept():
    gen = make_generator(20)
    eyes, targets = uniform(gen, -10, 10, N, 3), uniform(gen, -10, 10, N, 3)
    for eye, target, up in zip(eyes, targets, random_unit_vectors(gen, N)):
        pose = look_at(eye, target, up)
        elevation = math.degrees(math.asin(pose[:3, 2].dot(up).item()))
        if abs(elevation) < 89.0:
            assert_close(FlyController(pose, up=up).pose, pose, atol=1e-12, rtol=0)


def test_look_there_and_back_returns_same_pose():
    gen = make_generator(21)
    for controller in random_controllers(seed=21):
        look_randomly(controller, gen)
        before = controller.pose
        dx = uniform(gen, -5000.0, 5000.0, 1).item()
        controller.look(dx, 0.0)
        controller.look(-dx, 0.0)
        assert_close(controller.pose, before, atol=1e-9, rtol=0)


def test_yaw_by_full_turn_is_identity():
    gen = make_generator(22)
    for controller in random_controllers(seed=22):
        look_randomly(controller, gen)
        before = controller.pose
        turns = int(torch.randint(-3, 4, (1,), generator=gen))
        controller.look(turns * math.tau / controller.sensitivity, 0.0)
        assert_close(controller.pose, before, atol=1e-9, rtol=0)


def test_pitch_stays_within_limit():
    gen = make_generator(23)
    for controller in random_controllers(seed=23):
        dy = uniform(gen, 1e6, 1e12, 1).item() * (1 if torch.rand(1, generator=gen) < 0.5 else -1)
        controller.look(0.0, dy)
        elevation = math.asin(max(-1.0, min(1.0, controller.forward.dot(controller.up).item())))
        assert abs(elevation) <= controller.pitch_limit + 1e-9
        assert abs(controller.pitch) == pytest.approx(controller.pitch_limit)
        assert math.copysign(1.0, controller.pitch) == -math.copysign(1.0, dy)  # drag down: down


def test_mouse_right_turns_right_and_mouse_down_looks_down():
    gen = make_generator(31)
    for controller in random_controllers(seed=31):
        look_randomly(controller, gen)
        right = controller.right
        controller.look(uniform(gen, 1.0, 100.0, 1).item(), 0.0)
        assert controller.forward.dot(right).item() > 0
        controller.pitch = 0.0  # level, so that looking down is not stopped by the limit
        controller.look(0.0, uniform(gen, 1.0, 100.0, 1).item())
        assert controller.forward.dot(controller.up).item() < 0


def test_set_pose_clamps_pitch():
    gen = make_generator(32)
    for controller in random_controllers(seed=32, n=64):
        controller.pitch_limit = math.radians(30.0)
        look_randomly(controller, gen)
        sign = 1.0 if torch.rand(1, generator=gen) < 0.5 else -1.0
        elevation = sign * math.radians(uniform(gen, 31.0, 89.0, 1).item())
        # tilt the heading up by the elevation: rotation about right (right × heading = up)
        steep = rotation_about(controller.right, elevation) @ controller.ground_forward
        target = controller.position + steep
        controller.set_pose(look_at(controller.position, target, controller.up))
        assert controller.pitch == pytest.approx(sign * controller.pitch_limit)


def test_input_axes_are_clamped_to_unit():
    gen = make_generator(33)
    pairs = zip(random_controllers(seed=33, n=64), random_controllers(seed=33, n=64))
    for unit, beyond in pairs:
        dx, dy = uniform(gen, -500.0, 500.0, 2).tolist()
        unit.look(dx, dy)
        beyond.look(dx, dy)
        signs = torch.randint(0, 2, (3,), generator=gen).mul(2).sub(1).double()
        excess = uniform(gen, 1.0, 100.0, 3)
        unit.step(FlyInput(*signs.tolist()), 0.5)
        beyond.step(FlyInput(*(signs * excess).tolist()), 0.5)
        assert_close(beyond.position, unit.position, atol=1e-12)


def test_many_small_steps_equal_one_step():
    gen = make_generator(24)
    for first, second in zip(random_controllers(seed=24, n=64), random_controllers(seed=24, n=64)):
        dx, dy = uniform(gen, -500.0, 500.0, 2).tolist()
        first.look(dx, dy)
        second.look(dx, dy)
        inp, dt = random_input(gen), uniform(gen, 0.0, 0.5, 1).item()
        n = int(torch.randint(1, 51, (1,), generator=gen))
        first.step(inp, dt)
        for _ in range(n):
            second.step(inp, dt / n)
        assert_close(second.pose, first.pose, atol=1e-12, rtol=0)


def test_wasd_moves_in_ground_plane_and_qe_along_up():
    gen = make_generator(25)
    for controller in random_controllers(seed=25):
        look_randomly(controller, gen)
        forward, right, up = uniform(gen, -1.0, 1.0, 3).tolist()
        dt = uniform(gen, 0.01, 0.5, 1).item()
        start = controller.position
        controller.step(FlyInput(forward=forward, right=right), dt)
        ground_move = controller.position - start
        assert abs(ground_move.dot(controller.up).item()) < 1e-12
        expected_length = controller.speed * dt * math.hypot(forward, right)
        assert ground_move.norm().item() == pytest.approx(expected_length, rel=1e-9)

        start = controller.position
        controller.step(FlyInput(up=up), dt)
        vertical_move = controller.position - start
        expected = controller.speed * dt * up * controller.up
        assert_close(vertical_move, expected, atol=1e-12, rtol=0)


def test_wasd_follows_heading_not_pitched_view():
    gen = make_generator(26)
    for controller in random_controllers(seed=26, n=64):
        look_randomly(controller, gen)
        start = controller.position
        controller.step(FlyInput(forward=1.0), 1.0)
        direction = (controller.position - start) / controller.speed
        # the horizontal part of the view direction, normalised
        horizontal = controller.forward - controller.forward.dot(controller.up) * controller.up
        assert_close(direction, horizontal / horizontal.norm(), atol=1e-9, rtol=0)
        # A = -right, D = +right
        start = controller.position
        controller.step(FlyInput(right=-1.0), 1.0)
        left = (controller.position - start) / controller.speed
        assert_close(left, -controller.pose[:3, 0], atol=1e-9, rtol=0)


def test_sprint_multiplies_displacement():
    gen = make_generator(27)
    for controller in random_controllers(seed=27):
        look_randomly(controller, gen)
        inp, dt = random_input(gen), uniform(gen, 0.0, 0.5, 1).item()
        start = controller.position
        controller.step(FlyInput(inp.forward, inp.right, inp.up, sprint=False), dt)
        walk = controller.position - start
        start = controller.position
        controller.step(FlyInput(inp.forward, inp.right, inp.up, sprint=True), dt)
        sprint = controller.position - start
        assert_close(sprint, controller.sprint_factor * walk, atol=1e-12, rtol=0)


def test_set_pose_round_trip():
    gen = make_generator(28)
    controllers = random_controllers(seed=28)
    for controller, other in zip(controllers, controllers[1:] + controllers[:1]):
        look_randomly(controller, gen)
        controller.step(random_input(gen), uniform(gen, 0.0, 1.0, 1).item())
        pose = controller.pose
        controller.set_pose(pose)
        assert_close(controller.pose, pose, atol=1e-12, rtol=0)
        # a controller with the same up reproduces any roll-free pose in its own frame
        same_up = FlyController(other.pose, up=controller.up)
        same_up.set_pose(pose)
        assert_close(same_up.pose, pose, atol=1e-9, rtol=0)


def test_pose_is_always_a_rotation():
    gen = make_generator(29)
    template = Camera.from_fov(60.0, 32, 24)
    for controller in random_controllers(seed=29, n=64):
        for _ in range(10):
            look_randomly(controller, gen)
            controller.step(random_input(gen), uniform(gen, 0.0, 0.1, 1).item())
            controller.wheel(uniform(gen, -3.0, 3.0, 1).item())
            pose = controller.pose
            assert_rotation(pose[:3, :3], atol=1e-12)
            assert controller.camera(template).pose.equal(pose)


def test_straight_up_or_down_initial_pose_uses_camera_y():
    """A view along up or against it has no ground projection; the image y axis is used."""
    gen = make_generator(30)
    signs = torch.randint(0, 2, (N,), generator=gen).mul(2).sub(1).tolist()
    for up, look_up in zip(random_unit_vectors(gen, N), signs):
        helper = up.roll(1)  # any vector not parallel to up
        pose = look_at((0.0, 0.0, 0.0), look_up * up, helper)
        controller = FlyController(pose, up=up)
        assert abs(controller.f0.dot(up).item()) < 1e-12
        assert controller.pitch == pytest.approx(look_up * controller.pitch_limit)
        # leaving the pole, the view tilts toward where the image's bottom edge (looking up)
        # or top edge (looking down) pointed: along +y or -y of the initial camera
        tilt = controller.forward - look_up * up
        assert tilt.dot(look_up * pose[:3, 1]).item() > 0
        assert_rotation(controller.pose[:3, :3], atol=1e-12)


def test_wheel_scales_speed_within_bounds():
    controller = FlyController(torch.eye(4), speed=2.0)
    controller.wheel(1)
    assert controller.speed == pytest.approx(2.5)
    controller.wheel(-2)
    assert controller.speed == pytest.approx(2.0 / 1.25)
    controller.wheel(1e9)
    assert controller.speed == 1e3
    controller.wheel(-1e9)
    assert controller.speed == 1e-3


# --------------------------------------------------------------------------------------------
# Bad input


def pose_with(entries: dict[tuple[int, int], float]) -> torch.Tensor:
    """The identity pose with some (row, col) entries replaced."""
    pose = torch.eye(4, dtype=torch.float64)
    for index, value in entries.items():
        pose[index] = value
    return pose


@pytest.mark.parametrize(
    ("pose", "match"),
    [
        (pose_with({(0, 0): 2.0, (1, 1): 2.0, (2, 2): 2.0}), "orthonormal"),
        (pose_with({(0, 1): 0.3}), "orthonormal"),
        (pose_with({(0, 0): -1.0}), "det"),
        (pose_with({(1, 2): float("nan")}), "finite"),
        (pose_with({(0, 3): float("inf")}), "finite"),
        (pose_with({(3, 0): 1.0}), "bottom row"),
        (torch.eye(3), r"shape \(4, 4\)"),
        (torch.eye(4)[:3], r"shape \(4, 4\)"),
    ],
)
def test_bad_pose_is_refused(pose, match):
    with pytest.raises(ValueError, match=match):
        Camera(1.0, 1.0, 0.5, 0.5, 1, 1, pose)
    with pytest.raises(ValueError, match=match):
        FlyController(pose)
    with pytest.raises(ValueError, match=match):
        FlyController(torch.eye(4)).set_pose(pose)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"fx": -1.0}, "fx must be > 0"),
        ({"fy": 0.0}, "fy must be > 0"),
        ({"fx": float("nan")}, "fx must be a finite number"),
        ({"cx": float("inf")}, "cx must be a finite number"),
        ({"width": 0}, "width must be a positive integer"),
        ({"height": 2.5}, "height must be a positive integer"),
    ],
)
def test_bad_intrinsics_are_refused(changes, match):
    fields = {"fx": 100.0, "fy": 100.0, "cx": 32.0, "cy": 24.0, "width": 64, "height": 48}
    with pytest.raises(ValueError, match=match):
        Camera(**(fields | changes))


def test_bad_shapes_and_dtypes_are_refused():
    camera = Camera.from_fov(60.0, 64, 48)
    with pytest.raises(ValueError, match=r"points must have shape \(\.\.\., 3\)"):
        camera.project(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="floating dtype"):
        camera.project(torch.zeros(5, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"uv must have shape \(\.\.\., 2\)"):
        camera.unproject(torch.zeros(5, 3), torch.ones(5))
    with pytest.raises(ValueError, match=r"depth must have shape uv.shape\[:-1\] = \(5,\)"):
        camera.unproject(torch.zeros(5, 2), torch.ones(5, 1))
    with pytest.raises(ValueError, match="missing \\['pose'\\]"):
        Camera.from_dict({k: v for k, v in camera.to_dict().items() if k != "pose"})
    with pytest.raises(ValueError, match="fov_y_deg must be in"):
        Camera.from_fov(180.0, 64, 48)
    with pytest.raises(ValueError, match=r"eye must have shape \(3,\)"):
        look_at((0.0, 0.0), (1.0, 0.0, 0.0))


def test_degenerate_look_at_and_rotation_are_refused():
    with pytest.raises(ValueError, match="eye != target"):
        look_at((1.0, 2.0, 3.0), (1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="parallel to up"):
        look_at((0.0, 0.0, 0.0), (0.0, -5.0, 0.0))
    with pytest.raises(ValueError, match="axis must be a non-zero vector"):
        rotation_about((0.0, 0.0, 0.0), 1.0)


@pytest.mark.parametrize("dt", [-0.01, float("nan"), float("inf")])
def test_bad_dt_is_refused(dt):
    controller = FlyController(torch.eye(4))
    with pytest.raises(ValueError, match="dt must be finite and >= 0"):
        controller.step(FlyInput(forward=1.0), dt)
    assert_close(controller.pose, torch.eye(4, dtype=torch.float64))


def test_bad_controller_input_is_refused():
    controller = FlyController(torch.eye(4))
    with pytest.raises(ValueError, match="FlyInput.right must be a number"):
        controller.step(FlyInput(right=float("nan")), 0.1)
    with pytest.raises(ValueError, match="dx must be a finite number"):
        controller.look(float("inf"), 0.0)
    with pytest.raises(ValueError, match="pitch_limit_deg must be in"):
        FlyController(torch.eye(4), pitch_limit_deg=95.0)
    with pytest.raises(ValueError, match="up must be a non-zero vector"):
        FlyController(torch.eye(4), up=(0.0, 0.0, 0.0))


def random_pose(g):
    axis = torch.randn(3, generator=g, dtype=torch.float64)
    angle = float(torch.rand(1, generator=g)) * 3.0
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, :3] = rotation_about(axis, angle)
    pose[:3, 3] = torch.randn(3, generator=g, dtype=torch.float64)
    return pose


def test_rotation_log_inverts_rotation_about():
    g = torch.Generator().manual_seed(11)
    for _ in range(50):
        axis = torch.randn(3, generator=g, dtype=torch.float64)
        angle = float(torch.rand(1, generator=g)) * math.pi
        w = rotation_log(rotation_about(axis, angle))
        torch.testing.assert_close(rotation_about(w, float(w.norm())), rotation_about(axis, angle))
    assert float(rotation_log(torch.eye(3, dtype=torch.float64)).norm()) == 0.0
    half = rotation_about((0.0, 1.0, 0.0), math.pi)
    assert float(rotation_log(half).norm()) == pytest.approx(math.pi)


def test_interpolate_pose_ends_midpoint_and_constant_speed():
    g = torch.Generator().manual_seed(12)
    for _ in range(20):
        a, b = random_pose(g), random_pose(g)
        torch.testing.assert_close(interpolate_pose(a, b, 0.0), a)
        torch.testing.assert_close(interpolate_pose(a, b, 1.0), b)
        mid = interpolate_pose(a, b, 0.5)
        as_pose(mid)  # a valid pose
        # the midpoint rotation is equally far (in angle) from both ends
        da = float(rotation_log(a[:3, :3].T @ mid[:3, :3]).norm())
        db = float(rotation_log(mid[:3, :3].T @ b[:3, :3]).norm())
        assert da == pytest.approx(db, abs=1e-9)
        # extrapolating one more step repeats the same relative motion
        two = interpolate_pose(a, b, 2.0)
        torch.testing.assert_close(a[:3, :3].T @ b[:3, :3], b[:3, :3].T @ two[:3, :3])
        torch.testing.assert_close(two[:3, 3] - b[:3, 3], b[:3, 3] - a[:3, 3])


def test_face_turns_toward_a_point_and_keeps_the_pitch():
    gen = make_generator(21)
    for c in random_controllers(21, 64):
        target = c.position + random_poses(gen, 1)[0, :3, 3]
        pitch = c.pitch
        c.face(target)
        # the heading now points at the target's projection on the ground plane
        d = target - c.position
        h = d - d.dot(c.up) * c.up
        assert float(torch.linalg.cross(c.ground_forward, h / h.norm()).norm()) < 1e-9
        assert float(c.ground_forward.dot(h)) > 0 and c.pitch == pitch
        before = c.yaw
        c.face(c.position + 2.0 * c.up)  # straight above: no heading to take
        assert c.yaw == before


def test_capture_poses_are_reorthonormalised_with_a_note():
    """Rotations written as text by capture pipelines are orthonormal to only ~1e-4..1e-3:
    they are taken, replaced by the nearest rotation, and said; a scaled one is still refused."""
    gen = torch.Generator().manual_seed(3)
    for scale in (3e-4, 1e-3, 2e-3):
        axis = torch.randn(3, generator=gen, dtype=torch.float64)
        pose = torch.eye(4, dtype=torch.float64)
        pose[:3, :3] = rotation_about(axis, 0.7)
        pose[:3, 3] = torch.randn(3, generator=gen, dtype=torch.float64)
        noisy = pose.clone()
        noisy[:3, :3] += scale * torch.randn(3, 3, generator=gen, dtype=torch.float64)
        notes: list[str] = []
        fixed = as_pose(noisy, notes)
        rot = fixed[:3, :3]
        assert (rot.T @ rot - torch.eye(3, dtype=torch.float64)).abs().max() < 1e-12
        assert torch.linalg.det(rot) == pytest.approx(1.0, abs=1e-12)
        assert (fixed - pose).abs().max() < 10 * scale  # the nearest rotation, not another
        assert torch.equal(fixed[:3, 3], noisy[:3, 3])
        assert len(notes) == 1 and "nearest rotation" in notes[0]
        Camera(1.0, 1.0, 0.5, 0.5, 1, 1, noisy)  # a camera takes it too
    exact: list[str] = []
    assert torch.equal(as_pose(torch.eye(4), exact), torch.eye(4, dtype=torch.float64))
    assert exact == []  # an exact pose is taken as it is, bit for bit
    with pytest.raises(ValueError, match="scaled or sheared"):
        as_pose(pose_with({(0, 0): 1.05, (1, 1): 1.05, (2, 2): 1.05}))
