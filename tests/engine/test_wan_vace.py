"""The Wan VACE backend with tiny randomly initialised models saved with save_pretrained and
loaded back by name: a segment end to end through World, the context, shapes, the memory
write, cancel, seeds, the codec's video side, the registry and the config's device."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch
from diffusers import AutoencoderKLWan, WanVACETransformer3DModel

from engine.camera import Camera
from engine.models import registry
from engine.models.codec import DiffusersCodec
from engine.models.generator import GenerationCancelled, GenerationContext
from engine.models.wan_vace import ARCHITECTURES, WanVaceGenerator, vace_context
from engine.world import (
    World,
    WorldCancelled,
    WorldConfig,
    check_video_pair,
    segment_camera,
)

W, H = 128, 96  # multiples of 32: the VAE's 16 times the transformer's 2x2 patch
TINY = ARCHITECTURES["tiny"]


def _pipeline_folder(root, text_encoder: bool = False):
    torch.manual_seed(0)
    WanVACETransformer3DModel(**TINY.transformer_config()).save_pretrained(root / "transformer")
    AutoencoderKLWan(**TINY.vae_config()).save_pretrained(root / "vae")
    (root / "scheduler").mkdir()
    (root / "scheduler" / "scheduler_config.json").write_text(
        json.dumps(
            {
                "_class_name": "UniPCMultistepScheduler",
                "num_train_timesteps": 1000,
                "prediction_type": "flow_prediction",
                "use_flow_sigmas": True,
                "flow_shift": 3.0,
            }
        )
    )
    (root / "model_index.json").write_text(json.dumps({"_class_name": "WanVACEPipeline"}))
    if text_encoder:
        _tiny_text_encoder(root)
    return root


def _tiny_text_encoder(root):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

    words = ["<pad>", "</s>", "<unk>", "a", "bright", "room", "street", "at", "night"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    fast.save_pretrained(root / "tokenizer")
    config = UMT5Config(
        vocab_size=len(words),
        d_model=TINY.text_dim,
        d_kv=4,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        relative_attention_num_buckets=8,
    )
    torch.manual_seed(0)
    UMT5EncoderModel(config).save_pretrained(root / "text_encoder")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return _pipeline_folder(tmp_path_factory.mktemp("wan-vace"))


def _config(folder, **kw) -> WorldConfig:
    base = {"width": W, "height": H, "steps": 3, "frames_per_segment": 8}
    return WorldConfig(
        codec=f"diffusers:{folder}", generator=f"diffusers-wan-vace:{folder}", **base | kw
    )


def _photo():
    g = torch.Generator().manual_seed(3)
    return torch.rand(3, H, W, generator=g)


def _step(i: int, dx: float = 0.25) -> torch.Tensor:
    pose = torch.eye(4, dtype=torch.float64)
    pose[0, 3] = dx * (i + 1)
    return pose


@pytest.fixture
def world(folder):
    w = World(_config(folder, dynamic_filter=False))
    w.seed(_photo(), depth=torch.full((H, W), 2.0))
    return w


def test_a_segment_runs_end_to_end_from_the_saved_folder(world):
    assert isinstance(world.generator, WanVaceGenerator)
    assert world.codec.temporal_factor == world.generator.temporal_factor == 4
    before = len(world.memory)
    events = []
    seg = world.segment([_step(i) for i in range(6)], on_event=events.append)
    lw, lh = world.latent_size
    # 6 frames: 2 latent frames of 4 (the last padded), plus the frame continued from
    assert seg.frames.shape == (6, 3, H, W)
    assert seg.latents.shape == (2, TINY.channels, lh, lw)
    assert len(seg.readouts) == 3 and len(seg.stats) == 6
    assert float(seg.frames.min()) >= 0.0 and float(seg.frames.max()) <= 1.0
    kinds = [e.kind for e in events]
    assert kinds.count("progress") == 3 and kinds.count("frame") == 6 and kinds[-1] == "segment"
    assert len(world.trajectory) == 7 and world.segment_ends == [7]
    # the memory took the generated tokens of the two new latent frames (no filter)
    assert len(world.memory) > before
    assert seg.entries == len(world.memory)


def test_the_memory_gets_exactly_the_generated_tokens_of_the_new_latent_frames(folder):
    w = World(_config(folder, dynamic_filter=False))
    w.seed(_photo(), depth=torch.full((H, W), 2.0))
    offered = []
    real_update = w.memory.update

    def spy(latent, depth, camera, keep=None, **kw):
        offered.append((latent.clone(), keep.clone()))
        return real_update(latent, depth, camera, keep=keep, **kw)

    w.memory.update = spy
    seg = w.segment([_step(i, dx=0.6) for i in range(8)])
    assert len(offered) == 2  # frames 1 and 2; frame 0 is the continued frame
    for j, (latent, keep) in enumerate(offered, start=1):
        assert torch.equal(latent, seg.latents[j - 1])
        assert torch.equal(keep, ~seg.readouts[j].known)  # every hole, nothing known
        assert bool(keep.any())


def test_the_known_tokens_reach_the_vace_context(world):
    seen = {}
    transformer = world.generator.transformer

    def keep(module, args, kw):
        seen.setdefault("control", kw["control_hidden_states"].clone())

    hook = transformer.register_forward_pre_hook(keep, with_kwargs=True)
    try:
        seg = world.segment([_step(i) for i in range(4)])
    finally:
        hook.remove()
    control = seen["control"][0]  # (2 C + 16 * 16, T, h, w)
    c = TINY.channels
    assert control.shape[:2] == (2 * c + TINY.spatial**2, 2)
    assert bool(seg.readouts[0].known.all())  # the frame continued from: all in memory
    assert bool((~seg.readouts[1].known).any())  # the new one has holes
    for t, r in enumerate(seg.readouts):
        known, holes = r.known, control[2 * c, t] > 0
        assert torch.equal(control[:c, t][:, known], r.latent[:, known])  # inactive: the readout
        assert not bool(control[:c, t][:, holes].any())
        assert not bool(control[c : 2 * c, t].any())  # reactive: nothing
        assert not bool(holes[known].any())  # the mask marks holes only (cracks count as known)
        assert torch.equal(control[2 * c :, t], holes.float().expand(TINY.spatial**2, -1, -1))
    # the segment's latent frames keep the readout where known, bit for bit
    for j in (1,):
        known = seg.readouts[j].known
        assert torch.equal(seg.latents[j - 1][:, known], seg.readouts[j].latent[:, known])


def test_vace_context_layout():
    latent = torch.randn(3, 4, 2, 2)
    known = torch.tensor([[[True, False], [False, True]]]).expand(3, 2, 2)
    ctx = vace_context(latent * known[:, None], known, spatial=2)
    assert ctx.shape == (1, 12, 3, 2, 2)
    assert torch.equal(ctx[0, :4].permute(1, 0, 2, 3), latent * known[:, None])
    assert torch.equal(ctx[0, 8:], (~known).float()[None].expand(4, -1, -1, -1))


def test_same_seed_same_segment_other_seed_other_segment(folder):
    def run(seed):
        w = World(_config(folder, seed=seed, dynamic_filter=False))
        w.seed(_photo(), depth=torch.full((H, W), 2.0))
        return w.segment([_step(i) for i in range(4)])

    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a.latents, b.latents) and torch.equal(a.frames, b.frames)
    assert not torch.equal(a.latents, c.latents)


def test_cancel_between_steps_leaves_the_world_as_it_was(world):
    entries, nbytes, poses = len(world.memory), world.memory.nbytes, len(world.trajectory)
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 2  # polled before each step: stops before the third

    with pytest.raises(WorldCancelled, match="step 3 of 3"):
        world.segment([_step(i) for i in range(4)], cancel=cancel)
    assert (len(world.memory), world.memory.nbytes, len(world.trajectory)) == (
        entries,
        nbytes,
        poses,
    )
    assert world.segments == 0
    seg = world.segment([_step(i) for i in range(4)])  # and the next one works
    assert seg.index == 1


def test_the_generator_raises_cancelled_itself():
    gen = WanVaceGenerator.random("tiny", steps=2)
    latent = torch.zeros(2, TINY.channels, 2, 2)
    known = torch.zeros(2, 2, 2, dtype=torch.bool)
    with pytest.raises(GenerationCancelled):
        gen.fill(latent, known, torch.ones(2, 2, 2), GenerationContext(cancel=lambda: True))


def test_the_dynamic_filter_keeps_contradicted_tokens_out(folder):
    """Random weights generate noise, which no two frames agree on: with the filter on, the
    new frames' tokens that another frame sees are refused."""

    def grown(dynamic_filter):
        w = World(_config(folder, dynamic_filter=dynamic_filter))
        w.seed(_photo(), depth=torch.full((H, W), 2.0))
        before = len(w.memory)
        w.segment([_step(i, dx=0.15) for i in range(8)])
        return len(w.memory) - before

    assert grown(True) < grown(False)


def test_offload_to_the_cpu_gives_the_same_segment(folder):
    outs = []
    for offload in ("none", "model"):
        w = World(_config(folder, offload=offload, dynamic_filter=False))
        w.seed(_photo(), depth=torch.full((H, W), 2.0))
        outs.append(w.segment([_step(i) for i in range(4)]).latents)
    assert torch.equal(*outs)


def test_a_world_with_the_video_generator_saves_loads_and_goes_on(world, tmp_path):
    from engine.io import load_world, save_world

    world.segment([_step(i) for i in range(4)])
    save_world(world, tmp_path / "w")
    back = load_world(tmp_path / "w")
    assert isinstance(back.generator, WanVaceGenerator)
    assert len(back.memory) == len(world.memory)
    seg = back.segment([_step(i + 4) for i in range(4)])
    assert seg.index == 2


def test_the_prompt_is_encoded_by_the_folders_text_encoder(tmp_path):
    root = _pipeline_folder(tmp_path / "p", text_encoder=True)
    a = WanVaceGenerator.from_pretrained(root, prompt="a bright room")
    b = WanVaceGenerator.from_pretrained(root, prompt="a street at night")
    assert a.prompt_embeds.shape == (1, 512, TINY.text_dim)
    assert bool(a.prompt_embeds[0, :3].any()) and not bool(a.prompt_embeds[0, 5:].any())
    assert not torch.equal(a.prompt_embeds, b.prompt_embeds)
    assert not a.notes  # nothing fell back


def test_without_a_text_encoder_the_fallback_is_said(folder):
    gen = WanVaceGenerator.from_pretrained(folder, prompt="anything")
    assert not bool(gen.prompt_embeds.any())
    assert any("zero embeddings" in n for n in gen.notes)


def test_segment_camera_stands_at_the_middle_of_its_poses():
    cams = [Camera.from_fov(60, 64, 48, _step(i, dx=1.0)) for i in range(4)]  # x = 1, 2, 3, 4
    assert float(segment_camera(cams).position[0]) == pytest.approx(2.5)
    assert float(segment_camera(cams[:3]).position[0]) == pytest.approx(2.0)


def test_an_image_codec_with_the_video_generator_is_refused_by_name(folder):
    gen = WanVaceGenerator.from_pretrained(folder)
    pca = SimpleNamespace(name="pca:x", channels=TINY.channels, factor=16)  # an image codec
    with pytest.raises(ValueError, match="an image codec.*diffusers:<the same pipeline folder>"):
        check_video_pair(pca, gen)
    with pytest.raises(ValueError, match="multiples of 32"):
        World(_config(folder, width=112))


def test_codec_video_side(folder):
    codec = DiffusersCodec.from_pretrained(folder)
    assert (codec.factor, codec.channels, codec.temporal_factor) == (16, TINY.channels, 4)
    video = torch.rand(9, 3, 32, 64)
    latent = codec.encode_video(video)
    assert latent.shape == (3, TINY.channels, 2, 4)
    assert torch.equal(latent[:1], codec.encode(video[:1]))  # causal: frame 0 alone
    assert codec.decode_video(latent).shape == (9, 3, 32, 64)
    with pytest.raises(ValueError, match="1 \\+ k \\* 4 frames"):
        codec.encode_video(video[:4])


def test_registry_lists_the_backend_with_what_is_missing_here():
    entries = {e["form"]: e for e in registry.available_backends()["generator"]}
    entry = entries["diffusers-wan-vace:<path or id>"]
    assert entry["available"]  # diffusers is installed
    assert "weights" in entry["needs"] and "hf download" in entry["needs"]
    if not torch.cuda.is_available():
        assert "a GPU" in entry["needs"]
    with pytest.raises(FileNotFoundError, match="Wan VACE pipeline folder"):
        registry.make_generator("diffusers-wan-vace:./no-such-folder")
    with pytest.raises(FileNotFoundError, match="transformer/config.json"):
        registry.make_generator(f"diffusers-wan-vace:{registry.MODELS}")


def test_config_device_and_dtype():
    cfg = WorldConfig()
    assert cfg.torch_device() == torch.device("cpu") and cfg.torch_dtype() == torch.float32
    assert WorldConfig(dtype="bfloat16").torch_dtype() == torch.bfloat16
    assert WorldConfig(dtype="auto").torch_dtype(torch.device("cuda")) == torch.bfloat16
    mps = getattr(torch.backends, "mps", None)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if expected == "cpu" and mps is not None and mps.is_available():
        expected = "mps"
    assert WorldConfig(device="auto").torch_device().type == expected
    for bad in ({"device": "tpu"}, {"dtype": "float8"}, {"offload": "disk"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            WorldConfig(**bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            WorldConfig(device="cuda").torch_device()
    assert WorldConfig.from_dict(WorldConfig(device="cuda:1").to_dict()).device == "cuda:1"


def test_random_full_is_the_wan22_5b_architecture():
    cfg = ARCHITECTURES["full"].transformer_config()
    assert cfg["num_attention_heads"] * cfg["attention_head_dim"] == 3072
    assert (cfg["in_channels"], cfg["num_layers"], cfg["ffn_dim"]) == (48, 30, 14336)
    assert cfg["vace_in_channels"] == 2 * 48 + 16 * 16
    assert cfg["vace_layers"] == list(range(0, 30, 2))
    vae = ARCHITECTURES["full"].vae_config()
    assert (vae["z_dim"], vae["scale_factor_spatial"], vae["patch_size"]) == (48, 16, 2)
    assert math.prod([2, 2]) * 3 == vae["in_channels"]
