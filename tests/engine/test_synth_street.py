"""engine.synth: the street scene (sky, ground, buildings, moving cars) and scene_by_name."""

import math

import pytest
import torch

from engine.camera import Camera, look_at
from engine.synth import (
    GROUND_Y,
    SCENE_NAMES,
    Box,
    RoomScene,
    StreetScene,
    SynthView,
    room_scene,
    scene_by_name,
    street_scene,
)

FOV = 60.0


@pytest.fixture(scope="module")
def scene() -> StreetScene:
    return street_scene(seed=0)


def poses() -> list[torch.Tensor]:
    """Along the street, up at the sky, down at the road, back, and into a side street."""
    return [
        torch.eye(4, dtype=torch.float64),
        look_at((0.5, -0.5, 2.0), (8.0, -12.0, 20.0)),
        look_at((-0.5, 0.0, 5.0), (0.0, GROUND_Y, 12.0)),
        look_at((0.3, -1.0, 30.0), (2.0, -4.0, -10.0)),
        look_at((0.0, 0.2, 60.0), (30.0, -1.0, 64.0)),
    ]


def on_box_face(point: list[float], boxes, tol: float) -> bool:
    """Whether the point lies on a face of one of the boxes."""
    for box in boxes:
        if not box.contains(point, margin=tol):
            continue
        if any(min(abs(point[k] - box.lo[k]), abs(point[k] - box.hi[k])) <= tol for k in range(3)):
            return True
    return False


def on_ground(point: list[float], scene: StreetScene, tol: float) -> bool:
    x_lo, x_hi, z_lo, z_hi = scene.extent
    inside = x_lo - tol <= point[0] <= x_hi + tol and z_lo - tol <= point[2] <= z_hi + tol
    return inside and abs(point[1] - GROUND_Y) <= tol


def seen_points(camera: Camera, view: SynthView, rows, cols) -> torch.Tensor:
    """(N,3) world points seen at the pixels [rows, cols] (finite depth only)."""
    uv = camera.pixel_grid(torch.float64)[rows, cols]
    return camera.unproject(uv, view.depth[rows, cols].double())


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_views_and_seeds_differ():
    camera = Camera.from_fov(FOV, 64, 48)
    a, b = street_scene(3).render(camera, 1.5), street_scene(3).render(camera, 1.5)
    for name in ("rgb", "depth", "sky", "dynamic"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert street_scene(3).solids == street_scene(3).solids
    assert street_scene(0).solids != street_scene(1).solids
    assert not torch.equal(street_scene(0).render(camera).rgb, street_scene(1).render(camera).rgb)


def test_render_shapes_dtypes_and_ranges(scene):
    view = scene.render(Camera.from_fov(FOV, 128, 96), time=0.0)
    assert view.rgb.shape == (3, 96, 128) and view.rgb.dtype == torch.float32
    assert view.depth.shape == (96, 128) and view.depth.dtype == torch.float32
    assert view.sky.dtype == view.dynamic.dtype == torch.bool
    assert 0.0 <= float(view.rgb.min()) and float(view.rgb.max()) <= 1.0
    assert view.sky.any() and view.dynamic.any()  # sky above the street, a car ahead
    assert not (view.sky & view.dynamic).any()


# --------------------------------------------------------------------------- sky and depth


def test_sky_exactly_where_depth_is_infinite(scene):
    for i, pose in enumerate(poses()):
        view = scene.render(Camera.from_fov(FOV, 64, 48, pose), time=0.3 * i)
        assert torch.equal(view.sky, torch.isinf(view.depth))
        assert torch.isinf(view.depth[view.sky]).all() and (view.depth[view.sky] > 0).all()
        finite = view.depth[~view.sky]
        assert torch.isfinite(finite).all() and float(finite.min()) > 0.0


def test_sky_is_above_and_ground_below(scene):
    up = scene.render(Camera.from_fov(FOV, 32, 24, look_at((0, 0, 0), (0.0, -10.0, 1.0))))
    down = scene.render(Camera.from_fov(FOV, 32, 24, look_at((0, 0, 0), (0.0, 10.0, 1.0))))
    assert float(up.sky.float().mean()) > 0.5 and up.sky[8:16, 12:20].all()
    assert not down.sky.any() and torch.isfinite(down.depth).all()


def test_sky_colour_depends_on_direction_only(scene):
    """The same direction seen from two places has the same sky colour."""
    pose_b = torch.eye(4, dtype=torch.float64)
    pose_b[:3, 3] = torch.tensor([0.4, -0.6, 20.0], dtype=torch.float64)
    camera_a = Camera.from_fov(FOV, 32, 24, look_at((0, 0, 0), (0.0, -10.0, 1.0)))
    camera_b = camera_a.with_pose(torch.cat((camera_a.pose[:, :3], pose_b[:, 3:]), dim=1))
    a, b = scene.render(camera_a), scene.render(camera_b)
    both = a.sky & b.sky
    assert float(both.float().mean()) > 0.5
    assert torch.allclose(a.rgb[:, both], b.rgb[:, both], atol=1e-5)


def test_unprojected_depth_lies_on_a_surface(scene):
    rows, cols = torch.meshgrid(torch.arange(1, 48, 5), torch.arange(2, 64, 6), indexing="ij")
    for i, pose in enumerate(poses()):
        time = 0.7 * i
        camera = Camera.from_fov(FOV, 64, 48, pose)
        view = scene.render(camera, time)
        keep = ~view.sky[rows, cols]
        points = seen_points(camera, view, rows[keep], cols[keep])
        movers = tuple(box for mover in scene.movers for box in mover.boxes(time))
        for point in points.tolist():
            tol = 1e-5 * max(1.0, abs(point[2] - float(pose[2, 3])))  # float32 depth
            on_static = on_box_face(point, scene.solids, tol) or on_ground(point, scene, tol)
            assert on_static or on_box_face(point, movers, tol), point


def blocked(scene: StreetScene, points: torch.Tensor, time: float) -> torch.Tensor:
    """(N,) bool: strictly inside a box (static or moving at `time`), or on / under the
    ground within the extent. points (N,3)."""
    boxes = scene.solids + tuple(box for mover in scene.movers for box in mover.boxes(time))
    lo = torch.tensor([box.lo for box in boxes], dtype=torch.float64)  # (K,3)
    hi = torch.tensor([box.hi for box in boxes], dtype=torch.float64)
    inside = ((points[:, None] > lo) & (points[:, None] < hi)).all(dim=2).any(dim=1)
    x_lo, x_hi, z_lo, z_hi = scene.extent
    x, y, z = points.unbind(1)
    ground = (y >= GROUND_Y) & (x >= x_lo) & (x <= x_hi) & (z >= z_lo) & (z <= z_hi)
    return inside | ground


def test_depth_matches_slow_ray_marcher(scene):
    """Slow twin: step along every ray until it leaves free space (inf if it never does).

    A ray with a finite depth is marched a little past it (that is enough to see both that
    nothing nearer was missed and that something is there); a sky ray up to t_max."""
    dt, t_max, time = 0.01, 140.0, 0.7
    steps = torch.arange(1, int(t_max / dt) + 1, dtype=torch.float64) * dt  # (S,)
    for pose in (poses()[0], poses()[1], poses()[3]):
        camera = Camera.from_fov(FOV, 12, 9, pose)
        fast = scene.render(camera, time).depth.double().flatten()
        dirs = camera.ray_directions(torch.float64).reshape(-1, 3)
        for d, depth in zip(dirs, fast.tolist()):
            ts = steps if math.isinf(depth) else steps[steps <= depth + 2 * dt]
            hit = blocked(scene, camera.position + ts[:, None] * d, time).nonzero()
            slow = math.inf if hit.numel() == 0 else float(ts[hit[0, 0]])
            if math.isinf(depth):
                assert math.isinf(slow), (d, slow)
            else:  # the true depth lies in (slow - dt, slow]
                assert slow - dt - 1e-4 <= depth <= slow + 1e-4, (d.tolist(), depth, slow)


# --------------------------------------------------------------------------- moving cars


def test_cars_move_with_time_and_the_mask_follows(scene):
    camera = Camera.from_fov(FOV, 96, 72)
    before, after = scene.render(camera, 0.0), scene.render(camera, 1.0)
    assert before.dynamic.any() and after.dynamic.any()
    assert not torch.equal(before.dynamic, after.dynamic)
    # Where neither view sees a car, nothing changed: only the cars move.
    still = ~(before.dynamic | after.dynamic)
    assert torch.equal(before.depth[still], after.depth[still])
    assert torch.equal(before.rgb[:, still], after.rgb[:, still])
    # The dynamic pixels see the cars' boxes where they are at that time, the others do not.
    rows, cols = torch.meshgrid(torch.arange(72), torch.arange(96), indexing="ij")
    for time, view in ((0.0, before), (1.0, after)):
        cars = tuple(box for mover in scene.movers for box in mover.boxes(time))
        keep = ~view.sky
        points = seen_points(camera, view, rows[keep], cols[keep]).tolist()
        for point, dynamic in zip(points, view.dynamic[keep].tolist()):
            assert on_box_face(point, cars, 1e-3) == dynamic, (time, point, dynamic)


def test_a_car_looks_the_same_from_a_camera_that_moves_with_it(scene):
    """The car's texture travels with it: follow it and its pixels do not change."""
    car = scene.movers[0]
    shift = [b - a for a, b in zip(car.offset(0.0), car.offset(1.0))]
    assert shift[0] == shift[1] == 0.0 and shift[2] == pytest.approx(car.speed)
    camera = Camera.from_fov(FOV, 96, 72)
    follow = torch.eye(4, dtype=torch.float64)
    follow[:3, 3] = torch.tensor(shift, dtype=torch.float64)
    a = scene.render(camera, 0.0)
    b = scene.render(camera.with_pose(follow), 1.0)
    first_car = torch.zeros_like(a.dynamic)
    rows, cols = a.dynamic.nonzero().unbind(1)
    points = seen_points(camera, a, rows, cols).tolist()
    for i, j, point in zip(rows.tolist(), cols.tolist(), points):
        first_car[i, j] = on_box_face(point, car.boxes(0.0), 1e-3)
    assert int(first_car.sum()) > 50
    assert b.dynamic[first_car].all()
    assert torch.allclose(a.depth[first_car], b.depth[first_car], atol=1e-4)
    assert torch.allclose(a.rgb[:, first_car], b.rgb[:, first_car], atol=1e-4)


def test_mover_wraps_around_within_its_range(scene):
    for mover in scene.movers:
        z_lo, z_hi = mover.wrap
        for time in (-100.0, 0.0, 3.3, 1e4):
            assert z_lo <= mover.offset(time)[2] < z_hi
        period = (z_hi - z_lo) / abs(mover.speed)
        assert mover.offset(2.0 + period)[2] == pytest.approx(mover.offset(2.0)[2], abs=1e-6)
    with pytest.raises(ValueError, match="time"):
        scene.render(Camera.from_fov(FOV, 8, 6), time=math.nan)


def test_cars_stay_in_their_lanes_clear_of_the_centre_line(scene):
    for mover in scene.movers:
        for time in torch.linspace(0.0, 30.0, 31).tolist():
            for box in mover.boxes(time):
                assert min(abs(box.lo[0]), abs(box.hi[0])) >= 0.8 - 1e-9
                assert box.hi[1] == pytest.approx(GROUND_Y) or box.hi[1] < GROUND_Y


# --------------------------------------------------------------------------- camera and paths


def test_camera_below_ground_or_inside_a_building_is_refused(scene):
    under = torch.eye(4, dtype=torch.float64)
    under[1, 3] = 2.0
    with pytest.raises(ValueError, match="not above the ground"):
        scene.render(Camera.from_fov(FOV, 8, 6, under))
    building: Box = scene.solids[0]
    inside = torch.eye(4, dtype=torch.float64)
    inside[:3, 3] = torch.tensor([(a + b) / 2 for a, b in zip(building.lo, building.hi)])
    with pytest.raises(ValueError, match="inside a building"):
        scene.render(Camera.from_fov(FOV, 8, 6, inside))


@pytest.mark.parametrize("kind", ["forward", "loop", "orbit"])
def test_sample_path_poses_are_valid_and_clear(scene, kind):
    poses_ = scene.sample_path(kind, 9)
    assert len(poses_) == 9
    for pose, again in zip(poses_, scene.sample_path(kind, 9)):
        assert pose.dtype == torch.float64 and torch.equal(pose, again)
        assert scene.clearance(pose[:3, 3]) >= 0.5
    with pytest.raises(ValueError, match="passes within"):
        scene.sample_path("forward", 10, start=(5.3, 0.0, 0.0), distance=100.0)


# --------------------------------------------------------------------------- by name


def test_scene_by_name():
    assert set(SCENE_NAMES) >= {"room", "room-2", "street"}
    assert isinstance(scene_by_name("street"), StreetScene)
    room, room_2 = scene_by_name("room"), scene_by_name("room-2")
    assert isinstance(room, RoomScene) and isinstance(room_2, RoomScene)
    assert room.solids == room_scene(0).solids and room_2.solids != room.solids
    with pytest.raises(ValueError, match="room-2"):
        scene_by_name("garden")


def test_room_render_accepts_time_and_nothing_moves():
    room, camera = room_scene(0), Camera.from_fov(FOV, 32, 24)
    a, b = room.render(camera), room.render(camera, time=5.0)
    assert torch.equal(a.rgb, b.rgb) and torch.equal(a.depth, b.depth)
    assert not b.dynamic.any() and not b.sky.any()


# --------------------------------------------------------------------------- weather


def test_weathers_change_the_light_and_sky_but_not_the_geometry():
    from engine.synth import WEATHERS

    camera = Camera.from_fov(FOV, 64, 48)
    clear = street_scene(3).render(camera)
    assert torch.equal(street_scene(3, weather="clear").render(camera).rgb, clear.rgb)
    views = {name: street_scene(3, weather=name).render(camera) for name in WEATHERS}
    for name, view in views.items():
        assert torch.equal(view.depth, clear.depth) and torch.equal(view.sky, clear.sky), name
        assert 0.0 <= float(view.rgb.min()) and float(view.rgb.max()) <= 1.0
    sky, ground = clear.sky, ~clear.sky
    luma = {name: v.rgb.mean(0) for name, v in views.items()}
    # dusk: darker everywhere, a sky bluer than it is red
    assert float(luma["dusk"][ground].mean()) < 0.5 * float(luma["clear"][ground].mean())
    dusk_sky = views["dusk"].rgb[:, sky]
    assert float((dusk_sky[2] - dusk_sky[0]).mean()) > 0.1
    # overcast and fog: a grey sky (channels within 0.05 of each other)
    for name in ("overcast", "fog"):
        grey = views[name].rgb[:, sky]
        assert float((grey.amax(0) - grey.amin(0)).mean()) < 0.05, name

    # sunset: a warmer sky than a clear one (red over blue)
    def warmth(view):
        return float((view.rgb[0, sky] - view.rgb[2, sky]).mean())

    assert warmth(views["sunset"]) > warmth(clear) + 0.2


def test_fog_fades_far_surfaces_to_the_horizon_colour():
    from engine.synth import WEATHERS

    camera = Camera.from_fov(FOV, 64, 48)
    fog = street_scene(3, weather="fog").render(camera)
    clear = street_scene(3).render(camera)
    horizon = torch.tensor(WEATHERS["fog"].horizon)[:, None]
    seen = ~fog.sky
    far = seen & (fog.depth > torch.quantile(fog.depth[seen], 0.9))
    near = seen & (fog.depth < torch.quantile(fog.depth[seen], 0.1))
    to_horizon = (fog.rgb - horizon[..., None]).abs().mean(0)
    assert float(to_horizon[far].mean()) < 0.5 * float(to_horizon[near].mean())
    # the near surfaces keep more of their own colour than the far ones
    keep = (fog.rgb - clear.rgb).abs().mean(0)
    assert float(keep[near].mean()) < float(keep[far].mean())


def test_unknown_weather_is_refused():
    with pytest.raises(ValueError, match="weather must be one of"):
        street_scene(0, weather="hail")


def test_varied_weathers_stay_in_range_and_render():
    import random

    from engine.synth import WEATHERS, vary

    for name, base in WEATHERS.items():
        a, b = vary(base, random.Random(7)), vary(base, random.Random(7))
        assert a == b and a != base, name
        for c in (a.horizon, a.zenith, a.cloud):
            assert all(0.0 <= v <= 1.0 for v in c)
            assert max(abs(x - y) for x, y in zip(c, base.horizon if c is a.horizon else c)) <= 0.08
        assert 0.0 <= a.cloud_cover <= 1.0
        assert base.visibility / 2 - 1e-9 <= a.visibility <= 2 * base.visibility + 1e-9
    camera = Camera.from_fov(FOV, 32, 24)
    fog = vary(WEATHERS["fog"], random.Random(1))
    view = street_scene(3, weather=fog).render(camera)
    assert torch.equal(view.depth, street_scene(3).render(camera).depth)
    assert not torch.equal(view.rgb, street_scene(3, weather="fog").render(camera).rgb)
