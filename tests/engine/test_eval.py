"""engine.eval: readers, the RGB forward warp, the metrics and the protocol, on a synthetic
sequence written in nerfstudio's format (and COLMAP text) from the analytic room."""

import json
import math

import numpy as np
import pytest
import torch

from engine import cli
from engine.camera import Camera, look_at
from engine.eval import protocol
from engine.eval.metrics import blockiness, psnr, ssim
from engine.eval.sequence import (
    OPENGL_TO_OPENCV,
    read_nerfstudio,
    read_sequence,
)
from engine.eval.warp import erode, forward_warp, forward_warp_reference
from engine.images import save_png_atomic
from engine.io import export_frames
from engine.synth import room_scene

W, H, FOV = 96, 72, 60.0
FRAMES = 5  # a forward walk: offsets 1, 2, 4 fit


@pytest.fixture(scope="module")
def walk():
    """Cameras of a forward walk in the room, with their exact renders."""
    scene = room_scene(0)
    poses = scene.sample_path("forward", n=FRAMES, distance=0.8)
    cameras = [Camera.from_fov(FOV, W, H, pose) for pose in poses]
    return cameras, [scene.render(c) for c in cameras]


def write_sequence(folder, cameras, views, depth=True, points=False, scale=1.0):
    """A nerfstudio folder: images/*.png, transforms.json with OpenGL camera-to-world
    matrices, per-frame float .npy depth, and optionally an ASCII sparse_pc.ply. Everything
    (positions, depth) is multiplied by `scale`."""
    (folder / "images").mkdir(parents=True)
    frames = []
    for i, (camera, view) in enumerate(zip(cameras, views)):
        save_png_atomic(folder / "images" / f"frame_{i:05d}.png", view.rgb)
        pose = camera.pose.clone()
        pose[:3, 3] *= scale
        frame = {
            "file_path": f"images/frame_{i:05d}.png",
            # OpenCV -> OpenGL camera axes: flip the y and z columns
            "transform_matrix": (
                pose @ torch.diag(torch.tensor([1.0, -1, -1, 1]).double())
            ).tolist(),
        }
        if depth:
            np.save(folder / f"depth_{i:05d}.npy", (view.depth * scale).numpy())
            frame["depth_file_path"] = f"depth_{i:05d}.npy"
        frames.append(frame)
    c = cameras[0]
    data = {
        "fl_x": c.fx,
        "fl_y": c.fy,
        "cx": c.cx,
        "cy": c.cy,
        "w": c.width,
        "h": c.height,
        "depth_unit_scale_factor": 1.0,
        "frames": frames[::-1],  # listed backwards: the reader orders by file_path
    }
    if points:
        xyz = torch.cat(
            [
                cam.unproject(cam.pixel_grid(torch.float64)[::6, ::6], v.depth[::6, ::6].double())
                for cam, v in zip(cameras[:3], views[:3])
            ]
        ).reshape(-1, 3)
        xyz = xyz * scale
        lines = [
            "ply",
            "format ascii 1.0",
            f"element vertex {len(xyz)}",
            *(f"property float {a}" for a in "xyz"),
            *(f"property uchar {c}" for c in ("red", "green", "blue")),
            "end_header",
            *(f"{x:.6f} {y:.6f} {z:.6f} 128 128 128" for x, y, z in xyz.tolist()),
        ]
        (folder / "sparse_pc.ply").write_text("\n".join(lines) + "\n")
        data["ply_file_path"] = "sparse_pc.ply"
    (folder / "transforms.json").write_text(json.dumps(data))
    return folder


@pytest.fixture(scope="module")
def sequence_dir(walk, tmp_path_factory):
    cameras, views = walk
    return write_sequence(tmp_path_factory.mktemp("seq") / "walk", cameras, views)


@pytest.fixture(scope="module")
def evaluation(sequence_dir):
    sequence = read_sequence(sequence_dir)
    settings = protocol.EvalSettings(offsets=(1, 2, 4, 40))
    return protocol.evaluate(sequence, settings, progress=None)


# --------------------------------------------------------------------------- readers


def test_nerfstudio_reader_gives_the_cameras_back(walk, sequence_dir):
    cameras, views = walk
    sequence = read_nerfstudio(sequence_dir)
    assert sequence.kind == "nerfstudio" and len(sequence) == FRAMES
    for camera, frame in zip(cameras, sequence.frames):
        assert torch.allclose(frame.camera.pose, camera.pose, atol=1e-6, rtol=0)
        assert (frame.camera.fx, frame.camera.cx, frame.camera.width) == (
            camera.fx,
            camera.cx,
            camera.width,
        )
    assert torch.equal(sequence.depth(3), views[3].depth)
    assert (sequence.photo(3) - views[3].rgb).abs().max() <= 0.5 / 255 + 1e-6
    assert sequence.points is None


def test_opengl_opencv_conversion_round_trips():
    torch.manual_seed(0)
    for _ in range(20):
        eye, target = torch.randn(3).double(), torch.randn(3).double() * 5
        pose = look_at(eye, target)
        gl = pose @ OPENGL_TO_OPENCV
        # OpenGL: the camera looks down its -z, +y is up
        assert torch.allclose(-gl[:3, 2], pose[:3, 2]) and torch.allclose(gl[:3, 1], -pose[:3, 1])
        assert torch.allclose(gl @ OPENGL_TO_OPENCV, pose, atol=1e-12)


def test_colmap_reader_gives_the_cameras_back(walk, tmp_path):
    cameras, views = walk
    export_frames(tmp_path, torch.stack([v.rgb for v in views]), cameras)
    (tmp_path / "transforms.json").unlink()
    sequence = read_sequence(tmp_path)
    assert sequence.kind == "colmap" and len(sequence) == FRAMES
    for camera, frame in zip(cameras, sequence.frames):
        assert torch.allclose(frame.camera.pose, camera.pose, atol=1e-6, rtol=0)
        assert abs(frame.camera.fy - camera.fy) < 1e-9
    assert sequence.points is None  # points3D.txt is empty


def test_camera_angle_and_image_size_fallbacks(walk, sequence_dir, tmp_path):
    data = json.loads((sequence_dir / "transforms.json").read_text())
    for key in ("fl_x", "fl_y", "cx", "cy", "w", "h"):
        del data[key]
    data["camera_angle_x"] = 2 * math.atan(W / (2 * walk[0][0].fx))
    (tmp_path / "images").symlink_to(sequence_dir / "images")
    for frame in data["frames"]:
        frame["depth_file_path"] = str(sequence_dir / frame["depth_file_path"])
    (tmp_path / "transforms.json").write_text(json.dumps(data))
    camera = read_nerfstudio(tmp_path).frames[0].camera
    assert (camera.width, camera.height, camera.cx, camera.cy) == (W, H, W / 2, H / 2)
    assert camera.fx == pytest.approx(walk[0][0].fx) and camera.fy == camera.fx


def test_slightly_off_rotation_is_reorthonormalised_with_a_note(sequence_dir, tmp_path):
    data = json.loads((sequence_dir / "transforms.json").read_text())
    matrix = torch.tensor(data["frames"][0]["transform_matrix"])
    matrix[:3, :3] *= 1.0 + 5e-4  # what a capture pipeline's text gives
    data["frames"][0]["transform_matrix"] = matrix.tolist()
    folder = _copy_with(sequence_dir, tmp_path, data)
    sequence = read_nerfstudio(folder)
    rotation = sequence.frames[-1].camera.R  # listed backwards: frame 4 is the last
    assert torch.allclose(rotation.T @ rotation, torch.eye(3, dtype=torch.float64), atol=1e-9)
    assert any("re-orthonormalised" in note for note in sequence.notes)


def _copy_with(sequence_dir, tmp_path, data):
    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "images").symlink_to(sequence_dir / "images")
    for name in sequence_dir.glob("depth_*.npy"):
        (folder / name.name).symlink_to(name)
    (folder / "transforms.json").write_text(json.dumps(data))
    return folder


def test_missing_transforms_json_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no transforms.json"):
        read_sequence(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such sequence folder"):
        read_sequence(tmp_path / "nowhere")


def test_missing_frame_file_is_refused(sequence_dir, tmp_path):
    data = json.loads((sequence_dir / "transforms.json").read_text())
    data["frames"][2]["file_path"] = "images/frame_99999.png"
    folder = _copy_with(sequence_dir, tmp_path, data)
    with pytest.raises(FileNotFoundError, match="frame_99999.png.*missing"):
        read_sequence(folder)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ([[1, 0, 0], [0, 1, 0], [0, 0, 1]], "transform_matrix must be 4x4"),
        ("identity", "transform_matrix is not a 4x4 list of numbers"),
        ([[1.2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "orthonormal"),
        ([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, -1, 0], [0, 0, 0, 1]], "det"),
        ([[1, 0, 0, float("nan")], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "finite"),
    ],
)
def test_malformed_matrix_is_refused_naming_the_frame(sequence_dir, tmp_path, matrix, message):
    data = json.loads((sequence_dir / "transforms.json").read_text())
    data["frames"][1]["transform_matrix"] = matrix
    folder = _copy_with(sequence_dir, tmp_path, data)
    name = data["frames"][1]["file_path"]
    with pytest.raises(ValueError, match=message) as error:
        read_sequence(folder)
    assert "transforms.json" in str(error.value) and name in str(error.value)


def test_bad_ply_is_refused(sequence_dir, tmp_path):
    data = json.loads((sequence_dir / "transforms.json").read_text())
    data["ply_file_path"] = "points.ply"
    folder = _copy_with(sequence_dir, tmp_path, data)
    (folder / "points.ply").write_text("ply\nformat ascii 1.0\nelement vertex 3\nend_header\n")
    with pytest.raises(ValueError, match="points.ply: expected a vertex element with"):
        read_sequence(folder)


# --------------------------------------------------------------------------- warp and metrics


def test_rgb_warp_of_the_seed_to_itself_is_exact(walk):
    cameras, views = walk
    warp = forward_warp(views[0].rgb, views[0].depth, cameras[0], cameras[0])
    assert bool(warp.covered.all())
    assert torch.equal(warp.rgb, views[0].rgb)
    assert torch.allclose(warp.depth, views[0].depth, rtol=1e-5)


def test_rgb_warp_matches_its_slow_twin(walk):
    cameras, views = walk
    small = [c.scaled(32, 24) for c in cameras]
    rgb = torch.nn.functional.interpolate(views[0].rgb[None], size=(24, 32), mode="area")[0]
    depth = torch.nn.functional.interpolate(views[0].depth[None, None], size=(24, 32))[0, 0]
    depth[5:8, 10:14] = 0.0  # unknown depth is not warped
    depth[8:16, 2:14] = math.inf  # sky: warped as directions, behind everything
    turn = look_at(small[2].position, small[2].position + torch.tensor([0.3, 0.1, 1.0]).double())
    sky_seen = False
    for dst in (small[2], small[4], small[0].with_pose(turn)):
        fast = forward_warp(rgb, depth, small[0], dst)
        slow = forward_warp_reference(rgb, depth, small[0], dst)
        assert torch.equal(fast.covered, slow.covered)
        assert torch.equal(fast.rgb, slow.rgb)
        assert torch.equal(fast.depth.isinf(), slow.depth.isinf())
        assert torch.allclose(fast.depth, slow.depth)
        sky_seen |= bool(fast.depth.isinf().any())
    assert sky_seen


def test_rgb_warp_opens_no_cracks_walking_toward_a_wall():
    camera = Camera.from_fov(60.0, 64, 48)
    depth = torch.full((48, 64), 4.0)
    rgb = torch.rand(3, 48, 64, generator=torch.Generator().manual_seed(0))
    near = camera.with_pose(look_at((0.0, 0.0, 2.5), (0.0, 0.0, 5.0)))  # 2.5x closer
    warp = forward_warp(rgb, depth, camera, near)
    assert bool(warp.covered.all())
    # the target pixel at the centre sees the source's centre
    assert torch.equal(warp.rgb[:, 24, 32], rgb[:, 24, 32])


def test_erode_keeps_the_image_border():
    mask = torch.ones(10, 12, dtype=torch.bool)
    mask[4, 5] = False
    eroded = erode(mask)
    assert int((~eroded).sum()) == 9 and bool(eroded[0].all()) and bool(eroded[:, -1].all())


def test_psnr_and_ssim():
    a = torch.rand(3, 32, 40, generator=torch.Generator().manual_seed(1))
    b = (a + 0.1).clamp(0, 1)
    assert psnr(a, a) == math.inf and ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    mask = torch.zeros(32, 40, dtype=torch.bool)
    assert math.isnan(psnr(a, b, mask)) and math.isnan(ssim(a, b, mask))
    mask[:, :20] = True
    c = b.clone()
    c[:, :, 20:] = 1 - c[:, :, 20:]  # outside the mask: must not count
    assert psnr(a, c, mask) == pytest.approx(psnr(a[:, :, :20], b[:, :, :20]))
    assert 0 < ssim(a, b) < 1


def _smooth(h: int = 96, w: int = 128) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([0.5 + 0.4 * torch.sin(6 * x + 2 * y), x * y, 0.3 + 0.5 * y])


def test_blockiness_of_tokens_shifted_by_half_a_token_and_of_smooth_images():
    smooth = _smooth()
    assert blockiness(smooth) == pytest.approx(1.0, abs=0.1)
    noise = torch.rand(3, 96, 128, generator=torch.Generator().manual_seed(2))
    assert blockiness(noise) == pytest.approx(1.0, abs=0.05)
    # each 8x8 token shows its content moved by 4 px (a nearest-token readout): seams at
    # every token border
    wide = _smooth(96, 136)
    shifted = smooth.clone()
    for i in range(0, 96, 8):
        for j in range(0, 128, 8):
            step = 4 if (i // 8 + j // 8) % 2 else 0
            shifted[:, i : i + 8, j : j + 8] = wide[:, i : i + 8, j + step : j + step + 8]
    assert blockiness(shifted) > 1.5
    # flat 8x8 tiles on the grid: only the grid jumps; the same tiles moved off the grid by
    # 4 px: no grid jump at all
    tiles = torch.rand(3, 13, 17, generator=torch.Generator().manual_seed(3))
    blocks = tiles.repeat_interleave(8, 1).repeat_interleave(8, 2)
    assert blockiness(blocks[:, :96, :128]) > 100
    assert blockiness(blocks[:, 4:100, 4:132]) < 0.01


def test_sparse_points_recover_a_known_scale(walk):
    cameras, views = walk
    k = 3.7
    camera = cameras[2]
    pose = camera.pose.clone()
    pose[:3, 3] *= k  # the same scene k times larger
    scaled = camera.with_pose(pose)
    grid = camera.pixel_grid(torch.float64)[::4, ::4]
    points = camera.unproject(grid, views[2].depth[::4, ::4].double()).reshape(-1, 3) * k
    scale, used, (q25, q75) = protocol.sparse_scale(points, scaled, views[2].depth)
    assert scale == pytest.approx(k, rel=1e-4) and q25 == pytest.approx(q75, rel=1e-3)
    assert used == points.shape[0]
    with pytest.raises(ValueError, match="sparse points"):
        protocol.sparse_scale(-points, scaled, views[2].depth)


# --------------------------------------------------------------------------- protocol


def test_protocol_scores_every_method_at_every_offset(evaluation):
    assert evaluation.offsets == [1, 2, 4] and evaluation.dropped == [40]
    assert evaluation.size == (W, H) and evaluation.depth["source"] == "sequence"
    for r in evaluation.results:
        assert set(r.metrics) == set(protocol.METHODS)
        codec = r.metrics["codec"]["whole_psnr"]
        assert math.isfinite(codec)
        for m in ("ours", "rgb-warp", "rgb-memory"):
            assert codec > r.metrics[m]["whole_psnr"], (r.offset, m)
        assert r.metrics["codec"]["blockiness_ratio"] == 1.0
        assert math.isfinite(r.ours_minus_reference)


def test_covisible_region_shrinks_walking_forward(evaluation):
    covisible = [r.covisible for r in evaluation.results]
    assert covisible[-1] > 0.5
    # a disocclusion behind furniture may leave the view a frame later, hence the 0.5%
    assert all(b <= a + 0.005 for a, b in zip(covisible, covisible[1:])), covisible
    assert covisible[-1] < covisible[0]
    assert all(bool(r.mask.any()) for r in evaluation.results)


def test_rgb_warp_with_exact_depth_is_close_on_covisible_pixels(evaluation):
    # exact depth and exact renders: only resampling (nearest pixel, against fine noise
    # textures at 96x72) separates the warp from the truth
    for r in evaluation.results:
        warp = r.metrics["rgb-warp"]
        assert warp["covis_psnr"] > 21, r.offset
        assert warp["covis_psnr"] > r.metrics["rgb-memory"]["covis_psnr"], r.offset


def test_outputs_and_table(evaluation, tmp_path):
    json_path, sheet_path = protocol.write_outputs(evaluation, tmp_path / "out")
    data = json.loads(json_path.read_text())
    assert data["format"] == "latentscape.eval" and len(data["results"]) == 3
    assert set(data["results"][0]["methods"]) == set(protocol.METHODS)
    from PIL import Image

    with Image.open(sheet_path) as sheet:
        assert sheet.height > 3 * H and sheet.width >= 5 * W
    table = protocol.format_table(evaluation)
    assert "ours - R" in table and "rgb-memory" in table


def test_cli_eval_with_sparse_points_and_depth_estimate(walk, tmp_path, capsys):
    cameras, views = walk
    folder = write_sequence(
        tmp_path / "seq", cameras[:3], views[:3], depth=False, points=True, scale=2.0
    )
    out = tmp_path / "out"
    argv = ["eval", str(folder), "--offsets", "1", "2", "--out", str(out), "--size", "64x48"]
    assert cli.main(argv) == cli.EXIT_OK
    captured = capsys.readouterr()
    assert "ours - R" in captured.out and "sparse points" in captured.err
    data = json.loads((out / "eval.json").read_text())
    assert data["size"] == [64, 48] and data["offsets"] == [1, 2]
    assert data["depth"]["points_used"] > 0 and data["depth"]["scale"] > 0
    assert (out / "sheet.png").stat().st_size > 0


def test_cli_eval_refuses_bad_input(sequence_dir, tmp_path, capsys):
    assert cli.main(["eval", str(tmp_path)]) == cli.EXIT_ERROR
    assert "transforms.json" in capsys.readouterr().err
    assert cli.main(["eval", str(sequence_dir), "--size", "big"]) == cli.EXIT_ERROR
    assert "--size expects WxH" in capsys.readouterr().err
    assert cli.main(["eval", str(sequence_dir), "--offsets", "20"]) == cli.EXIT_ERROR
    assert "past the sequence's end" in capsys.readouterr().err


def test_motorcycle_pair_depth_matches_the_right_image():
    pytest.importorskip("skimage")
    sequence = read_sequence("motorcycle")
    assert sequence.kind == "stereo" and protocol.default_offsets(sequence) == (1,)
    left, right = sequence.frames
    assert torch.allclose(right.camera.position, torch.tensor([0.193001, 0, 0]).double())
    warp = forward_warp(sequence.photo(0), sequence.depth(0), left.camera, right.camera)
    mask = erode(warp.covered)
    assert psnr(warp.rgb, sequence.photo(1), mask) > 24
    # with the baseline the wrong way round, the warp is far off
    wrong = right.camera.with_pose(torch.linalg.inv(right.camera.pose))
    off = forward_warp(sequence.photo(0), sequence.depth(0), left.camera, wrong)
    assert psnr(off.rgb, sequence.photo(1), erode(off.covered)) < 20
