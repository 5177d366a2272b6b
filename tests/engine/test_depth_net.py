"""The depth network: shapes, the residual bound, files, EmbeddedDepth with and without it,
the training script, and (when shipped) the trained weights on the held-out bench scenes."""

import json
import math
import random

import pytest
import torch
import torch.nn.functional as F

from engine import synth
from engine.camera import Camera
from engine.models.depth import EmbeddedDepth, sky_mask
from engine.models.depth import embedded as depth_mod
from engine.models.depth_net import (
    DEFAULT_WEIGHTS,
    DepthNet,
    DepthNetConfig,
    downsample,
    net_size,
)
from engine.train import depth as train_depth

SMALL = DepthNetConfig(width=64, height=48, channels=(4, 6, 8, 8, 8))


def loud(cfg: DepthNetConfig = SMALL, seed: int = 0, gain: float = 50.0) -> DepthNet:
    """A random network whose head is far from zero: residuals hit the tanh bound."""
    net = DepthNet.random(cfg, seed=seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed + 1)
        with torch.no_grad():
            net.model.head.weight.normal_(0.0, gain)
            net.model.head.bias.normal_(0.0, gain)
            net.model.context.weight.normal_(0.0, 1.0)
    return net


def room_view(w=96, h=72):
    scene = synth.room_scene(0)
    return scene.render(Camera.from_fov(60.0, w, h, scene.sample_path("orbit", 4)[1]))


# --------------------------------------------------------------------------- the network


def test_shapes_and_determinism():
    net = loud(seed=3)
    rgb, log_prior = torch.rand(2, 3, 48, 64), torch.rand(2, 1, 48, 64)
    residual, sky = net(rgb, log_prior)
    assert residual.shape == sky.shape == (2, 1, 48, 64)
    assert residual.dtype == sky.dtype == torch.float32
    again, _ = loud(seed=3)(rgb, log_prior)
    assert torch.equal(residual, again)
    with pytest.raises(ValueError, match="multiples of 16"):
        net(torch.rand(1, 3, 40, 64), torch.rand(1, 1, 40, 64))
    with pytest.raises(ValueError, match=r"log_prior \(B, 1, h, w\)"):
        net(rgb, torch.rand(2, 2, 48, 64))


def test_parameter_count_is_small():
    assert DepthNet.random().num_parameters() < 300_000


@pytest.mark.parametrize("hw", [(384, 512), (192, 256), (96, 128), (480, 640)])
def test_four_by_three_photos_go_to_96x128(hw):
    assert net_size(*hw, DepthNetConfig()) == (96, 128)


@pytest.mark.parametrize("hw", [(1080, 1920), (512, 384), (5, 300), (2, 2), (1000, 1000)])
def test_net_size_keeps_the_aspect_on_multiples_of_16(hw):
    h, w = net_size(*hw, DepthNetConfig())
    assert h % 16 == 0 and w % 16 == 0 and h >= 16 and w >= 16
    if min(hw) > 16:
        assert abs(math.log((w / h) / (hw[1] / hw[0]))) < 0.15
        assert 0.7 < h * w / (128 * 96) < 1.4


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="multiples of 16"):
        DepthNetConfig(width=100)
    with pytest.raises(ValueError, match="5 positive"):
        DepthNetConfig(channels=(8, 8))
    with pytest.raises(ValueError, match="max_residual"):
        DepthNetConfig(max_residual=math.inf)


def test_untrained_residual_is_zero():
    residual, sky = DepthNet.random(SMALL)(torch.rand(1, 3, 48, 64), torch.rand(1, 1, 48, 64))
    assert torch.equal(residual, torch.zeros_like(residual))
    assert torch.equal(sky, torch.zeros_like(sky))


@pytest.mark.parametrize(
    "image",
    [
        torch.rand(3, 72, 96, generator=torch.Generator().manual_seed(1)),
        torch.zeros(3, 72, 96),
        torch.ones(3, 72, 96),
        torch.rand(3, 2, 2),
        torch.rand(3, 5, 300),
    ],
    ids=["noise", "black", "white", "2x2", "strip"],
)
def test_residual_is_bounded_and_depth_finite_positive(image):
    net = loud()
    h, w = image.shape[1:]
    est = EmbeddedDepth(network=net)
    result = est.estimate(image)
    assert result.depth.shape == (h, w) and result.depth.dtype == torch.float32
    assert bool(torch.isfinite(result.depth).all()) and float(result.depth.min()) > 0
    # the prior's range, widened by the residual bound exp(+-2)
    fy = 0.5 * h / math.tan(math.radians(est.fov_y_deg) / 2)
    lowest = min(est.camera_height, est.ceiling_height, est.half_width * h / w) * fy / (0.5 * h)
    bound = math.exp(SMALL.max_residual)
    assert float(result.depth.min()) >= lowest / bound * (1 - 1e-4)
    assert float(result.depth.max()) <= max(est.max_depth, est.max_depth_outdoors) * bound * 1.0001
    small = downsample(image[None], net_size(h, w, SMALL))
    residual, _ = net(small, torch.zeros(1, 1, *small.shape[-2:]))
    assert float(residual.abs().max()) <= SMALL.max_residual
    assert float(residual.abs().max()) > 0.9 * SMALL.max_residual  # the bound is reached
    assert any("depth network" in note for note in result.notes)


def test_untrained_network_gives_the_upsampled_prior_and_colour_sky():
    """Zero residual and sky probability 1/2 everywhere: depth = the prior at the network's
    size, upsampled in log space; sky = the colour mask (every pixel is 'unsure')."""
    scene = synth.street_scene(0)
    view = scene.render(Camera.from_fov(60.0, 128, 96, scene.sample_path("forward", 2)[0]))
    result = EmbeddedDepth(network=DepthNet.random(SMALL)).estimate(view.rgb)
    small = downsample(view.rgb[None], net_size(96, 128, SMALL))
    log_prior = EmbeddedDepth(network=False).estimate_prior(small[0]).depth.log()
    up = F.interpolate(
        log_prior[None, None], size=(96, 128), mode="bilinear", align_corners=False
    ).exp()[0, 0]
    expected_sky = sky_mask(view.rgb)
    assert torch.equal(result.sky, expected_sky) and bool(expected_sky.any())
    torch.testing.assert_close(result.depth[~expected_sky], up[~expected_sky])
    assert float(result.depth[expected_sky].min()) >= float(result.depth[~expected_sky].max())


def test_detect_sky_off_gives_no_mask():
    result = EmbeddedDepth(network=loud(), detect_sky=False).estimate(room_view().rgb)
    assert result.sky is None and bool(torch.isfinite(result.depth).all())


# --------------------------------------------------------------------------- files


def test_save_load_round_trip_and_errors(tmp_path):
    net = loud(seed=5)
    path = tmp_path / "depth.safetensors"
    net.save(path, extra={"training": {"steps": 0}})
    back = DepthNet.load(path)
    assert back.cfg == SMALL and back.source == "depth.safetensors"
    x, p = torch.rand(1, 3, 48, 64), torch.rand(1, 1, 48, 64)
    for a, b in zip(back(x, p), net(x, p)):
        assert torch.equal(a, b)
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["training"] == {"steps": 0} and record["config"]["channels"] == [4, 6, 8, 8, 8]
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave nothing behind
    with pytest.raises(FileNotFoundError, match="engine.train.depth"):
        DepthNet.load(tmp_path / "missing.safetensors")
    path.with_suffix(".json").write_text(json.dumps({"config": {"width": 64, "height": 48}}))
    with pytest.raises(ValueError, match="do not fit"):
        DepthNet.load(path)
    path.with_suffix(".json").write_text("{}")
    with pytest.raises(ValueError, match="not an embedded depth config"):
        DepthNet.load(path)


def test_missing_weights_give_the_prior_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(depth_mod, "DEPTH_NET_WEIGHTS", tmp_path / "none.safetensors")
    est = EmbeddedDepth()
    assert est.net is None
    view = room_view()
    result = est.estimate(view.rgb)
    assert any("no depth network weights" in note for note in result.notes)
    assert torch.equal(result.depth, EmbeddedDepth(network=False).estimate(view.rgb).depth)
    assert not any(
        "no depth network" in n for n in EmbeddedDepth(network=False).estimate(view.rgb).notes
    )
    with pytest.raises(FileNotFoundError):
        EmbeddedDepth(network=tmp_path / "none.safetensors")


def test_weights_given_by_path(tmp_path):
    path = tmp_path / "d.safetensors"
    loud(seed=2).save(path)
    view = room_view()
    by_path = EmbeddedDepth(network=path).estimate(view.rgb)
    by_object = EmbeddedDepth(network=loud(seed=2)).estimate(view.rgb)
    assert torch.equal(by_path.depth, by_object.depth)


# --------------------------------------------------------------------------- training


def test_camera_pose_axes():
    pose = train_depth.camera_pose((1.0, 0.0, 2.0), 0.3, math.radians(10), math.radians(4))
    rotation = pose[:3, :3]
    torch.testing.assert_close(rotation.T @ rotation, torch.eye(3, dtype=torch.float64))
    assert abs(float(torch.linalg.det(rotation)) - 1) < 1e-9
    assert float(rotation[1, 2]) < 0  # pitched up: forward has a -y (up) component
    level = train_depth.camera_pose((0.0, 0.0, 0.0), 0.3, 0.0, 0.0)
    assert abs(float(level[1, 0])) < 1e-12 and abs(float(level[1, 2])) < 1e-12
    torch.testing.assert_close(
        level[:3, 2], torch.tensor([math.sin(0.3), 0, math.cos(0.3)]).double()
    )


def test_random_views_are_free_and_within_the_ranges():
    import random

    for scene, margin in ((synth.room_scene(2), 0.3), (synth.street_scene(2), 0.5)):
        rng = random.Random(0)
        for _ in range(20):
            pose, fov, _time = train_depth.random_view(scene, rng)
            assert scene.clearance(pose[:3, 3].tolist()) >= margin
            assert train_depth.FOV_RANGE[0] <= fov <= train_depth.FOV_RANGE[1]
            pitch = math.degrees(math.asin(-float(pose[1, 2])))
            assert abs(pitch) <= train_depth.MAX_PITCH + 1e-6


def test_loss_is_zero_at_the_target_and_ignores_masked_pixels():
    target = torch.randn(2, 1, 8, 8)
    valid = torch.rand(2, 1, 8, 8) > 0.3
    assert float(train_depth.si_log_loss(target, target, valid)) == pytest.approx(0, abs=1e-7)
    pred = target + 0.1 * torch.randn(2, 1, 8, 8)
    noisy = torch.where(valid, pred, pred + 5.0)
    a, b = (
        train_depth.si_log_loss(pred, target, valid),
        train_depth.si_log_loss(noisy, target, valid),
    )
    torch.testing.assert_close(a, b)
    # a global scale (constant log offset) costs only (1 - lambda) of its square
    shifted = train_depth.si_log_loss(target + 0.3, target, valid)
    assert float(shifted) == pytest.approx((1 - train_depth.LAMBDA) * 0.09, rel=1e-4)


def test_training_smoke_run_writes_loadable_weights(tmp_path):
    out = tmp_path / "depth-embedded.safetensors"
    assert train_depth.main(["--smoke", "--out", str(out)]) == 0
    net = DepthNet.load(out)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["training"]["steps"] == 3 and 0 not in record["training"]["room_seeds"]
    result = EmbeddedDepth(network=out).estimate(room_view().rgb)
    assert bool(torch.isfinite(result.depth).all()) and float(result.depth.min()) > 0
    assert net.cfg == DepthNetConfig()


def test_weathers_are_picked_by_share():
    rng = random.Random(0)
    picks = [train_depth.pick_weather(rng, 0.6) for _ in range(2000)]
    others = sum(p != "clear" for p in picks) / len(picks)
    assert 0.55 < others < 0.65 and set(picks) == set(synth.WEATHERS)
    assert {train_depth.pick_weather(rng, 0.0) for _ in range(50)} == {"clear"}


def test_fine_tune_from_weights_keeps_the_first_record(tmp_path):
    first = tmp_path / "first.safetensors"
    assert train_depth.main(["--smoke", "--out", str(first)]) == 0
    second = tmp_path / "second.safetensors"
    args = ["--smoke", "--init", str(first), "--weather-share", "1", "--out", str(second)]
    assert train_depth.main(args) == 0
    record = json.loads(second.with_suffix(".json").read_text())["training"]
    assert record["init"] == "first.safetensors" and record["weather_share"] == 1.0
    assert record["init_training"]["steps"] == 3 and record["init_training"]["init"] is None
    DepthNet.load(second)


# --------------------------------------------------------------------------- shipped weights


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="no trained depth weights shipped")
@pytest.mark.parametrize("kind", ["room", "street"])
def test_shipped_weights_meet_the_target_on_held_out_scenes(kind):
    """The bench's seed-1 rows (scenes never trained on): AbsRel <= 0.25, loop and orbit."""
    from engine.bench import depth as bench

    scene = synth.room_scene(1) if kind == "room" else synth.street_scene(1)
    estimator, prior = EmbeddedDepth(), EmbeddedDepth(network=False)
    assert estimator.net is not None
    for path in bench.PATHS:
        row = bench.evaluate(scene, path, 8, estimator=estimator, prior=prior)
        assert row["abs_rel"] <= bench.TARGET_ABS_REL, (kind, path, row["abs_rel"])
        assert row["abs_rel"] < row["prior_abs_rel"]
