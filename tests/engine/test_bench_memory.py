"""The memory benchmark: its parts on small inputs, and the --quick CLI run as a smoke test.

No timing is asserted; sizes and counts are deterministic and are."""

import json

import pytest

from engine.bench import memory as bench
from engine.camera import Camera
from engine.cli import main


def test_synthetic_memory_puts_the_asked_fraction_in_view():
    cam = Camera.from_fov(27.0, 64, 48)
    for visible in (1.0, 0.1):
        mem = bench.synthetic_memory(20_000, visible, cam)
        in_view = int((mem.store.project(cam).pix < 64 * 48).sum()) / len(mem)
        assert abs(in_view - visible) < 0.02


def test_scaling_rows():
    rows = bench.scaling([2_000], repeats=1)
    assert [r["entries"] for r in rows] == [2_000, 2_000]
    assert rows[1]["projected"] < rows[0]["projected"]  # culling at work
    assert all(r["readout_ms"] > 0 for r in rows)


@pytest.mark.bench
@pytest.mark.slow
def test_quick_bench_from_the_cli(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "memory", "--quick", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) >= {
        "config",
        "machine",
        "segments",
        "summary",
        "quantisation",
        "loop",
        "scaling",
    }
    assert len(result["segments"]) == 5
    s = result["summary"]
    # Deterministic sizes: the latent cache is over 50x smaller (56x with 17 bytes an entry,
    # 53x since each entry keeps its footprint in one more byte: issue 13 allows <= 1 byte).
    assert s["bytes_ratio"] >= 50
    assert result["loop"]["growth"] <= 0.05
    q = result["quantisation"]
    assert q["readout_psnr_db"] > q["codec_psnr_db"] + 10
    printed = capsys.readouterr().out
    assert "Latent vs RGB memory" in printed and "Readout time against memory size" in printed
