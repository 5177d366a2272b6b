"""World: one photo -> a memory -> segments generated along camera poses (DESIGN.md, the cycle).

    seed(photo, depth, intrinsics, masks):
        photo -> fitted to the world's size -> codec.encode -> latent (C, h, w)
        depth (given or estimated) -> latent grid (median of each token's pixels)
        memory.lift(latent, depth, camera, keep=~dynamic, sky=sky)

    segment(poses): for each pose (one latent frame each)
        r = memory.readout(camera at the latent grid)      latent, known mask, depth,
                                                              sub-token offset, footprint scale
        r.latent = refiner.refine(r)                          the latent the codec would give
        z = generator.fill(r, guide)                          holes generated, known kept;
                                                              guide: the layout's surface
                                                              class and the ray's elevation
        d = r.depth where known, layout_depth(r) where generated
        memory.update(z, d, camera, keep=generated tokens)   only new tokens are written
        frame = codec.decode(z)                               for display and video only

Nothing in the loop goes through pixels except the decode for display (and, with
memory="rgb", the baseline's own rasterise + encode inside its readout).

A segment is all or nothing: when it is cancelled or fails, the memory is put back as it was
before the segment (a snapshot is taken at its start), so the world stays at its last good
segment. Same inputs, config and seed give bitwise identical output on the CPU with the same
number of torch threads (convolutions sum in another order with another count).
"""

from __future__ import annotations

import copy
import math
import numbers
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.camera import Camera, interpolate_pose
from engine.dynamic import consistent_tokens
from engine.memory import MEMORIES, make_memory
from engine.memory.latent import Readout, pool_depth
from engine.memory.protocol import SceneMemory
from engine.models.generator import (
    GenerationCancelled,
    GenerationContext,
    distance_to,
    inpaint_depth,
)
from engine.models.layout import SKY, Layout, guide_features
from engine.models.refiner import NoRefiner
from engine.newdepth import estimated_depth

MAX_SIZE = 16384
"""Largest frame width and height, in pixels."""
DTYPES = {
    "auto": None,
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
"""WorldConfig.dtype's names ("auto": see WorldConfig.torch_dtype)."""


@dataclass
class WorldConfig:
    """Every knob of a world. Saved with it; shown in the app's settings."""

    width: int = 512  # frame width in pixels; a multiple of the codec's factor
    height: int = 384  # frame height in pixels; a multiple of the codec's factor
    fov_y_deg: float = 60.0  # vertical field of view when the photo comes without intrinsics
    frames_per_segment: int = 8  # latent frames (poses) a default segment holds
    codec: str = "embedded"  # codec backend name (engine.models.registry)
    depth: str = "embedded"  # depth backend name, used when no depth is given with the photo
    generator: str = "embedded"  # generator backend name
    refiner: str = "auto"  # readout refiner backend name ("auto": embedded for the embedded codec)
    memory: str = "latent"  # "latent" (the method) or "rgb" (the pixel-space baseline)
    seed: int = 0  # seeds the generator; same seed, same world
    memory_budget_mib: float = 0.0  # byte budget of the latent memory (0: no budget)
    feature_dtype: str = "int8"  # latent memory storage: "int8", "float16" or "float32"
    depth_tolerance: float = 0.05  # fusion: relative depth band of a frustum cell
    chunk_size: float = 2.0  # side of the memory's index chunks, scene units
    # recent frames the generator copies from, besides the seed and the frame's own known
    # tokens; 0: copies of copies lose texture and contrast (eval generation, 12 photos:
    # texture facing away 0.46-0.86 with 4, 0.53-0.98 with 0)
    exemplar_frames: int = 0
    undo_segments: int = 8  # changes (segments, erases) undo() can take back (memory copies)
    prompt: str = ""  # text prompt of a diffusion generator (the embedded one has none)
    steps: int = 20  # denoising steps of a diffusion generator
    guidance: float = 5.0  # classifier-free guidance scale of a diffusion generator
    threads: int = 0  # torch threads for the engine (0: leave torch's setting alone)
    # where the generator and the memory run: "cpu", "cuda", "cuda:1", "mps", or "auto" (the
    # first GPU there is, else the CPU)
    device: str = "cpu"
    # the generator's compute precision: "auto" (bfloat16 on a GPU, float32 on the CPU, where
    # half precision is many times slower), "float32", "bfloat16" or "float16"
    dtype: str = "auto"
    # "model": a diffusion generator's transformer waits on the CPU between segments and
    # moves to the GPU for its loop (GPUs too small for it and the VAE at once); "none"
    offload: str = "none"
    # segment-level generators: tokens another frame of the segment contradicts (a moving
    # thing) stay out of the memory (engine.dynamic.consistent_tokens)
    dynamic_filter: bool = True

    def __post_init__(self) -> None:
        problems = []
        for f in fields(self):  # numbers as numbers (a stored file may hold "wide" or 1e400)
            value, kind = getattr(self, f.name), type(f.default)
            if kind in (int, float) and (
                isinstance(value, bool)
                or not isinstance(value, numbers.Integral if kind is int else numbers.Real)
                or not (isinstance(value, numbers.Integral) or math.isfinite(value))
            ):
                what = "a whole number" if kind is int else "a finite number"
                problems.append(f"{f.name} must be {what}, got {value!r}")
        if problems:
            raise ValueError("bad world config: " + "; ".join(problems))
        if not (8 <= self.width <= MAX_SIZE and 8 <= self.height <= MAX_SIZE):
            problems.append(
                f"width and height must be in [8, {MAX_SIZE}], got {self.width}x{self.height}"
            )
        if not -(2**63) <= self.seed < 2**64:  # what torch.manual_seed takes
            problems.append(f"seed must be in [-2**63, 2**64), got {self.seed}")
        if not 1.0 <= self.fov_y_deg <= 170.0:
            problems.append(f"fov_y_deg must be in [1, 170], got {self.fov_y_deg}")
        if self.frames_per_segment < 1:
            problems.append(f"frames_per_segment must be >= 1, got {self.frames_per_segment}")
        if self.memory not in MEMORIES:
            problems.append(f"memory must be one of {', '.join(MEMORIES)}, got {self.memory!r}")
        if self.memory_budget_mib < 0:
            problems.append(f"memory_budget_mib must be >= 0, got {self.memory_budget_mib}")
        if self.steps < 1:
            problems.append(f"steps must be >= 1, got {self.steps}")
        if self.exemplar_frames < 0 or self.threads < 0 or self.undo_segments < 0:
            problems.append("exemplar_frames, threads and undo_segments must be >= 0")
        if self.dtype not in DTYPES:
            problems.append(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.offload not in ("none", "model"):
            problems.append(f"offload must be 'none' or 'model', got {self.offload!r}")
        try:
            if self.device != "auto" and torch.device(self.device).type not in (
                "cpu",
                "cuda",
                "mps",
            ):
                raise RuntimeError
        except (RuntimeError, TypeError):
            problems.append(
                f"device must be 'auto', 'cpu', 'cuda', 'cuda:<n>' or 'mps', got {self.device!r}"
            )
        if problems:
            raise ValueError("bad world config: " + "; ".join(problems))

    def torch_device(self) -> torch.device:
        """The device named by `device` ("auto": CUDA, else MPS, else the CPU). ValueError
        naming what is missing when the named GPU is not there (a setting this machine
        cannot meet, refused like a bad one)."""
        if self.device == "auto":
            if torch.cuda.is_available():
                return torch.device("cuda")
            mps = getattr(torch.backends, "mps", None)
            return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device {self.device!r}: torch sees no CUDA GPU here (torch {torch.__version__}"
                f"{', a CPU-only build' if torch.version.cuda is None else ''}); use device=cpu "
                "or install a CUDA build of torch on a machine with an NVIDIA GPU"
            )
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise ValueError(
                f"device {self.device!r}: there are {torch.cuda.device_count()} CUDA GPUs here"
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device {self.device!r}: no Apple GPU (MPS) here")
        return device

    def torch_dtype(self, device: torch.device | None = None) -> torch.dtype:
        """The precision named by `dtype` on device ("auto": bfloat16 on a GPU, float32 on
        the CPU)."""
        if self.dtype == "auto":
            device = device or self.torch_device()
            return torch.float32 if device.type == "cpu" else torch.bfloat16
        dtype = DTYPES[self.dtype]
        assert dtype is not None  # "auto" is the only name without one
        return dtype

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> WorldConfig:
        """Refuses unknown keys by name (a typo must not pass silently)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown world config keys {unknown}; known: {sorted(names)}")
        return cls(**d)

    def with_overrides(self, items: Sequence[str]) -> WorldConfig:
        """`key=value` strings (the CLI's --config) applied to a copy, typed by the field."""
        values = self.to_dict()
        types = {f.name: type(getattr(self, f.name)) for f in fields(self)}
        for item in items:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or key not in types:
                raise ValueError(
                    f"--config expects key=value with key one of {sorted(types)}, got {item!r}"
                )
            try:
                values[key] = types[key](raw) if types[key] is not bool else raw == "true"
            except ValueError:
                kind = types[key].__name__
                raise ValueError(f"--config {key}: {raw!r} is not a {kind}") from None
        return WorldConfig(**values)


@dataclass
class WorldEvent:
    """What World reports while it works: kind is "progress" (step of a frame), "frame"
    (a frame is done: index and rgb), or "segment" (the segment is done)."""

    kind: str
    segment: int
    frame: int = 0
    frames: int = 0
    step: int = 0
    steps: int = 0
    rgb: Tensor | None = None  # (3, H, W) for "frame"
    depth: Tensor | None = None  # (h, w) token depth for "frame" (generated ones inpainted)
    known: Tensor | None = None  # (h, w) bool for "frame": read from memory, not generated
    camera: Camera | None = None  # the frame's camera (pixel resolution) for "frame"


class WorldCancelled(Exception):
    """A segment was cancelled; the world is as it was before that segment."""


@dataclass
class FrameStats:
    """Time per stage of one frame, milliseconds."""

    readout_ms: float  # memory readout (the RGB memory: rasterise + re-encode)
    generate_ms: float  # the generator's fill
    depth_ms: float  # depth for the generated tokens (layout_depth)
    update_ms: float  # the memory write
    decode_ms: float  # codec decode for display
    holes: int  # generated tokens
    known: int  # tokens read from memory
    refine_ms: float = 0.0  # the refiner: the known region re-rendered for the view, and again
    # beside the generated tokens when the frame has some (World._rerender)

    @property
    def total_ms(self) -> float:
        return (
            self.readout_ms
            + self.refine_ms
            + self.generate_ms
            + self.depth_ms
            + self.update_ms
            + self.decode_ms
        )

    @property
    def memory_ms(self) -> float:
        """The memory path: readout + write."""
        return self.readout_ms + self.update_ms


@dataclass
class Segment:
    """One generated segment. frames (T, 3, H, W) in [0, 1]; latents (T, C, h, w)."""

    index: int
    cameras: list[Camera]
    frames: Tensor
    latents: Tensor
    readouts: list[Readout]
    stats: list[FrameStats]
    entries: int  # memory entries after the segment
    nbytes: int  # memory bytes after the segment
    notes: list[str] = field(default_factory=list)


def fit_photo(
    rgb: Tensor, camera: Camera, width: int, height: int, maps: Tensor | None = None
) -> tuple[Tensor, Camera, Tensor | None]:
    """Centre-crop the photo (3, H, W) to the aspect of width x height and resize it to that
    size (antialiased bilinear); per-pixel maps (K, H, W) (depth, masks) get the same crop
    and a nearest resize, so no depth is invented between surfaces. The camera's intrinsics
    follow the crop and the resize."""
    _, h, w = rgb.shape
    if (w, h) != (camera.width, camera.height):
        raise ValueError(
            f"the intrinsics are for {camera.width}x{camera.height}, the photo is {w}x{h}"
        )
    target = width / height
    cw, ch = (round(h * target), h) if w / h > target else (w, round(w / target))
    x0, y0 = (w - cw) // 2, (h - ch) // 2
    rgb = rgb[:, y0 : y0 + ch, x0 : x0 + cw]
    cropped = Camera(camera.fx, camera.fy, camera.cx - x0, camera.cy - y0, cw, ch, camera.pose)
    if maps is not None:
        maps = maps[:, y0 : y0 + ch, x0 : x0 + cw]
    if (cw, ch) != (width, height):
        rgb = F.interpolate(
            rgb[None], size=(height, width), mode="bilinear", antialias=True, align_corners=False
        )[0].clamp(0, 1)
        if maps is not None:
            maps = F.interpolate(maps[None], size=(height, width), mode="nearest")[0]
    return rgb.contiguous(), cropped.scaled(width, height), maps


def fill_cracks(latent: Tensor, known: Tensor, depth: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Close the cracks of a readout: hole tokens that the known region surrounds (they are
    inside its 3x3 morphological closing), left where a surface seen from nearer spreads its
    tokens apart. A crack is no new content, so it gets the mean of its known 8-neighbours
    (latent and depth, not sky) and counts as known: shown, and left to the generator as
    context, but never written to the memory (writing it would put a blend of its
    neighbours in front of the surface they were read from).
    Returns (latent, known, depth) with the cracks filled."""
    k = known[None, None].float()
    grown = F.max_pool2d(F.pad(k, (1, 1, 1, 1)), 3, 1)  # outside the image counts as a hole
    closed = -F.max_pool2d(-F.pad(grown, (1, 1, 1, 1)), 3, 1)[0, 0] > 0
    finite = known & torch.isfinite(depth) & (depth > 0)
    crack = closed & ~known
    if not bool(crack.any()):
        return latent, known, depth
    w = finite[None, None].float()
    ones = torch.ones(1, 1, 3, 3)
    count = F.conv2d(w, ones, padding=1)[0, 0]
    crack &= count > 0
    lat = F.conv2d((latent * finite).reshape(-1, 1, *known.shape), ones, padding=1)[:, 0]
    dep = F.conv2d((torch.where(finite, depth, 0.0))[None, None], ones, padding=1)[0, 0]
    c = count.clamp(min=1)
    latent = torch.where(crack[None], lat / c, latent)
    depth = torch.where(crack, dep / c, depth)
    return latent, known | crack, depth


SEED_SCALES = (2, 4)
"""The seed photo is also an exemplar at 1/2 and 1/4 of its size (World.scaled_seeds)."""
NEW_DEPTH_MISFIT = 0.15
"""A video generator's new tokens take the depth backend's estimate of their decoded frame
when one scale fits it to the known tokens this well (median relative error, see
engine.newdepth), else the layout's depth. scripts/new_token_depth.py, hole tokens of true
content: abs-rel 0.107 gated, 0.136 estimate, 0.152 layout over 4 scenes; misfit 0.04-0.06
on the synthetic scenes (estimate better), 0.27-0.36 on the Middlebury motorcycle (worse)."""
BLEND_TOKENS = 4
"""Generated tokens this far from the known region take the layout's depth; nearer ones
blend from the known region's continuation (inpaint_depth) to it."""


def layout_depth(
    depth: Tensor, known: Tensor, traced: Tensor | None, traced_depth: Tensor | None
) -> Tensor:
    """Depth (h, w) of a frame whose holes were generated: known tokens keep theirs; a
    generated token takes the continuation of the known surfaces next to it (inpaint_depth:
    a disocclusion is what lies behind) blended, in log depth over BLEND_TOKENS tokens, into
    the layout's depth (traced_depth, its class `traced`) farther out; +inf where the layout
    sees sky there."""
    near = inpaint_depth(depth, known)
    hole = ~known
    if not bool(hole.any()) or traced is None:
        return near
    assert traced_depth is not None  # traced with it
    dist = distance_to(known, limit=BLEND_TOKENS + 1)
    a = ((dist - 1) / BLEND_TOKENS).clamp(0, 1)  # 0 next to the known region, 1 far out
    finite = torch.isfinite(near) & torch.isfinite(traced_depth) & (traced_depth > 0)
    mixed = torch.exp(
        (1 - a) * torch.log(near.clamp(min=1e-6)) + a * torch.log(traced_depth.clamp(min=1e-6))
    )
    mixed = torch.where(finite, mixed, near)
    sky = (traced == SKY) & (a >= 1)
    out = torch.where(hole, mixed, depth)
    return torch.where(hole & sky, math.inf, out)


def _latent_mask(mask: Tensor, factor: int) -> Tensor:
    """A pixel mask (H, W) -> the latent grid: a token is marked when any of its pixels is."""
    h, w = mask.shape
    return mask.reshape(h // factor, factor, w // factor, factor).any(dim=3).any(dim=1)


def is_video_generator(generator) -> bool:
    """Whether a generator makes a segment's latent frames together from a video VAE's latent
    frames (it has a temporal_factor) rather than one frame at a time."""
    return getattr(generator, "temporal_factor", None) is not None


def check_video_pair(codec, generator) -> None:
    """ValueError unless the codec is the video VAE the generator works in: same channels,
    the same pixels per latent pixel and the same frames per latent frame."""
    name = getattr(generator, "name", "the video generator")
    wanted = (generator.channels, generator.spatial, generator.temporal_factor)
    got = (codec.channels, codec.factor, getattr(codec, "temporal_factor", None))
    if got != wanted:
        raise ValueError(
            f"{name} works in the latents of its own video VAE ({wanted[0]} channels, "
            f"{wanted[1]}x spatial, {wanted[2]}x temporal); the codec "
            f"{getattr(codec, 'name', '?')!r} has {got[0]} channels, {got[1]}x spatial, "
            f"{'no temporal factor (an image codec)' if got[2] is None else f'{got[2]}x temporal'}"
            ": set codec = diffusers:<the same pipeline folder>"
        )


def segment_camera(cameras: Sequence[Camera]) -> Camera:
    """The camera a latent frame stands at: the middle of the poses of the frames it holds
    (interpolated between the two middle ones for an even count), with the intrinsics of
    the later of them."""
    m = len(cameras) // 2
    if len(cameras) % 2:
        return cameras[m]
    return cameras[m].with_pose(interpolate_pose(cameras[m - 1].pose, cameras[m].pose, 0.5))


@dataclass
class _UndoStep:
    """The state before one change (a segment or an erase)."""

    what: str
    memory: SceneMemory
    recent: list[Tensor]
    poses: int  # length of the trajectory
    segments: int


class World:
    """The engine's world: a codec, a depth estimator, a generator and a memory, run by the
    cycle of the module docstring. Backends may be given as objects (tests, the app's
    model cache); otherwise they are made from the config's names."""

    def __init__(
        self,
        config: WorldConfig | None = None,
        *,
        codec=None,
        depth=None,
        generator=None,
        refiner=None,
    ) -> None:
        from engine.models import registry

        self.config = config or WorldConfig()
        cfg = self.config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.codec = codec if codec is not None else registry.make_codec(cfg.codec)
        self._depth = depth
        if generator is None:
            kw: dict = {}
            if cfg.generator.startswith("diffusers-wan-vace:"):  # no guidance: Mirage runs without
                device = cfg.torch_device()
                kw = {"prompt": cfg.prompt, "steps": cfg.steps, "device": device}
                kw |= {"dtype": cfg.torch_dtype(device), "offload": cfg.offload}
            elif cfg.generator not in ("embedded", "exemplar"):
                kw = {"prompt": cfg.prompt, "steps": cfg.steps, "guidance": cfg.guidance}
            generator = registry.make_generator(cfg.generator, **kw)
        self.generator = generator
        if is_video_generator(generator):
            check_video_pair(self.codec, generator)
        self.notes: list[str] = []
        self.memory: SceneMemory = self._new_memory()
        if refiner is None and self.memory.readout_is_encoded:
            refiner = NoRefiner()  # its readout is an encode of the view: nothing to refine
        elif refiner is None:
            refiner = registry.make_refiner(cfg.refiner, self.codec, self.notes)
        self.refiner = refiner
        f = self.codec.factor
        what = f"the codec's factor {f}"
        if is_video_generator(generator):  # the transformer patchifies the latent grid
            f *= max(generator.patch[1:])
            what = f"{f}: the codec's factor {self.codec.factor} times the transformer's patch"
        if cfg.width % f or cfg.height % f:
            raise ValueError(
                f"width and height must be multiples of {what}, got {cfg.width}x{cfg.height}"
            )
        self.camera: Camera | None = None  # the seed camera (pixel resolution)
        self.seed_latent: Tensor | None = None
        self.recent: list[Tensor] = []  # latents of the latest frames, newest last
        self.segments = 0  # segments generated so far
        self.trajectory: list[Tensor] = []  # every pose rendered, (4, 4) each
        # the trajectory's length after each segment: segment k ends at trajectory[ends[k-1] - 1]
        self.segment_ends: list[int] = []
        self.dynamic: Tensor | None = None  # (h, w) bool: seed tokens the dynamic mask kept out
        self.seed_depth: Tensor | None = None  # (h, w) the seed tokens' depth (+inf: sky)
        self._layout: tuple[Layout, Tensor] | None = None  # the layout and the seed's guide
        self._scaled: list[tuple[Tensor, Tensor]] | None = None  # see scaled_seeds
        self._undo: list[_UndoStep] = []  # states before the latest changes, oldest first

    # ---- set-up

    @property
    def depth_estimator(self):
        if self._depth is None:
            from engine.models import registry

            self._depth = registry.make_depth(self.config.depth)
        return self._depth

    def _new_memory(self) -> SceneMemory:
        cfg = self.config
        return make_memory(
            cfg.memory,
            self.codec,
            chunk_size=cfg.chunk_size,
            depth_tolerance=cfg.depth_tolerance,
            feature_dtype=cfg.feature_dtype,
            budget_bytes=int(cfg.memory_budget_mib * 2**20) or None,
            device=cfg.torch_device(),  # beside the generator; readouts come back to the CPU
        )

    @property
    def latent_size(self) -> tuple[int, int]:
        """(w, h) of the latent grid."""
        f = self.codec.factor
        return self.config.width // f, self.config.height // f

    def seed(
        self,
        photo: Tensor,
        depth: Tensor | None = None,
        intrinsics: Camera | None = None,
        masks: Tensor | None = None,
    ) -> Tensor:
        """Start the world from one photo (3, H, W) float32 in [0, 1].

        depth (H, W): camera-frame z, 0 where unknown, +inf for sky; estimated by the
        depth backend when not given. intrinsics: a Camera for the photo's size (default:
        config.fov_y_deg, centred); its pose becomes the world's origin. masks (H, W) bool:
        True on dynamic things (people, cars) that must stay out of the memory.
        Returns the first frame (3, height, width): the seed latent decoded.
        """
        if not isinstance(photo, Tensor) or photo.ndim != 3 or photo.shape[0] != 3:
            shape = tuple(photo.shape) if isinstance(photo, Tensor) else type(photo).__name__
            raise ValueError(f"seed expects a photo (3, H, W), got {shape}")
        photo = photo.float()
        if not bool(torch.isfinite(photo).all()):
            raise ValueError("seed: the photo has NaN or infinite values")
        _, h, w = photo.shape
        camera = intrinsics or Camera.from_fov(self.config.fov_y_deg, w, h)
        sky = None
        if depth is None:
            estimate = self.depth_estimator.estimate(photo)
            depth, sky = estimate.depth, estimate.sky
            self.notes += estimate.notes
        else:
            depth = torch.as_tensor(depth).float()
            if tuple(depth.shape) != (h, w):
                raise ValueError(
                    f"the depth map is {tuple(depth.shape[-2:])} (h, w), the photo {(h, w)}: "
                    "they must be the same size"
                )
            if bool(torch.isnan(depth).any()) or bool((depth < 0).any()):
                raise ValueError("the depth map has NaN or negative values (use 0 for unknown)")
        if masks is not None and tuple(masks.shape) != (h, w):
            raise ValueError(f"the dynamic mask is {tuple(masks.shape)}, the photo {(h, w)}")
        if sky is not None:
            depth = torch.where(sky, math.inf, depth)
        # the masks ride along with the depth so they are cropped the same way
        maps = depth[None] if masks is None else torch.stack([depth, masks.float()])
        rgb, camera, maps = fit_photo(photo, camera, self.config.width, self.config.height, maps)
        assert maps is not None  # given, so returned
        depth = maps[0]
        dynamic = maps[1] > 0.5 if masks is not None else None

        self.memory = self._new_memory()
        f = self.codec.factor
        lw, lh = self.latent_size
        latent = self.codec.encode(rgb[None])[0]
        token_depth = pool_depth(torch.where(torch.isfinite(depth), depth, math.inf), f)
        keep = None if dynamic is None else ~_latent_mask(dynamic, f)
        token_sky = torch.isinf(token_depth)
        lat_cam = camera.scaled(lw, lh)
        self.memory.lift(latent, token_depth, lat_cam, keep=keep, sky=token_sky, segment=0, rgb=rgb)
        self.camera = camera
        self.seed_latent = latent
        self.seed_depth = token_depth  # the layout is fitted to it (World.layout)
        self._layout = None
        self._scaled = None
        self.recent = []
        self.segments = 0
        self.trajectory = [camera.pose.clone()]
        self.segment_ends = []
        self.dynamic = None if keep is None else ~keep
        self._undo = []
        return self.codec.decode(latent[None])[0]

    # ---- the cycle

    def camera_at(self, pose) -> Camera:
        """The world's camera (pixel resolution) at a camera-to-world pose (validated), or,
        given a Camera (a camera path's, with its own field of view), that camera's pose and
        vertical field of view at the world's frame size."""
        if self.camera is None:
            raise RuntimeError("the world has no seed yet: call seed(photo) first")
        if isinstance(pose, Camera):
            if abs(pose.fov_y_deg - self.camera.fov_y_deg) < 1e-9:
                return self.camera.with_pose(pose.pose)
            return Camera.from_fov(pose.fov_y_deg, self.camera.width, self.camera.height, pose.pose)
        return self.camera.with_pose(pose)

    def segment(
        self,
        poses: Sequence,
        on_event: Callable[[WorldEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> Segment:
        """Generate one frame per pose (readout -> generate -> update -> decode); a pose may
        be a Camera (see camera_at).

        on_event receives WorldEvents; cancel is polled between steps. Cancelled
        (WorldCancelled) or failed, the memory is restored to where it was before."""
        if self.camera is None:
            raise RuntimeError("the world has no seed yet: call seed(photo) first")
        if len(poses) == 0:
            raise ValueError("a segment needs at least one pose")
        cameras = [self.camera_at(p) for p in poses]  # validates every pose first
        before = self._state(f"segment {self.segments + 1}")
        run = self._run_video_segment if is_video_generator(self.generator) else self._run_segment
        try:
            segment = run(cameras, on_event, cancel)
        except BaseException:
            self.memory, self.recent = before.memory, before.recent
            raise
        self._push_undo(before)
        return segment

    def erase_ground(self, points, radius: float) -> int:
        """Remove every entry whose ground position (engine.memory.latent.GroundFrame: right,
        forward of the seed camera) lies within radius of one of points (n, 2), at any
        height: the minimap's erase brush. One undo step; returns how many were removed."""
        if self.camera is None:
            raise RuntimeError("the world has no seed yet: call seed(photo) first")
        points = torch.as_tensor(points, dtype=torch.float64).reshape(-1, 2)
        if not (radius > 0 and math.isfinite(radius)) or not bool(torch.isfinite(points).all()):
            raise ValueError(f"erase needs finite points and a radius > 0, got radius {radius}")
        if len(self.memory) == 0 or len(points) == 0:
            return 0
        assert self.memory.frame is not None  # set by the seed's write
        ground = self.memory.frame.to_ground(self.memory.positions().cpu())
        inside = torch.zeros(len(ground), dtype=torch.bool)
        for chunk in points.split(256):  # (entries, 256) distances at a time
            inside |= (torch.cdist(ground, chunk) <= radius).any(1)
        ids = inside.nonzero()[:, 0]
        if len(ids) == 0:
            return 0
        before = self._state("erase")
        n = self.memory.erase(ids=ids)
        self._push_undo(before)
        return n

    @property
    def segment_poses(self) -> list[Tensor]:
        """The seed pose and the last pose of every segment (4, 4) each: where the flight
        stood when each segment ended (the minimap's keyframes)."""
        return [self.trajectory[0], *(self.trajectory[e - 1] for e in self.segment_ends)]

    @property
    def can_undo(self) -> int:
        """How many changes (segments, erases) undo() can take back now."""
        return len(self._undo)

    def undo(self) -> str:
        """Take back the latest change (a segment or an erase): the memory, the generator's
        recent frames and the trajectory as they were before it. Returns what was undone
        ("segment 3", "erase"). RuntimeError when there is nothing to undo (no change since
        the world was opened, or older than config.undo_segments)."""
        if not self._undo:
            raise RuntimeError("nothing to undo: no change since the world was opened")
        step = self._undo.pop()
        self.memory, self.recent = step.memory, step.recent
        del self.trajectory[step.poses :]
        del self.segment_ends[step.segments :]
        self.segments = step.segments
        return step.what

    def _state(self, what: str) -> _UndoStep:
        """The state a change may need to return to (the memory is copied: segments write
        into it in place)."""
        return _UndoStep(
            what, copy.deepcopy(self.memory), list(self.recent), len(self.trajectory), self.segments
        )

    def _push_undo(self, step: _UndoStep) -> None:
        if self.config.undo_segments:
            self._undo = [*self._undo, step][-self.config.undo_segments :]

    def _run_segment(self, cameras, on_event, cancel) -> Segment:
        assert self.seed_latent is not None  # segment() checked the seed
        index = self.segments + 1
        lw, lh = self.latent_size
        frames, latents, readouts, stats, notes = [], [], [], [], []
        n = len(cameras)
        # the cameras of the recent frames (the trajectory's last poses), for their guides
        k = len(self.recent)
        cams = [self.camera_at(p).scaled(lw, lh) for p in self.trajectory[-k:]] if k else []
        recent_cams: list[Camera | None] = [None] * (k - len(cams)) + cams
        for i, cam in enumerate(cameras):
            if cancel is not None and cancel():
                raise WorldCancelled(f"segment {index} cancelled before frame {i + 1} of {n}")
            lat_cam = cam.scaled(lw, lh)
            t0 = time.perf_counter()
            r = self.memory.readout(lat_cam).cpu()
            t1a = time.perf_counter()
            refined = self.refiner.refine(r)
            t1 = time.perf_counter()

            def progress(step, i=i):
                if on_event is not None:
                    on_event(WorldEvent("progress", index, i, n, step.step, step.steps))

            latent, known, crack_depth = fill_cracks(refined, r.known, r.depth)
            ctx = GenerationContext(
                exemplars=[self.seed_latent, *self.recent],
                seed=self.config.seed * 1_000_003 + index * 1009 + i,
                callback=progress,
                cancel=cancel,
            )
            traced = traced_depth = None
            if not bool(known.all()):  # the layout guides what is generated
                layout, seed_guide = self.layout
                # holes have depth 0 and take the layout's class; the sky's is +inf
                guide, traced, traced_depth = layout.guide(lat_cam, crack_depth)
                ctx.guide = guide[None]
                scaled = self.scaled_seeds
                ctx.exemplars = [self.seed_latent, *(x for x, _ in scaled), *self.recent]
                ctx.exemplar_guides = [
                    seed_guide,
                    *(g for _, g in scaled),
                    *self._guides(layout, recent_cams),
                ]
            try:
                z = self.generator.fill(latent[None], known[None], crack_depth[None], ctx)[0]
            except GenerationCancelled as e:
                raise WorldCancelled(f"segment {index}: {e}") from None
            notes += ctx.notes
            t2 = time.perf_counter()
            generated = ~known  # cracks are shown but never written (see fill_cracks)
            depth = layout_depth(crack_depth, known, traced, traced_depth)
            t2b = time.perf_counter()
            shown = self._rerender(r, z, generated, depth)
            t3 = time.perf_counter()
            rgb = self.codec.decode(shown[None])[0]  # shown anyway; the RGB memory writes it
            t3b = time.perf_counter()
            self.memory.update(z, depth, lat_cam, keep=generated, segment=index, rgb=rgb)
            t4 = time.perf_counter()
            ms = 1000.0
            stats.append(
                FrameStats(
                    readout_ms=(t1a - t0) * ms,
                    refine_ms=(t1 - t1a + t3 - t2b) * ms,  # both passes (see _rerender)
                    generate_ms=(t2 - t1) * ms,
                    depth_ms=(t2b - t2) * ms,
                    update_ms=(t4 - t3b) * ms,
                    decode_ms=(t3b - t3) * ms,
                    holes=int(generated.sum()),
                    known=int(r.known.sum()),
                )
            )
            keep_recent = self.config.exemplar_frames
            self.recent = [*self.recent, z][-keep_recent:] if keep_recent else []
            recent_cams = [*recent_cams, lat_cam][-len(self.recent) :] if self.recent else []
            frames.append(rgb)
            latents.append(z)
            readouts.append(r)
            if on_event is not None:
                on_event(
                    WorldEvent("frame", index, i, n, rgb=rgb, depth=depth, known=known, camera=cam)
                )
        self.segments = index
        self.trajectory += [c.pose.clone() for c in cameras]
        self.segment_ends.append(len(self.trajectory))
        segment = Segment(
            index=index,
            cameras=list(cameras),
            frames=torch.stack(frames),
            latents=torch.stack(latents),
            readouts=readouts,
            stats=stats,
            entries=len(self.memory),
            nbytes=self.memory.nbytes,
            notes=notes,
        )
        if on_event is not None:
            on_event(WorldEvent("segment", index, n, n))
        return segment

    def _run_video_segment(self, cameras, on_event, cancel) -> Segment:
        """The segment-level cycle of a video generator (is_video_generator): every latent
        frame is read out first, the generator makes them all in one loop, then they are
        decoded together and written together.

            latent frame 0      the frame the segment continues from (the trajectory's last
                                pose): context, not written
            latent frame j > 0  frames (j-1) tf .. j tf - 1 of the segment (tf: the video
                                VAE's temporal factor, 4 for Wan); it stands at the middle
                                of their poses (segment_camera), where it is read and written
            decode              1 + k tf frames, the first (the continued one) dropped; a
                                segment of n poses pads its last group with the last pose
            depth               known tokens keep theirs; generated ones take the depth
                                backend's estimate of the nearest decoded frame, scaled to
                                the known tokens, or the layout's (_new_depth)
            write               generated tokens of frames 1..k that no other frame of the
                                segment contradicts (config.dynamic_filter)
        """
        index = self.segments + 1
        tf = int(self.generator.temporal_factor)
        lw, lh = self.latent_size
        n = len(cameras)
        k = -(-n // tf)
        padded = [*cameras, *[cameras[-1]] * (k * tf - n)]
        latent_cams = [self.camera_at(self.trajectory[-1])]
        latent_cams += [segment_camera(padded[j * tf : (j + 1) * tf]) for j in range(k)]
        latent_cams = [c.scaled(lw, lh) for c in latent_cams]
        t0 = time.perf_counter()
        readouts = [self.memory.readout(c).cpu() for c in latent_cams]
        t1 = time.perf_counter()
        filled = [fill_cracks(self.refiner.refine(r), r.known, r.depth) for r in readouts]
        t2 = time.perf_counter()
        latent, known, depth = (torch.stack(x) for x in zip(*filled))

        def progress(step):
            if on_event is not None:
                on_event(WorldEvent("progress", index, 0, n, step.step, step.steps))

        ctx = GenerationContext(seed=self.config.seed * 1_000_003 + index * 1009, callback=progress)
        ctx.cancel = cancel
        try:
            z = self.generator.fill(latent, known, depth, ctx)
        except GenerationCancelled as e:
            raise WorldCancelled(f"segment {index}: {e}") from None
        t3 = time.perf_counter()
        video = self.codec.decode_video(z)  # type: ignore[union-attr]  # check_video_pair
        t4 = time.perf_counter()
        # the pixel frame nearest each latent frame's pose: frame 0 is the continued frame;
        # latent frame j holds video frames (j-1) tf + 1 .. j tf, its pose is their middle
        nearest = [0, *((j - 1) * tf + 1 + tf // 2 for j in range(1, k + 1))]
        generated = ~known
        depths_t = torch.stack(
            [
                self._new_depth(video[nearest[j]], cam, depth[j], known[j])
                for j, cam in enumerate(latent_cams)
            ]
        )
        write = generated.clone()
        write[0] = False  # the continued frame is context
        if self.config.dynamic_filter:
            write &= consistent_tokens(z, depths_t, latent_cams)
        t5 = time.perf_counter()
        for j in range(1, k + 1):
            self.memory.update(
                z[j],
                depths_t[j],
                latent_cams[j],
                keep=write[j],
                segment=index,
                rgb=video[nearest[j]],
            )
        t6 = time.perf_counter()
        frames = video[1 : n + 1]
        share = 1000.0 / n  # each frame's share of the segment's stages, in ms
        stats = [
            FrameStats(
                readout_ms=(t1 - t0) * share,
                refine_ms=(t2 - t1) * share,
                generate_ms=(t3 - t2) * share,
                depth_ms=(t5 - t4) * share,
                update_ms=(t6 - t5) * share,
                decode_ms=(t4 - t3) * share,
                holes=int(generated[1 + i // tf].sum()),
                known=int(readouts[1 + i // tf].known.sum()),
            )
            for i in range(n)
        ]
        if on_event is not None:
            for i, cam in enumerate(cameras):
                j = 1 + i // tf
                on_event(
                    WorldEvent(
                        "frame",
                        index,
                        i,
                        n,
                        rgb=frames[i],
                        depth=depths_t[j],
                        known=known[j],
                        camera=cam,
                    )
                )
        self.recent = []
        self.segments = index
        self.trajectory += [c.pose.clone() for c in cameras]
        self.segment_ends.append(len(self.trajectory))
        if on_event is not None:
            on_event(WorldEvent("segment", index, n, n))
        return Segment(
            index=index,
            cameras=list(cameras),
            frames=frames,
            latents=z[1:],
            readouts=readouts,
            stats=stats,
            entries=len(self.memory),
            nbytes=self.memory.nbytes,
            notes=ctx.notes,
        )

    def _new_depth(self, rgb: Tensor, cam: Camera, depth: Tensor, known: Tensor) -> Tensor:
        """Depth (h, w) of a latent frame a video generator made, seen in rgb (its nearest
        decoded frame): known tokens keep theirs; generated ones take the depth backend's
        estimate of the frame scaled to the known tokens, when one scale fits them
        (NEW_DEPTH_MISFIT), else layout_depth as in the per-frame cycle
        (scripts/new_token_depth.py measured both on tokens of true content)."""
        if bool(known.all()):
            return depth
        f = self.codec.factor
        est = estimated_depth(
            rgb, depth, known, self.depth_estimator, f, max_misfit=NEW_DEPTH_MISFIT
        )
        if est is not None:
            return est
        _, traced, traced_depth = self.layout[0].guide(cam, depth)
        return layout_depth(depth, known, traced, traced_depth)

    def _rerender(self, r: Readout, z: Tensor, generated: Tensor, depth: Tensor) -> Tensor:
        """The latent shown for a frame whose holes were generated (z): the whole frame
        refined again, the known region now with the generated tokens around it instead of
        holes, the generated tokens with the known region around them. Refined beside holes
        (zeros), a known region's rim decodes with a step where the generated tokens meet
        it (on the sample room with the true latent in the holes, twice the jump across
        other token edges); refined with its surroundings it meets them (1.1 times), and
        the generated side of the seam is harmonised too (eval generation: the seam ratio
        drops by 0.1-0.4 on the photos, blockiness and texture stay). Only what is shown:
        the memory keeps what it had and gets the generated tokens as copied."""
        if not bool(generated.any()) or isinstance(self.refiner, NoRefiner):
            return z
        assert r.offset is not None and r.scale is not None  # Readout fills them in
        raw, _, _ = fill_cracks(r.latent, r.known, r.depth)
        known = ~generated
        context = Readout(
            latent=torch.where(known[None], raw, z),
            known=torch.ones_like(known),
            depth=depth,
            ids=r.ids,
            sky=torch.isinf(depth),
            offset=torch.where(known[None], r.offset, 0.0),
            scale=torch.where(known, r.scale, 1.0),
        )
        return self.refiner.refine(context)

    @property
    def scaled_seeds(self) -> list[tuple[Tensor, Tensor]]:
        """The seed photo again at 1/2 and 1/4 of its size (SEED_SCALES), encoded, with its
        guides: exemplars whose tokens each cover 2 and 4 times the width of the seed's, for
        the far surfaces of the layout (the guide's scale channel picks them there). The
        photo is the seed latent decoded; made on first use after a seed or a load."""
        if self._scaled is None:
            layout, _ = self.layout
            assert self.camera is not None and self.seed_latent is not None  # layout checks
            lw, lh = self.latent_size
            f = self.codec.factor
            depth = self._seed_token_depth()
            with torch.inference_mode():
                rgb = self.codec.decode(self.seed_latent[None])[0].clamp(0, 1)
            self._scaled = []
            for k in SEED_SCALES:
                w, h = lw // k, lh // k
                if min(w, h) < 4:  # too small to hold a window to copy
                    break
                small = F.interpolate(
                    rgb[None, :, : h * k * f, : w * k * f],
                    size=(h * f, w * f),
                    mode="bilinear",
                    antialias=True,
                )
                with torch.inference_mode():
                    latent = self.codec.encode(small)[0].float()
                # the nearest depth of each k x k block: a block holding a piece of the
                # furniture stands in front of the wall (its relief), not on it
                block = depth[: h * k, : w * k]
                seen = block > 0
                near = -F.max_pool2d(-torch.where(seen, block, math.inf)[None, None], k)[0, 0]
                d = torch.where(F.max_pool2d(seen.float()[None, None], k)[0, 0] > 0, near, 0.0)
                cam = self.camera.scaled(lw, lh)
                cam = Camera(cam.fx / k, cam.fy / k, cam.cx / k, cam.cy / k, w, h, cam.pose)
                self._scaled.append((latent, layout.guide(cam, d)[0]))
        return self._scaled

    def _seed_token_depth(self) -> Tensor:
        """The seed tokens' depth; for a world saved before it was kept, the memory's."""
        if self.seed_depth is not None:
            return self.seed_depth
        assert self.camera is not None  # its callers check the seed
        return self.memory.readout(self.camera.scaled(*self.latent_size)).cpu().depth

    @property
    def layout(self) -> tuple[Layout, Tensor]:
        """The scene's layout (engine.models.layout), fitted to the seed tokens' depth, and
        the seed latent's guide; made on first use after a seed or a load."""
        if self._layout is None:
            if self.camera is None:
                raise RuntimeError("the world has no seed yet: call seed(photo) first")
            cam = self.camera.scaled(*self.latent_size)
            depth = self._seed_token_depth()  # a world saved before it: the memory's
            layout = Layout.estimate(cam, depth)
            self._layout = layout, layout.guide(cam, depth)[0]
        return self._layout

    def _guides(self, layout: Layout, cameras) -> list[Tensor | None]:
        """Guides of the recent frames from their cameras (the layout's classes)."""
        guides: list[Tensor | None] = []
        for c in cameras:
            if c is None:
                guides.append(None)
                continue
            classes, traced_depth = layout.trace(c)  # traced once for classes and scale
            guides.append(guide_features(layout, c, classes, traced_depth=traced_depth))
        return guides

    def view(self, pose) -> tuple[Tensor, Readout]:
        """What the memory holds from a pose, refined and decoded, without generating or
        writing: (rgb (3, H, W), readout). The app's view while moving in known space.
        Cracks inside the known region are closed as in a segment (fill_cracks)."""
        r = self.memory.readout(self.camera_at(pose).scaled(*self.latent_size)).cpu()
        latent, _, _ = fill_cracks(self.refiner.refine(r), r.known, r.depth)
        return self.codec.decode(latent[None])[0], r
