"""`latentscape eval generation`: how the generated parts of a flight look beside the photo.

For each photo: seed a world (default WorldConfig plus overrides, fresh per photo, so the
same seed gives the same numbers) the way `latentscape render` does (engine.render:
load_photo, World.seed, the default path of path_for), fly the default path (5 segments of
n = frames_per_segment poses, 40 frames with the default 8: walk forward (frames 0-15), turn
180 degrees (16-23), walk back facing away from the photo (24-31), turn back (32-39)), and
measure every frame against "the photo": the photo as the world was seeded with it, i.e.
cropped to the world's aspect and resized to its size (engine.world.fit_photo), before the
codec. Frames are the decoded frames of the flight, clamped to [0, 1]; the seed frame is
not one of them. Luma is 0.299 R + 0.587 G + 0.114 B (engine.eval.metrics.LUMA).

Metrics (all pure functions below; images (3, H, W) in [0, 1]):

- contrast(rgb): the standard deviation of luma over the pixels (population, not n - 1).
  Contrast ratio of a frame: contrast(frame) / contrast(photo). Reported: the lowest over
  the frames, and which frame.
- texture(rgb): the mean absolute luma gradient, (mean |dx| + mean |dy|) / 2 with dx, dy the
  differences between horizontal and vertical pixel neighbours. Texture ratio facing away:
  the mean texture of segment 4's frames (24-31) over the texture of decode(encode(photo)),
  the seed frame: the codec keeps only 27-93% of a photo's gradient (27% on the sample
  room's fine tiles), which no latent method can exceed, so the generator is measured
  against what the codec gives of the photo. Against the photo itself the same figure is
  in the JSON as texture_ratio_away_photo.
- blockiness ratio: max over the frames of blockiness(frame) (engine.eval.metrics: the mean
  absolute luma jump across the 8-pixel token grid over the mean jump elsewhere) over
  blockiness(decode(encode(photo))), the codec's own on the photo; and which frame.
- seam ratio: a token edge is the boundary between two 4-neighbour latent tokens (pixel
  columns 8k - 1 | 8k over the 8 rows of a token row, rows likewise); its jumps are the 8
  absolute luma differences across it. An edge is a seam when one of its tokens is known
  (read from the memory; the World's "frame" event's mask, which also counts the cracks it
  closes) and the other generated; otherwise it is interior. Seam ratio = mean jump over the
  seam edges / mean jump over the interior edges, both pooled over the frames that have a
  seam edge: 1 for a seamless fill, above 1 when the generated region meets the known one
  with a step. NaN when no frame has a seam edge (the check then passes, with a note).
- colour distance: the generated pixels (those of tokens not known) of all frames pooled,
  and the photo's pixels, both in CIE Lab (skimage.color.rgb2lab, D65): the mean over L, a
  and b of the 1-D Wasserstein (earth mover's) distance between the two sets of values, in
  Lab units. 0 when the generated region has the photo's colour distribution; a uniform
  shift of L by d gives d / 3. NaN when nothing was generated.

Acceptance (issue 14), per photo: contrast ratio >= 0.6 on every frame; texture ratio
facing away in [0.6, 1.4]; blockiness ratio <= 1.2; seam ratio <= 1.3.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from engine.assets import ROOT
from engine.camera import Camera
from engine.eval.metrics import TOKEN, blockiness, luma
from engine.eval.report import grid_sheet, json_safe, mean, progress, write_report
from engine.world import World, WorldConfig, WorldEvent, fit_photo

SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
"""scikit-image's natural colour photos that no model of the project is trained on
(engine/train/codec.py trains on other scikit-image images), named skimage.NAME."""

SHARED_PHOTOS = ROOT.parent / "shared" / "eval" / "photos"
"""Evaluation-only photos beside the project (../shared/eval/photos/*.jpg), read in place."""

CONTRAST_MIN = 0.6
TEXTURE_RANGE = (0.6, 1.4)
BLOCKINESS_MAX = 1.2
SEAM_MAX = 1.3

CHECKS = {
    "contrast": f"every frame's contrast >= {CONTRAST_MIN} x the photo's",
    "texture": f"texture facing away in [{TEXTURE_RANGE[0]}, {TEXTURE_RANGE[1]}] x the codec's "
    "of the photo",
    "blockiness": f"every frame's blockiness <= {BLOCKINESS_MAX} x the codec's on the photo",
    "seam": f"seam energy <= {SEAM_MAX} x the interior's",
}
"""The acceptance checks of issue 14, by name."""


# --------------------------------------------------------------------------- metrics


def contrast(rgb: Tensor) -> float:
    """Standard deviation of luma over the pixels (population); 0 for a flat field."""
    return float(luma(rgb).std(correction=0))


def texture(rgb: Tensor) -> float:
    """Mean absolute luma gradient: (mean |dx| + mean |dy|) / 2 over neighbouring pixels;
    0 for a flat field, s / 2 for a ramp of slope s along x."""
    y = luma(rgb)
    dx = (y[:, 1:] - y[:, :-1]).abs()
    dy = (y[1:] - y[:-1]).abs()
    if dx.numel() == 0 or dy.numel() == 0:
        return math.nan
    return (float(dx.mean()) + float(dy.mean())) / 2


@dataclass
class SeamSums:
    """Luma jumps across token edges: sums and counts (pixel pairs) over the seam edges
    (one token known, the other generated) and the interior edges (both of one kind)."""

    seam: float = 0.0
    seam_n: int = 0
    interior: float = 0.0
    interior_n: int = 0

    def __add__(self, other: SeamSums) -> SeamSums:
        return SeamSums(
            self.seam + other.seam,
            self.seam_n + other.seam_n,
            self.interior + other.interior,
            self.interior_n + other.interior_n,
        )

    @property
    def ratio(self) -> float:
        """Mean seam jump over mean interior jump; NaN without seam edges."""
        if self.seam_n == 0 or self.interior_n == 0:
            return math.nan
        seam, interior = self.seam / self.seam_n, self.interior / self.interior_n
        if interior == 0:
            return 1.0 if seam == 0 else math.inf
        return seam / interior


def seam_sums(rgb: Tensor, known: Tensor, token: int = TOKEN) -> SeamSums:
    """The jumps across the token edges of one frame (3, H, W), sorted by the token mask
    known (H / token, W / token) bool into seam and interior (see SeamSums)."""
    y = luma(rgb)
    h, w = known.shape
    if tuple(y.shape) != (h * token, w * token):
        raise ValueError(
            f"the known mask {(h, w)} is not the token grid of a {tuple(y.shape)} frame"
        )
    # across vertical edges: columns token * k - 1 | token * k, k = 1 .. w - 1
    jump_x = (y[:, token::token] - y[:, token - 1 : -1 : token]).abs()  # (H, w - 1)
    mixed_x = (known[:, 1:] != known[:, :-1]).repeat_interleave(token, 0)
    jump_y = (y[token::token] - y[token - 1 : -1 : token]).abs()  # (h - 1, W)
    mixed_y = (known[1:] != known[:-1]).repeat_interleave(token, 1)
    jumps = torch.cat([jump_x.reshape(-1), jump_y.reshape(-1)])
    mixed = torch.cat([mixed_x.reshape(-1), mixed_y.reshape(-1)])
    return SeamSums(
        float(jumps[mixed].sum()),
        int(mixed.sum()),
        float(jumps[~mixed].sum()),
        int((~mixed).sum()),
    )


def seam_ratio(frames: Tensor, knowns: Tensor, token: int = TOKEN) -> tuple[float, int, int]:
    """Seam ratio of frames (T, 3, H, W) with their token masks (T, h, w), pooled over the
    frames that have a seam edge. Returns (ratio, frames used, seam token edges)."""
    total, used = SeamSums(), 0
    for frame, known in zip(frames, knowns):
        sums = seam_sums(frame, known, token)
        if sums.seam_n:
            total, used = total + sums, used + 1
    return total.ratio, used, total.seam_n // token


def wasserstein_1d(a: Tensor, b: Tensor) -> float:
    """1-D Wasserstein distance between the empirical distributions of the values a (N,)
    and b (M,): the integral of |F_a - F_b| over the line (F the distribution functions);
    the distance a shift by d moves a distribution is |d|. NaN when either is empty."""
    a, b = a.double().flatten(), b.double().flatten()
    if a.numel() == 0 or b.numel() == 0:
        return math.nan
    a, b = a.sort().values, b.sort().values
    values = torch.cat([a, b]).sort().values
    cdf_a = torch.searchsorted(a, values[:-1], right=True).double() / a.numel()
    cdf_b = torch.searchsorted(b, values[:-1], right=True).double() / b.numel()
    return float(((cdf_a - cdf_b).abs() * values.diff()).sum())


def to_lab(pixels: Tensor) -> Tensor:
    """(N, 3) RGB in [0, 1] -> (N, 3) CIE Lab (D65) float64, by skimage.color.rgb2lab."""
    try:
        from skimage.color import rgb2lab
    except ImportError:
        raise RuntimeError(
            "the colour distance needs scikit-image: pip install -e '.[bench]'"
        ) from None
    return torch.from_numpy(rgb2lab(np.ascontiguousarray(pixels.double().clamp(0, 1).numpy())))


def colour_distance(frames: Tensor, generated: Tensor, photo: Tensor) -> float:
    """Mean over L, a, b of the 1-D Wasserstein distance between the Lab values of the
    frames' (T, 3, H, W) generated pixels (generated (T, H, W) bool) and those of the
    photo's (3, H', W') pixels, in Lab units; NaN when no pixel is generated."""
    if tuple(generated.shape) != (frames.shape[0], *frames.shape[2:]):
        raise ValueError(
            f"generated must be (T, H, W) = {(frames.shape[0], *frames.shape[2:])}, "
            f"got {tuple(generated.shape)}"
        )
    if not bool(generated.any()):
        return math.nan
    ours = to_lab(frames.permute(0, 2, 3, 1)[generated])
    theirs = to_lab(photo.permute(1, 2, 0).reshape(-1, 3))
    return sum(wasserstein_1d(ours[:, c], theirs[:, c]) for c in range(3)) / 3


def token_pixels(known: Tensor, token: int = TOKEN) -> Tensor:
    """A token mask (..., h, w) -> the pixel mask (..., h * token, w * token)."""
    return known.repeat_interleave(token, -2).repeat_interleave(token, -1)


def sheet_frames(frames_per_segment: int) -> tuple[int, ...]:
    """Frames shown on the sheet: the starts of segments 1-4, the middle of the turn and
    the last frame facing away (0, 8, 16, 20, 24, 31 with 8 frames a segment)."""
    n = frames_per_segment
    return tuple(sorted({0, n, 2 * n, 2 * n + n // 2, 3 * n, 4 * n - 1}))


# --------------------------------------------------------------------------- photos


def default_photos() -> tuple[list[str], list[str]]:
    """(sources, notes): scikit-image's evaluation photos, ../shared/eval/photos/*.jpg (a
    note when the folder is absent) and the sample scenes."""
    from engine import scenes

    sources = [f"skimage.{name}" for name in SKIMAGE_PHOTOS]
    notes = []
    if SHARED_PHOTOS.is_dir():
        sources += [str(p) for p in sorted(SHARED_PHOTOS.glob("*.jpg"))]
    else:
        notes.append(f"{SHARED_PHOTOS} not found: its photos are skipped")
    return sources + scenes.list_scenes(), notes


def check_sources(sources: list[str]) -> None:
    """FileNotFoundError naming the first source that is neither skimage.NAME (an
    evaluation photo), a sample scene name or folder, nor an existing file."""
    from engine import scenes

    for source in sources:
        if source.startswith("skimage."):
            if source.removeprefix("skimage.") not in SKIMAGE_PHOTOS:
                allowed = ", ".join(f"skimage.{n}" for n in SKIMAGE_PHOTOS)
                raise FileNotFoundError(
                    f"{source!r} is not one of scikit-image's evaluation photos ({allowed})"
                )
            continue
        if Path(source).expanduser().exists() or source in scenes.list_scenes():
            continue
        raise FileNotFoundError(
            f"photo {source!r} not found: give a photo file, a sample scene "
            f"({', '.join(scenes.list_scenes())}) or skimage.NAME ({', '.join(SKIMAGE_PHOTOS)})"
        )


def load(source: str):
    """The engine.render.SeedPhoto of a source: skimage.NAME, a sample scene or a file."""
    from engine.render import SeedPhoto, load_photo

    if not source.startswith("skimage."):
        return load_photo(source)
    name = source.removeprefix("skimage.")
    try:
        from skimage import data as skdata
    except ImportError:
        raise RuntimeError(f"{source} needs scikit-image: pip install -e '.[bench]'") from None
    pixels = torch.from_numpy(np.asarray(getattr(skdata, name)())[..., :3].copy())
    return SeedPhoto(name=name, rgb=(pixels.permute(2, 0, 1).float() / 255).contiguous())


# --------------------------------------------------------------------------- the run


@dataclass
class GenerationSettings:
    """Knobs of one run."""

    size: tuple[int, int] | None = None  # world (width, height); None: the config's
    config: WorldConfig = field(default_factory=WorldConfig)


@dataclass
class PhotoResult:
    """One photo's flight, measured."""

    name: str
    source: str
    depth: str  # "given" (a sample scene's) or "estimated"
    photo: dict[str, float]  # the photo's own figures (contrast, texture, codec's blockiness)
    metrics: dict[str, float]  # the figures of the module docstring
    per_frame: dict[str, list[float]]  # contrast_ratio, texture, blockiness, generated
    sheet: list[tuple[Tensor, str]]  # the photo, then the sheet's frames, labelled
    seconds: float
    notes: list[str]

    @property
    def checks(self) -> dict[str, bool]:
        m = self.metrics
        seam = m["seam_ratio"]
        return {
            "contrast": m["min_contrast_ratio"] >= CONTRAST_MIN,
            "texture": TEXTURE_RANGE[0] <= m["texture_ratio_away"] <= TEXTURE_RANGE[1],
            "blockiness": m["blockiness_ratio"] <= BLOCKINESS_MAX,
            "seam": math.isnan(seam) or seam <= SEAM_MAX,
        }


@dataclass
class GenerationEval:
    """Everything one run measured."""

    size: tuple[int, int]
    config: dict
    frames: int  # frames of the flight
    shown: tuple[int, ...]  # frames on the sheet
    away: tuple[int, int]  # first and last frame facing away
    results: list[PhotoResult]
    seconds: float
    notes: list[str]

    def summary(self) -> dict:
        """Per check, whether every photo passes and which fail; means of the metrics."""
        return {
            "acceptance": {name: all(r.checks[name] for r in self.results) for name in CHECKS},
            "failing": {
                name: [r.name for r in self.results if not r.checks[name]] for name in CHECKS
            },
            "mean": {
                k: mean([r.metrics[k] for r in self.results]) for k in self.results[0].metrics
            },
        }

    def to_dict(self) -> dict:
        return json_safe(
            {
                "format": "latentscape.eval-generation",
                "version": 1,
                "size": list(self.size),
                "config": self.config,
                "frames": self.frames,
                "sheet_frames": list(self.shown),
                "facing_away_frames": list(self.away),
                "thresholds": CHECKS,
                "photos": [
                    {
                        "name": r.name,
                        "source": r.source,
                        "depth": r.depth,
                        "photo": r.photo,
                        "metrics": r.metrics,
                        "checks": r.checks,
                        "per_frame": r.per_frame,
                        "seconds": r.seconds,
                        "notes": r.notes,
                    }
                    for r in self.results
                ],
                "summary": self.summary(),
                "seconds": self.seconds,
                "notes": self.notes,
            }
        )


def _flight(world: World, source: str, progress) -> tuple[Tensor, Tensor]:
    """Fly the default path: frames (T, 3, H, W) in [0, 1] and known (T, h, w)."""
    from engine.render import path_for

    knowns: list[Tensor] = []

    def on_event(event: WorldEvent) -> None:
        if event.kind == "frame":
            assert event.known is not None  # a "frame" event carries it
            knowns.append(event.known)

    frames = []
    segments = path_for(world)
    for k, poses in enumerate(segments, start=1):
        t0 = time.perf_counter()
        segment = world.segment(poses, on_event=on_event)
        frames.append(segment.frames.clamp(0, 1))
        done = sum(len(s) for s in segments[:k])
        new = torch.stack(knowns[done - len(poses) :])
        progress(
            f"  {source}: segment {k}/{len(segments)} (frames {done - len(poses)}-{done - 1}) "
            f"{time.perf_counter() - t0:.1f} s, {float(1 - new.float().mean()):.0%} generated"
        )
    return torch.cat(frames), torch.stack(knowns)


def evaluate_photo(source: str, config: WorldConfig, progress=progress) -> PhotoResult:
    """Seed a world from `source`, fly the default path, measure (module docstring)."""
    t0 = time.perf_counter()
    seed = load(source)
    world = World(config)
    codec_photo = world.seed(seed.rgb, depth=seed.depth, intrinsics=seed.camera, masks=seed.masks)
    codec_photo = codec_photo.clamp(0, 1)
    # the photo as World.seed fits it to the world (its default camera when none is given)
    _, h, w = seed.rgb.shape
    camera = seed.camera or Camera.from_fov(config.fov_y_deg, w, h)
    photo = fit_photo(seed.rgb, camera, config.width, config.height)[0]
    depth = "given" if seed.depth is not None else "estimated"
    progress(f"{seed.name} ({source}): seeded, depth {depth}")
    frames, knowns = _flight(world, source, progress)
    n = config.frames_per_segment
    away = slice(3 * n, 4 * n)
    codec_texture = texture(codec_photo)
    base = {
        "contrast": contrast(photo),
        "texture": texture(photo),
        "blockiness_codec": blockiness(codec_photo),
        "codec_contrast_ratio": _ratio(contrast(codec_photo), contrast(photo)),
        "codec_texture_ratio": _ratio(codec_texture, texture(photo)),
    }
    per_frame = {
        "contrast_ratio": [_ratio(contrast(f), base["contrast"]) for f in frames],
        "texture": [texture(f) for f in frames],
        "blockiness_ratio": [_ratio(blockiness(f), base["blockiness_codec"]) for f in frames],
        "generated": [float(1 - k.float().mean()) for k in knowns],
    }
    seam, seam_frames, seam_edges = seam_ratio(frames, knowns, world.codec.factor)
    lowest = _extreme(per_frame["contrast_ratio"], highest=False)
    worst = _extreme(per_frame["blockiness_ratio"], highest=True)
    generated = ~token_pixels(knowns, world.codec.factor)
    metrics = {
        "min_contrast_ratio": per_frame["contrast_ratio"][lowest],
        "min_contrast_frame": lowest,
        "texture_ratio_away": _ratio(mean(per_frame["texture"][away]), codec_texture),
        "texture_ratio_away_photo": _ratio(mean(per_frame["texture"][away]), base["texture"]),
        "blockiness_ratio": per_frame["blockiness_ratio"][worst],
        "blockiness_frame": worst,
        "seam_ratio": seam,
        "seam_frames": seam_frames,
        "seam_edges": seam_edges,
        "colour_distance": colour_distance(frames, generated, photo),
        "generated_fraction": float(generated.float().mean()),
    }
    notes = list(seed.notes) + world.notes
    if math.isnan(seam):
        notes.append("no frame has a known/generated token edge: the seam check passes vacuously")
    sheet = [(photo, seed.name)] + [
        (frames[i], f"f{i} gen {per_frame['generated'][i]:.0%}")
        for i in sheet_frames(n)
        if i < len(frames)
    ]
    seconds = time.perf_counter() - t0
    progress(
        f"  {seed.name}: contrast min {metrics['min_contrast_ratio']:.2f} (frame {lowest}), "
        f"texture away {metrics['texture_ratio_away']:.2f}, blockiness "
        f"{metrics['blockiness_ratio']:.2f}, seam {seam:.2f}, colour "
        f"{metrics['colour_distance']:.2f} ({seconds:.1f} s)"
    )
    return PhotoResult(
        name=seed.name,
        source=source,
        depth=depth,
        photo=base,
        metrics=metrics,
        per_frame=per_frame,
        sheet=sheet,
        seconds=seconds,
        notes=notes,
    )


def _ratio(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 else math.inf
    return a / b


def _extreme(values: list[float], highest: bool) -> int:
    """Index of the highest (or lowest) value; a NaN counts as the worst of all."""
    worst = math.inf if highest else -math.inf
    keyed = [worst if math.isnan(v) else v for v in values]
    pick = max if highest else min
    return pick(range(len(keyed)), key=keyed.__getitem__)


def evaluate_generation(
    sources: list[str] | None = None,
    settings: GenerationSettings | None = None,
    progress: Callable[[str], None] | None = progress,
) -> GenerationEval:
    """Measure the flight of each source (default: default_photos()); see the module
    docstring. Every source is checked before the first flight."""
    settings = settings or GenerationSettings()
    progress = progress or (lambda msg: None)
    notes: list[str] = []
    if sources is None:
        sources, notes = default_photos()
        for note in notes:
            progress(f"note: {note}")
    if not sources:
        raise ValueError("no photos to evaluate")
    check_sources(sources)
    config = settings.config
    if settings.size is not None:
        config = replace(config, width=settings.size[0], height=settings.size[1])
    t0 = time.perf_counter()
    progress(
        f"eval generation: {len(sources)} photos, world {config.width}x{config.height}, "
        f"default path, seed {config.seed}"
    )
    results = []
    for k, source in enumerate(sources, start=1):
        progress(f"[{k}/{len(sources)}] {source}")
        results.append(evaluate_photo(source, config, progress))
    n = config.frames_per_segment
    seconds = time.perf_counter() - t0
    progress(f"eval generation: {len(sources)} photos in {seconds:.1f} s")
    return GenerationEval(
        size=(config.width, config.height),
        config=config.to_dict(),
        frames=len(results[0].per_frame["texture"]),
        shown=sheet_frames(n),
        away=(3 * n, 4 * n - 1),
        results=results,
        seconds=seconds,
        notes=notes + [f"{r.name}: {note}" for r in results for note in r.notes],
    )


# --------------------------------------------------------------------------- output


def format_table(evaluation: GenerationEval) -> str:
    """One row per photo: the metrics and the four checks, then the checks over all."""
    a, b = evaluation.away
    lines = [
        f"eval generation: world {evaluation.size[0]}x{evaluation.size[1]}, "
        f"{evaluation.frames} frames of the default path, facing away = frames {a}-{b}",
        f"{'photo':<28} {'contrast min (frame)':>20} {'texture away':>12} "
        f"{'block/codec (frame)':>19} {'seam':>6} {'colour':>7} {'gen':>5}  "
        f"{'contr':<5} {'text':<5} {'block':<5} {'seam':<5}",
    ]
    for r in evaluation.results:
        m, c = r.metrics, r.checks
        lines.append(
            f"{r.name[:28]:<28} {m['min_contrast_ratio']:>13.2f} ({m['min_contrast_frame']:>2}) "
            f"{m['texture_ratio_away']:>12.2f} {m['blockiness_ratio']:>12.2f} "
            f"({m['blockiness_frame']:>2}) {m['seam_ratio']:>6.2f} {m['colour_distance']:>7.2f} "
            f"{m['generated_fraction']:>5.0%}  "
            + " ".join(f"{'pass' if c[k] else 'FAIL':<5}" for k in CHECKS)
        )
    lines.append("")
    lines.append(
        "contrast: lowest frame std(luma) / photo's; texture: mean |grad luma| facing away / "
        "the codec's of the photo; block: blockiness / codec's on the photo (worst frame); "
        "seam: luma jump across known|generated token edges / across same-kind edges; "
        "colour: Lab "
        "Wasserstein of the generated pixels to the photo's; gen: generated pixels"
    )
    summary = evaluation.summary()
    for name, ok in summary["acceptance"].items():
        text = CHECKS[name]
        failing = summary["failing"][name]
        suffix = f" (fails: {', '.join(failing)})" if failing else ""
        lines.append(f"  [{'pass' if ok else 'FAIL'}] every photo: {text}{suffix}")
    lines.append(f"total {evaluation.seconds:.1f} s")
    return "\n".join(lines)


def contact_sheet(evaluation: GenerationEval, tile_width: int = 256):
    """PIL image: a row per photo, the photo then the sheet's frames, each labelled."""
    columns = ["photo"] + [f"frame {i}" for i in evaluation.shown if i < evaluation.frames]
    rows = [r.sheet for r in evaluation.results]
    return grid_sheet(columns, rows, evaluation.size, tile_width)


def write_outputs(evaluation: GenerationEval, folder: str | Path) -> tuple[Path, Path]:
    """folder/eval-generation.json and folder/sheet-generation.png; written atomically."""
    return write_report(
        folder,
        "eval-generation.json",
        evaluation.to_dict(),
        "sheet-generation.png",
        contact_sheet(evaluation),
    )
