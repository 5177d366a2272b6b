"""The render job and `latentscape render`: a real MP4, a saved world that loads back, the
default path, Ctrl+C keeping a partial video, pose files refused with a message."""

import json
import math

import numpy as np
import pytest
import torch

from engine import cli
from engine.io import load_poses, load_world, read_video_info, save_poses
from engine.path import default_path

SMALL = ["width=128", "height=96", "frames_per_segment=2"]


@pytest.mark.slow
def test_cli_renders_a_sample_scene_to_mp4_and_a_world(tmp_path, capsys):
    out, saved = tmp_path / "room.mp4", tmp_path / "room.lsworld"
    frames, ply = tmp_path / "frames", tmp_path / "memory.ply"
    args = ["--save-world", str(saved), "--frames", str(frames), "--ply", str(ply)]
    code = cli.main(["render", "room", "--out", str(out), *args, "--config", *SMALL])
    assert code == cli.EXIT_OK, capsys.readouterr().err
    assert read_video_info(out) == (10, 128, 96)  # 5 segments x 2 frames, decodable
    assert "wrote" in capsys.readouterr().out
    assert len(list((frames / "images").iterdir())) == 10
    assert len(json.loads((frames / "transforms.json").read_text())["frames"]) == 10
    assert ply.read_bytes().startswith(b"ply\n")
    world = load_world(saved)
    assert world.segments == 5 and len(world.trajectory) == 11
    assert world.config.width == 128 and len(world.memory) > 0
    # the start pose comes back at the end of the default path
    assert torch.equal(world.trajectory[-1], world.trajectory[0])


def test_default_path_shape_and_closure():
    start = torch.eye(4, dtype=torch.float64)
    start[:3, 3] = torch.tensor([1.0, -0.5, 2.0])
    path = default_path(start, segments=5, frames=4, distance=2.0)
    assert [len(s) for s in path] == [4] * 5
    assert torch.equal(path[-1][-1], start)
    far = max(float((p[:3, 3] - start[:3, 3]).norm()) for s in path for p in s)
    assert far == pytest.approx(2.0)
    for seg in path:  # every pose rigid, camera height constant
        for p in seg:
            torch.testing.assert_close(p[:3, :3].T @ p[:3, :3], torch.eye(4)[:3, :3].double())
            assert float(p[1, 3]) == pytest.approx(-0.5)
    # the turn ends facing back
    assert float(path[2][-1][2, 2]) == pytest.approx(-1.0)


def test_interrupt_keeps_a_partial_video_and_never_touches_the_old_one(
    tmp_path, monkeypatch, capsys
):
    from engine.world import World

    out = tmp_path / "clip.mp4"
    out.write_bytes(b"an older video")
    real = World.segment
    calls = []

    def segment(self, poses, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, poses, **kw)

    monkeypatch.setattr(World, "segment", segment)
    code = cli.main(["render", "room", "--out", str(out), "--config", *SMALL])
    assert code == cli.EXIT_INTERRUPTED
    assert out.read_bytes() == b"an older video"
    partial = tmp_path / "clip.partial.mp4"
    assert read_video_info(partial)[0] == 4
    assert "clip.partial.mp4" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip.partial.mp4"]


def test_pose_files_round_trip_and_render(tmp_path):
    path = default_path(torch.eye(4, dtype=torch.float64), segments=2, frames=2)
    save_poses(tmp_path / "p.json", path)
    back = load_poses(tmp_path / "p.json")
    assert all(torch.equal(a, b) for sa, sb in zip(path, back) for a, b in zip(sa, sb))
    code = cli.main(
        [
            "render",
            "room",
            "--path",
            str(tmp_path / "p.json"),
            "--out",
            str(tmp_path / "o.mp4"),
            "--config",
            *SMALL,
        ]
    )
    assert code == cli.EXIT_OK and read_video_info(tmp_path / "o.mp4")[0] == 4


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"segments": []}', "no poses"),
        ('{"poses": []}', "no poses"),
        ('{"version": 2, "poses": [[[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]]}', "version 2"),
        ('{"poses": [[[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,0]]]}', "pose 1"),
        ('{"poses": [[[2,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]]}', "pose 1"),
    ],
)
def test_bad_pose_files_are_refused(tmp_path, content, match, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_poses(bad)
    out = tmp_path / "x.mp4"
    assert (
        cli.main(["render", "room", "--path", str(bad), "--out", str(out), "--config", *SMALL]) == 1
    )
    assert "error" in capsys.readouterr().err and not out.exists()


def test_nan_pose_is_refused(tmp_path):
    pose = torch.eye(4)
    pose[0, 3] = math.nan
    (tmp_path / "nan.json").write_text(json.dumps({"poses": [pose.tolist()]}))  # NaN in JSON
    with pytest.raises(ValueError, match="finite"):
        load_poses(tmp_path / "nan.json")


def test_render_errors_exit_1(tmp_path, capsys):
    assert cli.main(["render", "no-such-scene", "--out", str(tmp_path / "a.mp4")]) == 1
    assert "neither a file" in capsys.readouterr().err
    assert cli.main(["render", "room", "--out", str(tmp_path), "--config", *SMALL]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert cli.main(["render", "room", "--out", str(tmp_path / "b.mp4"), "--config", "nope=1"]) == 1


def test_ply_of_the_rgb_memory_is_refused_before_rendering(tmp_path, capsys):
    out, ply = tmp_path / "rgb.mp4", tmp_path / "memory.ply"
    args = ["render", "room", "--out", str(out), "--memory", "rgb", "--ply", str(ply)]
    assert cli.main([*args, "--config", *SMALL]) == cli.EXIT_ERROR
    assert "--ply" in capsys.readouterr().err
    assert not out.exists() and not ply.exists()


def test_mask_file_keeps_the_marked_region_out(tmp_path):
    import numpy as np
    from PIL import Image

    from engine.render import open_source
    from engine.world import WorldConfig

    mask = np.zeros((384, 512), dtype=np.uint8)
    mask[100:200, 200:300] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    cfg = WorldConfig(width=128, height=96)
    plain = open_source("room", cfg)
    masked = open_source("room", cfg, mask=str(tmp_path / "mask.png"))
    assert 0 < len(plain.memory) - len(masked.memory) <= 8 * 8
    Image.fromarray(mask[:100]).save(tmp_path / "small.png")
    with pytest.raises(ValueError, match="the mask"):
        open_source("room", cfg, mask=str(tmp_path / "small.png"))


def small_camera_path(fov=60.0):
    from engine.path import CameraPath, Keyframe, RenderSettings

    ahead = torch.eye(4, dtype=torch.float64)
    ahead[2, 3] = 0.3
    return CameraPath(
        [Keyframe(np.eye(4), fov, 0.0), Keyframe(ahead.numpy(), fov, 1.0)],
        render=RenderSettings(64, 48, 4.0),
    )


@pytest.mark.parametrize("fmt", ["latentscape", "nerfstudio"])
def test_render_takes_camera_paths_in_both_formats_and_they_convert(tmp_path, fmt):
    from engine.path import load_path, save_path

    file = save_path(small_camera_path(), tmp_path / "path.json", fmt=fmt)
    out = tmp_path / "o.mp4"
    code = cli.main(["render", "room", "--path", str(file), "--out", str(out), "--config", *SMALL])
    # the path's own rate: 1 s at 4 fps, both ends: 5 frames
    assert code == cli.EXIT_OK and read_video_info(out)[0] == 5
    other = tmp_path / "other.json"
    assert cli.main(["path", "convert", str(file), str(other)]) == cli.EXIT_OK
    back = load_path(other)
    assert len(back.keyframes) == 2 and abs(back.duration - 1.0) < 1e-9
    written = json.loads(other.read_text())
    assert ("camera_path" in written) == (fmt == "latentscape")  # the other format


def test_a_camera_path_fov_reaches_the_frames():
    from engine.render import open_source
    from engine.world import WorldConfig

    world = open_source("room", WorldConfig().with_overrides(list(SMALL)))
    wide, narrow = small_camera_path(80.0).sample(4.0), small_camera_path(40.0).sample(4.0)
    a = world.camera_at(wide[0])
    b = world.camera_at(narrow[0])
    assert abs(a.fov_y_deg - 80.0) < 1e-9 and abs(b.fov_y_deg - 40.0) < 1e-9
    assert (a.width, a.height) == (world.camera.width, world.camera.height)
    same = world.camera_at(small_camera_path(world.camera.fov_y_deg).sample(4.0)[0])
    assert same == world.camera  # the seed's own intrinsics kept when the fov is the same


def test_opening_says_its_stages_and_stops_between_them(tmp_path):
    from engine.render import open_source
    from engine.world import WorldCancelled, WorldConfig

    config = WorldConfig(width=64, height=48)
    stages = []
    world = open_source("room", config, on_stage=lambda *stage: stages.append(stage))
    assert [(done, total) for done, total, _ in stages] == [(0, 3), (1, 3), (2, 3)]
    assert world.segments == 0 and len(world.memory) > 0
    stages.clear()
    with pytest.raises(WorldCancelled, match="opening room cancelled before depth"):
        open_source(
            "room",
            config,
            on_stage=lambda *stage: stages.append(stage),
            cancel=lambda: len(stages) == 2,
        )
    assert len(stages) == 2
    # a saved world: one stage
    from engine.io import save_world

    save_world(world, tmp_path / "w.lsworld")
    stages.clear()
    open_source(str(tmp_path / "w.lsworld"), config, on_stage=lambda *s: stages.append(s))
    assert [(done, total) for done, total, _ in stages] == [(0, 1)]
