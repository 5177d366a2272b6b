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
