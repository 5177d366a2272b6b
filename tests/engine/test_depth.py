"""engine.models.depth: file depth, the embedded prior, the transformers backend, metrics."""

import json
import math
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from engine.camera import Camera
from engine.models.depth import (
    DepthEstimator,
    DepthFileError,
    DepthResult,
    EmbeddedDepth,
    FileDepth,
    TransformersDepth,
    depth_metrics,
    load_depth_file,
    sky_mask,
)
from engine.models.depth import transformers_backend as depth_mod
from engine.synth import room_scene

H, W = 24, 32


def photo(h: int = H, w: int = W) -> torch.Tensor:
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(0))


def ramp_depth(h: int = H, w: int = W) -> np.ndarray:
    """(h, w) float32 depth from 0.5 to 10."""
    return np.linspace(0.5, 10.0, h * w, dtype=np.float32).reshape(h, w)


def save_png16(path, values: np.ndarray) -> None:
    Image.fromarray(values.astype(np.uint16)).save(path)


@pytest.fixture(scope="module")
def room_view():
    scene = room_scene(0)
    return scene.render(Camera.from_fov(60.0, 96, 72, scene.sample_path("loop", 3)[0]))


@pytest.fixture(scope="module")
def street_view():
    from engine import synth

    if not hasattr(synth, "street_scene"):
        pytest.skip("engine.synth has no street_scene yet")
    scene = synth.street_scene(0)
    return scene.render(Camera.from_fov(60.0, 160, 120, scene.sample_path("forward", 2)[0]))


# --------------------------------------------------------------------------- protocol


def test_backends_are_depth_estimators(tmp_path):
    np.save(tmp_path / "d.npy", ramp_depth())
    assert isinstance(EmbeddedDepth(), DepthEstimator)
    assert isinstance(FileDepth(tmp_path / "d.npy"), DepthEstimator)
    assert not isinstance(object(), DepthEstimator)


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.zeros(H, W), r"shape \(3, H, W\)"),
        (torch.zeros(1, 3, H, W), r"shape \(3, H, W\)"),
        (torch.zeros(3, H, W, dtype=torch.float64), "float32"),
        (torch.full((3, H, W), math.nan), "finite"),
        ([[0.0]], "torch.Tensor"),
    ],
)
def test_bad_rgb_is_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        EmbeddedDepth().estimate(bad)


# --------------------------------------------------------------------------- depth files


def test_png16_round_trip_with_scale(tmp_path):
    millimetres = (ramp_depth() * 1000).round()
    millimetres[0, :4] = 0  # unknown
    save_png16(tmp_path / "d.png", millimetres)
    depth = load_depth_file(tmp_path / "d.png", scale=0.001, size=(H, W))
    assert depth.shape == (H, W) and depth.dtype == torch.float32
    torch.testing.assert_close(depth, torch.from_numpy(millimetres / 1000).float())
    assert bool((depth[0, :4] == 0).all())


@pytest.mark.parametrize("sidecar", ["d.json", "d.png.json"])
def test_png16_scale_from_sidecar(tmp_path, sidecar):
    save_png16(tmp_path / "d.png", np.full((H, W), 2000))
    (tmp_path / sidecar).write_text(json.dumps({"depth_scale": 0.0005}))
    torch.testing.assert_close(load_depth_file(tmp_path / "d.png"), torch.ones(H, W))
    # an explicit scale wins over the sidecar
    torch.testing.assert_close(
        load_depth_file(tmp_path / "d.png", scale=0.001), torch.full((H, W), 2.0)
    )


def test_png16_without_scale_says_how_to_give_one(tmp_path):
    save_png16(tmp_path / "d.png", np.full((H, W), 2000))
    with pytest.raises(DepthFileError, match=r"d\.png.*scale=.*d\.json.*depth_scale"):
        load_depth_file(tmp_path / "d.png")


@pytest.mark.parametrize("value", [-1, "0.001", 0, math.inf])
def test_bad_sidecar_scale(tmp_path, value):
    save_png16(tmp_path / "d.png", np.full((H, W), 2000))
    (tmp_path / "d.json").write_text(json.dumps({"depth_scale": value}))
    with pytest.raises(DepthFileError, match="depth_scale"):
        load_depth_file(tmp_path / "d.png")


def test_unparsable_sidecar(tmp_path):
    save_png16(tmp_path / "d.png", np.full((H, W), 2000))
    (tmp_path / "d.json").write_text("{not json")
    with pytest.raises(DepthFileError, match=r"d\.json: cannot be read as JSON"):
        load_depth_file(tmp_path / "d.png")


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_eight_bit_and_colour_pngs_are_refused(tmp_path, mode):
    Image.new(mode, (W, H)).save(tmp_path / "d.png")
    with pytest.raises(DepthFileError, match="16-bit grey"):
        load_depth_file(tmp_path / "d.png", scale=0.001)


def test_npy_round_trip_and_shapes(tmp_path):
    depth = ramp_depth()
    for name, array in (("a", depth), ("b", depth[None]), ("c", depth[:, :, None])):
        np.save(tmp_path / f"{name}.npy", array)
        torch.testing.assert_close(
            load_depth_file(tmp_path / f"{name}.npy"), torch.from_numpy(depth)
        )
    np.save(tmp_path / "d.npy", depth.astype(np.float64))
    torch.testing.assert_close(
        load_depth_file(tmp_path / "d.npy", scale=2.0), torch.from_numpy(depth * 2)
    )


def test_npy_integers_need_a_scale(tmp_path):
    np.save(tmp_path / "i.npy", np.full((H, W), 1500, np.uint16))
    with pytest.raises(DepthFileError, match="integer array"):
        load_depth_file(tmp_path / "i.npy")
    torch.testing.assert_close(
        load_depth_file(tmp_path / "i.npy", scale=0.001), torch.full((H, W), 1.5)
    )


def test_inf_is_sky_and_zero_unknown_in_file_depth(tmp_path):
    depth = ramp_depth()
    depth[:3] = np.inf
    depth[-1, :5] = 0
    np.save(tmp_path / "d.npy", depth)
    result = FileDepth(tmp_path / "d.npy").estimate(photo())
    assert isinstance(result, DepthResult)
    assert result.sky is not None and int(result.sky.sum()) == 3 * W
    assert bool(torch.isinf(result.depth[result.sky]).all())
    assert int((result.depth == 0).sum()) == 5
    assert any("sky" in note for note in result.notes)
    assert any("unknown" in note for note in result.notes)
    np.save(tmp_path / "plain.npy", ramp_depth())
    assert FileDepth(tmp_path / "plain.npy").estimate(photo()).sky is None


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.__setitem__((0, 0), np.nan), "NaN"),
        (lambda d: d.__setitem__((2, 3), -1.0), r"negative depth values \(first at row 2, col 3"),
        (lambda d: d.__setitem__((0, 0), -np.inf), "negative"),
        (lambda d: d.fill(0.0), "no finite depth > 0"),
        (lambda d: d.fill(np.inf), "no finite depth > 0"),
    ],
)
def test_bad_depth_values_are_refused(tmp_path, edit, message):
    depth = ramp_depth()
    edit(depth)
    np.save(tmp_path / "d.npy", depth)
    with pytest.raises(DepthFileError, match=message):
        load_depth_file(tmp_path / "d.npy")


def test_size_must_match_the_photo(tmp_path):
    np.save(tmp_path / "d.npy", ramp_depth())
    with pytest.raises(DepthFileError, match=r"\(24, 32\) does not match the photo's \(24, 31\)"):
        load_depth_file(tmp_path / "d.npy", size=(24, 31))
    with pytest.raises(DepthFileError, match="does not match"):
        FileDepth(tmp_path / "d.npy").estimate(photo(24, 31))


def test_bad_files(tmp_path):
    with pytest.raises(DepthFileError, match="no such depth file"):
        load_depth_file(tmp_path / "none.npy")
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(DepthFileError, match="empty"):
        load_depth_file(tmp_path / "empty.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(DepthFileError, match=r"junk\.npy: cannot be read as a \.npy"):
        load_depth_file(tmp_path / "junk.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DepthFileError, match="cannot be read"):
        load_depth_file(tmp_path / "obj.npy")
    np.save(tmp_path / "vec.npy", np.ones(10, np.float32))
    with pytest.raises(DepthFileError, match="2-D"):
        load_depth_file(tmp_path / "vec.npy")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(DepthFileError, match="cannot be read as a PNG"):
        load_depth_file(tmp_path / "junk.png", scale=1.0)
    (tmp_path / "d.tiff").write_bytes(b"x")
    with pytest.raises(DepthFileError, match=r"unsupported depth file type '\.tiff'"):
        load_depth_file(tmp_path / "d.tiff")
    np.save(tmp_path / "d.npy", ramp_depth())
    with pytest.raises(DepthFileError, match="scale must be"):
        load_depth_file(tmp_path / "d.npy", scale=-1.0)


def test_exr_without_a_reader_says_what_to_install(tmp_path, monkeypatch):
    (tmp_path / "d.exr").write_bytes(b"v/1\x01 not really")
    monkeypatch.setitem(sys.modules, "OpenEXR", None)  # import OpenEXR -> ImportError
    with pytest.raises(DepthFileError, match=r"pip install OpenEXR"):
        load_depth_file(tmp_path / "d.exr")


def test_exr_round_trip(tmp_path):
    OpenEXR = pytest.importorskip("OpenEXR")
    if not hasattr(OpenEXR, "File"):
        pytest.skip("OpenEXR < 3.3")
    depth = ramp_depth()
    depth[0, 0] = np.inf
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"Z": depth}) as exr:
        exr.write(str(tmp_path / "d.exr"))
    torch.testing.assert_close(load_depth_file(tmp_path / "d.exr"), torch.from_numpy(depth))
    (tmp_path / "bad.exr").write_bytes(b"not an exr file")
    with pytest.raises(DepthFileError, match="cannot be read as an EXR"):
        load_depth_file(tmp_path / "bad.exr")


# --------------------------------------------------------------------------- embedded prior


def check_everywhere_valid(result: DepthResult, h: int, w: int) -> None:
    depth = result.depth
    assert depth.shape == (h, w) and depth.dtype == torch.float32
    assert bool(torch.isfinite(depth).all()) and float(depth.min()) > 0
    assert float(depth.max()) > 1.05 * float(depth.min())  # not constant


@pytest.mark.parametrize(
    "image",
    [
        torch.rand(3, 72, 96, generator=torch.Generator().manual_seed(1)),  # noise
        torch.zeros(3, 72, 96),  # black
        torch.ones(3, 72, 96),  # white
        torch.tensor([0.4, 0.6, 0.95])[:, None, None].expand(3, 72, 96).contiguous(),  # all "sky"
        torch.rand(3, 2, 2),  # tiny
        torch.rand(3, 5, 300),  # a strip
    ],
    ids=["noise", "black", "white", "blue", "2x2", "strip"],
)
def test_embedded_depth_is_finite_positive_and_not_constant(image):
    h, w = image.shape[1:]
    result = EmbeddedDepth(network=False).estimate(image)
    assert result.depth.shape == (h, w)
    assert bool(torch.isfinite(result.depth).all()) and float(result.depth.min()) > 0
    if h * w > 4:
        check_everywhere_valid(result, h, w)
    est = EmbeddedDepth(network=False)
    fy = 0.5 * h / math.tan(math.radians(est.fov_y_deg) / 2)
    lowest = min(est.camera_height, est.ceiling_height, est.half_width * h / w) * fy / (0.5 * h)
    assert float(result.depth.min()) >= lowest - 1e-4
    assert float(result.depth.max()) <= max(est.max_depth, est.max_depth_outdoors)


@pytest.mark.parametrize("network", [False, True], ids=["prior", "default"])
def test_embedded_depth_on_synthetic_views(room_view, street_view, network):
    est = EmbeddedDepth(network=network)
    room = est.estimate(room_view.rgb)
    check_everywhere_valid(room, 72, 96)
    assert room.sky is not None and not bool(room.sky.any())  # a closed room has no sky
    assert depth_metrics(room.depth, room_view.depth)["abs_rel"] < 0.3
    street = est.estimate(street_view.rgb)
    check_everywhere_valid(street, 120, 160)
    iou = int((street.sky & street_view.sky).sum()) / int((street.sky | street_view.sky).sum())
    assert iou > 0.5
    assert depth_metrics(street.depth, street_view.depth, ~street_view.sky)["abs_rel"] < 0.5


def test_embedded_depth_is_deterministic_and_options_work(room_view):
    a = EmbeddedDepth().estimate(room_view.rgb)
    b = EmbeddedDepth().estimate(room_view.rgb.clone())
    assert torch.equal(a.depth, b.depth)
    assert EmbeddedDepth(detect_sky=False).estimate(room_view.rgb).sky is None
    prior = EmbeddedDepth(contact=False, network=False).estimate(room_view.rgb).depth
    torch.testing.assert_close(prior, EmbeddedDepth().prior(72, 96))


def test_prior_ground_rows_follow_the_ground_plane():
    est = EmbeddedDepth(half_width=1e6)  # no side walls
    depth = est.prior(40, 60)
    fy = 20 / math.tan(math.radians(30))
    v = torch.arange(21, 40, dtype=torch.float64) + 0.5  # the rows below the horizon
    expected = (fy * 1.5 / (v - 20)).clamp(max=est.max_depth)
    torch.testing.assert_close(depth[21:, 30].double(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [dict(fov_y_deg=0.0), dict(horizon=1.0), dict(camera_height=0.0), dict(max_depth=math.inf)],
)
def test_embedded_depth_refuses_bad_settings(kwargs):
    with pytest.raises(ValueError):
        EmbeddedDepth(**kwargs)


def test_sky_mask_needs_blue_connected_to_the_top():
    image = torch.full((3, 40, 40), 0.3)
    image[:, :12] = torch.tensor([0.5, 0.7, 0.95])[:, None, None]  # sky band at the top
    image[:, 25:30, 5:35] = torch.tensor([0.5, 0.7, 0.95])[:, None, None]  # blue, but low
    mask = sky_mask(image)
    assert bool(mask[:12].all()) and not bool(mask[12:].any())
    white = torch.full((3, 40, 40), 0.3)
    white[:, :12] = 0.9  # a white ceiling (or overcast sky): not taken for sky
    assert not bool(sky_mask(white).any())


# --------------------------------------------------------------------------- transformers


@pytest.fixture(scope="module")
def tiny_depth_model(tmp_path_factory):
    """A tiny random Depth Anything (Dinov2 backbone, 16 wide, 2 layers) saved to disk."""
    transformers = pytest.importorskip("transformers")
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil

    backbone = transformers.Dinov2Config(
        image_size=28,
        patch_size=14,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        out_indices=[1, 2],
        reshape_hidden_states=False,
    )
    config = transformers.DepthAnythingConfig(
        backbone_config=backbone,
        patch_size=14,
        reassemble_hidden_size=16,
        reassemble_factors=[2, 1],
        neck_hidden_sizes=[8, 16],
        fusion_hidden_size=8,
        head_hidden_size=8,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = transformers.DepthAnythingForDepthEstimation(config).eval()
        with torch.no_grad():  # a positive, varied output instead of ReLU(~0)
            model.head.conv3.bias.fill_(1.0)
            model.head.conv3.weight.mul_(200.0)
    path = tmp_path_factory.mktemp("tiny-depth-anything")
    model.save_pretrained(path)
    processor = DPTImageProcessorPil(
        size={"height": 56, "width": 56},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        do_pad=False,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    processor.save_pretrained(path)
    return path


def test_transformers_depth_offline_shapes_and_median_policy(tiny_depth_model):
    est = TransformersDepth(tiny_depth_model, local_files_only=True, median_depth=3.0)
    assert isinstance(est, DepthEstimator) and not est.metric
    rgb = torch.rand(3, 37, 53, generator=torch.Generator().manual_seed(2))
    result = est.estimate(rgb)
    depth = result.depth
    assert depth.shape == (37, 53) and depth.dtype == torch.float32 and result.sky is None
    assert bool(torch.isfinite(depth).all()) and float(depth.min()) > 0
    assert float(depth.std()) > 0
    assert abs(float(depth.double().median()) - 3.0) < 1e-3
    assert float(depth.max() / depth.min()) <= 50.0 * (1 + 1e-4)
    assert torch.equal(est.estimate(rgb).depth, depth)  # deterministic


def test_transformers_preprocessing_matches_the_image_processor(tiny_depth_model):
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil

    est = TransformersDepth(tiny_depth_model)
    y, x = torch.meshgrid(torch.linspace(0, 1, 45), torch.linspace(0, 1, 70), indexing="ij")
    rgb = torch.stack([x, y, 0.5 * (x + y)]).float()  # smooth, so resamplers agree
    ours, _ = depth_mod._prepare(rgb, est.preprocess)
    pixels = (rgb.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    processor = DPTImageProcessorPil.from_pretrained(tiny_depth_model)
    theirs = processor(images=Image.fromarray(pixels), return_tensors="pt")["pixel_values"]
    assert ours.shape == theirs.shape
    assert float((ours - theirs).abs().mean()) < 0.05


def test_disparity_policy():
    est = TransformersDepth.__new__(TransformersDepth)  # the policy alone, no model
    est.median_depth, est.max_ratio = 2.0, 10.0
    disp = torch.linspace(-1.0, 4.0, 101, dtype=torch.float64).reshape(1, 101)
    notes = []
    depth = est._from_disparity(disp, notes)
    assert abs(float(depth.median()) - 2.0) < 1e-9
    assert float(depth.max() / depth.min()) == pytest.approx(10.0)
    assert bool((depth[0, 1:] <= depth[0, :-1]).all())  # nearer where disparity is larger
    zero = est._from_disparity(torch.zeros(4, 4, dtype=torch.float64), notes)
    assert torch.equal(zero, torch.full((4, 4), 2.0, dtype=torch.float64))
    assert any("no positive disparity" in note for note in notes)


def test_metric_models_are_used_as_is(tiny_depth_model):
    est = TransformersDepth(tiny_depth_model, metric=True)
    rgb = torch.rand(3, 28, 42, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        pixels, _ = depth_mod._prepare(rgb, est.preprocess)
        raw = est.model(pixel_values=pixels).predicted_depth[0]
    assert raw.shape == (42, 56)  # keep_aspect_ratio, multiple of 14, for size 56
    raw = torch.nn.functional.interpolate(raw[None, None], size=(28, 42), mode="bilinear")[0, 0]
    torch.testing.assert_close(est.estimate(rgb).depth, torch.where(raw > 0, raw, 0.0))


def test_missing_model_says_what_to_download(tmp_path):
    pytest.importorskip("transformers")
    with pytest.raises(FileNotFoundError, match=r"does not exist.*hf download"):
        TransformersDepth(tmp_path / "no-such-folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        TransformersDepth(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=r"Hugging Face cache.*HF_HUB_OFFLINE.*local_files"):
        TransformersDepth("nobody-here/no-such-depth-model")


# --------------------------------------------------------------------------- metrics


def test_metrics_on_known_inputs():
    gt = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    perfect = depth_metrics(gt * 7, gt)  # median scaling removes the factor
    assert perfect["abs_rel"] == pytest.approx(0) and perfect["rmse"] == pytest.approx(0)
    assert perfect["delta1"] == 1.0 and perfect["scale"] == pytest.approx(1 / 7)
    m = depth_metrics(torch.tensor([[1.0, 2.0], [3.0, 8.0]]), gt)
    assert m["scale"] == 1.0  # both medians are 2.5
    assert m["abs_rel"] == pytest.approx(0.25)  # |8 - 4| / 4 over 4 pixels
    assert m["rmse"] == pytest.approx(2.0)  # sqrt(16 / 4)
    assert m["delta1"] == pytest.approx(0.75) and m["n"] == 4
    mask = torch.tensor([[True, True], [True, False]])
    assert depth_metrics(torch.tensor([[1.0, 2.0], [3.0, 8.0]]), gt, mask)["abs_rel"] == 0


def test_metrics_skip_invalid_pixels_and_are_scale_free():
    gen = torch.Generator().manual_seed(4)
    gt = torch.rand(20, 30, generator=gen) * 9 + 1
    pred = gt * (1 + 0.2 * torch.randn(20, 30, generator=gen)).clamp(min=0.1)
    base = depth_metrics(pred, gt)
    for factor in (0.01, 3.0, 1e3):
        scaled = depth_metrics(pred * factor, gt)
        assert scaled["abs_rel"] == pytest.approx(base["abs_rel"])
        assert scaled["delta1"] == pytest.approx(base["delta1"])
    gt_holes = gt.clone()
    gt_holes[0] = 0
    gt_holes[1] = math.inf
    assert depth_metrics(pred, gt_holes)["n"] == 18 * 30


def test_metrics_refuse_bad_input():
    gt = torch.ones(4, 4)
    with pytest.raises(ValueError, match="same shape"):
        depth_metrics(torch.ones(4, 5), gt)
    with pytest.raises(ValueError, match="bool"):
        depth_metrics(gt, gt, torch.ones(4, 4))
    with pytest.raises(ValueError, match="no pixel"):
        depth_metrics(gt, gt, torch.zeros(4, 4, dtype=torch.bool))


# --------------------------------------------------------------------------- bench


def test_bench_depth_runs_and_writes_json(tmp_path, capsys):
    from engine.bench import depth as bench

    assert bench.run(json_out=tmp_path / "depth.json", poses=2) == 0
    payload = json.loads((tmp_path / "depth.json").read_text())
    rows = payload["results"]
    assert {(r["scene"], r["seed"], r["path"]) for r in rows} == {
        (scene, seed, path)
        for scene in ("room", "street")
        for seed in (0, 1)
        for path in ("loop", "orbit")
    }
    for row in rows:
        assert row["views"] == 2 and len(row["per_view"]) == 2
        assert 0 <= row["abs_rel"] < 1 and 0 <= row["delta1"] <= 1
        assert 0 <= row["prior_abs_rel"] < 1 and 0 <= row["prior_delta1"] <= 1
    assert set(payload["timing_ms"]) == {"prior", "net"}
    assert all(t > 0 for t in payload["timing_ms"].values())
    out = capsys.readouterr().out
    assert "AbsRel" in out and "512x384 estimate" in out
