"""Depth of one photo: rgb (3, H, W) in [0, 1] -> camera-frame z (H, W) in scene units.

The `DepthEstimator` protocol is what the world and the benchmarks see. Implementations:

- `EmbeddedDepth`: a geometric prior for a photo taken at eye level (a box room / street
  canyon around the camera), plus a sky guess from colour, refined by a small shipped network
  (engine.models.depth_net, assets/models/depth-embedded.safetensors) when its weights are
  there. No download.
- `FileDepth`: depth given with the photo (16-bit PNG, .npy, .exr), see `load_depth_file`.
- `TransformersDepth`: a transformers depth-estimation model (Depth Anything V2 and the like)
  from a local folder or the Hugging Face cache; relative outputs become depth by the policy
  written in its docstring.

Depth conventions (those of engine.memory's lift / update, so a result can be passed on):
depth is camera-frame z (not ray length); > 0 and finite where the geometry is known;
0 marks a pixel whose depth is unknown (only file depth produces it); +inf marks the sky in
file depth. `DepthResult.sky` is the sky mask where the estimator has one.

`depth_metrics` scores a prediction against ground truth after median scaling.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.models.depth_net import DEFAULT_WEIGHTS as DEPTH_NET_WEIGHTS
from engine.models.depth_net import DepthNet, downsample, net_size


@dataclass
class DepthResult:
    """One depth estimate, at the resolution of the rgb it was made from."""

    depth: Tensor  # (H, W) float32 camera-frame z; > 0 and finite except at sky / unknown
    sky: Tensor | None  # (H, W) bool, True on sky; None when the estimator gives no sky mask
    notes: list[str] = field(default_factory=list)  # what was assumed, clamped or filled


@runtime_checkable
class DepthEstimator(Protocol):
    """rgb -> depth for one photo."""

    name: str

    def estimate(self, rgb: Tensor) -> DepthResult:
        """rgb (3, H, W) float32 in [0, 1] -> DepthResult with depth of shape (H, W)."""
        ...


class DepthFileError(ValueError):
    """A depth file cannot be used; the message names the file and the reason."""


# --------------------------------------------------------------------------- input checks


def check_rgb_image(rgb: Any, caller: str = "estimate") -> Tensor:
    """Return rgb as a float32 (3, H, W) CPU-or-device tensor; ValueError if it is not one."""
    if isinstance(rgb, np.ndarray):
        rgb = torch.from_numpy(rgb)
    if not isinstance(rgb, Tensor):
        raise ValueError(f"{caller} expects a torch.Tensor, got {type(rgb).__name__}")
    shape = tuple(rgb.shape)
    if rgb.ndim != 3 or shape[0] != 3 or shape[1] < 2 or shape[2] < 2:
        raise ValueError(f"{caller} expects rgb of shape (3, H, W) with H, W >= 2, got {shape}")
    if rgb.dtype != torch.float32:
        raise ValueError(f"{caller} expects float32 rgb in [0, 1], got {rgb.dtype}")
    if not bool(torch.isfinite(rgb).all()):
        raise ValueError(f"{caller} expects finite rgb values, got NaN or inf")
    return rgb


# --------------------------------------------------------------------------- embedded prior


class EmbeddedDepth:
    """Depth for a photo taken at eye level: a box-room / street-canyon prior, refined
    indoors where the image shows where vertical surfaces stand on the floor.

    Assumptions, all of them:

    - Camera: a level pinhole (no pitch, no roll) with square pixels and vertical field of
      view `fov_y_deg`; the principal point at the image centre, so the horizon is the row
      cy = `horizon` x H (0.5 = centre). fy = fx = (H / 2) / tan(fov_y / 2). Pixel centres
      (u, v) = (j + 0.5, i + 0.5), camera-frame z throughout.
    - Ground: a horizontal plane `camera_height` below the camera, seen below the horizon at
      z = fy h / (v - cy). Indoors a ceiling `ceiling_height` above it, z = fy c / (cy - v).
    - Indoors or outdoors: outdoors when `sky_mask` finds sky (then no ceiling, and the sky
      pixels get the cap); indoors otherwise, or always with detect_sky=False.
      `DepthResult.sky` is the mask (all False when no sky was found; None when not looked
      for).
    - Box prior: walls `half_width` to either side (indoors: a room 6 wide by default;
      outdoors `half_width_outdoors`: a street 14 between facades), z = fx w / |u - cx|, and
      nothing farther than the cap (`max_depth` indoors, `max_depth_outdoors` outdoors);
      depth = the nearest of ground / ceiling / walls / cap.
    - Indoors only, the ground-contact cue (single-view "pop-up" reasoning): the floor's
      colours are modelled from the bottom GROUND_BAND of the image (mean and covariance;
      the bottom rows of an eye-level photo are almost always floor). Walking up each column
      from the bottom, the first run of >= H / 48 pixels that do not fit that model
      (Mahalanobis distance > `contact_threshold`) is a vertical surface standing on the
      floor at the row under the run; every pixel of a vertical plane in one image column
      has the same z, so the column above the contact gets the floor's depth at the contact
      row (median-filtered over MEDIAN_COLUMNS columns; the ceiling and the cap still win
      where nearer), and the pixels under the contact get the floor plane alone. A column
      whose pixels above the horizon fit the "floor" model (all but WALL_FRACTION of them)
      is one surface from bottom to top: a wall filling the column, given the nearest depth
      at which a wall hides both floor and ceiling, min(fy h / (H - cy), fy c / cy).
      Columns with no contact keep the box prior.
      A uniform image (every channel's std < 0.01) gets the box prior alone. Outdoors the
      cue is off: kerbs, road markings and pavements change colour on the ground itself
      and read as contacts much too near (measured on the synthetic street).

    The result is finite and > 0 at every pixel of any image, between
    min(h, c, w H / W) / tan(fov_y / 2) and the cap. What it cannot see: a tilted camera,
    slopes and stairs, objects not standing on the floor, rugs (read as contacts), anything
    outdoors but the ground and the sky. Judge it by scale-free metrics (median scaling).

    The network (`network`, on by default): engine.models.depth_net.DepthNet, a small U-Net
    trained on synthetic rooms and streets with tilted, rolled cameras of many fields of view
    (engine/train/depth.py). With it, `estimate`:

    1. resizes the photo to the network's size (about 128x96, the photo's aspect, multiples
       of 16; antialiased bilinear) and computes the prior above at that size;
    2. runs the network on (small photo, log prior): a log-depth residual within
       +-max_residual (2: a factor 7.4 either way) and a sky logit;
    3. depth = exp(bilinear upsampling of log prior + residual) at the photo's size; so the
       result is finite and > 0 on any image, within exp(-+2) of the prior's range, and an
       image unlike the training data stays near the prior;
    4. sky (detect_sky=True): p = sigmoid of the upsampled sky logit. The network decides
       where it is sure (p >= SKY_SURE: sky; p <= 1 - SKY_SURE: not sky); in between (mostly
       the blurred band along the sky's edges) the colour mask `sky_mask` of the full-size
       photo decides. Sky pixels get the depth max(max_depth_outdoors, the farthest non-sky
       depth): finite, as everywhere in this estimator.

    `network`: True uses assets/models/depth-embedded.safetensors when it exists and the
    prior alone otherwise (with a note in DepthResult.notes saying so); False the prior
    alone; a path those weights (FileNotFoundError when missing); a DepthNet that network.
    `latentscape bench depth` (engine/bench/depth.py) measures both on the synthetic scenes.
    """

    name = "embedded"

    GROUND_BAND = 0.06  # fraction of the height, at the bottom, that models the floor
    MEDIAN_COLUMNS = 7  # contact depths are median-filtered over this many columns
    WALL_FRACTION = 0.15  # at most this fraction off the floor model above the horizon: wall
    SKY_SURE = 0.8  # the network's sky probability is trusted beyond this (or below 1 - it)

    def __init__(
        self,
        fov_y_deg: float = 60.0,
        horizon: float = 0.5,
        camera_height: float = 1.5,
        ceiling_height: float = 1.5,
        half_width: float = 3.0,
        max_depth: float = 12.0,
        half_width_outdoors: float = 7.0,
        max_depth_outdoors: float = 30.0,
        contact: bool = True,
        contact_threshold: float = 3.0,
        detect_sky: bool = True,
        network: bool | str | os.PathLike | DepthNet = True,
    ) -> None:
        if not 1.0 <= fov_y_deg <= 170.0:
            raise ValueError(f"fov_y_deg must be in [1, 170], got {fov_y_deg}")
        if not 0.0 < horizon < 1.0:
            raise ValueError(f"horizon must be a fraction of the height in (0, 1), got {horizon}")
        for key, value in (
            ("camera_height", camera_height),
            ("ceiling_height", ceiling_height),
            ("half_width", half_width),
            ("max_depth", max_depth),
            ("half_width_outdoors", half_width_outdoors),
            ("max_depth_outdoors", max_depth_outdoors),
            ("contact_threshold", contact_threshold),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{key} must be a finite number > 0, got {value}")
        self.fov_y_deg = float(fov_y_deg)
        self.horizon = float(horizon)
        self.camera_height = float(camera_height)
        self.ceiling_height = float(ceiling_height)
        self.half_width = float(half_width)
        self.max_depth = float(max_depth)
        self.half_width_outdoors = float(half_width_outdoors)
        self.max_depth_outdoors = float(max_depth_outdoors)
        self.contact = bool(contact)
        self.contact_threshold = float(contact_threshold)
        self.detect_sky = bool(detect_sky)
        self.net: DepthNet | None = None
        self.net_note: str | None = None  # why the network is not used, for the notes
        if isinstance(network, DepthNet):
            self.net = network
        elif network is True:
            if DEPTH_NET_WEIGHTS.is_file():
                self.net = DepthNet.load(DEPTH_NET_WEIGHTS)
            else:
                self.net_note = (
                    f"no depth network weights at {DEPTH_NET_WEIGHTS}: the prior alone "
                    "(train them with `python -m engine.train.depth`)"
                )
        elif network is not False and network is not None:
            self.net = DepthNet.load(network)

    def estimate(self, rgb: Tensor) -> DepthResult:
        """rgb (3, H, W) float32 in [0, 1] -> depth (H, W), finite and > 0 everywhere."""
        rgb = check_rgb_image(rgb, caller="EmbeddedDepth.estimate").detach().cpu()
        if self.net is None:
            result = self.estimate_prior(rgb)
            if self.net_note is not None:
                result.notes.append(self.net_note)
            return result
        return self._estimate_with_network(rgb)

    def estimate_prior(self, rgb: Tensor) -> DepthResult:
        """The geometric prior alone (steps of the class docstring before the network)."""
        rgb = check_rgb_image(rgb, caller="EmbeddedDepth.estimate_prior").detach().cpu()
        _, height, width = rgb.shape
        sky = sky_mask(rgb, horizon=self.horizon) if self.detect_sky else None
        outdoors = sky is not None and bool(sky.any())
        notes = [
            f"eye-level prior: level camera, fov_y {self.fov_y_deg:g} deg, ground "
            f"{self.camera_height:g} below, " + ("outdoors" if outdoors else "indoors")
        ]
        depth = self.prior(height, width, outdoors=outdoors).double()
        if outdoors:
            notes.append(f"sky found on {100 * float(sky.float().mean()):.1f}% of the image")
            depth = torch.where(sky, self.max_depth_outdoors, depth)
        elif self.contact:
            depth = self._ground_contact(rgb, depth, notes)
        return DepthResult(depth=depth.to(torch.float32), sky=sky, notes=notes)

    def _estimate_with_network(self, rgb: Tensor) -> DepthResult:
        """Prior + network residual, steps 1-4 of the class docstring."""
        _, height, width = rgb.shape
        size = net_size(height, width, self.net.cfg)
        small = downsample(rgb[None], size)  # (1, 3, h, w)
        prior = self.estimate_prior(small[0])
        log_prior = prior.depth.log()[None, None]  # (1, 1, h, w)
        residual, sky_logit = self.net(small, log_prior)
        log_depth = F.interpolate(
            log_prior + residual, size=(height, width), mode="bilinear", align_corners=False
        )
        depth = log_depth[0, 0].exp()
        bound = self.net.cfg.max_residual
        clamped = 100 * float((residual.abs() > 0.99 * bound).float().mean())
        notes = [
            note + f" (at {size[1]}x{size[0]})" if i == 0 else note
            for i, note in enumerate(prior.notes)
        ]
        notes.append(
            f"depth network ({self.net.source}): median |log residual| "
            f"{float(residual.abs().median()):.2f}, {clamped:.1f}% near the +-{bound:g} bound"
        )
        sky = None
        if self.detect_sky:
            p = torch.sigmoid(
                F.interpolate(sky_logit, size=(height, width), mode="bilinear", align_corners=False)
            )[0, 0]
            sure = self.SKY_SURE
            unsure = (p > 1 - sure) & (p < sure)
            sky = p >= sure
            if bool(unsure.any()):
                sky |= unsure & sky_mask(rgb, horizon=self.horizon)
            if bool(sky.any()):
                far = self.max_depth_outdoors
                if not bool(sky.all()):
                    far = max(far, float(depth[~sky].max()))
                depth = torch.where(sky, far, depth)
                notes.append(f"sky on {100 * float(sky.float().mean()):.1f}% of the image")
        return DepthResult(depth=depth.to(torch.float32).contiguous(), sky=sky, notes=notes)

    # ---- the pieces

    def _focal(self, height: int) -> float:
        return 0.5 * height / math.tan(math.radians(self.fov_y_deg) / 2)

    def prior(self, height: int, width: int, outdoors: bool = False) -> Tensor:
        """The box prior alone: (height, width) float32 depth, see the class docstring."""
        fy = self._focal(height)
        fx, cx, cy = fy, 0.5 * width, self.horizon * height
        cap = self.max_depth_outdoors if outdoors else self.max_depth
        half_width = self.half_width_outdoors if outdoors else self.half_width
        v = torch.arange(height, dtype=torch.float64)[:, None] + 0.5  # pixel centres
        u = torch.arange(width, dtype=torch.float64)[None, :] + 0.5
        depth = torch.full((height, width), cap, dtype=torch.float64)
        # z = fy h / (v - cy): the ground y = h below a level camera (+y down); x / 0 = inf
        depth = torch.minimum(depth, fy * self.camera_height / (v - cy).clamp(min=0))
        if not outdoors:
            depth = torch.minimum(depth, fy * self.ceiling_height / (cy - v).clamp(min=0))
        # z = fx w / |u - cx|: the walls x = +-w
        depth = torch.minimum(depth, fx * half_width / (u - cx).abs())
        return depth.to(torch.float32)

    def _ground_contact(self, rgb: Tensor, prior: Tensor, notes: list[str]) -> Tensor:
        """Indoor prior (H, W) float64 refined by the ground-contact cue (class docstring)."""
        _, height, width = rgb.shape
        cap = self.max_depth
        fy, cy = self._focal(height), self.horizon * height
        horizon_row = min(height - 1, max(0, math.floor(cy)))  # first row at or below cy
        band = max(2, round(self.GROUND_BAND * height))
        run = max(2, round(height / 48))
        if height - band - run <= horizon_row:
            return prior  # too few rows below the horizon to say anything
        if float(rgb.std(dim=(1, 2)).max()) < 0.01:
            notes.append("the image is uniform: box prior only")
            return prior
        x = F.avg_pool2d(rgb[None].double(), 3, stride=1, padding=1, count_include_pad=False)[0]
        ground = x[:, height - band :].reshape(3, -1)
        mean = ground.mean(1)
        cov = torch.cov(ground) + 0.02**2 * torch.eye(3, dtype=torch.float64)
        offset = x - mean[:, None, None]
        # Mahalanobis distance sqrt(d^T C^-1 d) of every pixel to the ground's colours
        distance = torch.einsum("ihw,ij,jhw->hw", offset, torch.linalg.inv(cov), offset)
        off_ground = distance.clamp(min=0).sqrt() > self.contact_threshold  # (H, W)

        # Run starts: row r such that rows r .. r + run - 1 are all off the ground.
        ones = torch.ones(1, 1, run, 1, dtype=torch.float64)
        full = F.conv2d(off_ground[None, None].double(), ones)[0, 0] >= run - 0.5
        starts = torch.arange(full.shape[0])[:, None]
        # contact = the row just below the lowest run that reaches below the horizon
        below = full & (starts + run - 1 >= horizon_row)
        lowest = torch.where(below, starts, -1).max(0).values  # (W,), -1: none
        contact_row = lowest + run  # first ground row under the run
        has_contact = (lowest >= 0) & (contact_row < height)
        v_contact = contact_row.double() + 0.5
        z_contact = fy * self.camera_height / (v_contact - cy).clamp(min=1e-6)
        z_contact = torch.where(has_contact, z_contact.clamp(max=cap), math.nan)
        k = self.MEDIAN_COLUMNS
        padded = F.pad(z_contact[None, None], (k // 2, k // 2), mode="replicate")[0, 0]
        z_contact = padded.unfold(0, k, 1).nanmedian(-1).values  # (W,), NaN: no contact

        rows = torch.arange(height, dtype=torch.float64)[:, None]
        above_contact = rows < contact_row[None, :]  # the vertical surface's pixels
        depth = torch.where(above_contact & has_contact, z_contact[None, :], prior)
        # under the contact the cue says floor: the ground plane alone, no side walls
        floor = fy * self.camera_height / (rows + 0.5 - cy).clamp(min=1e-6)
        depth = torch.where(~above_contact & has_contact, floor.clamp(max=cap), depth)
        # a column that looks like its bottom all the way up is a wall filling the column
        wall = off_ground[:horizon_row].double().mean(0) < self.WALL_FRACTION
        near_wall = min(fy * self.camera_height / (height - cy), fy * self.ceiling_height / cy)
        depth = torch.where(wall[None, :], min(near_wall, cap), depth)
        v = rows + 0.5
        depth = torch.minimum(depth, fy * self.ceiling_height / (cy - v).clamp(min=0))
        notes.append(
            f"ground contact found in {int((has_contact & ~wall).sum())} of {width} columns, "
            f"wall filling {int(wall.sum())} columns"
        )
        return depth.clamp(max=cap)


def sky_mask(rgb: Tensor, horizon: float = 0.5, min_fraction: float = 0.005) -> Tensor:
    """Guess of the sky: bright, smooth, bluish regions connected to the top edge.

    A pixel is a sky candidate when it is smooth (mean gradient magnitude < 0.04 over a
    k x k window, k the odd number nearest H / 40, at least 3),
    bright (mean > 0.35) and above horizon + 0.1 (fraction of the height). Candidates are
    grouped into 4-connected regions; a region is sky when it touches the top row and at
    least 30% of it is bluish (b - r > 0.04 and b >= g - 0.03). So clear skies, with their
    white clouds, are found; a white overcast sky is not (it would look like a white ceiling).
    The rim the texture window takes off the regions is given back: pixels within k // 2 + 1
    of them that are bright and bluish or whitish (max - min channel < 0.1, mean > 0.6) join.
    Regions covering less than `min_fraction` of the image in total are dropped.
    Returns an (H, W) bool mask (all False when no sky is found).
    """
    from scipy import ndimage

    rgb = check_rgb_image(rgb, caller="sky_mask").detach().cpu()
    _, height, _ = rgb.shape
    r, g, b = rgb.unbind(0)
    value = rgb.mean(0)
    gy = torch.zeros_like(value)
    gx = torch.zeros_like(value)
    gy[1:-1] = 0.5 * (value[2:] - value[:-2])
    gx[:, 1:-1] = 0.5 * (value[:, 2:] - value[:, :-2])
    magnitude = torch.sqrt(gx * gx + gy * gy)[None, None]
    k = max(1, round(height / 80)) * 2 + 1  # ~1/40 of the height: 5 x 5 at 192 rows
    texture = F.avg_pool2d(magnitude, k, stride=1, padding=k // 2, count_include_pad=False)[0, 0]
    rows = torch.arange(height)[:, None] + 0.5
    candidate = (value > 0.35) & (texture < 0.04) & (rows < (horizon + 0.1) * height)
    bluish = (b - r > 0.04) & (b >= g - 0.03)
    labels, count = ndimage.label(candidate.numpy())
    if count == 0:
        return torch.zeros_like(candidate)
    labels_t = torch.from_numpy(labels).long().reshape(-1)
    size = torch.bincount(labels_t, minlength=count + 1).double()
    blue = torch.bincount(labels_t, weights=bluish.reshape(-1).double(), minlength=count + 1)
    keep = blue >= 0.3 * size.clamp(min=1)
    touches_top = torch.zeros(count + 1, dtype=torch.bool)
    touches_top[torch.from_numpy(labels[0]).long()] = True
    keep &= touches_top
    keep[0] = False  # label 0: not a candidate
    mask = keep[labels_t].reshape(candidate.shape)
    # Give back the rim the texture window took near edges: sky-coloured pixels within k.
    grown = F.max_pool2d(mask[None, None].float(), k + 2, stride=1, padding=k // 2 + 1)[0, 0] > 0
    whitish = (rgb.amax(0) - rgb.amin(0) < 0.1) & (value > 0.6)
    mask |= grown & (value > 0.35) & (bluish | whitish)
    if float(mask.double().mean()) < min_fraction:
        mask[:] = False
    return mask


# --------------------------------------------------------------------------- depth files


def load_depth_file(
    path: str | os.PathLike,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
) -> Tensor:
    """Read a depth map given with a photo -> (H, W) float32 camera-frame z in scene units.

    Formats, by suffix:
    - .png, 16-bit grey (mode I;16): depth = value * scale. `scale` (scene units per step,
      e.g. 0.001 for millimetres) is required: pass it, or put {"depth_scale": s} in a
      sidecar JSON beside the file (depth.json or depth.png.json). Value 0 = unknown.
    - .npy: a 2-D float array (or (1, H, W) / (H, W, 1)); multiplied by `scale`, or by the
      sidecar's depth_scale, when one is given. Integer arrays need a scale like PNGs.
    - .exr: the Z (or depth, or first colour) channel; needs the OpenEXR package.

    In the result 0 means unknown and +inf means sky (only float files can hold inf).
    `size` = (H, W), the shape of the photo, is checked when given. Refused with a
    DepthFileError (ValueError): missing / empty / unreadable files, other formats, 8-bit or
    colour PNGs, NaN, negative values or -inf, a map with no finite depth > 0, a wrong size.
    """
    path = Path(path)
    if not path.is_file():
        raise DepthFileError(f"{path}: no such depth file")
    if path.stat().st_size == 0:
        raise DepthFileError(f"{path}: the depth file is empty (0 bytes)")
    suffix = path.suffix.lower()
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise DepthFileError(f"{path}: scale must be a finite number > 0, got {scale}")
    if suffix == ".png":
        values = _read_png16(path)
        scale = scale if scale is not None else _sidecar_scale(path)
        if scale is None:
            raise DepthFileError(
                f"{path}: a 16-bit PNG holds integer steps; give the scene units per step "
                f"with scale= (e.g. 0.001 for millimetres) or a sidecar "
                f'{path.with_suffix(".json").name} holding {{"depth_scale": 0.001}}'
            )
    elif suffix == ".npy":
        values = _read_npy(path)
        scale = scale if scale is not None else _sidecar_scale(path)
        if scale is None and not np.issubdtype(values.dtype, np.floating):
            raise DepthFileError(
                f"{path}: an integer array ({values.dtype}) needs scale= or a sidecar "
                f"depth_scale, like a 16-bit PNG"
            )
    elif suffix == ".exr":
        values = _read_exr(path)
        scale = scale if scale is not None else _sidecar_scale(path)
    else:
        raise DepthFileError(
            f"{path}: unsupported depth file type {suffix or '(none)'!r}; "
            "expected .png (16-bit), .npy or .exr"
        )
    depth = values.astype(np.float64) * (1.0 if scale is None else scale)
    _validate_depth(path, depth, size)
    return torch.from_numpy(depth.astype(np.float32))


def _read_png16(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode not in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
                raise DepthFileError(
                    f"{path}: a depth PNG must be 16-bit grey (mode I;16), got mode {mode}; "
                    "8-bit or colour PNGs are pictures of depth, not depth"
                )
            values = np.asarray(im.convert("I") if mode != "I" else im, dtype=np.int64)
    except DepthFileError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DepthFileError(f"{path}: cannot be read as a PNG ({error})") from None
    if values.min() < 0 or values.max() > 65535:
        raise DepthFileError(f"{path}: values outside the 16-bit range [0, 65535]")
    return values


def _read_npy(path: Path) -> np.ndarray:
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise DepthFileError(f"{path}: cannot be read as a .npy array ({error})") from None
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    elif values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    if values.ndim != 2:
        raise DepthFileError(f"{path}: depth must be a 2-D (H, W) array, got shape {values.shape}")
    if not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)):
        raise DepthFileError(f"{path}: depth must be a float or integer array, got {values.dtype}")
    return values


def _read_exr(path: Path) -> np.ndarray:
    try:
        import OpenEXR
    except ImportError:
        raise DepthFileError(
            f"{path}: reading .exr depth needs the OpenEXR package (pip install OpenEXR); "
            "or save the depth as .npy (float) or a 16-bit PNG with a scale"
        ) from None
    if not hasattr(OpenEXR, "File"):
        raise DepthFileError(
            f"{path}: the installed OpenEXR package is too old (no OpenEXR.File); "
            "pip install 'OpenEXR>=3.3'"
        )
    try:
        with OpenEXR.File(os.fspath(path)) as exr:
            channels = {name: channel.pixels for name, channel in exr.channels().items()}
    except Exception as error:  # OpenEXR raises plain RuntimeError / Exception on bad files
        raise DepthFileError(f"{path}: cannot be read as an EXR file ({error})") from None
    for name in ("Z", "depth", "Depth", "D", "Y", "R", "RGB", "RGBA"):
        if name in channels:
            values = np.asarray(channels[name])
            return values[..., 0] if values.ndim == 3 else values
    if len(channels) == 1:
        values = np.asarray(next(iter(channels.values())))
        return values[..., 0] if values.ndim == 3 else values
    raise DepthFileError(
        f"{path}: no depth channel among {sorted(channels)}; expected Z, depth, Y or R"
    )


def _sidecar_scale(path: Path) -> float | None:
    """depth_scale from depth.json or depth.png.json beside the file, or None."""
    for sidecar in (path.with_suffix(".json"), path.with_name(path.name + ".json")):
        if not sidecar.is_file():
            continue
        try:
            data = json.loads(sidecar.read_text())
        except (OSError, ValueError) as error:
            raise DepthFileError(f"{sidecar}: cannot be read as JSON ({error})") from None
        if not isinstance(data, dict) or "depth_scale" not in data:
            continue
        value = data["depth_scale"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DepthFileError(f"{sidecar}: depth_scale must be a number, got {value!r}")
        if not (math.isfinite(value) and value > 0):
            raise DepthFileError(f"{sidecar}: depth_scale must be finite and > 0, got {value}")
        return float(value)
    return None


def _validate_depth(path: Path, depth: np.ndarray, size: tuple[int, int] | None) -> None:
    if size is not None and tuple(depth.shape) != tuple(size):
        raise DepthFileError(
            f"{path}: depth of shape (H, W) = {tuple(depth.shape)} does not match the photo's "
            f"{tuple(size)}; give a depth map of the photo's size (it is not resized)"
        )
    if min(depth.shape) < 1:
        raise DepthFileError(f"{path}: the depth map is empty, shape {depth.shape}")
    nan = np.isnan(depth)
    if nan.any():
        raise DepthFileError(
            f"{path}: {int(nan.sum())} NaN depth values; mark unknown depth with 0 "
            "and sky with +inf"
        )
    negative = depth < 0
    if negative.any():
        i, j = np.argwhere(negative)[0]
        raise DepthFileError(
            f"{path}: {int(negative.sum())} negative depth values (first at row {i}, col {j}: "
            f"{depth[i, j]:g}); depth is camera-frame z, > 0"
        )
    if not (np.isfinite(depth) & (depth > 0)).any():
        raise DepthFileError(f"{path}: no finite depth > 0 (all zero / unknown or all sky)")


class FileDepth:
    """Depth read from a file given with the photo (see `load_depth_file`).

    The rgb passed to `estimate` is used only for the size check. Sky = the +inf pixels of
    the file (None when it has none); unknown pixels keep depth 0.
    """

    name = "file"

    def __init__(self, path: str | os.PathLike, scale: float | None = None) -> None:
        self.path = Path(path)
        self.scale = scale

    def estimate(self, rgb: Tensor) -> DepthResult:
        rgb = check_rgb_image(rgb, caller="FileDepth.estimate")
        depth = load_depth_file(self.path, scale=self.scale, size=tuple(rgb.shape[1:]))
        notes = [f"depth read from {self.path}"]
        sky = torch.isinf(depth)
        unknown = int((depth == 0).sum())
        if unknown:
            notes.append(f"{unknown} pixels have unknown depth (0)")
        if bool(sky.any()):
            notes.append(f"{int(sky.sum())} pixels are sky (+inf)")
            return DepthResult(depth=depth, sky=sky, notes=notes)
        return DepthResult(depth=depth, sky=None, notes=notes)


# --------------------------------------------------------------------------- transformers


METRIC_MODEL_TYPES = frozenset({"zoedepth", "glpn", "depth_pro"})
"""transformers model types whose output is metric depth (Depth Anything says so in its
config: depth_estimation_type = "metric")."""


class TransformersDepth:
    """A transformers depth-estimation model (AutoModelForDepthEstimation), e.g. Depth
    Anything V2, loaded from a local folder or the Hugging Face cache; no download unless
    local_files_only=False (HF_HUB_OFFLINE=1 forbids it in any case).

    Preprocessing follows the model's preprocessor_config.json, done in torch on the float
    rgb (no PIL round trip): resize as DPTImageProcessor does (`size`, `keep_aspect_ratio`,
    `ensure_multiple_of`; bicubic, antialiased), normalise by image_mean / image_std, pad
    to `size_divisor` when do_pad. The prediction is resized back (bilinear) to (H, W).

    Relative models (Depth Anything's default) predict an affine-invariant inverse depth
    ("disparity" d, larger = nearer) whose shift is unknown. The policy, with b = 0:

        d_hi = max(d),  d' = clamp(d, d_hi / max_ratio, d_hi),  depth = k / d'

    with k chosen so that the median depth is `median_depth` (scene units). So far <=
    max_ratio x near, the sky and anything at d <= 0 land on the far clamp, and the result
    is finite and > 0 everywhere. An output with no d > 0 gives the constant median_depth,
    with a note. Metric models (config depth_estimation_type == "metric", or a type in
    METRIC_MODEL_TYPES; `metric=` overrides) are used as depth directly; values <= 0 or
    non-finite become 0 (unknown). Sky: None (not estimated here).
    """

    name = "transformers"

    def __init__(
        self,
        path_or_id: str | os.PathLike,
        local_files_only: bool = True,
        device: str | torch.device = "cpu",
        median_depth: float = 3.0,
        max_ratio: float = 50.0,
        metric: bool | None = None,
    ) -> None:
        if not (math.isfinite(median_depth) and median_depth > 0):
            raise ValueError(f"median_depth must be finite and > 0, got {median_depth}")
        if not (math.isfinite(max_ratio) and max_ratio > 1):
            raise ValueError(f"max_ratio must be finite and > 1, got {max_ratio}")
        self.source = os.fspath(path_or_id)
        self.median_depth = float(median_depth)
        self.max_ratio = float(max_ratio)
        self.device = torch.device(device)
        self.model, self.preprocess = _load_depth_model(self.source, local_files_only)
        self.model = self.model.to(self.device, dtype=torch.float32).eval()
        config = self.model.config
        if metric is None:
            metric = (
                getattr(config, "depth_estimation_type", None) == "metric"
                or config.model_type in METRIC_MODEL_TYPES
            )
        self.metric = bool(metric)

    def estimate(self, rgb: Tensor) -> DepthResult:
        rgb = check_rgb_image(rgb, caller="TransformersDepth.estimate")
        _, height, width = rgb.shape
        with torch.inference_mode():
            pixels, crop = _prepare(rgb.to(self.device), self.preprocess)
            out = self.model(pixel_values=pixels).predicted_depth
            out = out.reshape(1, 1, *out.shape[-2:]).float()
            out = out[..., : crop[0], : crop[1]]
            pred = F.interpolate(out, size=(height, width), mode="bilinear", align_corners=False)
            pred = pred[0, 0].to("cpu", torch.float64)
        notes = [f"{self.model.config.model_type} model from {self.source}"]
        if self.metric:
            valid = torch.isfinite(pred) & (pred > 0)
            if not bool(valid.all()):
                notes.append(f"{int((~valid).sum())} pixels without a metric depth > 0 (set 0)")
            depth = torch.where(valid, pred, 0.0)
            notes.append("metric depth used as is")
        else:
            depth = self._from_disparity(pred, notes)
        return DepthResult(depth=depth.to(torch.float32), sky=None, notes=notes)

    def _from_disparity(self, disp: Tensor, notes: list[str]) -> Tensor:
        """Relative inverse depth (H, W) float64 -> depth by the policy of the class doc."""
        finite = torch.isfinite(disp)
        if not bool(finite.all()):
            notes.append(f"{int((~finite).sum())} non-finite outputs treated as far")
            disp = torch.where(finite, disp, 0.0)
        d_hi = float(disp.max())
        if d_hi <= 0:
            notes.append("the model gave no positive disparity; depth set to median_depth")
            return torch.full_like(disp, self.median_depth)
        clamped = disp.clamp(min=d_hi / self.max_ratio, max=d_hi)
        depth = 1.0 / clamped
        depth = depth * (self.median_depth / float(depth.median()))
        n_far = int((disp < d_hi / self.max_ratio).sum())
        notes.append(
            f"relative disparity -> depth: median {self.median_depth:g}, "
            f"far <= {self.max_ratio:g} x near ({n_far} pixels at the far clamp)"
        )
        return depth


def _load_depth_model(source: str, local_files_only: bool):
    """(model, preprocessor config dict), or FileNotFoundError saying what to download."""
    from transformers import AutoModelForDepthEstimation
    from transformers.image_processing_base import ImageProcessingMixin

    path = Path(source).expanduser()
    looks_local = path.exists() or path.is_absolute() or source.startswith((".", "~"))
    looks_local = looks_local or source.count("/") > 1 or os.sep != "/" and os.sep in source
    if looks_local:
        if not path.is_dir():
            raise FileNotFoundError(
                f"depth model folder {path} does not exist: download a depth model once "
                "(e.g. `hf download depth-anything/Depth-Anything-V2-Small-hf --local-dir "
                f"{path}`) and give that folder"
            )
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"depth model folder {path} has no config.json: it must hold what "
                "save_pretrained writes (config.json, model.safetensors, "
                "preprocessor_config.json)"
            )
        source = os.fspath(path)
    try:
        model = AutoModelForDepthEstimation.from_pretrained(
            source, local_files_only=local_files_only
        )
        preprocess, _ = ImageProcessingMixin.get_image_processor_dict(
            source, local_files_only=local_files_only
        )
    except OSError as error:
        offline = os.environ.get("HF_HUB_OFFLINE", "")
        raise FileNotFoundError(
            f"depth model {source!r} is neither a local folder nor in the Hugging Face cache "
            f"(local_files_only={local_files_only}, HF_HUB_OFFLINE={offline or 'unset'}). "
            f"Download it once on a machine with network, e.g. `hf download {source} "
            "--local-dir models/depth` and pass that folder, or run once with "
            f"local_files_only=False. ({error})"
        ) from None
    return model, preprocess


def _prepare(rgb: Tensor, config: dict) -> tuple[Tensor, tuple[int, int]]:
    """rgb (3, H, W) in [0, 1] -> pixel_values (1, 3, h, w) and the (h, w) before padding."""
    x = rgb[None].float()
    height, width = rgb.shape[1:]
    multiple = int(config.get("ensure_multiple_of") or 1)
    size = config.get("size") or {}
    if config.get("do_resize", True) and "height" in size and "width" in size:
        out_h, out_w = _dpt_output_size(
            (height, width),
            (int(size["height"]), int(size["width"])),
            bool(config.get("keep_aspect_ratio", False)),
            multiple,
        )
    else:  # no target size: keep the input size, on the model's multiple
        out_h = max(multiple, round(height / multiple) * multiple)
        out_w = max(multiple, round(width / multiple) * multiple)
    if (out_h, out_w) != (height, width):
        mode = "bicubic" if config.get("resample", 3) == 3 else "bilinear"
        x = F.interpolate(x, size=(out_h, out_w), mode=mode, align_corners=False, antialias=True)
        x = x.clamp(0.0, 1.0)
    if config.get("do_normalize", False):
        mean = torch.tensor(config.get("image_mean", (0.5, 0.5, 0.5)), dtype=x.dtype)
        std = torch.tensor(config.get("image_std", (0.5, 0.5, 0.5)), dtype=x.dtype)
        x = (x - mean.to(x.device)[:, None, None]) / std.to(x.device)[:, None, None]
    divisor = int(config.get("size_divisor") or 1)
    if config.get("do_pad", False) and divisor > 1:
        pad_h, pad_w = (-out_h) % divisor, (-out_w) % divisor
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x.contiguous(), (out_h, out_w)


def _dpt_output_size(
    size: tuple[int, int], target: tuple[int, int], keep_aspect_ratio: bool, multiple: int
) -> tuple[int, int]:
    """DPTImageProcessor's resize rule (transformers, get_resize_output_image_size)."""
    scale_h, scale_w = target[0] / size[0], target[1] / size[1]
    if keep_aspect_ratio:  # scale as little as possible
        if abs(1 - scale_w) < abs(1 - scale_h):
            scale_h = scale_w
        else:
            scale_w = scale_h

    def constrain(value: float) -> int:
        return max(multiple, round(value / multiple) * multiple)

    return constrain(scale_h * size[0]), constrain(scale_w * size[1])


# --------------------------------------------------------------------------- metrics


def depth_metrics(pred, gt, mask=None) -> dict[str, float]:
    """Scale-free depth error of pred against gt (H, W) on mask (H, W) bool (None: all).

    Only pixels where the mask is True and both depths are finite and > 0 count. pred is
    first median-scaled, p = pred * median(gt) / median(pred) over those pixels; then
        abs_rel = mean(|p - g| / g),  rmse = sqrt(mean((p - g)^2))  (gt's units),
        delta1 = fraction with max(p / g, g / p) < 1.25.
    Returns those three, `scale` (the median ratio) and `n` (pixels used).
    """
    pred = torch.as_tensor(pred).detach().cpu().to(torch.float64)
    gt = torch.as_tensor(gt).detach().cpu().to(torch.float64)
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(
            f"pred and gt must be (H, W) of the same shape, got {tuple(pred.shape)} "
            f"and {tuple(gt.shape)}"
        )
    valid = torch.isfinite(pred) & (pred > 0) & torch.isfinite(gt) & (gt > 0)
    if mask is not None:
        mask = torch.as_tensor(mask).detach().cpu()
        if mask.shape != gt.shape or mask.dtype != torch.bool:
            raise ValueError(
                f"mask must be a bool (H, W) = {tuple(gt.shape)} tensor, "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
        valid &= mask
    n = int(valid.sum())
    if n == 0:
        raise ValueError("depth_metrics: no pixel where the mask is set and both depths are > 0")
    p, g = pred[valid], gt[valid]
    scale = float(g.median() / p.median())
    p = p * scale
    ratio = torch.maximum(p / g, g / p)
    return {
        "abs_rel": float(((p - g).abs() / g).mean()),
        "rmse": float(((p - g) ** 2).mean().sqrt()),
        "delta1": float((ratio < 1.25).double().mean()),
        "scale": scale,
        "n": n,
    }
