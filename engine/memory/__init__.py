"""Scene memories: LatentMemory (the core) and RGBMemory (the baseline it is measured
against), both SceneMemory (engine.memory.protocol); `make_memory` builds one by name and
`load_memory` reads one back from its file."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from engine.memory.protocol import SceneMemory

MEMORIES = ("latent", "rgb")


def make_memory(
    kind: str,
    codec,
    *,
    chunk_size: float = 2.0,
    depth_tolerance: float = 0.05,
    feature_dtype: str = "int8",
    budget_bytes: int | None = None,
    device: torch.device | str = "cpu",
):
    """A new empty memory of `kind` ("latent" or "rgb") for latents of `codec`, on `device`
    (both kinds keep their arrays there; the codec is not moved). The RGB memory has no
    feature dtype and no budget (the baseline keeps every point)."""
    if kind == "rgb":
        from engine.memory.rgb import RGBMemory

        return RGBMemory(
            codec, chunk_size=chunk_size, depth_tolerance=depth_tolerance, device=device
        )
    if kind == "latent":
        from engine.memory.latent import LatentMemory

        return LatentMemory(
            codec.channels,
            chunk_size=chunk_size,
            feature_dtype=feature_dtype,
            budget_bytes=budget_bytes,
            depth_tolerance=depth_tolerance,
            device=device,
        )
    raise ValueError(f"memory must be one of {', '.join(MEMORIES)}, got {kind!r}")


def load_memory(
    kind: str, path: str | os.PathLike, codec: Any, device: torch.device | str = "cpu"
) -> SceneMemory:
    """The memory of `kind` ("latent" or "rgb") saved at `path` by its save(), for latents of
    `codec` (the RGB memory encodes its readout with it), on `device`."""
    if kind == "rgb":
        from engine.memory.rgb import RGBMemory

        return RGBMemory.load(path, codec, device=device)
    if kind == "latent":
        from engine.memory.latent import LatentMemory

        return LatentMemory.load(path, codec, device=device)
    raise ValueError(f"memory must be one of {', '.join(MEMORIES)}, got {kind!r}")
