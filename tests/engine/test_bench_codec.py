"""`latentscape bench codec` runs end to end on a codec file (an untrained one here)."""

import json

import pytest
import torch

from engine.bench.codec import PHOTOS, centre_crop
from engine.cli import main
from engine.models.codec import PCACodec
from engine.models.embedded_codec import CodecConfig, EmbeddedCodec

pytest.importorskip("skimage", reason="bench extras not installed")
pytest.importorskip("matplotlib", reason="bench extras not installed")


def test_centre_crop_covers_and_centres():
    img = torch.arange(3 * 300 * 451, dtype=torch.float32).reshape(3, 300, 451) / (3 * 300 * 451)
    out = centre_crop(img)
    assert out.shape == (3, 384, 512)
    wide = torch.rand(3, 400, 600)
    torch.testing.assert_close(centre_crop(wide), wide[:, 8:392, 44:556])


@pytest.mark.bench
def test_bench_codec_cli(tmp_path, capsys):
    codec = EmbeddedCodec.random(CodecConfig(width=16, quarter=8, enc_blocks=1, dec_blocks=1))
    weights = tmp_path / "codec-embedded.safetensors"
    codec.save(weights)
    PCACodec(8, 8).fit(torch.rand(2, 3, 64, 64)).save(tmp_path / "codec-pca8.safetensors")
    out = tmp_path / "codec.json"
    assert main(["bench", "codec", "--weights", str(weights), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["photos"] == PHOTOS
    assert set(result["embedded"]["psnr_db"]) == set(PHOTOS)
    assert result["embedded"]["encode_ms"] > 0 and result["pca"]["decode_ms"] > 0
    assert "mean" in capsys.readouterr().out
