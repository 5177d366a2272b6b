"""nerfstudio camera_path.json as its viewers have written it over their versions: every
variant is written here by the test (row-major, column-major, column-major strings, a 0 in
the homogeneous corner, keyframes only, camera_path frames only, with and without the
optional fields), read back to the poses it was written from, named in one note line, and
rendered through `latentscape render --path`; malformed files refused naming the file and
the problem."""

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from engine import cli
from engine.io import read_video_info
from engine.path import FLIP_YZ, load_path, ns_matrix

TINY = ["width=64", "height=48", "frames_per_segment=2"]


def truth_poses(n: int = 3, seed: int = 5) -> list[np.ndarray]:
    """OpenCV camera-to-world poses, turned and moved a little from the identity."""
    rng = np.random.default_rng(seed)
    poses = []
    for i in range(n):
        pose = np.eye(4)
        pose[:3, :3] = Rotation.from_rotvec(rng.normal(0, 0.15, 3)).as_matrix()
        pose[:3, 3] = (0.1 * i, -0.05 * i, 0.2 * i + 0.01)
        poses.append(pose)
    return poses


def row_major(gl: np.ndarray) -> list[float]:
    return gl.reshape(-1).tolist()


def column_major(gl: np.ndarray) -> list[float]:  # three.js Matrix4.elements
    return gl.T.reshape(-1).tolist()


def column_major_zero_corner(gl: np.ndarray) -> list[float]:
    elements = column_major(gl)
    elements[15] = 0.0
    return elements


def string(encode):
    return lambda gl: json.dumps(encode(gl))


def nested(gl: np.ndarray) -> list[list[float]]:
    return gl.tolist()


def three_by_four(gl: np.ndarray) -> list[float]:
    return gl[:3].reshape(-1).tolist()


def viewer_file(
    poses,
    key_encode=row_major,
    frame_encode=row_major,
    keyframes=True,
    frames=True,
    optional=True,
    legacy_properties=False,
):
    """A camera_path.json as one of nerfstudio's viewers writes it (OpenGL camera axes):
    keyframes every 0.5 s (4 fps: 2 frames a span), the camera_path frames at the fps."""
    gls = [p @ FLIP_YZ for p in poses]
    data: dict = {}
    if keyframes is not None:
        data["keyframes"] = []
        if keyframes:
            for i, gl in enumerate(gls):
                key: dict = {"matrix": key_encode(gl)}
                if optional:
                    key |= {"fov": 50.0 + i, "aspect": 4 / 3}
                    if legacy_properties:
                        props = [["FOV", 50.0 + i], ["NAME", f"Camera {i}"], ["TIME", 0.5 * i]]
                        key["properties"] = json.dumps(props)
                    else:
                        key |= {
                            "override_transition_enabled": False,
                            "override_transition_sec": None,
                        }
                data["keyframes"].append(key)
    if frames is not None:
        data["camera_path"] = []
        if frames:
            data["camera_path"] = [
                {"camera_to_world": frame_encode(gl), "fov": 50.0 + i, "aspect": 4 / 3}
                for i, gl in enumerate(gls)
            ]
    if optional:
        data |= {
            "camera_type": "perspective",
            "render_height": 48,
            "render_width": 64,
            "fps": 4,
            "seconds": 0.5 * (len(poses) - 1),
            "smoothness_value": 0.5,
            "is_cycle": False,
            "crop": None,
        }
        if not legacy_properties:
            data |= {"default_fov": 50.0, "default_transition_sec": 0.5}
    return data


def seconds_only() -> dict:
    """The legacy viewer's file without keyframe properties: the seconds spread evenly,
    the fov from default_fov."""
    data = viewer_file(truth_poses(), string(column_major), legacy_properties=True)
    for key in data["keyframes"]:
        del key["properties"], key["fov"]
    return data | {"default_fov": 40.0}


# name: (file, what the note names, keyframe times, fovs read)
SPAN = [0.0, 0.5, 1.0]
FOVS = [50.0, 51.0, 52.0]
VARIANTS = {
    "new viewer, row-major": (viewer_file(truth_poses()), "3 keyframes, row-major", SPAN, FOVS),
    "legacy viewer, column-major strings with properties": (
        viewer_file(truth_poses(), string(column_major), legacy_properties=True),
        "3 keyframes, column-major string matrices, times from properties TIME",
        SPAN,
        FOVS,
    ),
    "legacy viewer, seconds only": (
        seconds_only(),
        "3 keyframes, column-major string matrices, times from seconds",
        SPAN,
        [40.0] * 3,
    ),
    "column-major lists": (
        viewer_file(truth_poses(), column_major, column_major),
        "3 keyframes, column-major matrices",
        SPAN,
        FOVS,
    ),
    "column-major with a 0 in the corner": (
        viewer_file(truth_poses(), column_major_zero_corner, column_major_zero_corner),
        "3 keyframes, column-major matrices",
        SPAN,
        FOVS,
    ),
    "column-major strings with a 0 in the corner": (
        viewer_file(truth_poses(), string(column_major_zero_corner), frames=False),
        "3 keyframes, column-major string matrices",
        SPAN,
        FOVS,
    ),
    "keyframes with an empty camera_path": (
        viewer_file(truth_poses(), frames=False),
        "3 keyframes, row-major",
        SPAN,
        FOVS,
    ),
    "camera_path frames only": (
        viewer_file(truth_poses(), keyframes=None),
        "3 camera_path frames as keyframes, row-major matrices, 1/4 s apart",
        [0.0, 0.25, 0.5],
        FOVS,
    ),
    "empty keyframes, camera_path frames": (
        viewer_file(truth_poses(), keyframes=False, frame_encode=column_major),
        "3 camera_path frames as keyframes, column-major matrices",
        [0.0, 0.25, 0.5],
        FOVS,
    ),
    "bare keyframes, no optional field": (
        viewer_file(truth_poses(), keyframes=True, frames=None, optional=False),
        "3 keyframes, row-major matrices, no times given: 1 s apart",
        [0.0, 1.0, 2.0],  # no seconds: one second a span
        [60.0] * 3,
    ),
    "nested 4x4 lists": (
        viewer_file(truth_poses(), nested, nested),
        "3 keyframes, row-major",
        SPAN,
        FOVS,
    ),
    "3x4 matrices": (
        viewer_file(truth_poses(), three_by_four, three_by_four),
        "3 keyframes, 3x4 row-major",
        SPAN,
        FOVS,
    ),
}


def write(tmp_path, data, name="camera_path.json"):
    file = tmp_path / name
    file.write_text(json.dumps(data, indent=1))
    return file


def pose_error(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_reads_the_poses_it_was_written_from(tmp_path, name):
    data, variant, times, fovs = VARIANTS[name]
    notes: list[str] = []
    path = load_path(write(tmp_path, data), notes)
    truth = truth_poses()
    assert len(path.keyframes) == len(truth)
    for key, pose, time, fov in zip(path.keyframes, truth, times, fovs):
        assert pose_error(key.pose, pose) <= 1e-9
        assert abs(key.time - time) <= 1e-9 and key.fov == fov
    first = notes[0]
    assert "camera_path.json: read as nerfstudio camera_path.json" in first
    assert variant in first and "\n" not in first
    repaired = [n for n in notes if "homogeneous corner read as 1" in n]
    assert len(repaired) == ("0 in the corner" in name)
    if repaired:
        assert "every keyframe (3)" in repaired[0]


def test_fallback_between_keyframes_and_camera_path_is_said(tmp_path):
    # one keyframe is too few: the camera_path frames are read
    data = viewer_file(truth_poses())
    data["keyframes"] = data["keyframes"][:1]
    notes: list[str] = []
    path = load_path(write(tmp_path, data), notes)
    assert len(path.keyframes) == 3 and "(only one keyframe)" in notes[0]
    # unreadable keyframes, readable frames: the frames, and why
    data = viewer_file(truth_poses())
    del data["keyframes"][1]["matrix"]
    notes = []
    path = load_path(write(tmp_path, data), notes)
    assert "camera_path frames" in notes[0] and "keyframe 1: no 'matrix'" in notes[0]
    # and back: unreadable frames are not looked at when the keyframes read
    data = viewer_file(truth_poses())
    data["camera_path"][0]["camera_to_world"] = "nonsense"
    notes = []
    assert len(load_path(write(tmp_path, data), notes).keyframes) == 3
    assert "3 keyframes" in notes[0]


def test_optional_fields_are_read():
    data = viewer_file(truth_poses())
    data |= {"is_cycle": True, "smoothness_value": 0.25, "render_width": 640}
    data |= {"render_height": 360, "fps": 30, "camera_type": "fisheye"}
    data |= {"crop": {"crop_bg_color": {"r": 0, "g": 0, "b": 0}, "crop_center": [0, 0, 0]}}
    data["keyframes"][1] |= {"override_transition_enabled": True, "override_transition_sec": 2.0}
    notes: list[str] = []
    from engine.path import from_dict

    path = from_dict(data, "cp.json", notes)
    assert path.loop and path.tension == 0.25
    assert (path.render.width, path.render.height, path.render.fps) == (640, 360, 30.0)
    assert [k.time for k in path.keyframes] == [0.0, 0.5, 2.5]
    assert path.period == 3.0  # the last keyframe runs on to the first
    assert "looped" in notes[0]
    assert any("camera_type 'fisheye' rendered as 'perspective'" in n for n in notes)
    assert any("crop ignored" in n for n in notes)
    # a file without render_width takes it from aspect and render_height
    data = viewer_file(truth_poses(), optional=False) | {"render_height": 100, "aspect": 1.5}
    assert from_dict(data).render.width == 150


def test_rotations_orthonormal_to_1e_4_are_repaired_with_one_note(tmp_path):
    poses = truth_poses()
    data = viewer_file(poses)
    for key in data["keyframes"]:
        m = np.array(key["matrix"]).reshape(4, 4)
        m[:3, :3] *= 1 + 3e-4  # a rotation written with too few digits
        key["matrix"] = m.reshape(-1).tolist()
    notes: list[str] = []
    path = load_path(write(tmp_path, data), notes)
    for key, pose in zip(path.keyframes, poses):
        assert pose_error(key.pose, pose) <= 1e-3
        r = key.pose[:3, :3]
        assert np.allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert len(notes) == 2 and "every keyframe (3): rotation orthonormal only to" in notes[1]


def test_layout_is_found_from_the_matrix():
    gl = truth_poses()[2] @ FLIP_YZ
    for encode, layout in (
        (row_major, "row-major"),
        (column_major, "column-major"),
        (string(column_major), "column-major string"),
        (string(row_major), "row-major string"),
    ):
        m, got, repaired = ns_matrix(encode(gl))
        assert got == layout and not repaired and pose_error(m, gl) == 0.0
    m, got, repaired = ns_matrix(column_major_zero_corner(gl))
    assert got == "column-major" and repaired and pose_error(m, gl) == 0.0
    # no translation: the writer's usual order (three.js strings column-major)
    still = truth_poses()[0] @ FLIP_YZ
    still[:3, 3] = 0
    assert pose_error(ns_matrix(string(column_major)(still))[0], still) == 0.0
    assert pose_error(ns_matrix(row_major(still))[0], still) == 0.0


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["keyframes"][1].update(matrix=[1.0] * 16), "neither row-major nor column"),
        (lambda d: d["keyframes"][1].update(matrix=[1, 0, 0, 0] * 3 + [0, 0, 0, 2]), "corner"),
        (lambda d: d["keyframes"][1].update(matrix=[1.0] * 9), "16 numbers"),
        (lambda d: d["keyframes"][1].update(matrix="[1, 2"), "not a JSON list"),
        (lambda d: d["keyframes"][1].update(matrix=[float("nan")] * 16), "NaN"),
        (lambda d: d["keyframes"][1].update(matrix=["a"] * 16), "not a list of numbers"),
        (lambda d: d["keyframes"][1].pop("matrix"), "keyframe 1: no 'matrix'"),
        (lambda d: d.update(fps=-1), "fps > 0"),
        (lambda d: d.update(render_width="wide"), "render_width must be a finite number"),
        (lambda d: d["keyframes"][1].update(fov=500), "fov must be in"),
        (lambda d: d.update(keyframes=[]), "no keyframes; no camera_path frames"),
    ],
)
def test_malformed_files_are_refused_naming_the_file_and_problem(tmp_path, change, message):
    data = viewer_file(truth_poses(), frames=False)
    change(data)
    file = write(tmp_path, data, "broken.json")
    with pytest.raises(ValueError, match="broken.json") as error:
        load_path(file)
    assert message in str(error.value)


def render_variant(tmp_path, capsys, name):
    data, variant, _, _ = VARIANTS[name]
    file = write(tmp_path, data)
    out = tmp_path / "out.mp4"
    args = ["--path", str(file), "--out", str(out), "--fps", "2", "--config", *TINY]
    code = cli.main(["render", "room", *args])
    err = capsys.readouterr().err
    assert code == cli.EXIT_OK, err
    assert f"note: {file}: read as nerfstudio camera_path.json" in err and variant in err
    return read_video_info(out)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_renders(tmp_path, capsys, name):
    frames, width, height = render_variant(tmp_path, capsys, name)
    assert (width, height) == (64, 48)
    times = VARIANTS[name][2]
    assert frames == round(times[-1] * 2) + 1  # at 2 fps, both ends


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_converts(tmp_path, capsys, name):
    file = write(tmp_path, VARIANTS[name][0])
    own = tmp_path / "own.json"
    assert cli.main(["path", "convert", str(file), str(own)]) == cli.EXIT_OK
    assert "read as nerfstudio camera_path.json" in capsys.readouterr().err
    back = load_path(own)
    for key, pose in zip(back.keyframes, truth_poses()):
        assert pose_error(key.pose, pose) <= 1e-9
