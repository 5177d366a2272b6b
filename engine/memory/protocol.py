"""SceneMemory: what the world loop needs of a scene memory, whichever kind it is.

LatentMemory (the method: latent tokens lifted to 3D) and RGBMemory (the pixel-space
baseline it is measured against) both satisfy it, so `engine.world.World` runs on either
without asking which it has. What differs is declared, not tested for:
`readout_is_encoded` (the RGB memory's readout is an encode of a rendered view, so a readout
refiner has nothing to do) and what a write uses (the latent memory keeps the latent, the
RGB memory the decoded colours `rgb`, decoding the latent itself when not given).
Each saves itself to one file in its own format (`save`) and reads it back (`load`, given
the world's codec, which the RGB memory encodes its readout with), so engine.io saves and
loads worlds with either kind.
Each lives on one torch device (`device`; `to(device)` moves it and returns it): tensors
given to it are moved there and what it returns is there; its file holds CPU tensors and
`load(..., device=)` reads it onto a device.
"""

from __future__ import annotations

import os
from typing import Any, Protocol, runtime_checkable

import torch

from engine.camera import ArrayLike, Camera
from engine.memory.latent import GroundFrame, Occupancy, Readout, WriteStats


@runtime_checkable
class SceneMemory(Protocol):
    channels: int  # latent channels of its readouts
    segment: int  # the segment being written
    frame: GroundFrame | None  # the ground frame, from the first camera written
    readout_is_encoded: bool  # the readout is an encoded rendering: nothing to refine

    def __len__(self) -> int: ...

    @property
    def device(self) -> torch.device: ...

    def to(self, device: torch.device | str) -> SceneMemory: ...

    @property
    def nbytes(self) -> int: ...

    def lift(
        self,
        latent: torch.Tensor,
        depth: torch.Tensor,
        camera: Camera,
        keep: torch.Tensor | None = None,
        sky: torch.Tensor | None = None,
        segment: int | None = None,
        rgb: torch.Tensor | None = None,
    ) -> WriteStats: ...

    def update(
        self,
        latent: torch.Tensor,
        depth: torch.Tensor,
        camera: Camera,
        keep: torch.Tensor | None = None,
        sky: torch.Tensor | None = None,
        segment: int | None = None,
        rgb: torch.Tensor | None = None,
    ) -> WriteStats: ...

    def readout(self, camera: Camera) -> Readout: ...

    def positions(self) -> torch.Tensor: ...

    def erase(
        self, box: tuple[ArrayLike, ArrayLike] | None = None, ids: ArrayLike | None = None
    ) -> int: ...

    def occupancy(
        self,
        resolution: int | tuple[int, int] = 128,
        extent: tuple[float, float, float, float] | None = None,
    ) -> Occupancy: ...

    def compact(self) -> None: ...

    def save(self, path: str | os.PathLike[str]) -> None: ...

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], codec: Any = None, device: torch.device | str = "cpu"
    ) -> SceneMemory: ...
