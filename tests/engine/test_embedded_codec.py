"""The embedded codec: architecture, PCA initialisation, files, the training script."""

import json

import pytest
import torch

from engine.camera import Camera
from engine.models.codec import PCACodec
from engine.models.embedded_codec import DEFAULT_WEIGHTS, CodecConfig, EmbeddedCodec
from engine.synth import room_scene

SMALL = CodecConfig(width=16, quarter=8, enc_blocks=1, dec_blocks=1)


def views(n=3, w=128, h=96):
    scene = room_scene(0)
    poses = scene.sample_path("orbit", n=max(n, 2))[:n]
    return torch.stack([scene.render(Camera.from_fov(60, w, h, pose=p)).rgb for p in poses])


def test_shapes_and_determinism():
    codec = EmbeddedCodec.random(SMALL, seed=1)
    x = views(2)
    z = codec.encode(x)
    assert z.shape == (2, 8, 12, 16) and z.dtype == torch.float32
    y = codec.decode(z)
    assert y.shape == x.shape and 0 <= float(y.min()) and float(y.max()) <= 1
    assert torch.equal(EmbeddedCodec.random(SMALL, seed=1).encode(x), z)
    assert not torch.equal(EmbeddedCodec.random(SMALL, seed=2).encode(x), z)


def test_untrained_codec_initialised_from_pca_is_the_pca_codec():
    x = views(3)
    pca = PCACodec(factor=8, channels=8).fit(x)
    codec = EmbeddedCodec.random(SMALL, seed=0)
    codec.model.init_from_pca(pca.mean, pca.basis)
    torch.testing.assert_close(codec.encode(x), pca.encode(x), atol=1e-4, rtol=1e-4)
    z = pca.encode(x)
    torch.testing.assert_close(codec.decode(z), pca.decode(z), atol=1e-5, rtol=1e-5)


def test_bad_shapes_are_rejected():
    codec = EmbeddedCodec.random(SMALL)
    with pytest.raises(ValueError, match="divisible by 8"):
        codec.encode(torch.rand(1, 3, 100, 30))
    with pytest.raises(ValueError, match=r"latent of shape \(B, 8, h, w\)"):
        codec.decode(torch.rand(1, 4, 6, 8))


def test_save_load_round_trip_and_errors(tmp_path):
    codec = EmbeddedCodec.random(SMALL, seed=3)
    path = tmp_path / "codec.safetensors"
    codec.save(path, extra={"training": {"steps": 0}})
    back = EmbeddedCodec.load(path)
    x = views(1)
    assert torch.equal(back.encode(x), codec.encode(x))
    assert json.loads(path.with_suffix(".json").read_text())["training"] == {"steps": 0}
    with pytest.raises(FileNotFoundError, match="engine.train.codec"):
        EmbeddedCodec.load(tmp_path / "missing.safetensors")
    cfg = json.loads(path.with_suffix(".json").read_text())
    cfg["config"]["width"] = 32
    path.with_suffix(".json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="do not fit the config"):
        EmbeddedCodec.load(path)


@pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="embedded weights not trained yet")
def test_shipped_weights_beat_the_shipped_pca_codec():
    codec = EmbeddedCodec.load()
    pca = PCACodec.load(DEFAULT_WEIGHTS.parent / f"codec-pca{codec.channels}.safetensors")
    scene = room_scene(11)  # a seed the training never saw
    x = torch.stack(
        [
            scene.render(Camera.from_fov(60, 256, 192, pose=p)).rgb
            for p in scene.sample_path("loop", n=3)
        ]
    )
    err = ((codec.decode(codec.encode(x)) - x) ** 2).mean()
    err_pca = ((pca.decode(pca.encode(x)) - x) ** 2).mean()
    assert err < 0.8 * err_pca  # about 1 dB better at least


@pytest.mark.slow
def test_training_script_smoke(tmp_path):
    from engine.train.codec import main

    out = tmp_path / "codec-embedded.safetensors"
    assert (
        main(
            [
                "--smoke",
                "--steps",
                "3",
                "--width",
                "16",
                "--enc-blocks",
                "1",
                "--dec-blocks",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["training"]["steps"] == 3
    assert (tmp_path / "codec-pca8.safetensors").is_file()
    EmbeddedCodec.load(out)


def test_training_resumes_and_records_both_phases(tmp_path):
    from engine.train.codec import main

    out = tmp_path / "codec-embedded.safetensors"
    small = ["--smoke", "--width", "16", "--enc-blocks", "1", "--dec-blocks", "1"]
    assert main([*small, "--steps", "3", "--out", str(out)]) == 0
    pca = (tmp_path / "codec-pca8.safetensors").read_bytes()
    first = EmbeddedCodec.load(out).model.state_dict()
    assert main([*small, "--steps", "2", "--seed", "1", "--resume", "--out", str(out)]) == 0
    assert (tmp_path / "codec-pca8.safetensors").read_bytes() == pca  # baseline kept
    second = EmbeddedCodec.load(out).model.state_dict()
    assert any(not torch.equal(first[k], second[k]) for k in first)
    training = json.loads(out.with_suffix(".json").read_text())["training"]
    assert training["steps"] == 5
    assert [(p["steps"], p["seed"], p["resumed"]) for p in training["phases"]] == [
        (3, 0, False),
        (2, 1, True),
    ]
    # a checkpoint of an unfinished run is not resumed
    record = {"config": json.loads(out.with_suffix(".json").read_text())["config"]}
    record["training"] = {"steps": 1, "of": 9, "checkpoint": True}
    out.with_suffix(".json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="unfinished run"):
        main([*small, "--steps", "2", "--resume", "--out", str(out)])
