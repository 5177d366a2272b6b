"""The sky dome: a directional panorama for what lies at infinity.

Sky tokens have no depth, so they are not points: they are stored by direction only, in an
equirectangular panorama around the world up (azimuth 0 = forward of the first camera,
positive to its right; row 0 = the zenith). Reading by direction means the sky turns with
the camera and never parallaxes when it moves. Each cell keeps a running mean of what was
written into it, with a weight capped at max_weight like the memory's entries.
"""

from __future__ import annotations

import math

import torch


class SkyDome:
    """Panorama of `channels` values per cell at `resolution` = (rows, cols).

    Values are stored as `dtype`: float16 for latents, or uint8 for colours in [0, 1]
    (stored times 255). Storage is allocated on the first write, on `device`; directions and
    values written or read are expected there (the memories move their inputs).
    """

    def __init__(
        self,
        channels,
        resolution=(64, 128),
        dtype=torch.float16,
        max_weight=16,
        device: torch.device | str = "cpu",
    ) -> None:
        rows, cols = resolution
        if rows < 1 or cols < 1:
            raise ValueError(f"sky resolution must be positive, got {resolution}")
        self.channels, self.resolution = channels, (int(rows), int(cols))
        self.dtype, self.max_weight = dtype, max_weight
        self.device = torch.device(device)
        self.feat: torch.Tensor | None = None  # (C, rows, cols)
        self.weight: torch.Tensor | None = None  # (rows, cols) uint8, 0 = never written

    def to(self, device: torch.device | str) -> None:
        """Move the panorama to device, in place."""
        self.device = torch.device(device)
        if self.feat is not None and self.weight is not None:
            self.feat, self.weight = self.feat.to(self.device), self.weight.to(self.device)

    @property
    def allocated(self) -> bool:
        return self.feat is not None

    @property
    def nbytes(self) -> int:
        if self.feat is None or self.weight is None:
            return 0
        return self.feat.numel() * self.feat.element_size() + self.weight.numel()

    def cells(self, frame, directions: torch.Tensor) -> torch.Tensor:
        """World directions (N, 3) -> flat cell index (N,), given the world's GroundFrame."""
        rows, cols = self.resolution
        az, el = frame.angles(directions)
        c = torch.floor((az + math.pi) / (2 * math.pi) * cols).long() % cols
        r = torch.floor((math.pi / 2 - el) / math.pi * rows).long().clamp(0, rows - 1)
        return r * cols + c

    def write(self, frame, directions: torch.Tensor, values: torch.Tensor) -> int:
        """Fuse values (N, C) seen along directions (N, 3). Returns N."""
        n = values.shape[0]
        if n == 0:
            return 0
        rows, cols = self.resolution
        if self.feat is None or self.weight is None:
            self.feat = torch.zeros(self.channels, rows, cols, dtype=self.dtype, device=self.device)
            self.weight = torch.zeros(rows, cols, dtype=torch.uint8, device=self.device)
        cells = self.cells(frame, directions)
        # Mean of this write per cell, then a running mean with what the cell holds.
        hits = torch.bincount(cells, minlength=rows * cols).float()
        sums = torch.zeros(rows * cols, self.channels, device=self.device)
        sums.index_add_(0, cells, values.float())
        touched = hits > 0
        mean = sums[touched] / hits[touched, None]
        flat_f = self.feat.reshape(self.channels, -1)
        flat_w = self.weight.reshape(-1)
        w = flat_w[touched].float()[:, None]
        fused = (self._decode(flat_f[:, touched].T) * w + mean) / (w + 1)
        flat_f[:, touched] = self._encode(fused).T
        flat_w[touched] = (flat_w[touched].long() + 1).clamp(max=self.max_weight).to(torch.uint8)
        return n

    def read(self, frame, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Values (N, C) float32 along directions (N, 3) and whether each was ever seen."""
        n = directions.shape[0]
        if self.feat is None or self.weight is None:
            dev = self.device
            return torch.zeros(n, self.channels, device=dev), torch.zeros(
                n, dtype=torch.bool, device=dev
            )
        cells = self.cells(frame, directions)
        seen = self.weight.reshape(-1)[cells] > 0
        values = self._decode(self.feat.reshape(self.channels, -1)[:, cells].T)
        return values * seen[:, None], seen

    def _encode(self, v: torch.Tensor) -> torch.Tensor:
        if self.dtype == torch.uint8:
            return torch.round(v.clamp(0, 1) * 255).to(torch.uint8)
        return v.to(self.dtype)

    def _decode(self, v: torch.Tensor) -> torch.Tensor:
        return v.float() / 255 if self.dtype == torch.uint8 else v.float()

    def state(self) -> dict[str, torch.Tensor]:
        if self.feat is None or self.weight is None:
            return {}
        return {"sky_feat": self.feat, "sky_weight": self.weight}

    def load_state(self, arrays: dict[str, torch.Tensor]) -> None:
        """Inverse of state(), checking dtype and shape; the arrays go to the dome's device."""
        if "sky_feat" not in arrays:
            return
        rows, cols = self.resolution
        feat, weight = arrays["sky_feat"], arrays.get("sky_weight")
        if feat.dtype != self.dtype or feat.shape != (self.channels, rows, cols):
            raise ValueError(
                f"array 'sky_feat' must be {self.dtype} of shape ({self.channels}, {rows}, "
                f"{cols}), got {feat.dtype} {tuple(feat.shape)}"
            )
        if weight is None or weight.dtype != torch.uint8 or weight.shape != (rows, cols):
            raise ValueError(f"array 'sky_weight' must be uint8 of shape ({rows}, {cols})")
        self.feat, self.weight = feat.to(self.device), weight.to(self.device)
