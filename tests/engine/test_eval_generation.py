"""engine.eval.generation: each metric on constructed images with known answers, and a small
end-to-end run of `latentscape eval generation`."""

import json
import math

import pytest
import torch

from engine import cli
from engine.eval import generation
from engine.eval.generation import (
    colour_distance,
    contrast,
    seam_ratio,
    seam_sums,
    sheet_frames,
    texture,
    to_lab,
    token_pixels,
    wasserstein_1d,
)

H, W = 48, 64  # 6 x 8 tokens


def grey(values: torch.Tensor) -> torch.Tensor:
    """(H, W) -> a grey image (3, H, W) whose luma is the values."""
    return values[None].expand(3, -1, -1).clone()


def ramp(slope: float = 0.01) -> torch.Tensor:
    """Luma rising by `slope` per pixel to the right: every horizontal jump is the same."""
    return grey((torch.arange(W) * slope).expand(H, W))


def diagonal(slope: float = 0.01) -> torch.Tensor:
    """Luma rising by `slope` per pixel to the right and down: every jump is the same."""
    return grey((torch.arange(W) + torch.arange(H)[:, None]) * slope)


def half_known(rng: torch.Generator) -> torch.Tensor:
    """A random token mask (h, w) with both kinds of token."""
    known = torch.rand(H // 8, W // 8, generator=rng) < 0.5
    known[0, 0], known[0, 1] = True, False
    return known


def test_flat_field_has_no_contrast_and_no_texture():
    flat = torch.full((3, H, W), 0.4)
    assert contrast(flat) == 0.0
    assert texture(flat) == 0.0


def test_contrast_is_the_luma_standard_deviation():
    two = grey((torch.arange(W) >= W // 2).float().expand(H, W))  # half black, half white
    assert contrast(two) == pytest.approx(0.5)
    rng = torch.Generator().manual_seed(0)
    x = torch.rand(3, H, W, generator=rng)
    assert contrast(0.5 * x) == pytest.approx(0.5 * contrast(x))
    assert contrast(x + 0.1) == pytest.approx(contrast(x))


def test_texture_of_a_ramp_is_half_its_slope():
    assert texture(ramp(0.01)) == pytest.approx(0.005)  # |dx| = 0.01, |dy| = 0
    both = grey(torch.arange(W) * 0.01 + torch.arange(H)[:, None] * 0.02)
    assert texture(both) == pytest.approx(0.015)


def test_seam_of_a_seamless_frame_is_one():
    rng = torch.Generator().manual_seed(1)
    known = half_known(rng)
    ratio, frames, edges = seam_ratio(diagonal()[None], known[None])
    assert ratio == pytest.approx(1.0)
    assert frames == 1 and edges > 0
    # a noise image is seamless too: every token edge is alike
    noise = torch.rand(3, 8 * H, 8 * W, generator=rng)
    big = torch.rand(H, W, generator=rng) < 0.5
    assert seam_ratio(noise[None], big[None])[0] == pytest.approx(1.0, abs=0.05)


def test_a_step_on_the_known_generated_edge_is_a_seam():
    known = torch.zeros(H // 8, W // 8, dtype=torch.bool)
    known[:, :4] = True  # the left half known: the seam is between columns 31 and 32
    step = diagonal() + 0.2 * grey(~token_pixels(known))  # the generated half lighter
    sums = seam_sums(step, known)
    assert sums.seam_n == H  # one token edge per token row: 8 pixel pairs each
    assert sums.seam / sums.seam_n == pytest.approx(0.21)
    assert sums.interior / sums.interior_n == pytest.approx(0.01, abs=1e-9)
    assert seam_ratio(step[None], known[None])[0] == pytest.approx(21.0)
    # the same step one pixel off the token edge is no seam at the token edge
    off = diagonal() + 0.2 * grey((torch.arange(W) >= 33).expand(H, W).float())
    assert seam_ratio(off[None], known[None])[0] == pytest.approx(1.0)


def test_seam_is_nan_without_known_generated_edges():
    known = torch.ones(H // 8, W // 8, dtype=torch.bool)
    ratio, frames, edges = seam_ratio(ramp()[None].repeat(2, 1, 1, 1), known[None].repeat(2, 1, 1))
    assert math.isnan(ratio) and frames == 0 and edges == 0


def test_seam_refuses_a_mask_off_the_token_grid():
    with pytest.raises(ValueError, match="token grid"):
        seam_sums(ramp(), torch.ones(5, 8, dtype=torch.bool))


def test_wasserstein_of_a_shift_is_the_shift():
    rng = torch.Generator().manual_seed(2)
    a = torch.randn(1000, generator=rng)
    assert wasserstein_1d(a, a) == 0.0
    assert wasserstein_1d(a, a[torch.randperm(1000, generator=rng)]) == 0.0
    assert wasserstein_1d(a, a + 3.5) == pytest.approx(3.5)
    assert wasserstein_1d(a, a[:500].repeat(2)) > 0
    # two point masses: all the mass moves by their distance; other sample counts allowed
    assert wasserstein_1d(torch.zeros(3), torch.full((7,), 2.0)) == pytest.approx(2.0)
    assert math.isnan(wasserstein_1d(a, torch.zeros(0)))


def test_wasserstein_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = torch.Generator().manual_seed(3)
    a = torch.randn(300, generator=rng, dtype=torch.float64)
    b = 2 * torch.rand(170, generator=rng, dtype=torch.float64)
    assert wasserstein_1d(a, b) == pytest.approx(
        stats.wasserstein_distance(a.numpy(), b.numpy()), rel=1e-9
    )


def test_colour_distance_is_zero_for_the_photo_and_the_shift_for_a_shifted_grey():
    pytest.importorskip("skimage")
    rng = torch.Generator().manual_seed(4)
    photo = torch.rand(3, H, W, generator=rng)
    every = torch.ones(2, H, W, dtype=torch.bool)
    frames = torch.stack([photo, photo.flip(-1)])  # the same pixels, moved
    assert colour_distance(frames, every, photo) == pytest.approx(0.0, abs=1e-9)
    # a grey's a and b are 0 (to 1e-3), so only L moves: the mean over L, a, b is |dL| / 3
    dark, light = torch.full((3, H, W), 0.3), torch.full((2, 3, H, W), 0.6)
    shift = (to_lab(torch.tensor([[0.6] * 3])) - to_lab(torch.tensor([[0.3] * 3])))[0]
    assert colour_distance(light, every, dark) == pytest.approx(float(shift.abs().mean()))
    assert colour_distance(light, every, dark) == pytest.approx(float(shift[0]) / 3, abs=1e-2)
    # only generated pixels count: the light frames' known pixels are left out
    mixed = light.clone()
    mixed[:, :, :, : W // 2] = 0.3
    half = torch.zeros(2, H, W, dtype=torch.bool)
    half[:, :, W // 2 :] = True
    assert colour_distance(mixed, half, dark) == pytest.approx(float(shift.abs().mean()))
    assert math.isnan(colour_distance(light, torch.zeros_like(every), dark))


def test_sheet_frames_of_eight_frame_segments():
    assert sheet_frames(8) == (0, 8, 16, 20, 24, 31)


def test_photo_sources_are_checked_first(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        generation.check_sources(["room", str(tmp_path / "missing.jpg")])
    with pytest.raises(FileNotFoundError, match="skimage.astronaut"):
        generation.check_sources(["skimage.camera"])  # a training image


def test_cli_reports_a_missing_photo(tmp_path, capsys):
    code = cli.main(["eval", "generation", "--photos", str(tmp_path / "nope.png")])
    assert code == cli.EXIT_ERROR
    assert "nope.png" in capsys.readouterr().err
    assert cli.main(["eval", "generation", "--offsets", "4"]) == cli.EXIT_ERROR
    assert cli.main(["eval", str(tmp_path), "--photos", "room"]) == cli.EXIT_ERROR


def test_end_to_end_writes_json_and_sheet(tmp_path, capsys):
    pytest.importorskip("skimage")
    out = tmp_path / "gen"
    # one torch thread: the generator's small eigh stalls when two threads share a busy CPU
    threads = torch.get_num_threads()
    try:
        code = cli.main(
            ["eval", "generation", "--photos", "room", "--size", "64x48", "--out", str(out)]
            + ["--config", "threads=1"]
        )
    finally:
        torch.set_num_threads(threads)
    captured = capsys.readouterr()
    assert code == cli.EXIT_OK, captured.err
    assert "segment 5/5" in captured.err
    assert "room" in captured.out and "every photo" in captured.out
    data = json.loads((out / "eval-generation.json").read_text())
    assert data["size"] == [64, 48] and data["frames"] == 40
    assert data["sheet_frames"] == [0, 8, 16, 20, 24, 31]
    (photo,) = data["photos"]
    assert photo["name"] == "room" and photo["depth"] == "given"
    assert set(photo["checks"]) == set(generation.CHECKS)
    assert len(photo["per_frame"]["contrast_ratio"]) == 40
    m = photo["metrics"]
    assert 0 < m["min_contrast_ratio"] and 0 <= m["min_contrast_frame"] < 40
    assert m["texture_ratio_away"] > 0 and m["blockiness_ratio"] > 0
    assert m["colour_distance"] is None or m["colour_distance"] >= 0
    from PIL import Image

    with Image.open(out / "sheet-generation.png") as sheet:
        # a header and one row of seven 64 x 48 tiles, 2 px apart
        assert sheet.size == (7 * 66 - 2, 16 + 50)
