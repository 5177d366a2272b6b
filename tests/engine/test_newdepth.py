"""engine.newdepth: the depth backend's estimate of a decoded frame, aligned to the known tokens."""

import math

import pytest
import torch

from engine.models.depth import DepthResult, EmbeddedDepth
from engine.newdepth import (
    MIN_KNOWN,
    align_scale,
    estimate_tokens,
    estimated_depth,
    scale_misfit,
)

F = 4  # pixels per token side
H, W = 12, 16  # tokens


class GivenDepth:
    """An estimator that returns the depth (and sky) it was made with, whatever the rgb."""

    name = "given"

    def __init__(self, depth: torch.Tensor, sky: torch.Tensor | None = None) -> None:
        self.depth, self.sky = depth, sky
        self.calls = 0

    def estimate(self, rgb: torch.Tensor) -> DepthResult:
        self.calls += 1
        assert tuple(rgb.shape[1:]) == tuple(self.depth.shape)
        return DepthResult(depth=self.depth.clone(), sky=self.sky)


def pixels(tokens: torch.Tensor) -> torch.Tensor:
    """Token values (h, w) -> pixel values (h F, w F), each token's value on its pixels."""
    return tokens.repeat_interleave(F, 0).repeat_interleave(F, 1)


def scene(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rgb, true token depth (H, W) in [0.5, 20], known (H, W)) with a random hole."""
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(3, H * F, W * F, generator=g)
    depth = torch.exp(torch.empty(H, W).uniform_(math.log(0.5), math.log(20.0), generator=g))
    known = torch.rand(H, W, generator=g) < 0.6
    return rgb, depth, known


@pytest.mark.parametrize("seed", range(6))
def test_a_scaled_copy_of_the_true_depth_is_recovered(seed):
    rgb, true, known = scene(seed)
    scale = float(torch.exp(torch.randn(1, generator=torch.Generator().manual_seed(seed)) * 2))
    depth = torch.where(known, true, 0.0)  # the holes' depth is unknown
    out = estimated_depth(rgb, depth, known, GivenDepth(pixels(true * scale)), F)
    assert out is not None
    torch.testing.assert_close(out, true, rtol=1e-5, atol=0)


@pytest.mark.parametrize("seed", range(6))
def test_known_tokens_keep_their_depth(seed):
    rgb, true, known = scene(seed)
    depth = torch.where(known, true, 0.0)
    depth[0, 0], known[0, 0] = math.inf, True  # known sky stays sky
    depth[0, 1], known[0, 1] = 0.0, True  # a known token without depth keeps its 0
    g = torch.Generator().manual_seed(100 + seed)
    estimate = pixels(torch.rand(H, W, generator=g) * 10 + 0.1)
    out = estimated_depth(rgb, depth, known, GivenDepth(estimate), F)
    assert out is not None
    assert torch.equal(out[known], depth[known])
    assert bool((out[~known] > 0).all()) and bool(torch.isfinite(out[~known]).all())


def test_sky_of_the_estimate_is_inf_on_new_tokens_only():
    rgb, true, known = scene(0)
    sky_tokens = torch.zeros(H, W, dtype=torch.bool)
    sky_tokens[:3] = True  # the top rows are sky in the estimate
    sky = pixels(sky_tokens)
    estimate = pixels(true * 2.0)
    estimate[sky] = 1e3  # an estimator gives sky some finite depth; its mask says sky
    depth = torch.where(known, true, 0.0)
    out = estimated_depth(rgb, depth, known, GivenDepth(estimate, sky), F)
    assert out is not None
    assert bool(torch.isinf(out[sky_tokens & ~known]).all())
    assert torch.equal(out[known], depth[known])  # known tokens under the "sky" keep theirs
    torch.testing.assert_close(out[~sky_tokens], true[~sky_tokens], rtol=1e-5, atol=0)


def test_a_token_partly_sky_takes_its_other_pixels_depth():
    rgb, true, _ = scene(1)
    known = torch.ones(H, W, dtype=torch.bool)
    known[5, 5] = False
    sky = torch.zeros(H * F, W * F, dtype=torch.bool)
    sky[5 * F, 5 * F] = True  # one pixel of the hole's token is sky, as in World.seed
    out = estimated_depth(rgb, true, known, GivenDepth(pixels(true), sky), F)
    assert out is not None
    torch.testing.assert_close(out[5, 5], true[5, 5])


def test_too_few_known_tokens_give_none():
    rgb, true, _ = scene(2)
    estimator = GivenDepth(pixels(true))
    known = torch.zeros(H, W, dtype=torch.bool)
    assert estimated_depth(rgb, torch.zeros(H, W), known, estimator, F) is None
    known.view(-1)[: MIN_KNOWN - 1] = True
    assert estimated_depth(rgb, torch.where(known, true, 0.0), known, estimator, F) is None
    known.view(-1)[:MIN_KNOWN] = True
    assert estimated_depth(rgb, torch.where(known, true, 0.0), known, estimator, F) is not None
    # known sky and known tokens of unknown depth do not count
    known[:] = True
    depth = torch.full((H, W), math.inf)
    depth[0, : MIN_KNOWN - 1] = true[0, : MIN_KNOWN - 1]
    assert estimated_depth(rgb, depth, known, estimator, F) is None
    assert estimated_depth(rgb, depth, known, estimator, F, min_known=MIN_KNOWN - 1) is not None


def test_the_scale_ignores_a_minority_of_wrong_known_tokens():
    _, true, _ = scene(3)
    known = torch.ones(H, W, dtype=torch.bool)
    depth = true.clone()
    wrong = torch.rand(H, W, generator=torch.Generator().manual_seed(3)) < 0.3
    depth[wrong] *= 50.0  # the memory disagrees with the estimate there
    assert align_scale(true * 4.0, depth, known) == pytest.approx(0.25, rel=1e-9)


def test_bad_shapes_are_refused():
    rgb, true, known = scene(4)
    est = GivenDepth(pixels(true))
    with pytest.raises(ValueError, match="one shape"):
        estimated_depth(rgb, true, known[:-1], est, F)
    with pytest.raises(ValueError, match=r"expects rgb \(3, 48, 64\)"):
        estimated_depth(rgb[:, :-F], true, known, est, F)
    with pytest.raises(ValueError, match="multiples of 4"):
        estimate_tokens(rgb[:, :-1], est, F)


def test_the_embedded_backend_gives_finite_new_depth():
    rgb, true, known = scene(5)
    depth = torch.where(known, true, 0.0)
    out = estimated_depth(rgb, depth, known, EmbeddedDepth(), F)
    assert out is not None
    assert torch.equal(out[known], depth[known])
    new = out[~known]
    assert bool(((new > 0) | torch.isinf(new)).all())


def test_an_estimate_that_does_not_fit_the_known_tokens_can_be_refused():
    rgb, true, known = scene(6)
    depth = torch.where(known, true, 0.0)
    g = torch.Generator().manual_seed(6)
    noise = torch.exp(torch.randn(H, W, generator=g))  # a factor e^N(0, 1) per token
    shaped = GivenDepth(pixels(true * 3.0 * noise))
    assert scale_misfit(true * 3.0, true, known, 1 / 3) == pytest.approx(0.0, abs=1e-6)
    assert scale_misfit(true * noise, true, known, 1.0) > 0.5
    assert estimated_depth(rgb, depth, known, shaped, F) is not None  # not asked: aligned
    assert estimated_depth(rgb, depth, known, shaped, F, max_misfit=0.15) is None
    exact = GivenDepth(pixels(true * 3.0))
    assert estimated_depth(rgb, depth, known, exact, F, max_misfit=0.15) is not None


@pytest.mark.slow
def test_the_measurement_script_runs_on_the_room(tmp_path, monkeypatch):
    import importlib.util
    import json
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "new_token_depth.py"
    spec = importlib.util.spec_from_file_location("new_token_depth", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, script)  # its dataclass looks itself up
    spec.loader.exec_module(script)
    assert script.main(["--out", str(tmp_path), "--scenes", "room", "--repeats", "1"]) == 0
    table = json.loads((tmp_path / "table.json").read_text())
    assert [r["move"] for r in table["rows"]] == list(script.SYNTH_MOVES)
    for row in table["rows"]:
        assert row["layout"]["tokens"] > 0 and 0 <= row["estimated"]["within_10"] <= 1
    assert (tmp_path / "sheet.png").stat().st_size > 0
