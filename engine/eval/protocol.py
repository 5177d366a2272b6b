"""The evaluation protocol: seed from one real frame, fly the real trajectory, compare.

1. Size. The world's frame size is the sequence's, cropped (centred, no resampling) to
   multiples of 8, or `size` (rounded to multiples of 8; every frame centre-cropped to its
   aspect and resized, like World.seed does, intrinsics following).
2. Seed. Frame `start`'s photo, with its depth when the sequence gives one, else the depth
   backend's estimate (sky at +inf) times the scale that the sparse points give: project the
   points into the seed camera, take the median of their depth over the estimate's at their
   pixels. Two worlds are seeded with the seed frame's camera (its pose as given): "ours"
   (the config as given, latent memory) and "rgb-memory" (the same with memory="rgb").
3. Fly. Both worlds generate frames start+1 .. start+max(offsets) along the real poses, in
   segments of `segment_length` poses (one world segment each).
4. Compare, at each offset o (start + o inside the sequence), the real photo of frame
   start + o with:
     ours        the latent-memory world's frame
     rgb-warp    the seed photo forward-warped at full resolution with the seed depth
                 (engine.eval.warp: footprint splats, nearest depth wins, sky pixels as
                 directions at infinity; holes black)
     rgb-memory  the RGB-memory world's frame
     codec       decode(encode(real photo)): the ceiling of any latent method
   Co-visible pixels: the RGB warp's coverage eroded by `erode_pixels` (default 1; the
   border of a splatted region is where a footprint half-covers a pixel), so only pixels of
   the target that the seed frame sees count. Metrics per method: PSNR and SSIM over the
   co-visible pixels and over the whole frame, blockiness (engine.eval.metrics) and its
   ratio to the codec's on the same frame.
   Acceptance figure of issue 13: R = min(rgb-warp, codec) co-visible PSNR; ours - R.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor

from engine.camera import Camera
from engine.eval.metrics import blockiness, masked_mean, psnr, ssim_map
from engine.eval.report import (
    FACTOR,
    grid_sheet,
    json_safe,
    mean,
    parse_size,
    progress,
    write_report,
)
from engine.eval.sequence import Sequence
from engine.eval.warp import erode, forward_warp
from engine.world import World, WorldConfig, fit_photo

METHODS = ("ours", "rgb-warp", "rgb-memory", "codec")
"""Methods scored on the same frames, in the table's and the sheet's order."""

LABELS = {
    "real": "real",
    "ours": "ours",
    "rgb-warp": "RGB warp",
    "rgb-memory": "rgb-memory",
    "codec": "codec",
}

INTRINSICS_TOL = 0.5
"""Largest difference (pixels) between a target frame's intrinsics and the seed's: the world
renders every frame with the seed frame's."""

MIN_POINTS = 10
"""Fewest sparse points in view of the seed frame that a depth scale is taken from."""


DEFAULT_OFFSETS = (4, 8, 16, 24)
"""Offsets compared in a sequence; a stereo pair has offset 1 only."""


def default_offsets(sequence: Sequence) -> tuple[int, ...]:
    """(1,) for a stereo pair, DEFAULT_OFFSETS otherwise."""
    return (1,) if sequence.kind == "stereo" else DEFAULT_OFFSETS


@dataclass
class EvalSettings:
    """Knobs of one evaluation run."""

    start: int = 0  # index of the seed frame
    offsets: tuple[int, ...] = DEFAULT_OFFSETS  # frames after the seed to compare
    size: tuple[int, int] | None = None  # world (width, height); None: the sequence's
    segment_length: int = 8  # poses per world segment
    erode_pixels: int = 1  # the co-visible mask is the RGB warp's coverage eroded by this
    config: WorldConfig = field(default_factory=WorldConfig)  # width, height are replaced


@dataclass
class OffsetResult:
    """The comparison at one offset: metrics per method and the images (for the sheet)."""

    offset: int
    frame: int  # index in the sequence
    covisible: float  # fraction of the frame's pixels
    metrics: dict[str, dict[str, float]]  # method -> metric name -> value
    images: dict[str, Tensor]  # "real" and each method -> (3, H, W)
    mask: Tensor  # (H, W) bool co-visible pixels

    @property
    def reference(self) -> float:
        """R: the lower of the RGB warp's and the codec's co-visible PSNR."""
        return min(self.metrics["rgb-warp"]["covis_psnr"], self.metrics["codec"]["covis_psnr"])

    @property
    def ours_minus_reference(self) -> float:
        return self.metrics["ours"]["covis_psnr"] - self.reference


@dataclass
class Evaluation:
    """Everything one run measured."""

    sequence: str
    source: str
    kind: str
    frames: int
    start: int
    size: tuple[int, int]
    offsets: list[int]
    dropped: list[int]  # offsets past the sequence's end
    depth: dict  # where the seed depth came from, and the scale
    config: dict
    results: list[OffsetResult]
    seconds: dict[str, float]
    notes: list[str]
    erode_pixels: int

    def summary(self) -> dict:
        """Means over the offsets, and the acceptance checks of issue 13."""
        means = {
            m: {
                k: mean([r.metrics[m][k] for r in self.results]) for k in self.results[0].metrics[m]
            }
            for m in METHODS
        }
        gaps = [r.ours_minus_reference for r in self.results]
        ssim_gap = [
            r.metrics["ours"]["covis_ssim"] - r.metrics["rgb-warp"]["covis_ssim"]
            for r in self.results
        ]
        block = [r.metrics["ours"]["blockiness_ratio"] for r in self.results]
        return {
            "mean": means,
            "ours_minus_R_mean": mean(gaps),
            "ours_minus_R_min": min(gaps),
            "acceptance": {
                "mean ours - R >= -0.5 dB": mean(gaps) >= -0.5,
                "every ours - R >= -1.5 dB": min(gaps) >= -1.5,
                "ours SSIM >= RGB warp SSIM - 0.02 (co-visible, every offset)": min(ssim_gap)
                >= -0.02,
                "ours blockiness <= 1.2 x codec's (every offset)": max(block) <= 1.2,
            },
        }

    def to_dict(self) -> dict:
        return json_safe(
            {
                "format": "latentscape.eval",
                "version": 1,
                "sequence": self.sequence,
                "source": self.source,
                "kind": self.kind,
                "frames": self.frames,
                "start": self.start,
                "size": list(self.size),
                "offsets": self.offsets,
                "dropped_offsets": self.dropped,
                "methods": list(METHODS),
                "covisible_mask": f"RGB warp coverage eroded by {self.erode_pixels} px",
                "depth": self.depth,
                "config": self.config,
                "results": [
                    {
                        "offset": r.offset,
                        "frame": r.frame,
                        "covisible_fraction": r.covisible,
                        "R": r.reference,
                        "ours_minus_R": r.ours_minus_reference,
                        "methods": r.metrics,
                    }
                    for r in self.results
                ],
                "summary": self.summary(),
                "seconds": self.seconds,
                "notes": self.notes,
            }
        )


# --------------------------------------------------------------------------- sizes and frames


def world_size(camera: Camera, size: tuple[int, int] | None) -> tuple[int, int]:
    """(w, h) of the world for a sequence whose frames have `camera`'s size."""
    if size is not None:
        return parse_size(f"{size[0]}x{size[1]}")
    w, h = camera.width // FACTOR * FACTOR, camera.height // FACTOR * FACTOR
    if w < FACTOR or h < FACTOR:
        raise ValueError(f"frames of {camera.width}x{camera.height} are too small (8x8 at least)")
    return w, h


def fit_frame(
    rgb: Tensor, camera: Camera, depth: Tensor | None, size: tuple[int, int], resize: bool
) -> tuple[Tensor, Camera, Tensor | None]:
    """A frame at the world's size: centre-cropped to it (resize False: no resampling), or
    fitted like World.seed does (engine.world.fit_photo: crop to the aspect, resize)."""
    w, h = size
    if resize:
        maps = None if depth is None else depth[None].float()
        rgb, camera, maps = fit_photo(rgb, camera, w, h, maps)
        return rgb, camera, None if maps is None else maps[0]
    x0, y0 = (camera.width - w) // 2, (camera.height - h) // 2
    cropped = Camera(camera.fx, camera.fy, camera.cx - x0, camera.cy - y0, w, h, camera.pose)
    rgb = rgb[:, y0 : y0 + h, x0 : x0 + w].contiguous()
    if depth is not None:
        depth = depth[y0 : y0 + h, x0 : x0 + w].contiguous()
    return rgb, cropped, depth


def sparse_scale(
    points: Tensor, camera: Camera, depth: Tensor, min_points: int = MIN_POINTS
) -> tuple[float, int, tuple[float, float]]:
    """The factor that puts `depth` (H, W) of `camera` into the points' scale: the median,
    over the points (N, 3) in front of the camera and inside the image where depth is finite
    and > 0, of point depth / depth at the point's pixel. Returns (scale, points used,
    (25th, 75th percentile of the ratio))."""
    uv, z = camera.project(points.double())
    u, v = uv[:, 0], uv[:, 1]
    inside = (z > 0) & (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    j = u.clamp(0, camera.width - 1).floor().long()
    i = v.clamp(0, camera.height - 1).floor().long()
    d = depth.double()[i, j]
    ok = inside & torch.isfinite(d) & (d > 0)
    used = int(ok.sum())
    if used < min_points:
        raise ValueError(
            f"only {used} sparse points fall inside the seed frame with a depth estimate "
            f"(need {min_points}) to put the estimate into the poses' scale"
        )
    ratio = z[ok] / d[ok]
    q = torch.quantile(ratio, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    return float(q[1]), used, (float(q[0]), float(q[2]))


# --------------------------------------------------------------------------- the run


def _fly(world: World, poses: list[Tensor], length: int, label: str, progress) -> Tensor:
    """Frames (T, 3, H, W) of the world along poses, `length` poses a segment."""
    frames = []
    chunks = [poses[k : k + length] for k in range(0, len(poses), length)]
    for k, chunk in enumerate(chunks, start=1):
        t0 = time.perf_counter()
        segment = world.segment(chunk)
        frames.append(segment.frames.clamp(0, 1))
        done = sum(len(c) for c in chunks[:k])
        progress(
            f"  {label}: segment {k}/{len(chunks)} (frames {done - len(chunk) + 1}-{done}) "
            f"{time.perf_counter() - t0:.1f} s, {segment.entries} entries"
        )
    return torch.cat(frames)


def _scores(image: Tensor, real: Tensor, mask: Tensor) -> dict[str, float]:
    image = image.clamp(0, 1)
    similarity = ssim_map(image, real)
    return {
        "covis_psnr": psnr(image, real, mask),
        "covis_ssim": masked_mean(similarity, mask),
        "whole_psnr": psnr(image, real),
        "whole_ssim": masked_mean(similarity),
        "blockiness": blockiness(image),
    }


def evaluate(
    sequence: Sequence,
    settings: EvalSettings | None = None,
    progress: Callable[[str], None] | None = progress,
) -> Evaluation:
    """Run the protocol of the module docstring on `sequence`."""
    settings = settings or EvalSettings()
    progress = progress or (lambda msg: None)
    n, s = len(sequence), settings.start
    if not 0 <= s < n - 1:
        raise ValueError(f"start frame {s} must be in [0, {n - 2}] for {n} frames")
    if settings.segment_length < 1:
        raise ValueError(f"segment length must be >= 1, got {settings.segment_length}")
    offsets = sorted({int(o) for o in settings.offsets})
    if not offsets or offsets[0] < 1:
        raise ValueError(f"offsets must be >= 1, got {list(settings.offsets)}")
    kept = [o for o in offsets if s + o < n]
    dropped = [o for o in offsets if s + o >= n]
    if not kept:
        raise ValueError(
            f"every offset {offsets} lies past the sequence's end ({n} frames from {s})"
        )
    notes = list(sequence.notes)
    if dropped:
        notes.append(f"offsets {dropped} dropped: past the last frame ({n - 1})")
    t_start = time.perf_counter()
    size = world_size(sequence.frames[s].camera, settings.size)
    resize = settings.size is not None
    progress(
        f"eval {sequence.name}: {n} frames, seed frame {s}, offsets {kept}, world {size[0]}x"
        f"{size[1]}"
    )
    photo, seed_cam, depth = fit_frame(
        sequence.photo(s), sequence.frames[s].camera, sequence.depth(s), size, resize
    )
    config = replace(settings.config, width=size[0], height=size[1])
    ours = World(config)
    if depth is not None:
        info = {"source": "sequence", "known_fraction": float((depth > 0).float().mean())}
        progress(f"  seed depth: the sequence's ({info['known_fraction']:.1%} of pixels known)")
    else:
        if sequence.points is None or len(sequence.points) == 0:
            raise ValueError(
                f"{sequence.source}: no depth for the seed frame and no sparse points "
                "(ply_file_path / points3D.txt or .bin) to put a depth estimate into the "
                "poses' scale"
            )
        estimate = ours.depth_estimator.estimate(photo)
        scale, used, (q25, q75) = sparse_scale(sequence.points, seed_cam, estimate.depth)
        depth = estimate.depth * scale
        if estimate.sky is not None:
            depth = torch.where(estimate.sky, math.inf, depth)
        info = {
            "source": f"estimate ({config.depth}) scaled by sparse points",
            "scale": scale,
            "points_used": used,
            "points_total": len(sequence.points),
            "ratio_quartiles": [q25, q75],
        }
        progress(
            f"  seed depth: {config.depth} estimate x {scale:.4g} (median of {used} of "
            f"{len(sequence.points)} sparse points' depth ratios; quartiles {q25:.4g}, {q75:.4g})"
        )
    rgb_world = World(replace(config, memory="rgb"), codec=ours.codec, depth=ours.depth_estimator)
    # Every frame's camera at the world's size; the targets must share the seed's intrinsics.
    last = s + max(kept)
    cameras = {}
    for k in range(s + 1, last + 1):
        cam = sequence.frames[k].camera
        if (cam.width, cam.height) != (
            sequence.frames[s].camera.width,
            sequence.frames[s].camera.height,
        ):
            raise ValueError(
                f"frame {k} ({sequence.frames[k].name}) is {cam.width}x{cam.height}, the seed "
                f"frame {sequence.frames[s].camera.width}x{sequence.frames[s].camera.height}"
            )
        cameras[k] = _fitted_camera(cam, size, resize)
        diff = max(
            abs(a - b)
            for a, b in zip(
                (cameras[k].fx, cameras[k].fy, cameras[k].cx, cameras[k].cy),
                (seed_cam.fx, seed_cam.fy, seed_cam.cx, seed_cam.cy),
            )
        )
        if diff > INTRINSICS_TOL:
            raise ValueError(
                f"frame {k} ({sequence.frames[k].name}) has other intrinsics than the seed "
                f"frame (by {diff:.3g} px): the world renders every frame with the seed's"
            )
        if diff > 1e-6 and k - s in kept:
            notes.append(
                f"frame {k}: intrinsics {diff:.3g} px from the seed's (rendered with the seed's)"
            )
    seconds = {}
    frames = {}
    for label, world in (("ours", ours), ("rgb-memory", rgb_world)):
        t0 = time.perf_counter()
        world.seed(photo, depth, intrinsics=seed_cam)
        assert world.camera is not None  # set by the seed
        # World.seed keeps the seed camera's pose; were it to move the seed to the origin,
        # this maps the sequence's poses into the world's frame all the same.
        to_world = world.camera.pose @ torch.linalg.inv(seed_cam.pose)
        poses = [to_world @ cameras[k].pose for k in range(s + 1, last + 1)]
        progress(f"  {label}: seeded, flying {len(poses)} frames")
        frames[label] = _fly(world, poses, settings.segment_length, label, progress)
        seconds[label] = time.perf_counter() - t0
        notes += [f"{label}: {note}" for note in world.notes]
    results = []
    for o in kept:
        k = s + o
        real, cam, _ = fit_frame(sequence.photo(k), sequence.frames[k].camera, None, size, resize)
        warp = forward_warp(photo, depth, seed_cam, cam)
        mask = erode(warp.covered, settings.erode_pixels)
        codec = ours.codec.decode(ours.codec.encode(real[None]))[0].clamp(0, 1)
        images = {
            "real": real,
            "ours": frames["ours"][o - 1],
            "rgb-warp": warp.rgb,
            "rgb-memory": frames["rgb-memory"][o - 1],
            "codec": codec,
        }
        metrics = {m: _scores(images[m], real, mask) for m in METHODS}
        for m in METHODS:
            metrics[m]["blockiness_ratio"] = (
                metrics[m]["blockiness"] / metrics["codec"]["blockiness"]
            )
        result = OffsetResult(o, k, float(mask.float().mean()), metrics, images, mask)
        results.append(result)
        progress(
            f"  offset +{o} (frame {k}): co-visible {result.covisible:.1%}, ours "
            f"{metrics['ours']['covis_psnr']:.2f} dB, R {result.reference:.2f} dB"
        )
    seconds["total"] = time.perf_counter() - t_start
    return Evaluation(
        sequence=sequence.name,
        source=sequence.source,
        kind=sequence.kind,
        frames=n,
        start=s,
        size=size,
        offsets=kept,
        dropped=dropped,
        depth=info,
        config=config.to_dict(),
        results=results,
        seconds=seconds,
        notes=notes,
        erode_pixels=settings.erode_pixels,
    )


def _fitted_camera(camera: Camera, size: tuple[int, int], resize: bool) -> Camera:
    """The camera fit_frame gives for a frame of `camera`'s size (no image needed)."""
    blank = torch.zeros(3, camera.height, camera.width)
    return fit_frame(blank, camera, None, size, resize)[1]


# --------------------------------------------------------------------------- output


def format_table(evaluation: Evaluation) -> str:
    """The table of the run: method x offset, then R and ours - R per offset."""
    lines = [
        f"{evaluation.sequence}: seed frame {evaluation.start}, world "
        f"{evaluation.size[0]}x{evaluation.size[1]}, co-visible = RGB warp coverage eroded by "
        f"{evaluation.erode_pixels} px",
        f"{'offset':>6}  {'method':<11} {'covis PSNR':>10} {'covis SSIM':>10} "
        f"{'whole PSNR':>10} {'whole SSIM':>10} {'block/codec':>11}",
    ]
    for r in evaluation.results:
        for i, m in enumerate(METHODS):
            x = r.metrics[m]
            lines.append(
                f"{f'+{r.offset}' if i == 0 else '':>6}  {m:<11} {x['covis_psnr']:>10.2f} "
                f"{x['covis_ssim']:>10.3f} {x['whole_psnr']:>10.2f} {x['whole_ssim']:>10.3f} "
                f"{x['blockiness_ratio']:>11.2f}"
            )
        lines.append(f"{'':>6}  (co-visible {r.covisible:.1%})")
    summary = evaluation.summary()
    lines.append("")
    lines.append(f"{'offset':>6}  {'R = min(rgb-warp, codec) covis PSNR':>36}  {'ours - R':>9}")
    for r in evaluation.results:
        lines.append(f"{f'+{r.offset}':>6}  {r.reference:>36.2f}  {r.ours_minus_reference:>+9.2f}")
    lines.append(
        f"{'mean':>6}  {mean([r.reference for r in evaluation.results]):>36.2f}  "
        f"{summary['ours_minus_R_mean']:>+9.2f}"
    )
    lines.append("")
    for check, ok in summary["acceptance"].items():
        lines.append(f"  [{'pass' if ok else 'FAIL'}] {check}")
    return "\n".join(lines)


def contact_sheet(evaluation: Evaluation, tile_width: int = 320):
    """PIL image: one row per offset, columns real | ours | RGB warp | rgb-memory | codec,
    with the column names on top and the offset and co-visible PSNR in each tile."""
    columns = ["real", *METHODS]
    rows = [
        [
            (
                result.images[name],
                f"+{result.offset}"
                if name == "real"
                else f"{result.metrics[name]['covis_psnr']:.1f} dB",
            )
            for name in columns
        ]
        for result in evaluation.results
    ]
    return grid_sheet([LABELS[c] for c in columns], rows, evaluation.size, tile_width)


def write_outputs(evaluation: Evaluation, folder: str | Path) -> tuple[Path, Path]:
    """folder/eval.json (everything measured) and folder/sheet.png; written atomically."""
    return write_report(
        folder, "eval.json", evaluation.to_dict(), "sheet.png", contact_sheet(evaluation)
    )
