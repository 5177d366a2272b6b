"""engine.scenes: the sample scenes shipped in assets/scenes/, and the scene folder format."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from engine.assets import SCENES
from engine.camera import Camera
from engine.scenes import REQUIRED_KEYS, SampleScene, list_scenes, load_scene, save_scene
from engine.synth import scene_by_name

SHIPPED = ("room", "room-2", "street", "motorcycle")


@pytest.fixture(scope="module")
def scenes() -> dict[str, SampleScene]:
    return {name: load_scene(name) for name in list_scenes()}


def test_the_sample_scenes_are_listed():
    names = list_scenes()
    assert names == sorted(names)
    assert set(SHIPPED) <= set(names)


def test_every_scene_loads_with_consistent_shapes_and_camera(scenes):
    for name, scene in scenes.items():
        camera = scene.camera
        assert scene.name == name
        assert scene.rgb.dtype == torch.float32 and scene.depth.dtype == torch.float32
        assert scene.rgb.shape == (3, camera.height, camera.width), name
        assert scene.depth.shape == (camera.height, camera.width), name
        assert 0.0 <= float(scene.rgb.min()) and float(scene.rgb.max()) <= 1.0
        assert torch.equal(camera.pose, torch.eye(4, dtype=torch.float64))
        assert 0 < camera.cx < camera.width and 0 < camera.cy < camera.height, name
        assert 20 < camera.fov_x_deg < 120 and 20 < camera.fov_y_deg < 120, name
        assert torch.isfinite(scene.depth).all() and float(scene.depth.min()) >= 0.0
        assert 0.5 < float(scene.known.float().mean()) <= 1.0, name
        for key in ("source", "licence", "description", "depth_unit"):
            assert isinstance(scene.meta[key], str) and scene.meta[key], (name, key)


def test_sample_scenes_are_small():
    for name in SHIPPED:
        for file in (SCENES / name).iterdir():
            assert file.stat().st_size < 400 * 1024, file


@pytest.mark.parametrize("name", ["room", "room-2", "street"])
def test_synthetic_scene_equals_a_fresh_render(scenes, name):
    scene = scenes[name]
    synthetic = scene.meta["synthetic"]
    assert synthetic["scene"] == name
    view = scene_by_name(name).render(scene.camera, time=synthetic["time"])
    # The photo is the render rounded to 8 bits. A pixel on a silhouette could flip to the
    # other surface under another float rounding; allow a handful of those.
    off = (scene.rgb - view.rgb).abs().amax(dim=0) > 0.5 / 255 + 1e-5
    assert int(off.sum()) <= 10, int(off.sum())
    # Depth: 0 exactly on the sky, else the render's depth within half a step.
    step = scene.meta["depth_scale"]
    assert torch.equal(scene.depth == 0, view.sky)
    error = (scene.depth - view.depth).abs()[~view.sky & ~off]
    assert float(error.max()) <= step / 2 + 1e-4 * float(view.depth[~view.sky].max())


def test_motorcycle_depth_is_metric(scenes):
    scene = scenes["motorcycle"]
    known = scene.depth[scene.known]
    assert 0.85 < float(scene.known.float().mean()) < 1.0  # occlusions have no ground truth
    assert 1.5 < float(known.min()) and float(known.max()) < 6.0  # metres, a lab scene
    assert scene.meta["depth_unit"] == "m"
    assert scene.camera.width == 512


# --------------------------------------------------------------------------- folder format


def small_scene(folder, **overrides):
    camera = Camera(40.0, 41.0, 8.0, 6.5, 16, 12)
    rgb = torch.rand(3, 12, 16, generator=torch.Generator().manual_seed(0))
    depth = torch.linspace(0.5, 9.0, 16 * 12).reshape(12, 16)
    depth[0, :4] = 0.0
    depth[1, :4] = torch.inf
    args = dict(
        depth_scale=0.001,
        depth_unit="m",
        source="test",
        licence="test",
        description="a tiny test scene",
        extra={"note": [1, 2]},
    )
    args.update(overrides)
    return save_scene(folder, rgb, depth, camera, **args), rgb, depth, camera


def test_save_and_load_round_trip(tmp_path):
    folder, rgb, depth, camera = small_scene(tmp_path / "tiny")
    scene = load_scene(folder)
    assert scene.name == "tiny" and scene.camera == camera
    assert (scene.rgb - rgb).abs().max() <= 0.5 / 255 + 1e-6
    known = torch.isfinite(depth) & (depth > 0)
    assert torch.equal(scene.known, known)
    assert (scene.depth - depth)[known].abs().max() <= 0.0005 + 1e-6
    assert scene.meta["note"] == [1, 2] and scene.meta["depth_scale"] == 0.001
    assert load_scene("tiny", root=tmp_path).name == "tiny"
    assert list_scenes(tmp_path) == ["tiny"]


def test_save_refuses_depth_that_does_not_fit(tmp_path):
    with pytest.raises(ValueError, match="does not fit 16 bits"):
        small_scene(tmp_path / "far", depth_scale=1e-5)


def test_unknown_name_lists_the_available_scenes():
    with pytest.raises(ValueError, match="unknown sample scene 'atlantis'") as error:
        load_scene("atlantis")
    for name in SHIPPED:
        assert name in str(error.value)


def test_missing_folder_or_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_scene(tmp_path / "nowhere")
    folder, *_ = small_scene(tmp_path / "tiny")
    (folder / "depth.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"'tiny'.*depth\.png is missing"):
        load_scene(folder)


@pytest.fixture
def copy_of_room(tmp_path):
    folder = tmp_path / "room"
    shutil.copytree(SCENES / "room", folder)
    return folder


def test_corrupt_scene_json_is_a_clear_value_error(copy_of_room):
    (copy_of_room / "scene.json").write_text('{"fx": 300, "fy": ', encoding="utf-8")
    with pytest.raises(ValueError, match=r"'room'.*scene\.json.*not valid JSON"):
        load_scene(copy_of_room)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"fx": "wide"}, "fx must be a number"),
        ({"width": 511.5}, "width must be a positive integer"),
        ({"width": 640}, "photo.png is 512x384, but scene.json says"),
        ({"depth_scale": 0}, "depth_scale must be > 0"),
        ({"fx": -3.0}, "bad intrinsics"),
        ({"licence": None}, "licence must be a string"),
    ],
)
def test_bad_scene_json_values(copy_of_room, change, message):
    meta = json.loads((copy_of_room / "scene.json").read_text())
    meta.update(change)
    (copy_of_room / "scene.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=message):
        load_scene(copy_of_room)


def test_missing_keys_are_named(copy_of_room):
    meta = json.loads((copy_of_room / "scene.json").read_text())
    del meta["depth_scale"], meta["cy"]
    (copy_of_room / "scene.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"missing keys \['cy', 'depth_scale'\]"):
        load_scene(copy_of_room)
    assert "depth_scale" in REQUIRED_KEYS


def test_eight_bit_depth_or_grey_photo_is_refused(copy_of_room):
    depth = np.asarray(Image.open(copy_of_room / "depth.png"))
    Image.fromarray((depth // 256).astype(np.uint8)).save(copy_of_room / "depth.png")
    with pytest.raises(ValueError, match="depth.png must be a 16-bit greyscale PNG"):
        load_scene(copy_of_room)
    Image.open(copy_of_room / "photo.png").convert("L").save(copy_of_room / "photo.png")
    with pytest.raises(ValueError, match="photo.png must be 8-bit RGB"):
        load_scene(copy_of_room)


def test_unreadable_image_is_a_value_error(copy_of_room):
    (copy_of_room / "photo.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="photo.png is not a readable image"):
        load_scene(copy_of_room)
