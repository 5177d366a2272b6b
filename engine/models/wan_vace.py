"""WanVaceGenerator: a Wan VACE video transformer generates a whole segment in latent space.

Mirage's generator (Wan2.2 TI2V-5B with a VACE control branch) takes the memory's readouts
as its VACE context directly: no RGB rendering of the memory, no VAE re-encode. A segment
of T latent frames (each latent frame after the first stands for `temporal_factor` video
frames, see World's segment-level mode) is generated in one denoising loop:

    known    readout tokens (T, h, w)      latent   readout latents, zero at holes
    context  = cat(latent * known,           VACE's "inactive" half: what is kept
                   zeros,                    "reactive" half: nothing to re-render
                   holes repeated s*s times) the mask, one channel per pixel of a token
             -> (1, 2 C + s*s, T, h, w)      (s: the VAE's spatial factor; the pipeline's
                                              prepare_masks packs an s x s pixel mask so)
    x        = noise (seeded, made on the CPU so every device draws the same)
    for t in scheduler.timesteps (UniPC, flow prediction, shift):
        v = transformer(x, t, prompt embeddings, control = context)
        x = scheduler.step(v, t, x)
    result   = readout where known, x where generated

as diffusers' WanVACEPipeline does after its encode (pipeline_wan_vace.py: prepare_video_latents,
prepare_masks, the denoising loop), with the readout latents in place of the encoded
inactive / reactive videos. No classifier-free guidance (Mirage runs without). The known
tokens are put back at the end (the Generator protocol: what the memory holds is shown as
it is held), so only the holes are new.

Prompt: the folder's UMT5 text encoder encodes it once at load and is then dropped (it is the
largest part of the pipeline and is needed for nothing else); without a text encoder, a
`prompt_embeds.safetensors` in the folder, else zero embeddings (said in the notes).

Random weights (`random-tiny`, `random-full`) build the architecture with seeded random
weights: the tests and the timing benchmark. `random-full` is Wan2.2 TI2V-5B's transformer
(30 layers of width 3072, 48 latent channels) with a VACE branch on every second layer, the
layout of Wan2.1-VACE-1.3B's 30 layers; Mirage's own branch may differ.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from engine.models.generator import (
    GenerationCancelled,
    GenerationContext,
    GeneratorStep,
    check_readouts,
)

TEXT_LENGTH = 512  # the Wan pipelines pad T5 embeddings to this many tokens


@dataclass(frozen=True)
class WanArchitecture:
    """The sizes of a Wan VACE transformer and of its VAE (what `random-<size>` builds)."""

    channels: int  # latent channels (the VAE's z_dim)
    spatial: int  # pixels per latent pixel (the VAE's factor, patchify included)
    heads: int
    head_dim: int
    ffn: int
    layers: int
    vace_every: int  # a VACE block on every vace_every-th layer, from layer 0
    text_dim: int
    vae_base: int
    vae_decoder_base: int
    vae_blocks: int

    def transformer_config(self, layers: int | None = None) -> dict:
        n = layers or self.layers
        return {
            "patch_size": (1, 2, 2),
            "num_attention_heads": self.heads,
            "attention_head_dim": self.head_dim,
            "in_channels": self.channels,
            "out_channels": self.channels,
            "text_dim": self.text_dim,
            "freq_dim": 256 if self.heads * self.head_dim >= 256 else 16,
            "ffn_dim": self.ffn,
            "num_layers": n,
            "vace_layers": list(range(0, n, self.vace_every)),
            "vace_in_channels": 2 * self.channels + self.spatial**2,
        }

    def vae_config(self) -> dict:
        return {
            "base_dim": self.vae_base,
            "decoder_base_dim": self.vae_decoder_base,
            "z_dim": self.channels,
            "dim_mult": [1, 2, 4, 4],
            "num_res_blocks": self.vae_blocks,
            "temperal_downsample": [False, True, True],
            "is_residual": True,
            "in_channels": 12,
            "out_channels": 12,
            "patch_size": 2,
            "scale_factor_spatial": self.spatial,
            "scale_factor_temporal": 4,
            "latents_mean": [0.0] * self.channels,
            "latents_std": [1.0] * self.channels,
        }


ARCHITECTURES = {
    # Wan2.2 TI2V-5B: transformer/config.json and vae/config.json of its diffusers release
    "full": WanArchitecture(48, 16, 24, 128, 14336, 30, 2, 4096, 160, 256, 2),
    "tiny": WanArchitecture(8, 16, 2, 8, 32, 2, 2, 16, 8, 8, 1),
}


class WanVaceGenerator:
    """A Wan VACE transformer + UniPC scheduler as a segment-level Generator (module
    docstring). device / dtype: where and in what the transformer runs (the latents stay
    float32 between steps, as in the pipeline). offload "model" keeps the transformer on the
    CPU between segments and moves it to the device for the loop (for small GPUs)."""

    name = "diffusers-wan-vace"

    def __init__(
        self,
        transformer,
        scheduler,
        prompt_embeds: Tensor,
        steps: int = 20,
        temporal_factor: int = 4,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        offload: str = "none",
        notes: list[str] | None = None,
    ) -> None:
        config = transformer.config
        self.channels = int(config.in_channels)
        if int(config.out_channels) != self.channels:
            raise ValueError(
                f"the transformer maps {config.in_channels} channels to {config.out_channels}; "
                "a VACE video generator keeps the latent's channels"
            )
        mask_channels = int(config.vace_in_channels) - 2 * self.channels
        spatial = round(mask_channels**0.5)
        if mask_channels <= 0 or spatial * spatial != mask_channels:
            raise ValueError(
                f"vace_in_channels {config.vace_in_channels} is not 2 x {self.channels} latent "
                "channels + a square s x s pixel mask: not a VACE transformer for these latents"
            )
        if prompt_embeds.ndim != 3 or prompt_embeds.shape[0] != 1:
            raise ValueError(f"prompt_embeds must be (1, L, D), got {tuple(prompt_embeds.shape)}")
        if prompt_embeds.shape[-1] != config.text_dim:
            raise ValueError(
                f"prompt embeddings of width {prompt_embeds.shape[-1]}, the transformer "
                f"takes {config.text_dim}"
            )
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if offload not in ("none", "model"):
            raise ValueError(f"offload must be 'none' or 'model', got {offload!r}")
        self.spatial = spatial  # pixels per latent pixel of the VAE the model was trained with
        self.patch = tuple(int(p) for p in config.patch_size)
        self.temporal_factor = int(temporal_factor)
        self.device = torch.device(device)
        self.dtype = dtype
        self.offload = offload
        home = "cpu" if offload == "model" else self.device
        self.transformer = cast(transformer, dtype).to(home).eval()
        self.scheduler = scheduler
        self.prompt_embeds = prompt_embeds
        self.steps = int(steps)
        self.notes = list(notes or [])

    # ---- construction

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | os.PathLike,
        prompt: str = "",
        steps: int = 20,
        shift: float = 5.0,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        offload: str = "none",
    ) -> WanVaceGenerator:
        """Load transformer/ (WanVACETransformer3DModel), scheduler/ and, for the prompt,
        text_encoder/ + tokenizer/ of a pipeline folder or cached Hub id; nothing is
        downloaded. `random-tiny` / `random-full` build seeded random weights instead."""
        if os.fspath(path_or_id).startswith("random-"):
            return cls.random(
                os.fspath(path_or_id)[len("random-") :],
                steps=steps,
                shift=shift,
                device=device,
                dtype=dtype,
                offload=offload,
            )
        from diffusers import WanVACETransformer3DModel

        from engine.models.diffusers_inpaint import pipeline_folder

        root = pipeline_folder(path_or_id, what="Wan VACE pipeline")
        if not (root / "transformer" / "config.json").is_file():
            raise FileNotFoundError(
                f"{root} has no transformer/config.json: not a diffusers Wan VACE pipeline folder"
            )
        if importlib.util.find_spec("accelerate") is None:  # the float32 norms it keeps need it
            raise ImportError(
                "diffusers loads a Wan transformer through accelerate, which is not installed: "
                "pip install accelerate (or pip install -e '.[wan]')"
            )
        transformer = WanVACETransformer3DModel.from_pretrained(
            root / "transformer", torch_dtype=dtype
        )
        notes: list[str] = []
        text_dim = int(transformer.config.text_dim)
        embeds = folder_prompt_embeds(root, prompt, text_dim, notes, torch.device(device), dtype)
        vae_config = root / "vae" / "config.json"
        temporal = 4
        if vae_config.is_file():
            import json

            down = json.loads(vae_config.read_text()).get("temperal_downsample", [])
            temporal = 2 ** sum(bool(d) for d in down) if down else 4
        return cls(
            transformer,
            make_scheduler(root / "scheduler", shift),
            embeds,
            steps=steps,
            temporal_factor=temporal,
            device=device,
            dtype=dtype,
            offload=offload,
            notes=notes,
        )

    @classmethod
    def random(
        cls, size: str = "tiny", layers: int | None = None, seed: int = 0, **kw
    ) -> WanVaceGenerator:
        """The `size` architecture (ARCHITECTURES) with seeded random weights, built on the
        device given in kw (a 5B model is never built on the CPU first). layers: keep only
        this many transformer layers (a reduced model for timing on small machines)."""
        from diffusers import WanVACETransformer3DModel

        if size not in ARCHITECTURES:
            raise ValueError(
                f"random-<size>: size must be one of {sorted(ARCHITECTURES)}, got {size!r}"
            )
        arch = ARCHITECTURES[size]
        device = torch.device(kw.get("device", "cpu"))
        dtype = kw.get("dtype", torch.float32)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)  # the caller's generator state is kept
            with device:
                model = WanVACETransformer3DModel(**arch.transformer_config(layers))
        transformer = cast(model, dtype)
        embeds = torch.zeros(1, TEXT_LENGTH, arch.text_dim)
        kw.setdefault("notes", []).append(f"random weights ({size} architecture): timing only")
        return cls(transformer, make_scheduler(None, kw.pop("shift", 5.0)), embeds, **kw)

    # ---- the loop

    def fill(
        self, latent: Tensor, known: Tensor, depth: Tensor, context: GenerationContext
    ) -> Tensor:
        """latent (T, C, h, w) readouts of one segment's latent frames (zero at holes),
        known (T, h, w) -> the segment's latents (T, C, h, w), equal to latent where known."""
        check_readouts(latent, known, depth, caller="WanVaceGenerator.fill")
        t, c, h, w = latent.shape
        if c != self.channels:
            raise ValueError(f"the transformer works on {self.channels}-channel latents, got {c}")
        pt, ph, pw = self.patch
        if t % pt or h % ph or w % pw:
            raise ValueError(
                f"the latent grid {h}x{w} ({t} frames) must divide by the patch {self.patch}: "
                f"make the frame size a multiple of {ph * self.spatial}x{pw * self.spatial} pixels"
            )
        context.notes += self.notes
        holes = ~known
        n_holes = int(holes.sum())
        gen = torch.Generator().manual_seed(int(context.seed) % 2**63)
        noise = torch.randn((1, c, t, h, w), generator=gen)  # on the CPU: the same everywhere
        control = vace_context(latent, known, self.spatial)
        x = self._denoise(noise, control, context, n_holes)
        out = x[0].permute(1, 0, 2, 3).float().to(latent.device)
        return torch.where(known[:, None], latent, out)

    @torch.inference_mode()
    def _denoise(
        self, noise: Tensor, control: Tensor, context: GenerationContext, holes: int
    ) -> Tensor:
        device, dtype = self.device, self.dtype
        model = self.transformer
        if self.offload == "model":
            model = model.to(device)
        try:
            sched = self.scheduler
            sched.set_timesteps(self.steps, device=device)
            x = noise.to(device)
            control = control.to(device=device, dtype=dtype)
            embeds = self.prompt_embeds.to(device=device, dtype=dtype)
            timesteps = list(sched.timesteps)
            for k, step in enumerate(timesteps):
                if context.cancel is not None and context.cancel():
                    raise GenerationCancelled(f"cancelled at step {k + 1} of {len(timesteps)}")
                v = model(
                    hidden_states=x.to(dtype),
                    timestep=step.expand(1),
                    encoder_hidden_states=embeds,
                    control_hidden_states=control,
                    return_dict=False,
                )[0]
                x = sched.step(v, step, x, return_dict=False)[0]
                if context.callback is not None:
                    context.callback(GeneratorStep(0, 1, k + 1, len(timesteps), holes))
            return x
        finally:
            if self.offload == "model":
                self.transformer.to("cpu")


def cast(model, dtype: torch.dtype):
    """The model in dtype, but for the modules and parameters it keeps in float32
    (_keep_in_fp32_modules: norms, time embedding, rope, scale_shift_table), as
    from_pretrained(torch_dtype=...) leaves them."""
    keep = set(getattr(model, "_keep_in_fp32_modules", None) or ())
    for name, module in model.named_modules():
        parts = set(name.split("."))
        own = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
        for pname, tensor in own:
            if tensor.is_floating_point():
                fp32 = bool(keep & (parts | {pname}))
                tensor.data = tensor.data.to(torch.float32 if fp32 else dtype)
    return model


def vace_context(latent: Tensor, known: Tensor, spatial: int) -> Tensor:
    """The VACE context of readouts: latent (T, C, h, w) zero at holes, known (T, h, w) ->
    (1, 2 C + spatial**2, T, h, w): the known tokens ("inactive"), zeros ("reactive": no
    pixels to re-render; the pipeline encodes the masked video there) and the hole mask, one
    channel per pixel of a token (what prepare_masks makes of a pixel mask)."""
    keep = known[:, None].to(latent.dtype)
    inactive = (latent * keep).permute(1, 0, 2, 3)
    mask = (1.0 - keep).permute(1, 0, 2, 3).expand(spatial * spatial, -1, -1, -1)
    return torch.cat([inactive, torch.zeros_like(inactive), mask])[None]


def make_scheduler(folder: Path | None, shift: float):
    """UniPC with flow prediction, as the Wan pipelines configure it; the folder's
    scheduler/ config when there is one, with flow_shift set to `shift`."""
    from diffusers import UniPCMultistepScheduler

    if folder is not None and (folder / "scheduler_config.json").is_file():
        return UniPCMultistepScheduler.from_pretrained(folder, flow_shift=shift)
    return UniPCMultistepScheduler(
        num_train_timesteps=1000,
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        flow_shift=shift,
    )


def folder_prompt_embeds(
    root: Path,
    prompt: str,
    text_dim: int,
    notes: list[str],
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """(1, TEXT_LENGTH, text_dim) embeddings of `prompt`: by the folder's text encoder (on
    device, in dtype), else prompt_embeds.safetensors, else zeros (each fallback said in
    notes)."""
    if (root / "text_encoder").is_dir() and (root / "tokenizer").is_dir():
        return encode_prompt(root, prompt, device=device, dtype=dtype)
    stored = root / "prompt_embeds.safetensors"
    if stored.is_file():
        from safetensors.torch import load_file

        embeds = load_file(stored)["prompt_embeds"].float()
        notes.append(f"prompt: the stored embeddings of {stored.name} (no text encoder)")
        return embeds
    notes.append("prompt: zero embeddings (the folder has no text_encoder/ nor prompt_embeds)")
    return torch.zeros(1, TEXT_LENGTH, text_dim)


def encode_prompt(
    root: Path,
    prompt: str,
    max_length: int = TEXT_LENGTH,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """(1, max_length, D) float32 CPU UMT5 embeddings of `prompt`, zero past its tokens, as
    WanVACEPipeline._get_t5_prompt_embeds makes them. The encoder (UMT5-XXL: 5.7 B
    parameters, 11 GB in bfloat16) runs once on device in dtype and is freed afterwards."""
    from transformers import AutoTokenizer, UMT5EncoderModel

    device = device or torch.device("cpu")
    tokenizer = AutoTokenizer.from_pretrained(root / "tokenizer")
    encoder = UMT5EncoderModel.from_pretrained(root / "text_encoder", dtype=dtype)
    # transformers types PreTrainedModel.to through a decorator mypy reads as unbound
    encoder = encoder.to(device).eval()  # type: ignore[arg-type]
    tokens = tokenizer(
        [prompt],
        padding="max_length",
        max_length=max_length,
        truncation=True,
        add_special_tokens=True,
        return_attention_mask=True,
        return_tensors="pt",
    )
    with torch.inference_mode():
        ids, mask = tokens.input_ids.to(device), tokens.attention_mask.to(device)
        hidden = encoder(ids, mask).last_hidden_state.float().cpu()
    del encoder
    if device.type == "cuda":
        torch.cuda.empty_cache()
    n = int(tokens.attention_mask.gt(0).sum())
    out = torch.zeros(1, max_length, hidden.shape[-1])
    out[0, :n] = hidden[0, :n]
    return out
