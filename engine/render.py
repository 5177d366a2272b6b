"""The render job: a photo, sample scene or saved world + a camera path -> an MP4 (and
optionally the world saved). `latentscape render` runs it; the app runs the same job in the
background.

Interrupted (Ctrl+C, or `cancel` returning True), the frames written so far are kept as
`<out stem>.partial.mp4` and the world is left at its last complete segment.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.camera import Camera
from engine.files import folder_to_read
from engine.path import default_path
from engine.world import World, WorldCancelled, WorldConfig, WorldEvent


@dataclass
class RenderResult:
    out: Path | None  # the finished video (None when interrupted)
    partial: Path | None  # the partial video kept after an interruption
    frames: int
    seconds_per_frame: list[float] = field(default_factory=list)  # per segment
    world: World | None = None
    interrupted: bool = False


@dataclass
class SeedPhoto:
    """What a world is seeded with: World.seed(rgb, depth, intrinsics=camera, masks=masks)."""

    name: str  # the scene's name or the file's stem
    rgb: torch.Tensor  # (3, H, W) float32 in [0, 1]
    depth: torch.Tensor | None = None  # (H, W); None: the depth backend estimates it
    camera: Camera | None = None  # intrinsics for (W, H); None: the world's default
    masks: torch.Tensor | None = None  # (H, W) bool dynamic things, or None
    notes: list[str] = field(default_factory=list)


def load_photo(source: str, depth: str | None = None, mask: str | None = None) -> SeedPhoto:
    """A sample scene (name or folder: photo, depth, intrinsics) or a photo file (depth from
    `depth`, a depth file, else None), with the dynamic mask of `mask`, an image file whose
    nonzero pixels mark dynamic things to keep out of the memory."""
    from engine import scenes
    from engine.images import load_image

    path = Path(source).expanduser()
    if path.is_dir() or (not path.exists() and source in scenes.list_scenes()):
        scene = scenes.load_scene(source)
        size = scene.rgb.shape[1:]
        return SeedPhoto(
            name=scene.name,
            rgb=scene.rgb,
            depth=scene.depth if depth is None else _depth_file(depth, size),
            camera=scene.camera,
            masks=None if mask is None else _mask_file(mask, size),
        )
    if not path.exists():
        names = ", ".join(scenes.list_scenes())
        raise FileNotFoundError(
            f"{source!r} is neither a file, a saved world nor a sample scene ({names})"
        )
    image = load_image(path)
    size = image.rgb.shape[1:]
    return SeedPhoto(
        name=path.stem,
        rgb=image.rgb,
        depth=None if depth is None else _depth_file(depth, size),
        masks=None if mask is None else _mask_file(mask, size),
        notes=list(image.notes),
    )


def open_source(
    source: str,
    config: WorldConfig,
    depth: str | None = None,
    mask: str | None = None,
    on_stage: Callable[[int, int, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    estimator=None,
    **backends,
) -> World:
    """A seeded World from `source`: a saved world folder, or what load_photo reads (a
    sample scene name or folder, or a photo file with optional depth and mask files).
    on_stage(done, total, what) is told each stage as it begins; cancel is polled between
    them (WorldCancelled: nothing was made). backends (codec, generator) and estimator (the
    depth estimator; `depth` is the depth file) are made from the config's names unless
    given."""
    if estimator is not None:
        backends["depth"] = estimator
    from engine import io

    def stage(done: int, total: int, what: str) -> None:
        if cancel is not None and cancel():
            raise WorldCancelled(f"opening {source} cancelled before {what}")
        if on_stage is not None:
            on_stage(done, total, what)

    path = Path(source).expanduser()
    folder = folder_to_read(path)  # a save cut short between its renames: the one before
    if folder.is_dir() and ((folder / "world.json").is_file() or path.suffix == ".lsworld"):
        stage(0, 1, "reading the saved world")
        return io.load_world(path, **backends)
    stage(0, 3, "reading the photo")
    photo = load_photo(source, depth=depth, mask=mask)
    stage(1, 3, "loading the models")
    world = World(config, **backends)
    for note in photo.notes:
        print(f"note: {note}", file=sys.stderr)
    stage(2, 3, "depth, encoding and lifting to the memory")
    world.seed(photo.rgb, depth=photo.depth, intrinsics=photo.camera, masks=photo.masks)
    return world


def _mask_file(path: str, size) -> torch.Tensor:
    """A dynamic mask image -> (H, W) bool, True where any channel is nonzero."""
    from engine.images import load_image

    image = load_image(Path(path).expanduser())
    if tuple(image.rgb.shape[1:]) != tuple(size):
        raise ValueError(
            f"the mask {path} is {tuple(image.rgb.shape[1:])} (h, w), the photo {tuple(size)}"
        )
    return (image.rgb > 0).any(dim=0)


def _depth_file(path: str, size) -> torch.Tensor:
    from engine.models.depth import load_depth_file

    depth = load_depth_file(Path(path).expanduser())
    if tuple(depth.shape) != tuple(size):
        raise ValueError(
            f"the depth map {path} is {tuple(depth.shape)} (h, w), the photo {tuple(size)}"
        )
    return depth


def render(
    world: World,
    segments: list[list[torch.Tensor]],
    out: str | os.PathLike,
    fps: float = 24.0,
    save_world: str | os.PathLike | None = None,
    on_event: Callable[[WorldEvent], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    frames_dir: str | os.PathLike | None = None,
    ply: str | os.PathLike | None = None,
) -> RenderResult:
    """Render every segment of poses into `out`; the seed frame is not part of the video.
    frames_dir: also write the frames with nerfstudio / COLMAP cameras (io.export_frames);
    ply: also write the memory as a coloured point cloud (io.export_ply); the latent
    memory's only (refused before anything is rendered for another)."""
    from engine import io
    from engine.memory.latent import LatentMemory

    if ply is not None and not isinstance(world.memory, LatentMemory):
        raise ValueError(
            f"--ply writes the latent memory's entries; this world has the "
            f"{world.config.memory} memory"
        )
    cfg = world.config
    result = RenderResult(out=None, partial=None, frames=0, world=world)
    writer = io.VideoWriter(out, fps, cfg.width, cfg.height)
    kept_frames, kept_cameras = [], []
    try:
        for poses in segments:
            t0 = time.perf_counter()
            seg = world.segment(poses, on_event=on_event, cancel=cancel)
            for frame in seg.frames:
                writer.write(frame)
            if frames_dir is not None:
                kept_frames.append(seg.frames)
                kept_cameras += seg.cameras
            result.frames += len(seg.frames)
            result.seconds_per_frame.append((time.perf_counter() - t0) / len(poses))
    except (KeyboardInterrupt, WorldCancelled):
        result.partial = writer.abort()
        result.interrupted = True
        return result
    except BaseException:
        writer.abort()
        raise
    result.out = writer.close()
    if save_world is not None:
        io.save_world(world, save_world)
    if frames_dir is not None:
        io.export_frames(frames_dir, torch.cat(kept_frames), kept_cameras)
    if ply is not None:
        assert isinstance(world.memory, LatentMemory)  # checked before rendering
        io.export_ply(world.memory, world.codec, ply)
    return result


@dataclass
class RenderJob:
    """One render, as `latentscape render` runs it and the app's Render... runs it:
    source (a photo, sample scene or saved world folder) + camera path -> out (MP4).
    path: a CameraPath, a pose list (segments of poses) or None for the default path;
    fps: None is the camera path's own, else 24."""

    source: str
    out: Path
    config: WorldConfig = field(default_factory=WorldConfig)
    path: object = None
    fps: float | None = None
    depth: str | None = None
    mask: str | None = None
    save_world: Path | None = None
    frames: Path | None = None
    ply: Path | None = None

    @property
    def rate(self) -> float:
        from engine.path import CameraPath

        if self.fps is not None:
            return float(self.fps)
        return self.path.render.fps if isinstance(self.path, CameraPath) else 24.0

    def run(
        self,
        on_start: Callable[[World, list], None] | None = None,
        on_event: Callable[[WorldEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        **backends,
    ) -> RenderResult:
        """Open the source, sample the path, render; on_start(world, segments) is called
        once the work is known, before the first frame.

        The job runs with render_threads(config) torch threads (put back afterwards): the
        CPU kernels' sums differ in their last bits with the thread count, and the
        generator's choices can follow such a bit, so the app (whose engine keeps a core
        for the GUI) and the command line render the same job on the same count."""
        if self.out.is_dir():
            raise ValueError(f"the output {self.out} is a folder; give a file name ending in .mp4")
        previous = torch.get_num_threads()
        torch.set_num_threads(render_threads(self.config))
        try:
            world = open_source(
                self.source, self.config, depth=self.depth, mask=self.mask, **backends
            )
            torch.set_num_threads(render_threads(world.config))  # a saved world's own
            segments = path_for(world, self.path, self.rate)
            if on_start is not None:
                on_start(world, segments)
            return render(
                world,
                segments,
                self.out,
                fps=self.rate,
                save_world=self.save_world,
                on_event=on_event,
                cancel=cancel,
                frames_dir=self.frames,
                ply=self.ply,
            )
        finally:
            torch.set_num_threads(previous)


def render_threads(config: WorldConfig) -> int:
    """Torch threads of a render job: the config's `threads`, else one per CPU core."""
    return config.threads or os.cpu_count() or 1


def load_path_file(path_file: str, notes: list[str] | None = None):
    """A --path file, read once: a CameraPath (the project's or nerfstudio's JSON) or a
    pose list (segments of poses); a clear error for anything else. A nerfstudio file's
    variant (one line) and repairs are appended to `notes` when given."""
    from engine import io
    from engine import path as camera_path

    data = io.read_json(path_file, "path file")
    if camera_path.is_camera_path(data):
        return camera_path.from_dict(data, str(path_file), notes)
    return io.poses_from_data(data, path_file)


def path_for(world: World, path=None, fps: float | None = None) -> list[list]:
    """The segments to render: a pose list as it is, a CameraPath sampled at fps (default
    its own) into Cameras, config.frames_per_segment a segment, or (None) the default path
    from the world's seed camera."""
    from engine.path import CameraPath

    if path is None:
        assert world.camera is not None  # the world to render is seeded
        return default_path(world.camera.pose, frames=world.config.frames_per_segment)
    if isinstance(path, CameraPath):
        cfg = world.config
        cameras = path.sample(fps, cfg.width, cfg.height)
        n = cfg.frames_per_segment
        return [cameras[i : i + n] for i in range(0, len(cameras), n)]
    return path


class ProgressBar:
    """One line on stderr, redrawn in place: segment, frame and step of the frame."""

    def __init__(self, total_frames: int, stream=None):
        self.total = total_frames
        self.done = 0
        self.stream = sys.stderr if stream is None else stream
        self.t0 = time.perf_counter()

    def __call__(self, event: WorldEvent) -> None:
        if event.kind == "frame":
            self.done += 1
        if not self.stream.isatty():  # a log: one line per segment, no redrawing
            if event.kind == "segment":
                rate = (time.perf_counter() - self.t0) / max(1, self.done)
                self.stream.write(
                    f"segment {event.segment}: {self.done}/{self.total} frames, "
                    f"{rate:.2f} s/frame so far\n"
                )
                self.stream.flush()
            return
        width = 30
        filled = int(width * self.done / max(1, self.total))
        elapsed = time.perf_counter() - self.t0
        rate = elapsed / self.done if self.done else 0.0
        step = f" step {event.step}/{event.steps}" if event.kind == "progress" else ""
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} frames, "
            f"segment {event.segment}, {rate:.2f} s/frame{step}   "
        )
        self.stream.flush()

    def finish(self) -> None:
        if self.stream.isatty():
            self.stream.write("\n")
        self.stream.flush()
