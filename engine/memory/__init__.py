"""Scene memories: LatentMemory (the core) and RGBMemory (the baseline it is measured
against), both SceneMemory (engine.memory.protocol); `make_memory` builds one by name and
`load_memory` reads one back from its file."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
):
    """A new empty memory of `kind` ("latent" or "rgb") for latents of `codec`. The RGB
    memory has no feature dtype and no budget (the baseline keeps every point)."""
    if kind == "rgb":
        from engine.memory.rgb import RGBMemory

        return RGBMemory(codec, chunk_size=chunk_size, depth_tolerance=depth_tolerance)
    if kind == "latent":
        from engine.memory.latent import LatentMemory

        return LatentMemory(
            codec.channels,
            chunk_size=chunk_size,
            feature_dtype=feature_dtype,
            budget_bytes=budget_bytes,
            depth_tolerance=depth_tolerance,
        )
    raise ValueError(f"memory must be one of {', '.join(MEMORIES)}, got {kind!r}")


def load_memory(kind: str, path: str | os.PathLike, codec: Any) -> SceneMemory:
    """The memory of `kind` ("latent" or "rgb") saved at `path` by its save(), for latents of
    `codec` (the RGB memory encodes its readout with it)."""
    if kind == "rgb":
        from engine.memory.rgb import RGBMemory

        return RGBMemory.load(path, codec)
    if kind == "latent":
        from engine.memory.latent import LatentMemory

        return LatentMemory.load(path, codec)
    raise ValueError(f"memory must be one of {', '.join(MEMORIES)}, got {kind!r}")
