"""InpaintGenerator: a Stable Diffusion inpainting UNet (9 input channels) fills the holes.

The Generator protocol of engine.models.generator, for the Stable Diffusion inpainting family
(runwayml / stable-diffusion-inpainting and its kin). The readout latent IS the masked-image
latent the UNet expects: no VAE encode. Per frame:

    mask   = holes of the readout (1 where generated), on the latent grid   (1, 1, h, w)
    masked = readout latent, zero at holes                                  (1, C, h, w)
    x      = noise (seeded) x scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        eps = unet(cat(scale_model_input(x, t), mask, masked), t, prompt embeddings)
              (classifier-free guidance: eps_u + guidance (eps_c - eps_u))
        x = scheduler.step(eps, t, x)
        x = known tokens noised to the next timestep where known, x elsewhere
    result = readout where known, x where generated

Re-imposing the known tokens at every step keeps them fixed and lets the generated ones
agree with them (the RePaint / SDEdit way of conditioning). The codec must be the UNet's
own VAE with its scaling applied (DiffusersCodec does), so that the readout latent is in
the space the UNet was trained in.

Prompts: either precomputed embeddings (`prompt_embeds` (1, L, D) and optionally
`negative_embeds`), or a prompt string encoded once by the pipeline folder's text encoder
and tokenizer. Weights come from a local folder or the Hugging Face cache, never downloaded
at run time (`HF_HUB_OFFLINE` respected, as for the codecs).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from engine.models.generator import (
    GenerationCancelled,
    GenerationContext,
    GeneratorStep,
    check_readouts,
)


class InpaintGenerator:
    """A diffusers inpainting UNet + scheduler as a Generator (module docstring)."""

    name = "diffusers-inpaint"

    def __init__(
        self,
        unet,
        scheduler,
        prompt_embeds: Tensor,
        negative_embeds: Tensor | None = None,
        steps: int = 20,
        guidance: float = 5.0,
    ) -> None:
        in_channels = unet.config.in_channels
        latent_channels = unet.config.out_channels
        if in_channels != 2 * latent_channels + 1:
            raise ValueError(
                f"an inpainting UNet has 2 C + 1 input channels (latent, mask, masked latent); "
                f"this one has {in_channels} in and {latent_channels} out: not an inpainting model"
            )
        if prompt_embeds.ndim != 3 or prompt_embeds.shape[0] != 1:
            raise ValueError(f"prompt_embeds must be (1, L, D), got {tuple(prompt_embeds.shape)}")
        if prompt_embeds.shape[-1] != unet.config.cross_attention_dim:
            raise ValueError(
                f"prompt embeddings of width {prompt_embeds.shape[-1]}, the UNet attends to "
                f"{unet.config.cross_attention_dim}"
            )
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.unet = unet.eval()
        self.scheduler = scheduler
        self.channels = latent_channels
        self.prompt_embeds = prompt_embeds.float()
        if negative_embeds is None:
            negative_embeds = torch.zeros_like(self.prompt_embeds)
        if negative_embeds.shape != prompt_embeds.shape:
            raise ValueError(
                f"negative_embeds {tuple(negative_embeds.shape)} must match prompt_embeds "
                f"{tuple(prompt_embeds.shape)}"
            )
        self.negative_embeds = negative_embeds.float()
        self.steps = int(steps)
        self.guidance = float(guidance)

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | os.PathLike,
        prompt: str = "",
        negative_prompt: str = "",
        **kw,
    ) -> InpaintGenerator:
        """Load unet/, scheduler/ (and text_encoder/ + tokenizer/ to encode the prompts) of
        a pipeline folder or cached Hub id; nothing is downloaded."""
        from diffusers import DDIMScheduler, UNet2DConditionModel

        root = pipeline_folder(path_or_id)
        if not (root / "unet" / "config.json").is_file():
            raise FileNotFoundError(
                f"{root} has no unet/config.json: not a diffusers pipeline folder"
            )
        unet = UNet2DConditionModel.from_pretrained(root / "unet")
        sched_dir = root / "scheduler"
        scheduler = (
            DDIMScheduler.from_pretrained(sched_dir)
            if sched_dir.is_dir()
            else DDIMScheduler(num_train_timesteps=1000)
        )
        if "prompt_embeds" in kw:
            return cls(unet, scheduler, **kw)
        embeds = [encode_prompt(root, p) for p in (prompt, negative_prompt)]
        return cls(unet, scheduler, embeds[0], embeds[1], **kw)

    # ---- the loop

    def fill(
        self, latent: Tensor, known: Tensor, depth: Tensor, context: GenerationContext
    ) -> Tensor:
        check_readouts(latent, known, depth, caller="InpaintGenerator.fill")
        t, c, h, w = latent.shape
        if c != self.channels:
            raise ValueError(f"the UNet works on {self.channels}-channel latents, got {c}")
        out = latent.clone()
        for i in range(t):
            holes = ~known[i]
            if not bool(holes.any()):
                if context.callback is not None:
                    context.callback(GeneratorStep(i, t, self.steps, self.steps, 0))
                continue
            gen = torch.Generator().manual_seed(int(context.seed) + i)
            out[i] = self._fill_frame(latent[i], known[i], gen, context, i, t)
        return out

    @torch.inference_mode()
    def _fill_frame(self, z, known, gen, context, index, frames) -> Tensor:
        sched = self.scheduler
        sched.set_timesteps(self.steps)
        timesteps = list(sched.timesteps)
        mask = (~known).float()[None, None]  # 1 where generated
        masked = (z * known)[None]
        noise = torch.randn(masked.shape, generator=gen)
        x = noise * sched.init_noise_sigma
        cfg = self.guidance > 1.0
        embeds = (
            torch.cat([self.negative_embeds, self.prompt_embeds]) if cfg else self.prompt_embeds
        )
        for k, step in enumerate(timesteps):
            if context.cancel is not None and context.cancel():
                raise GenerationCancelled(f"cancelled at frame {index + 1} of {frames}")
            model_in = sched.scale_model_input(torch.cat([x, x]) if cfg else x, step)
            extra = torch.cat([mask, masked], dim=1)  # (1, 1 + C, h, w)
            model_in = torch.cat([model_in, extra.repeat(2, 1, 1, 1) if cfg else extra], dim=1)
            eps = self.unet(model_in, step, encoder_hidden_states=embeds).sample
            if cfg:
                uncond, cond = eps.chunk(2)
                eps = uncond + self.guidance * (cond - uncond)
            x = sched.step(eps, step, x).prev_sample
            if k + 1 < len(timesteps):  # known tokens, noised to where x now is
                noisy = sched.add_noise(z[None], noise, timesteps[k + 1].reshape(1))
                x = torch.where(known[None, None], noisy, x)
            if context.callback is not None:
                holes = int((~known).sum())
                context.callback(GeneratorStep(index, frames, k + 1, len(timesteps), holes))
        return torch.where(known[None], z, x[0])


def pipeline_folder(path_or_id: str | os.PathLike, what: str = "inpainting pipeline") -> Path:
    """A local pipeline folder, or the cached snapshot of a Hub id (never downloaded);
    `what` names it in the error."""
    folder = Path(path_or_id).expanduser()
    if folder.is_dir():
        return folder
    from engine.models.codec import _looks_like_path

    source = os.fspath(path_or_id)
    if _looks_like_path(source):
        raise FileNotFoundError(f"{what} folder {folder} does not exist")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source, local_files_only=True))
    except Exception as e:  # huggingface_hub raises several types for "not cached"
        raise FileNotFoundError(
            f"{what} {source!r} is neither a local folder nor in the Hugging Face "
            f"cache ({type(e).__name__}); nothing is downloaded at run time. Download it with "
            f"`hf download {source} --local-dir models/{source.split('/')[-1]}` and pass that "
            "folder (or run `hf download` without --local-dir to fill the cache)."
        ) from None


def encode_prompt(root: str | os.PathLike, prompt: str) -> Tensor:
    """(1, L, D) embeddings of `prompt` by the CLIP text encoder of a pipeline folder."""
    from transformers import CLIPTextModel, CLIPTokenizer

    root = Path(root)
    if not (root / "text_encoder").is_dir() or not (root / "tokenizer").is_dir():
        raise FileNotFoundError(
            f"{root} has no text_encoder/ and tokenizer/ to encode the prompt with; give "
            "precomputed prompt embeddings instead (prompt_embeds=...)"
        )
    tokenizer = CLIPTokenizer.from_pretrained(root / "tokenizer")
    encoder = CLIPTextModel.from_pretrained(root / "text_encoder").eval()
    ids = tokenizer(
        prompt,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids
    with torch.inference_mode():
        return encoder(ids)[0].float()
