"""engine.models.codec.DiffusersCodec with tiny random VAEs saved to and loaded from tmp_path.

Each architecture is built small, with a non-trivial latent normalisation (scaling_factor,
shift_factor, latents_mean / latents_std), saved with save_pretrained and loaded back through
DiffusersCodec.from_pretrained; the codec is compared with the raw diffusers model driven by
hand the way the pipelines drive it.
"""

import pytest
import torch
from diffusers import AutoencoderKL, AutoencoderKLWan, AutoencoderTiny

from engine.models.codec import Codec, DiffusersCodec, TAESDCodec

KL_SCALING, KL_SHIFT = 0.5, 0.1
TINY_SCALING, TINY_SHIFT = 2.0, 0.25
WAN_MEAN = [0.1, -0.2, 0.3, 0.0]
WAN_STD = [1.5, 0.5, 2.0, 1.0]


def build(kind: str):
    """A tiny seeded model of each supported class, with its normalisation constants."""
    torch.manual_seed(0)
    if kind == "kl":
        return AutoencoderKL(
            block_out_channels=(8, 8),
            down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2,
            latent_channels=4,
            norm_num_groups=4,
            sample_size=32,
            scaling_factor=KL_SCALING,
            shift_factor=KL_SHIFT,
        )
    if kind == "tiny":
        return AutoencoderTiny(
            encoder_block_out_channels=(8, 8, 8, 8),
            decoder_block_out_channels=(8, 8, 8, 8),
            num_encoder_blocks=(1, 1, 1, 1),
            num_decoder_blocks=(1, 1, 1, 1),
            latent_channels=4,
            scaling_factor=TINY_SCALING,
            shift_factor=TINY_SHIFT,
        )
    return AutoencoderKLWan(
        base_dim=8,
        z_dim=4,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=WAN_MEAN,
        latents_std=WAN_STD,
    )


FACTORS = {"kl": 2, "tiny": 8, "wan": 8}
KINDS = tuple(FACTORS)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict:
    """kind -> (raw model in eval mode, folder it was saved to)."""
    root = tmp_path_factory.mktemp("vae")
    out = {}
    for kind in KINDS:
        model = build(kind).eval()
        model.save_pretrained(root / kind)
        out[kind] = (model, root / kind)
    return out


@pytest.fixture(scope="module")
def codecs(saved) -> dict:
    return {kind: DiffusersCodec.from_pretrained(folder) for kind, (_, folder) in saved.items()}


@pytest.fixture(scope="module")
def rgb() -> torch.Tensor:
    return torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(0))


def raw_encode(kind: str, model, rgb: torch.Tensor) -> torch.Tensor:
    """The model's latent before normalisation, as the pipelines get it."""
    x = rgb * 2 - 1
    with torch.no_grad():
        if kind == "kl":
            return model.encode(x).latent_dist.mean
        if kind == "tiny":
            return model.encode(x).latents
        return model.encode(x[:, :, None]).latent_dist.mode()[:, :, 0]


def raw_decode(kind: str, model, z: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        if kind == "wan":
            image = model.decode(z[:, :, None]).sample[:, :, 0]
        else:
            image = model.decode(z).sample
    return ((image + 1) / 2).clamp(0, 1)


def normalise(kind: str, raw: torch.Tensor) -> torch.Tensor:
    """What the pipelines do to a fresh latent (see DiffusersCodec's docstring for where)."""
    if kind == "kl":
        return (raw - KL_SHIFT) * KL_SCALING
    if kind == "tiny":
        return (raw - TINY_SHIFT) * TINY_SCALING
    mean = torch.tensor(WAN_MEAN).view(1, 4, 1, 1)
    return (raw - mean) * (1.0 / torch.tensor(WAN_STD).view(1, 4, 1, 1))


def denormalise(kind: str, z: torch.Tensor) -> torch.Tensor:
    if kind == "kl":
        return z / KL_SCALING + KL_SHIFT
    if kind == "tiny":
        return z / TINY_SCALING + TINY_SHIFT
    mean = torch.tensor(WAN_MEAN).view(1, 4, 1, 1)
    return z / (1.0 / torch.tensor(WAN_STD).view(1, 4, 1, 1)) + mean


@pytest.mark.parametrize("kind", KINDS)
def test_auto_kind_and_attributes(codecs, saved, kind):
    codec = codecs[kind]
    assert isinstance(codec, Codec)
    assert codec.kind == kind
    assert (codec.factor, codec.channels) == (FACTORS[kind], 4)
    assert codec.name == f"diffusers:{saved[kind][1]}"


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_range_and_determinism(codecs, rgb, kind):
    codec = codecs[kind]
    f = codec.factor
    latent = codec.encode(rgb)
    assert latent.shape == (2, 4, 32 // f, 48 // f) and latent.dtype == torch.float32
    assert torch.equal(codec.encode(rgb), latent)
    assert torch.allclose(codec.encode(rgb[1:]), latent[1:], atol=1e-5)  # per-image
    image = codec.decode(latent)
    assert image.shape == rgb.shape and image.dtype == torch.float32
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0


@pytest.mark.parametrize("kind", KINDS)
def test_normalisation_matches_the_pipelines(codecs, saved, rgb, kind):
    codec, (model, _) = codecs[kind], saved[kind]
    raw = raw_encode(kind, model, rgb)
    latent = codec.encode(rgb)
    assert torch.allclose(latent, normalise(kind, raw), atol=1e-5)
    assert not torch.allclose(latent, raw, atol=1e-3)  # the normalisation is not a no-op
    z = torch.randn(2, 4, 32 // codec.factor, 48 // codec.factor)
    expected = raw_decode(kind, model, denormalise(kind, z))
    assert torch.allclose(codec.decode(z), expected, atol=1e-5)


def test_kl_with_latents_mean_and_std_is_normalised_like_sdxl(tmp_path, rgb):
    mean, std = [0.5, -0.5, 0.0, 1.0], [2.0, 1.0, 0.5, 4.0]
    torch.manual_seed(1)
    model = AutoencoderKL(
        block_out_channels=(8, 8),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4,
        scaling_factor=0.25,
        latents_mean=mean,
        latents_std=std,
    ).eval()
    model.save_pretrained(tmp_path)
    codec = DiffusersCodec.from_pretrained(tmp_path, kind="kl")
    m, s = torch.tensor(mean).view(1, 4, 1, 1), torch.tensor(std).view(1, 4, 1, 1)
    raw = raw_encode("kl", model, rgb)
    assert torch.allclose(codec.encode(rgb), (raw - m) * 0.25 / s, atol=1e-5)
    z = torch.randn(1, 4, 16, 24)
    assert torch.allclose(codec.decode(z), raw_decode("kl", model, z * s / 0.25 + m), atol=1e-5)


def test_tiny_with_taesd_constants_equals_taesd_codec(tmp_path, rgb):
    taesd = TAESDCodec.random(latent_channels=4, seed=5, tiny=True)
    taesd.save_pretrained(tmp_path)
    codec = DiffusersCodec.from_pretrained(tmp_path, kind="tiny", local_files_only=True)
    latent = taesd.encode(rgb)
    assert torch.equal(codec.encode(rgb), latent)
    assert torch.equal(codec.decode(latent), taesd.decode(latent))


def test_pipeline_layout_finds_the_vae_subfolder(saved, tmp_path, rgb):
    model, _ = saved["tiny"]
    model.save_pretrained(tmp_path / "pipeline" / "vae")
    codec = DiffusersCodec.from_pretrained(tmp_path / "pipeline")
    assert codec.kind == "tiny"
    explicit = DiffusersCodec.from_pretrained(tmp_path / "pipeline", subfolder="vae")
    assert torch.equal(codec.encode(rgb), explicit.encode(rgb))


def test_kind_must_match_the_config(saved):
    with pytest.raises(
        ValueError, match="kind='kl' asked for, but config.json names AutoencoderTiny"
    ):
        DiffusersCodec.from_pretrained(saved["tiny"][1], kind="kl")
    with pytest.raises(ValueError, match="kind must be"):
        DiffusersCodec.from_pretrained(saved["tiny"][1], kind="vq")


def test_wan_factor_must_match_its_architecture():
    torch.manual_seed(0)
    model = AutoencoderKLWan(
        base_dim=8, z_dim=4, dim_mult=[1, 2], num_res_blocks=1, temperal_downsample=[False],
        latents_mean=WAN_MEAN, latents_std=WAN_STD, scale_factor_spatial=8,
    )  # fmt: skip
    with pytest.raises(ValueError, match="scale_factor_spatial=8 but its architecture"):
        DiffusersCodec(model)


def test_missing_folder_says_what_to_download(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        DiffusersCodec.from_pretrained(tmp_path / "no-such-vae")
    message = str(info.value)
    for part in ("does not exist", "hf download", "--local-dir", "HF_HOME", "HF_HUB_OFFLINE"):
        assert part in message, part


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        DiffusersCodec.from_pretrained(tmp_path)


@pytest.mark.filterwarnings("ignore:The `local_dir_use_symlinks`:UserWarning")
def test_hub_id_not_in_cache_is_not_downloaded_when_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # local_files_only defaults to True
    with pytest.raises(FileNotFoundError) as info:
        DiffusersCodec.from_pretrained("latentscape-tests/no-such-vae")
    message = str(info.value)
    assert "not in the Hugging Face cache" in message or "nor in the Hugging Face cache" in message
    assert "HF_HUB_OFFLINE is set" in message
    assert "hf download latentscape-tests/no-such-vae" in message


def test_bad_inputs_raise(codecs):
    codec = codecs["wan"]
    with pytest.raises(ValueError, match="divisible by 8"):
        codec.encode(torch.zeros(1, 3, 20, 16))
    with pytest.raises(ValueError, match="float32"):
        codec.encode(torch.zeros(1, 3, 16, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(B, 4, h, w\)"):
        codec.decode(torch.zeros(1, 16, 2, 2))
