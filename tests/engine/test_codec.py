"""engine.models.codec: the PCA patch codec and the TAESD (AutoencoderTiny) wrapper."""

import re

import pytest
import torch

from engine.camera import Camera
from engine.models.codec import Codec, PCACodec, TAESDCodec
from engine.synth import room_scene


def render_views(poses, seed: int = 0, w: int = 128, h: int = 96) -> torch.Tensor:
    """(N,3,h,w) synthetic views of the room along the given poses."""
    scene = room_scene(seed)
    return torch.stack([scene.render(Camera.from_fov(60.0, w, h, pose)).rgb for pose in poses])


@pytest.fixture(scope="module")
def train_views() -> torch.Tensor:
    return render_views(room_scene(0).sample_path("loop", 6))


@pytest.fixture(scope="module")
def test_views() -> torch.Tensor:
    return render_views(room_scene(0).sample_path("orbit", 3, start=(-0.5, 0.2, 2.0)))


@pytest.fixture(scope="module")
def pca(train_views) -> PCACodec:
    return PCACodec(factor=8, channels=8).fit(train_views)


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b) ** 2).mean())


# --------------------------------------------------------------------------- PCA codec


def test_pca_is_a_codec(pca):
    assert isinstance(pca, Codec)
    assert (pca.name, pca.factor, pca.channels) == ("pca", 8, 8)


def test_pca_shapes_and_range(pca, test_views):
    latent = pca.encode(test_views)
    assert latent.shape == (3, 8, 12, 16) and latent.dtype == torch.float32
    rgb = pca.decode(latent)
    assert rgb.shape == test_views.shape and rgb.dtype == torch.float32
    assert float(rgb.min()) >= 0.0 and float(rgb.max()) <= 1.0


def test_pca_beats_mean_only_codec_on_held_out_views(pca, test_views):
    reconstruction = pca.decode(pca.encode(test_views))
    mean_only = pca.decode(torch.zeros(3, 8, 12, 16))  # every patch replaced by the mean
    assert mse(reconstruction, test_views) < 0.5 * mse(mean_only, test_views)


def test_pca_reproduces_the_mean_patch(pca):
    mean_patch = pca.mean.reshape(1, 3 * 64, 1, 1).expand(2, -1, 3, 5)
    image = torch.nn.functional.pixel_shuffle(mean_patch.contiguous(), 8)  # (2,3,24,40)
    latent = pca.encode(image)
    assert latent.abs().max() < 1e-5
    assert torch.allclose(pca.decode(latent), image, atol=1e-6)


def test_pca_basis_is_orthonormal_and_sorted(pca):
    gram = pca.basis @ pca.basis.T
    assert torch.allclose(gram, torch.eye(8), atol=1e-5)
    assert (pca.eigenvalues[:-1] >= pca.eigenvalues[1:]).all()


def test_pca_fit_is_deterministic(train_views):
    a = PCACodec(channels=4).fit(train_views, max_patches=500, seed=1)
    b = PCACodec(channels=4).fit(train_views, max_patches=500, seed=1)
    c = PCACodec(channels=4).fit(train_views, max_patches=500, seed=2)
    assert torch.equal(a.basis, b.basis) and torch.equal(a.mean, b.mean)
    assert not torch.equal(a.mean, c.mean)


def test_pca_save_load_round_trip_is_bit_exact(pca, test_views, tmp_path):
    path = tmp_path / "pca.safetensors"
    pca.save(path)
    loaded = PCACodec.load(path)
    assert (loaded.factor, loaded.channels) == (pca.factor, pca.channels)
    for name in ("mean", "basis", "eigenvalues"):
        assert torch.equal(getattr(loaded, name), getattr(pca, name)), name
    latent = pca.encode(test_views)
    assert torch.equal(loaded.encode(test_views), latent)
    assert torch.equal(loaded.decode(latent), pca.decode(latent))


def test_pca_load_refuses_other_files(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(3)}, str(path))
    with pytest.raises(ValueError, match="not a PCACodec file"):
        PCACodec.load(path)


def test_pca_bad_inputs_raise(pca):
    message = (
        "encode expects rgb of shape (B, 3, H, W) with H and W divisible by 8, got (1, 3, 100, 30)"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        pca.encode(torch.zeros(1, 3, 100, 30))
    with pytest.raises(ValueError, match=r"shape \(B, 3, H, W\)"):
        pca.encode(torch.zeros(3, 96, 128))
    with pytest.raises(ValueError, match="float32"):
        pca.encode(torch.zeros(1, 3, 96, 128, dtype=torch.float64))
    with pytest.raises(ValueError, match=re.escape("(B, 8, h, w), got (1, 4, 6, 8)")):
        pca.decode(torch.zeros(1, 4, 6, 8))
    with pytest.raises(ValueError, match="channels must be"):
        PCACodec(factor=2, channels=13)
    with pytest.raises(RuntimeError, match="not fitted"):
        PCACodec().encode(torch.zeros(1, 3, 8, 8))


# --------------------------------------------------------------------------- TAESD codec


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return render_views([torch.eye(4, dtype=torch.float64)], w=64, h=48)


def test_taesd_tiny_shapes(image):
    codec = TAESDCodec.random(latent_channels=4, seed=0, tiny=True)
    assert isinstance(codec, Codec)
    assert (codec.name, codec.factor, codec.channels) == ("taesd", 8, 4)
    batch = torch.cat([image, image.flip(-1)])
    latent = codec.encode(batch)
    assert latent.shape == (2, 4, 6, 8) and latent.dtype == torch.float32
    rgb = codec.decode(latent)
    assert rgb.shape == (2, 3, 48, 64) and rgb.dtype == torch.float32
    assert float(rgb.min()) >= 0.0 and float(rgb.max()) <= 1.0
    wide = TAESDCodec.random(latent_channels=16, seed=0, tiny=True)
    assert wide.encode(image).shape == (1, 16, 6, 8)


def test_taesd_random_is_deterministic_and_keeps_the_global_rng(image):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = TAESDCodec.random(seed=7, tiny=True)
    assert torch.equal(torch.rand(3), expected_next)
    b = TAESDCodec.random(seed=7, tiny=True)
    c = TAESDCodec.random(seed=8, tiny=True)
    assert torch.equal(a.encode(image), b.encode(image))
    assert not torch.equal(a.encode(image), c.encode(image))
    latent = a.encode(image)
    assert torch.equal(a.decode(latent), b.decode(latent))


def test_taesd_encoder_sees_rgb_in_zero_one(image):
    """encode passes 2 rgb - 1; AutoencoderTiny's encoder maps it back to [0, 1]."""
    codec = TAESDCodec.random(seed=0, tiny=True)
    seen = []
    first_conv = codec.model.encoder.layers[0]
    handle = first_conv.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        codec.encode(image)
    finally:
        handle.remove()
    assert torch.allclose(seen[0], image, atol=1e-6)


def test_taesd_save_pretrained_round_trip(image, tmp_path):
    codec = TAESDCodec.random(latent_channels=4, seed=3, tiny=True)
    codec.save_pretrained(tmp_path / "taesd")
    loaded = TAESDCodec.from_pretrained(tmp_path / "taesd", local_files_only=True)
    assert (loaded.factor, loaded.channels) == (8, 4)
    latent = codec.encode(image)
    assert torch.equal(loaded.encode(image), latent)
    assert torch.equal(loaded.decode(latent), codec.decode(latent))


def test_taesd_full_size_architecture():
    codec = TAESDCodec.random(seed=0)
    config = codec.model.config
    assert tuple(config.encoder_block_out_channels) == (64, 64, 64, 64)
    assert tuple(config.decoder_block_out_channels) == (64, 64, 64, 64)
    assert tuple(config.num_encoder_blocks) == (1, 3, 3, 3)
    assert tuple(config.num_decoder_blocks) == (3, 3, 3, 1)
    assert (codec.factor, codec.channels) == (8, 4)
    assert codec.encode(torch.rand(1, 3, 32, 48)).shape == (1, 4, 4, 6)


def test_taesd_bad_inputs_raise():
    codec = TAESDCodec.random(seed=0, tiny=True)
    with pytest.raises(ValueError, match=re.escape("got (1, 3, 100, 30)")):
        codec.encode(torch.zeros(1, 3, 100, 30))
    with pytest.raises(ValueError, match="float32"):
        codec.encode(torch.zeros(1, 3, 16, 16, dtype=torch.float16))
    with pytest.raises(ValueError, match=re.escape("(B, 4, h, w)")):
        codec.decode(torch.zeros(1, 3, 2, 2))
