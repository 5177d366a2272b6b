"""Camera paths: through every keyframe, C1 at a loop's wrap, the short way round, formats
that round-trip (own JSON and nerfstudio's), nerfstudio's own files load, recordings become
few keyframes within tolerance, bad input refused by name."""

import json
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from engine.camera import look_at, rotation_about
from engine.path import (
    FLIP_YZ,
    CameraPath,
    Keyframe,
    RenderSettings,
    from_dict,
    load_path,
    save_path,
    to_dict,
)


def random_keys(rng, n, spread=3.0):
    times = np.cumsum(rng.uniform(0.3, 2.0, n))
    keys = []
    for t in times:
        pose = np.eye(4)
        pose[:3, :3] = Rotation.random(random_state=rng).as_matrix()
        pose[:3, 3] = rng.normal(0, spread, 3)
        keys.append(Keyframe(pose, rng.uniform(30, 90), t))
    return keys


def pose_error(a, b) -> float:
    rot = float(np.abs(a[:3, :3] - b[:3, :3]).max())
    return max(rot, float(np.abs(a[:3, 3] - b[:3, 3]).max()))


@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("tension", [0.0, 0.4, 1.0])
def test_the_path_passes_through_every_keyframe(loop, tension):
    rng = np.random.default_rng(7)
    for _ in range(5):
        path = CameraPath(random_keys(rng, 6), tension=tension, loop=loop)
        times = [k.time - path.start for k in path.keyframes]
        poses, fovs = path.poses(times)
        for k, p, f in zip(path.keyframes, poses, fovs):
            assert pose_error(p, k.pose) <= 1e-6 and abs(f - k.fov) <= 1e-6
        for p in path.poses(np.linspace(0, path.duration, 50))[0]:  # rigid in between
            assert np.allclose(p[:3, :3].T @ p[:3, :3], np.eye(3), atol=1e-9)


def velocity_and_rate(path, t, h, side):
    """One-sided derivative of position (units/s) and angular rate (rad/s, world frame)."""
    (a, b), _ = path.poses([t, t + side * h])
    v = (b[:3, 3] - a[:3, 3]) / (side * h)
    w = Rotation.from_matrix(b[:3, :3] @ a[:3, :3].T).as_rotvec() / (side * h)
    return v, w


def test_a_looped_path_is_c1_at_the_wrap():
    rng = np.random.default_rng(3)
    for _ in range(5):
        path = CameraPath(random_keys(rng, 5, spread=2.0), loop=True, period=None)
        d, h = path.duration, 1e-5
        v_end, w_end = velocity_and_rate(path, d - 1e-12, h, -1)
        v_start, w_start = velocity_and_rate(path, 0.0, h, +1)
        # a kink would differ at first order; the difference here is O(h)
        assert np.linalg.norm(v_end - v_start) <= 1e-3 * (1 + np.linalg.norm(v_start))
        assert np.linalg.norm(w_end - w_start) <= 1e-3 * (1 + np.linalg.norm(w_start))
        # and the position itself closes
        (first, last), _ = path.poses([0.0, d - 1e-9])
        assert pose_error(first, last) <= 1e-6


def test_an_open_path_is_c1_at_its_keyframes():
    rng = np.random.default_rng(5)
    path = CameraPath(random_keys(rng, 5), tension=0.2)
    for k in path.keyframes[1:-1]:
        t = k.time - path.start
        v0, w0 = velocity_and_rate(path, t, 1e-5, -1)
        v1, w1 = velocity_and_rate(path, t, 1e-5, +1)
        assert np.linalg.norm(v0 - v1) <= 1e-3 * (1 + np.linalg.norm(v1))
        assert np.linalg.norm(w0 - w1) <= 1e-3 * (1 + np.linalg.norm(w1))


@pytest.mark.parametrize("degrees", [170.0, -170.0, 179.0, 90.0])
def test_orientation_turns_the_short_way(degrees):
    start = np.eye(4)
    end = np.eye(4)
    end[:3, :3] = rotation_about((0.0, 1.0, 0.0), math.radians(degrees)).numpy()
    path = CameraPath([Keyframe(start, 60, 0.0), Keyframe(end, 60, 1.0)])
    poses, _ = path.poses(np.linspace(0, 1, 101))
    angles = [
        Rotation.from_matrix(p[:3, :3]).as_rotvec() @ np.array([0.0, 1.0, 0.0]) for p in poses
    ]
    steps = np.diff(angles)
    assert (np.sign(steps) == np.sign(degrees)).all()  # monotone toward the end, short way
    assert abs(abs(angles[-1]) - abs(math.radians(degrees))) < 1e-9


def test_easing_and_constant_speed():
    keys = [
        Keyframe(np.eye(4), 60, 0.0),
        Keyframe(look_at((1.0, 0.0, 0.0), (1.0, 0.0, 5.0)).numpy(), 60, 1.0),
        Keyframe(look_at((5.0, 0.0, 0.0), (5.0, 0.0, 5.0)).numpy(), 60, 2.0),
    ]
    eased = CameraPath(keys, easing="ease-in-out")
    times = np.linspace(0, 2, 201)
    x = eased.poses(times)[0][:, 0, 3]
    speed = np.abs(np.diff(x))
    assert speed[0] < 0.05 * speed.max() and speed[-1] < 0.05 * speed.max()
    steady = CameraPath(keys, constant_speed=True)
    x = steady.poses(times)[0][:, 0, 3]
    speed = np.abs(np.diff(x))
    assert speed.max() <= 1.02 * speed.min()  # a straight line at constant speed
    assert abs(x[-1] - 5.0) < 1e-9


def test_sample_gives_cameras_at_the_frame_rate():
    rng = np.random.default_rng(1)
    path = CameraPath(random_keys(rng, 3), render=RenderSettings(64, 48, 10.0))
    cams = path.sample()
    assert len(cams) == int(math.floor(path.duration * 10 + 1e-9)) + 1
    assert (cams[0].width, cams[0].height) == (64, 48)
    assert abs(cams[0].fov_y_deg - path.keyframes[0].fov) < 1e-9
    looped = CameraPath(path.keyframes, loop=True, period=path.duration + 1.0)
    assert len(looped.sample(fps=4)) == int(looped.duration * 4)  # the end is the start


def test_own_json_round_trips(tmp_path):
    rng = np.random.default_rng(2)
    for loop in (False, True):
        path = CameraPath(
            random_keys(rng, 4), tension=0.3, loop=loop, render=RenderSettings(320, 240, 30.0)
        )
        back = load_path(save_path(path, tmp_path / "p.json"))
        for a, b in zip(path.keyframes, back.keyframes):
            assert pose_error(a.pose, b.pose) <= 1e-6
            assert abs(a.fov - b.fov) <= 1e-6 and abs(a.time - b.time) <= 1e-6
        assert (back.tension, back.loop, back.period, back.render) == (
            path.tension,
            path.loop,
            path.period,
            path.render,
        )


def test_nerfstudio_json_round_trips(tmp_path):
    rng = np.random.default_rng(4)
    for loop in (False, True):
        path = CameraPath(random_keys(rng, 5), loop=loop, render=RenderSettings(640, 360, 24.0))
        file = save_path(path, tmp_path / "camera_path.json", fmt="nerfstudio")
        data = json.loads(file.read_text())
        assert len(data["camera_path"]) == len(path.frame_times())
        back = load_path(file)
        for a, b in zip(path.keyframes, back.keyframes):
            assert pose_error(a.pose, b.pose) <= 1e-6
            assert abs(a.fov - b.fov) <= 1e-6
            assert abs((a.time - path.start) - b.time) <= 1e-6
        assert back.loop == loop and abs(back.duration - path.duration) <= 1e-6
        # the dense frames are the same cameras, in OpenGL axes
        poses, _ = path.poses(path.frame_times())
        first = np.array(data["camera_path"][0]["camera_to_world"]).reshape(4, 4)
        assert pose_error(first @ FLIP_YZ, poses[0]) <= 1e-9


def nerfstudio_file(matrix_rows, legacy=False):
    """A camera path as nerfstudio's viewer writes it (OpenGL camera axes)."""

    def encode(m):
        m = np.asarray(m, np.float64)
        if legacy:  # the three.js viewer: column-major elements as a JSON string
            return json.dumps(m.T.reshape(-1).tolist())
        return m.reshape(-1).tolist()

    return {
        "keyframes": [
            {
                "matrix": encode(m),
                "fov": 50.0,
                "aspect": 1.5,
                "override_transition_enabled": False,
                "override_transition_sec": None,
            }
            for m in matrix_rows
        ],
        "camera_type": "perspective",
        "render_height": 480,
        "render_width": 720,
        "camera_path": [
            {"camera_to_world": encode(m), "fov": 50.0, "aspect": 1.5} for m in matrix_rows
        ],
        "fps": 24,
        "seconds": 4,
        "smoothness_value": 0.5,
        "is_cycle": False,
        "crop": None,
    }


@pytest.mark.parametrize("legacy", [False, True])
def test_a_nerfstudio_camera_path_loads(legacy):
    gl = np.eye(4)  # OpenGL: looking along -z, y up
    moved = np.eye(4)
    moved[:3, 3] = (1.0, 2.0, 3.0)
    path = from_dict(nerfstudio_file([gl, moved], legacy=legacy))
    k0, k1 = path.keyframes
    np.testing.assert_allclose(k0.pose[:3, 2], [0.0, 0.0, -1.0])  # OpenCV forward = -z_gl
    np.testing.assert_allclose(k0.pose[:3, 1], [0.0, -1.0, 0.0])  # OpenCV down = -y_gl
    np.testing.assert_allclose(k1.pose[:3, 3], [1.0, 2.0, 3.0])
    assert (k0.time, k1.time) == (0.0, 4.0)  # the seconds over the one transition
    assert path.tension == 0.5 and (path.render.width, path.render.height) == (720, 480)
    assert k0.fov == 50.0


def test_a_recording_becomes_few_keyframes_within_tolerance():
    truth = CameraPath(
        [
            Keyframe(np.eye(4), 60, 0.0),
            Keyframe(look_at((2.0, 0.0, 1.0), (4.0, 0.0, 6.0)).numpy(), 60, 2.0),
            Keyframe(look_at((3.0, -0.5, 4.0), (0.0, 0.0, 8.0)).numpy(), 60, 4.0),
        ]
    )
    times = np.arange(0, 4.0 + 1e-9, 1 / 60)  # display rate
    recorded, _ = truth.poses(times)
    path = CameraPath.from_recording(times, recorded, tolerance=0.01, angle_tolerance_deg=0.5)
    assert len(path.keyframes) < len(times) / 10
    got, _ = path.poses(times)
    assert np.linalg.norm(got[:, :3, 3] - recorded[:, :3, 3], axis=1).max() <= 0.01
    rel = np.einsum("nji,njk->nik", got[:, :3, :3], recorded[:, :3, :3])
    angle = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert angle.max() <= 0.5
    # a camera that never moved is one keyframe's worth
    still = CameraPath.from_recording([0.0, 0.5, 1.0], [np.eye(4)] * 3)
    assert len(still.keyframes) == 2


def test_bad_paths_are_refused_by_name(tmp_path):
    key = Keyframe(np.eye(4), 60, 0.0)
    for few in ([], [key]):
        with pytest.raises(ValueError, match="at least two keyframes"):
            CameraPath(few)
    with pytest.raises(ValueError, match="one instant"):
        CameraPath.from_recording([1.0, 1.0], [np.eye(4)] * 2)
    with pytest.raises(ValueError, match="times must differ"):
        CameraPath([key, Keyframe(np.eye(4), 60, 0.0)])
    with pytest.raises(ValueError, match="tension"):
        CameraPath([key, Keyframe(np.eye(4), 60, 1.0)], tension=2.0)
    with pytest.raises(ValueError, match="looped path has no start"):
        CameraPath([key, Keyframe(np.eye(4), 60, 1.0)], loop=True, easing="ease-in-out")
    with pytest.raises(ValueError, match="fov"):
        Keyframe(np.eye(4), 200.0, 0.0)
    with pytest.raises(ValueError, match="pose"):
        Keyframe(np.full((4, 4), np.nan), 60, 0.0)
    with pytest.raises(ValueError, match="orthonormal"):  # a scaled camera
        Keyframe(np.diag([2.0, 1.0, 1.0, 1.0]), 60, 0.0)
    with pytest.raises(ValueError, match="det"):  # a mirrored one
        Keyframe(np.diag([-1.0, 1.0, 1.0, 1.0]), 60, 0.0)
    bad = tmp_path / "bad.json"
    bad.write_text("{ nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_path(bad)
    bad.write_text(json.dumps({"segments": []}))
    with pytest.raises(ValueError, match="not a camera path"):
        load_path(bad)
    newer = to_dict(CameraPath([key, Keyframe(np.eye(4), 60, 1.0)])) | {"version": 2}
    bad.write_text(json.dumps(newer))
    with pytest.raises(ValueError, match="version 2; reads 1"):
        load_path(bad)
    sheared = np.eye(4)
    sheared[0, 1] = 0.5
    nerfstudio = {"keyframes": [{"matrix": m.reshape(-1).tolist()} for m in (np.eye(4), sheared)]}
    bad.write_text(json.dumps(nerfstudio))
    with pytest.raises(ValueError, match="orthonormal"):
        load_path(bad)
    bad.write_text(json.dumps({"keyframes": [{"fov": 50}]}))
    with pytest.raises(ValueError, match="nerfstudio"):
        load_path(bad)
