"""EmbeddedDepth: the eye-level prior refined by the shipped depth network, and the colour
sky mask (the package docstring has the conventions)."""

from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.models.depth.base import DepthResult, check_rgb_image
from engine.models.depth_net import DEFAULT_WEIGHTS as DEPTH_NET_WEIGHTS
from engine.models.depth_net import DepthNet, downsample, net_size

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
            assert sky is not None  # outdoors means a sky was found
            notes.append(f"sky found on {100 * float(sky.float().mean()):.1f}% of the image")
            depth = torch.where(sky, self.max_depth_outdoors, depth)
        elif self.contact:
            depth = self._ground_contact(rgb, depth, notes)
        return DepthResult(depth=depth.to(torch.float32), sky=sky, notes=notes)

    def _estimate_with_network(self, rgb: Tensor) -> DepthResult:
        """Prior + network residual, steps 1-4 of the class docstring."""
        assert self.net is not None  # estimate() calls this only with a network
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
