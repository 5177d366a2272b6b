"""InpaintGenerator with a tiny random inpainting UNet, offline: known tokens kept, the
known region conditions the holes, determinism, loading from a pipeline folder, errors."""

import pytest
import torch

pytest.importorskip("diffusers")

from diffusers import DDIMScheduler, UNet2DConditionModel  # noqa: E402

from engine.models.diffusers_inpaint import InpaintGenerator, pipeline_folder  # noqa: E402
from engine.models.generator import GenerationCancelled, GenerationContext, Generator  # noqa: E402

C, H, W = 4, 12, 16


def tiny_unet(seed=0, in_channels=9):
    torch.manual_seed(seed)
    return UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=8,
        in_channels=in_channels,
        out_channels=C,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    ).eval()


@pytest.fixture(scope="module")
def generator():
    embeds = torch.randn(1, 5, 16, generator=torch.Generator().manual_seed(1))
    return InpaintGenerator(
        tiny_unet(), DDIMScheduler(num_train_timesteps=1000), embeds, steps=3, guidance=4.0
    )


def readout(seed=0):
    g = torch.Generator().manual_seed(seed)
    latent = torch.randn(2, C, H, W, generator=g)
    known = torch.ones(2, H, W, dtype=torch.bool)
    known[:, 4:9, 5:12] = False
    known[1, :, 12:] = False
    return torch.where(known[:, None], latent, 0.0), known, torch.ones(2, H, W)


def test_known_tokens_kept_and_holes_generated(generator):
    assert isinstance(generator, Generator)
    latent, known, depth = readout()
    steps = []
    out = generator.fill(latent, known, depth, GenerationContext(seed=2, callback=steps.append))
    k = known[:, None].expand_as(out)
    assert torch.equal(out[k], latent[k])
    assert bool(torch.isfinite(out).all()) and float(out[~k].abs().mean()) > 0.05
    assert [s.step for s in steps] == [1, 2, 3, 1, 2, 3] and steps[0].steps == 3


def test_same_seed_same_output_other_seed_other_output(generator):
    latent, known, depth = readout()
    a = generator.fill(latent, known, depth, GenerationContext(seed=5))
    b = generator.fill(latent, known, depth, GenerationContext(seed=5))
    c = generator.fill(latent, known, depth, GenerationContext(seed=6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_known_region_conditions_the_holes(generator):
    """Through the masked-image channels and the re-imposed known tokens, other known
    content gives other generated content (same seed)."""
    latent, known, depth = readout(0)
    other, _, _ = readout(1)
    a = generator.fill(latent, known, depth, GenerationContext(seed=3))
    b = generator.fill(
        torch.where(known[:, None], other, 0.0), known, depth, GenerationContext(seed=3)
    )
    holes = ~known[:, None].expand_as(a)
    assert not torch.equal(a[holes], b[holes])


def test_cancel_between_steps(generator):
    latent, known, depth = readout()
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(GenerationCancelled):
        generator.fill(latent, known, depth, GenerationContext(cancel=cancel))
    assert len(calls) == 2


def test_loads_from_a_pipeline_folder_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    unet = tiny_unet(seed=3)
    unet.save_pretrained(tmp_path / "pipe" / "unet")
    DDIMScheduler(num_train_timesteps=1000).save_pretrained(tmp_path / "pipe" / "scheduler")
    embeds = torch.randn(1, 5, 16, generator=torch.Generator().manual_seed(1))
    loaded = InpaintGenerator.from_pretrained(tmp_path / "pipe", prompt_embeds=embeds, steps=2)
    direct = InpaintGenerator(unet, DDIMScheduler(num_train_timesteps=1000), embeds, steps=2)
    latent, known, depth = readout()
    a = loaded.fill(latent, known, depth, GenerationContext(seed=1))
    b = direct.fill(latent, known, depth, GenerationContext(seed=1))
    torch.testing.assert_close(a, b)
    with pytest.raises(FileNotFoundError, match="text_encoder"):
        InpaintGenerator.from_pretrained(tmp_path / "pipe", prompt="a room")


def test_missing_weights_say_what_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(FileNotFoundError, match="hf download someone/inpaint"):
        pipeline_folder("someone/inpaint")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pipeline_folder(str(tmp_path / "no" / "such" / "folder"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="unet/config.json"):
        InpaintGenerator.from_pretrained(tmp_path / "empty", prompt_embeds=torch.zeros(1, 5, 16))


def test_bad_models_and_inputs_are_refused(generator):
    embeds = torch.zeros(1, 5, 16)
    with pytest.raises(ValueError, match="not an inpainting model"):
        InpaintGenerator(tiny_unet(in_channels=4), DDIMScheduler(), embeds)
    with pytest.raises(ValueError, match="attends to 16"):
        InpaintGenerator(tiny_unet(), DDIMScheduler(), torch.zeros(1, 5, 8))
    with pytest.raises(ValueError, match="4-channel"):
        generator.fill(
            torch.zeros(1, 8, H, W),
            torch.ones(1, H, W, dtype=torch.bool),
            torch.ones(1, H, W),
            GenerationContext(),
        )
