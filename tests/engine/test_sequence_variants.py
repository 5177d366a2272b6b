"""The capture readers `latentscape eval` uses, on the files tools really write: every
transforms.json variant (nerfstudio, per-frame intrinsics, instant-ngp, Blender-NeRF's
transforms_train.json with extension-less file paths; 4x4, 3x4, flat, transposed
matrices, a 0 in the homogeneous corner) and COLMAP models (text, text without POINTS2D
lines, binary), each written here from the analytic room's walk, read back to the cameras
it was written from, with one note naming the variant; malformed files refused by name."""

import json
import math
import shutil
import struct

import numpy as np
import pytest
import torch

from engine import cli
from engine.eval.sequence import COLMAP_MODEL_IDS, read_sequence
from engine.io import export_frames, rotation_to_quaternion
from tests.engine.test_eval import W, walk, write_sequence  # noqa: F401 (fixture)

GL = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64))


def assert_cameras_back(sequence, cameras, atol=1e-6):
    assert len(sequence) == len(cameras)
    for camera, frame in zip(cameras, sequence.frames):
        assert torch.allclose(frame.camera.pose, camera.pose, atol=atol, rtol=0)
        got = frame.camera
        assert (got.width, got.height) == (camera.width, camera.height)
        for a, b in ((got.fx, camera.fx), (got.fy, camera.fy), (got.cx, camera.cx)):
            assert abs(a - b) < 1e-6


@pytest.fixture
def nerfstudio_dir(walk, tmp_path):  # noqa: F811 (the walk fixture)
    cameras, views = walk
    return write_sequence(tmp_path / "seq", cameras, views, depth=False)


def rewrite(folder, change, name="transforms.json"):
    data = json.loads((folder / "transforms.json").read_text())
    change(data)
    if name != "transforms.json":
        (folder / "transforms.json").unlink()
    (folder / name).write_text(json.dumps(data))
    return folder


def per_frame_intrinsics(data):
    own = {k: data.pop(k) for k in ("fl_x", "fl_y", "cx", "cy")}
    for frame in data["frames"]:
        frame |= own


def matrices(encode):
    def change(data):
        for frame in data["frames"]:
            frame["transform_matrix"] = encode(np.array(frame["transform_matrix"]))

    return change


def zero_corner(m):
    m = m.copy()
    m[3, 3] = 0.0
    return m.tolist()


def instant_ngp(data):
    fx = data.pop("fl_x")
    data |= {
        "camera_angle_x": 2 * math.atan(data["w"] / (2 * fx)),
        "camera_angle_y": 2 * math.atan(data["h"] / (2 * data["fl_y"])),
        "fl_x": fx,
        "k1": 0.0,
        "k2": 0.0,
        "p1": 0.0,
        "p2": 0.0,
        "aabb_scale": 16,
        "scale": 0.33,
        "offset": [0.5, 0.5, 0.5],
        "integer_depth_scale": 1 / 1000,
    }
    del data["depth_unit_scale_factor"]
    for frame in data["frames"]:
        frame["sharpness"] = 50.0


TRANSFORMS = {
    "nerfstudio": (lambda d: None, "nerfstudio transforms.json: 5 frames, focal length from fl_x"),
    "per-frame intrinsics": (per_frame_intrinsics, "per-frame fl_x, fl_y, cx, cy"),
    "instant-ngp": (instant_ngp, "instant-ngp transforms.json"),
    "3x4 matrices": (matrices(lambda m: m[:3].tolist()), "3x4 transform_matrix"),
    "flat 16": (matrices(lambda m: m.reshape(-1).tolist()), "4x4 flat transform_matrix"),
    "transposed": (matrices(lambda m: m.T.tolist()), "4x4 transposed (column-major)"),
    "0 in the corner": (matrices(zero_corner), "4x4 transform_matrix"),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transforms_json_variants_give_the_cameras_back(walk, nerfstudio_dir, name):  # noqa: F811
    change, variant = TRANSFORMS[name]
    sequence = read_sequence(rewrite(nerfstudio_dir, change))
    assert_cameras_back(sequence, walk[0])
    line = sequence.notes[0]
    assert "transforms.json: read as" in line and variant in line, line
    corner = [n for n in sequence.notes if "homogeneous corner" in n]
    assert len(corner) == (name == "0 in the corner")
    if name == "instant-ngp":
        assert any("scale and offset ignored" in n for n in sequence.notes)


def test_blender_nerf_synthetic_layout(walk, nerfstudio_dir):  # noqa: F811
    """transforms_train.json, camera_angle_x only, file paths like ./train/r_0 (no
    extension), no w / h (from the images)."""
    folder = nerfstudio_dir
    (folder / "images").rename(folder / "train")

    def blender(data):
        fx = data["fl_x"]
        for key in ("fl_x", "fl_y", "cx", "cy", "w", "h", "depth_unit_scale_factor"):
            del data[key]
        data["camera_angle_x"] = 2 * math.atan(W / (2 * fx))
        for frame in data["frames"]:
            name = frame["file_path"].split("/")[-1].removesuffix(".png")
            frame |= {"file_path": f"./train/{name}", "rotation": 0.012566}

    sequence = read_sequence(rewrite(folder, blender, "transforms_train.json"))
    assert_cameras_back(sequence, walk[0])
    line = sequence.notes[0]
    assert "transforms_train.json: read as Blender-NeRF transforms.json" in line
    assert "focal length from camera_angle_x/y" in line and "(.png added)" in line


@pytest.mark.parametrize(
    "matrix, message",
    [
        ([[1, 0, 0, 1], [0, 1, 0, 2], [0, 0, 1, 3], [4, 5, 6, 1]], "neither row-major nor column"),
        ([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 3]], "homogeneous corner must be 1"),
        ([1.0] * 15, "must be 4x4"),
    ],
)
def test_malformed_transforms_are_refused_naming_file_and_frame(nerfstudio_dir, matrix, message):
    folder = rewrite(nerfstudio_dir, lambda d: d["frames"][2].update(transform_matrix=matrix))
    with pytest.raises(ValueError, match=message) as error:
        read_sequence(folder)
    assert "transforms.json: frame 'images/frame_00002.png'" in str(error.value)


# --------------------------------------------------------------------------- COLMAP


def colmap_text(tmp_path, walk):  # noqa: F811
    cameras, views = walk
    export_frames(tmp_path, torch.stack([v.rgb for v in views]), cameras)
    (tmp_path / "transforms.json").unlink()
    return tmp_path


def w2c(camera):
    inverse = torch.linalg.inv(camera.pose)
    return rotation_to_quaternion(inverse[:3, :3]).tolist(), inverse[:3, 3].tolist()


def write_colmap_binary(folder, cameras, model="PINHOLE", points=((0.0, 1.0, 2.0),)):
    """cameras.bin, images.bin and points3D.bin as COLMAP writes them (little-endian)."""
    c = cameras[0]
    params = {
        "PINHOLE": [c.fx, c.fy, c.cx, c.cy],
        "OPENCV": [c.fx, c.fy, c.cx, c.cy, 0.01, 0.0, 0.0, 0.0],
        "SIMPLE_RADIAL": [c.fx, c.cx, c.cy, 0.01],
    }[model]
    model_id = COLMAP_MODEL_IDS.index(model)
    (folder / "cameras.bin").write_bytes(
        struct.pack("<Q", 1)
        + struct.pack("<iiQQ", 1, model_id, c.width, c.height)
        + struct.pack(f"<{len(params)}d", *params)
    )
    images = struct.pack("<Q", len(cameras))
    for i, camera in enumerate(cameras):
        q, t = w2c(camera)
        images += struct.pack("<i7di", i + 1, *q, *t, 1) + f"frame_{i + 1:05d}.png".encode() + b"\0"
        images += struct.pack("<Q", 2) + struct.pack("<ddqddq", 1.5, 2.5, -1, 3.5, 4.5, 0)
    (folder / "images.bin").write_bytes(images)
    data = struct.pack("<Q", len(points))
    for k, xyz in enumerate(points):
        data += struct.pack("<Q3d3BdQ", k, *xyz, 10, 20, 30, 0.5, 2)
        data += struct.pack("<iiii", 1, 0, 2, 1)
    (folder / "points3D.bin").write_bytes(data)


def test_colmap_text_names_its_variant(walk, tmp_path):  # noqa: F811
    sequence = read_sequence(colmap_text(tmp_path, walk))
    assert_cameras_back(sequence, walk[0])
    assert sequence.notes[0].startswith(f"{tmp_path / 'sparse' / '0'}: read as a COLMAP text")
    assert "5 images, 1 camera (PINHOLE)" in sequence.notes[0]


def test_colmap_text_without_points2d_lines(walk, tmp_path):  # noqa: F811
    folder = colmap_text(tmp_path, walk)
    images = folder / "sparse" / "0" / "images.txt"
    lines = images.read_text().splitlines()
    image_lines = [line for line in lines if line.startswith("#") or len(line.split()) >= 10]
    images.write_text("\n".join(image_lines) + "\n")
    assert_cameras_back(read_sequence(folder), walk[0])


@pytest.mark.parametrize("model", ["PINHOLE", "OPENCV", "SIMPLE_RADIAL"])
def test_colmap_binary_gives_the_cameras_back(walk, tmp_path, model):  # noqa: F811
    folder = colmap_text(tmp_path, walk)
    sparse = folder / "sparse" / "0"
    for name in ("cameras.txt", "images.txt", "points3D.txt"):
        (sparse / name).unlink()
    write_colmap_binary(sparse, walk[0], model)
    sequence = read_sequence(folder)
    assert sequence.kind == "colmap"
    assert_cameras_back(sequence, walk[0])
    assert (
        f"read as a COLMAP binary model: 5 images, 1 camera ({model}), 1 points"
        in (sequence.notes[0])
    )
    assert sequence.points is not None
    assert sequence.points.tolist() == [[0.0, 1.0, 2.0]]
    assert any("distortion ignored" in n for n in sequence.notes) == (model != "PINHOLE")


def test_colmap_binary_and_text_read_the_same(walk, tmp_path):  # noqa: F811
    text = colmap_text(tmp_path / "text", walk)
    binary = tmp_path / "binary"
    shutil.copytree(text, binary)
    for name in ("cameras.txt", "images.txt", "points3D.txt"):
        (binary / "sparse" / "0" / name).unlink()
    write_colmap_binary(binary / "sparse" / "0", walk[0], points=())
    a, b = read_sequence(text), read_sequence(binary)
    for fa, fb in zip(a.frames, b.frames):
        assert fa.name == fb.name and fa.camera.width == fb.camera.width
        assert torch.allclose(fa.camera.pose, fb.camera.pose, atol=1e-9, rtol=0)


@pytest.mark.parametrize(
    "damage, file, message",
    [
        (lambda b: b[:-5], "images.bin", "truncated"),
        (lambda b: b + b"\0\0", "images.bin", "bytes left over"),
        (lambda b: b[:12] + struct.pack("<i", 99) + b[16:], "cameras.bin", "model id 99"),
        (lambda b: b[:-3], "points3D.bin", "truncated"),
    ],
)
def test_malformed_colmap_binary_is_refused_naming_the_file(walk, tmp_path, damage, file, message):  # noqa: F811
    folder = colmap_text(tmp_path, walk)
    sparse = folder / "sparse" / "0"
    for name in ("cameras.txt", "images.txt", "points3D.txt"):
        (sparse / name).unlink()
    write_colmap_binary(sparse, walk[0])
    target = sparse / file
    target.write_bytes(damage(target.read_bytes()))
    with pytest.raises(ValueError, match=message) as error:
        read_sequence(folder)
    assert file in str(error.value)


def test_cli_eval_reads_a_colmap_binary_model_and_says_so(walk, tmp_path, capsys):  # noqa: F811
    folder = colmap_text(tmp_path, walk)
    sparse = folder / "sparse" / "0"
    for name in ("cameras.txt", "images.txt", "points3D.txt"):
        (sparse / name).unlink()
    cameras, views = walk
    xyz = torch.cat(
        [
            cam.unproject(cam.pixel_grid(torch.float64)[::6, ::6], v.depth[::6, ::6].double())
            for cam, v in zip(cameras[:3], views[:3])
        ]
    ).reshape(-1, 3)
    write_colmap_binary(sparse, cameras[:3], points=xyz.tolist())
    argv = ["eval", str(folder), "--offsets", "1", "--size", "64x48"]
    assert cli.main(argv) == cli.EXIT_OK
    err = capsys.readouterr().err
    assert "read as a COLMAP binary model: 3 images" in err and "sparse points" in err
