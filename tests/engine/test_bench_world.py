"""`latentscape bench world --quick` runs end to end and writes its JSON (a smoke test; the
figures themselves are read from the full run, not asserted)."""

import json

import pytest

from engine import cli
from engine.models.embedded_codec import DEFAULT_WEIGHTS


@pytest.mark.bench
@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="needs the embedded codec weights")
def test_quick_bench_world_from_the_cli(tmp_path, capsys):
    out = tmp_path / "world.json"
    assert cli.main(["bench", "world", "--quick", "--json", str(out)]) == cli.EXIT_OK
    result = json.loads(out.read_text())
    assert set(result) >= {"config", "machine", "embedded", "taesd", "closed_loop", "ground_truth"}
    assert [r["segment"] for r in result["embedded"]] == [1, 2, 3, 4, 5]
    for row in result["embedded"] + result["taesd"]:
        assert row["latent"]["s_per_frame"] > 0 and row["rgb"]["cache_mib"] > 0
        assert row["ratio"]["cache"] > 1  # the RGB memory is always the bigger one
    assert result["closed_loop"]["known_fraction"] > 0.9
    assert result["ground_truth"]["frames"] == 2
    printed = capsys.readouterr().out
    assert "closed loop" in printed and "TAESD-size" in printed


@pytest.mark.bench
def test_video_bench_from_the_cli_with_the_tiny_architecture(tmp_path, capsys):
    out = tmp_path / "wan.json"
    argv = ["bench", "world", "--generator", "diffusers-wan-vace:random-tiny", "--size", "128x96"]
    argv += ["--frames", "4", "--segments", "2", "--steps", "1", "--json", str(out)]
    assert cli.main(argv) == cli.EXIT_OK
    result = json.loads(out.read_text())
    (size,) = result["sizes"]
    assert (size["width"], size["height"]) == (128, 96)
    assert [r["segment"] for r in size["rows"]] == [1, 2]
    for row in size["rows"]:
        assert row["latent"]["frames"] == 4 and row["rgb"]["memory_path_ms"] > 0
        assert row["cache_ratio"] > 1  # the RGB memory keeps pixels
    assert result["bench"]["reduced"] == []  # the tiny architecture is not reduced
    assert "Wan VACE segment cycle" in capsys.readouterr().out


def test_the_video_bench_reduces_the_full_model_on_the_cpu_and_says_what():
    from engine.bench.video import PAPER_SIZES, VideoBench

    bench = VideoBench.for_machine("diffusers-wan-vace:random-full", device="cpu", frames=8)
    assert bench.frames == 8 and "frames" not in bench.reduced  # given, kept
    assert set(bench.reduced) == {"sizes", "steps", "layers"}
    assert bench.sizes != PAPER_SIZES and bench.layers is not None
    with pytest.raises(ValueError, match="random-<size>"):
        from engine.bench.video import run

        run(VideoBench(generator="diffusers-wan-vace:models/x"))


def test_the_video_bench_refuses_a_size_the_transformer_cannot_patch(capsys):
    assert cli.main(["bench", "world", "--generator", "x", "--size", "100x96"]) == 2
    assert "multiples of 32, got '100x96'" in capsys.readouterr().err
