"""Files: world save / load.

A saved world is a folder (by convention named `*.lsworld`) holding

    world.json           {"format": "latentscape.world", "version": 1, "config": WorldConfig
                          (its `memory` names the memory's kind, "latent" or "rgb"; older
                          saves without it are "latent"),
                          "camera": the seed camera, "segments": n, "trajectory": [4x4, ...],
                          "segment_ends": the trajectory's length after each segment
                          (absent in older saves: every frames_per_segment poses),
                          "codec": {"name", "channels", "factor"}}
    memory.safetensors   the memory, in its kind's own format (SceneMemory.save:
                         engine/memory/latent.py, engine/memory/rgb.py)
    state.safetensors    seed_latent (C, h, w) float32 and recent (k, C, h, w) float32: what the
                         generator copies from, so a loaded world goes on exactly as the saved
                         one would have; seed_depth (h, w) float32, the seed tokens' depth
                         that the layout is fitted to (absent in older saves: the layout is
                         then fitted to the memory seen from the seed camera)
    thumbnail.png        the seed frame, decoded

Saving is atomic: everything is written into a temporary folder beside the target, which then
replaces the target by renames (engine.files.replace_folder); a crash at any point leaves
either the old world or the new one, never a mixture. A process killed between those renames
leaves the old world set aside beside the target (`.<name>.old`), where load_world reads it;
the temporary folders of saves killed halfway are removed by the next save that ends.
Loading checks the format, the version, the codec's shape and every array's shape and dtype,
and refuses a bad folder with a message that names the problem.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from engine.camera import OPENCV_TO_OPENGL, Camera
from engine.files import (
    atomic_write,
    folder_to_read,
    leftovers_beside,
    public,
    replace_folder,
    temporary_beside,
)
from engine.memory import load_memory
from engine.memory.latent import LatentMemory
from engine.world import World, WorldConfig

WORLD_FORMAT = "latentscape.world"
WORLD_VERSION = 1


def save_world(world: World, path: str | os.PathLike) -> Path:
    """Write `world` to the folder `path` atomically (see the module docstring). A write
    that fails (a full disk, a read-only folder) raises an OSError that says so by the
    folder's name (cannot_save) and leaves `path` and `world` as they were."""
    from safetensors.torch import save_file

    from engine.images import save_png_atomic

    if world.camera is None or world.seed_latent is None:
        raise ValueError("this world has no seed yet: there is nothing to save")
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    except OSError as e:
        raise cannot_save(path, e) from e
    try:
        header = {
            "format": WORLD_FORMAT,
            "version": WORLD_VERSION,
            "config": world.config.to_dict(),
            "camera": world.camera.to_dict(),
            "segments": world.segments,
            "trajectory": [p.tolist() for p in world.trajectory],
            "segment_ends": list(world.segment_ends),
            "codec": {
                "name": world.codec.name,
                "channels": world.codec.channels,
                "factor": world.codec.factor,
            },
        }
        (tmp / "world.json").write_text(json.dumps(header, indent=1) + "\n")
        world.memory.save(tmp / "memory.safetensors")
        c, h, w = world.seed_latent.shape
        recent = torch.stack(world.recent) if world.recent else torch.zeros(0, c, h, w)
        state = {"seed_latent": world.seed_latent.contiguous(), "recent": recent.contiguous()}
        if world.seed_depth is not None:
            state["seed_depth"] = world.seed_depth.float().contiguous()
        save_file(state, str(tmp / "state.safetensors"))
        save_png_atomic(tmp / "thumbnail.png", world.codec.decode(world.seed_latent[None])[0])
        public(tmp, folder=True)
        for file in tmp.iterdir():
            public(file)
        replace_folder(tmp, path)
        for stale in leftovers_beside(path):  # of saves killed halfway (never this one's)
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise cannot_save(path, e) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


WRITE_PROBLEMS = {
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "it is on a read-only file system",
    errno.EACCES: "it is read-only (permission denied)",
    errno.EPERM: "it is read-only (operation not permitted)",
    errno.EEXIST: "a file stands where a folder should be",
    errno.ENOTDIR: "a file stands where a folder should be",
}
"""What a failed write means for the user, by errno."""


def cannot_save(path: Path, e: OSError) -> OSError:
    """The error of a save to `path` that failed with e: of e's kind and errno, with a
    message that names the folder, the problem and what became of the world there."""
    problem = WRITE_PROBLEMS.get(e.errno or 0) or e.strerror or str(e)
    saved = folder_to_read(path).is_dir()
    kept = "the world saved there before is unchanged" if saved else "nothing was written"
    folder = path.parent if str(path.parent) else Path(".")
    message = f"cannot write to the folder {folder.resolve()}: {problem}; {kept}"
    kind = type(e) if type(e).__module__ == "builtins" else OSError
    error = kind(message)
    error.errno = e.errno
    return error


def load_world(path: str | os.PathLike, *, codec=None, depth=None, generator=None) -> World:
    """Read a folder written by save_world. Backends are made from the saved config's names
    unless given (they must match the saved codec's channels and factor)."""
    from safetensors import SafetensorError, safe_open

    wanted = Path(path)
    path = folder_to_read(wanted)  # a save killed halfway left the previous world aside
    if not path.is_dir():
        raise FileNotFoundError(f"no saved world at {wanted} (expected a folder with world.json)")
    meta_path = path / "world.json"
    try:
        header = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} is not a saved world: world.json is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"{meta_path} is damaged (not JSON: {e})") from None
    if not isinstance(header, dict) or header.get("format") != WORLD_FORMAT:
        raise ValueError(f"{meta_path} is not a Latentscape world file")
    version = header.get("version")
    if version != WORLD_VERSION:
        newer = isinstance(version, int) and version > WORLD_VERSION
        hint = " (saved by a newer Latentscape: update to open it)" if newer else ""
        raise ValueError(
            f"{meta_path} has world format version {version!r}; this program reads version "
            f"{WORLD_VERSION}{hint}"
        )
    try:
        config = WorldConfig.from_dict(header["config"])
        camera = Camera.from_dict(header["camera"])
        segments = int(header["segments"])
        trajectory = [torch.tensor(p, dtype=torch.float64) for p in header["trajectory"]]
        ends = header.get("segment_ends")
        if ends is None:  # saved before they were recorded: segments of the configured length
            n = int(header["config"].get("frames_per_segment", 8))
            ends = [min(1 + k * n, len(trajectory)) for k in range(1, segments + 1)]
        ends = [int(e) for e in ends]
        saved_codec = header["codec"]
        channels, factor = int(saved_codec["channels"]), int(saved_codec["factor"])
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"{meta_path}: incomplete or invalid world header ({e})") from None
    if not trajectory or any(
        p.shape != (4, 4) or not bool(torch.isfinite(p).all()) for p in trajectory
    ):
        raise ValueError(f"{meta_path}: the trajectory must be finite 4x4 poses")

    try:
        world = World(config, codec=codec, depth=depth, generator=generator)
    except ValueError as e:  # a backend the saved config names cannot be made here
        raise ValueError(f"{meta_path}: {e}") from None
    if (world.codec.channels, world.codec.factor) != (channels, factor):
        raise ValueError(
            f"{path} was saved with a codec of {channels} channels and factor {factor}; "
            f"the codec here ({world.codec.name}) has {world.codec.channels} and "
            f"{world.codec.factor}"
        )
    memory = load_memory(config.memory, path / "memory.safetensors", world.codec)
    if memory.channels != channels:
        raise ValueError(f"{path}: the memory has {memory.channels} channels, not {channels}")
    lw, lh = world.latent_size
    state_path = path / "state.safetensors"
    try:
        with safe_open(str(state_path), framework="pt") as f:
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{state_path} is missing or damaged: {e}") from None
    seed_latent, recent = arrays.get("seed_latent"), arrays.get("recent")
    for name, array, shape in (
        ("seed_latent", seed_latent, (channels, lh, lw)),
        ("recent", recent, (channels, lh, lw)),
    ):
        if array is None or array.dtype != torch.float32:
            raise ValueError(f"{state_path}: array {name!r} is missing or not float32")
        got = tuple(array.shape if name == "seed_latent" else array.shape[1:])
        if got != shape or (name == "recent" and array.ndim != 4):
            raise ValueError(f"{state_path}: array {name!r} has shape {tuple(array.shape)}")
        if not bool(torch.isfinite(array).all()):
            raise ValueError(f"{state_path}: array {name!r} has NaN or infinite values")
    assert recent is not None  # checked in the loop above
    seed_depth = arrays.get("seed_depth")  # absent in worlds saved before the layout
    if seed_depth is not None and (
        seed_depth.dtype != torch.float32
        or tuple(seed_depth.shape) != (lh, lw)
        or bool(torch.isnan(seed_depth).any() | (seed_depth < 0).any())
    ):
        raise ValueError(
            f"{state_path}: array 'seed_depth' must be ({lh}, {lw}) float32 without NaN or "
            f"negative values, got {seed_depth.dtype} {tuple(seed_depth.shape)}"
        )
    if (camera.width, camera.height) != (config.width, config.height):
        raise ValueError(f"{meta_path}: the camera's size does not match the config's")
    if len(ends) != segments or any(
        not 1 <= a <= b <= len(trajectory) for a, b in zip([1, *ends], ends)
    ):
        raise ValueError(
            f"{meta_path}: segment_ends must be {segments} rising trajectory lengths up to "
            f"{len(trajectory)}, got {ends}"
        )
    world.memory = memory
    world.camera = camera
    world.seed_latent = seed_latent
    world.seed_depth = seed_depth
    world.recent = list(recent)
    world.segments = segments
    world.trajectory = trajectory
    world.segment_ends = ends
    return world


# --------------------------------------------------------------------------- video


class VideoWriter:
    """MP4 (H.264, yuv420p) written with PyAV to a temporary file beside `path`.

    close() moves it over `path` (an existing file there is replaced only then, never
    half-overwritten); abort() keeps what was written as `<stem>.partial.mp4` and returns
    that path (None when no frame was written). Use as a context manager: an exception
    inside the block aborts."""

    def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int):
        try:
            import av
        except ImportError:
            raise ValueError("video export needs PyAV: pip install av") from None
        if width % 2 or height % 2:
            raise ValueError(f"video width and height must be even, got {width}x{height}")
        self.path = Path(path)
        self.tmp = temporary_beside(self.path)  # renamed over path by close()
        self.frames = 0
        self.size = (width, height)
        self.container = av.open(str(self.tmp), mode="w", format="mp4")
        from fractions import Fraction

        self.stream = self.container.add_stream(
            "libx264", rate=Fraction(fps).limit_denominator(1001)
        )
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": "18", "preset": "veryfast"}

    def write(self, rgb: torch.Tensor) -> None:
        """rgb (3, H, W) float in [0, 1]."""
        import av

        if tuple(rgb.shape) != (3, self.size[1], self.size[0]):
            raise ValueError(f"frame of shape {tuple(rgb.shape)}, the video is {self.size}")
        array = (rgb.detach().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).contiguous()
        frame = av.VideoFrame.from_ndarray(array.numpy(), format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def _finish(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()

    def close(self) -> Path:
        self._finish()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> Path | None:
        try:
            self._finish()
        except Exception:
            self.frames = 0
        if self.frames == 0:
            self.tmp.unlink(missing_ok=True)
            return None
        partial = self.path.with_name(self.path.stem + ".partial.mp4")
        os.replace(self.tmp, partial)
        return partial

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is None:
            self.close()
        else:
            self.partial = self.abort()


def read_video_info(path: str | os.PathLike) -> tuple[int, int, int]:
    """(frames, width, height) of a video, by decoding every frame (tests, checks)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        n = sum(1 for _ in container.decode(stream))
        return n, stream.width, stream.height


# --------------------------------------------------------------------------- poses


def read_json(path: str | os.PathLike, what: str = "file"):
    """A JSON file, parsed; FileNotFoundError "no {what} at ..." or ValueError "... is not
    valid JSON" with the reason."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no {what} at {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None
    except RecursionError:
        raise ValueError(f"{path} is not valid JSON (nested too deep)") from None


def load_poses(path: str | os.PathLike) -> list[list[torch.Tensor]]:
    """A pose list file: {"format": "latentscape.poses", "version": 1, "segments":
    [[pose, ...], ...]} with each pose a camera-to-world 4x4 (OpenCV axes), or
    {"poses": [...]} for one segment. Every pose is checked (finite, rigid)."""
    return poses_from_data(read_json(path, "path file"), path)


def poses_from_data(data, path: str | os.PathLike) -> list[list[torch.Tensor]]:
    """The pose list of load_poses from its parsed JSON (path: for the messages)."""
    from engine.camera import as_pose

    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with 'segments' or 'poses'")
    version = data.get("version", 1)
    if version != 1:
        raise ValueError(f"{path}: pose file version {version!r}; this program reads version 1")
    segments = data.get("segments")
    if segments is None and "poses" in data:
        segments = [data["poses"]]
    if (
        not isinstance(segments, list)
        or not segments
        or not all(isinstance(s, list) and s for s in segments)
    ):
        raise ValueError(f"{path}: no poses (expected non-empty 'segments' or 'poses' lists)")
    out = []
    for i, seg in enumerate(segments):
        poses = []
        for j, pose in enumerate(seg):
            try:
                poses.append(as_pose(pose))
            except ValueError as e:
                raise ValueError(f"{path}: segment {i + 1}, pose {j + 1}: {e}") from None
        out.append(poses)
    return out


def save_poses(path: str | os.PathLike, segments: list[list[torch.Tensor]]) -> None:
    """Write the pose list format of load_poses, atomically."""
    path = Path(path)
    payload = {
        "format": "latentscape.poses",
        "version": 1,
        "segments": [[torch.as_tensor(p).tolist() for p in seg] for seg in segments],
    }
    atomic_write(path, (json.dumps(payload) + "\n").encode())


# --------------------------------------------------------------------------- exports


def entry_colours(memory: LatentMemory, codec, batch: int = 4096) -> tuple[torch.Tensor, ...]:
    """(xyz (N, 3) float32, rgb (N, 3) uint8) of every memory entry: each latent decoded
    alone (a 1x1 latent -> one factor x factor patch) and averaged to one colour."""
    n = len(memory)
    xyz, rgb = [], []
    for a in range(0, n, batch):
        e = memory.entries(torch.arange(a, min(n, a + batch)))
        patch = codec.decode(e["latent"].float()[:, :, None, None])  # (b, 3, f, f)
        rgb.append((patch.mean(dim=(2, 3)).clamp(0, 1) * 255).round().to(torch.uint8))
        xyz.append(e["xyz"].float().cpu())  # the memory may live on a GPU
    if not xyz:
        return torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.uint8)
    return torch.cat(xyz), torch.cat(rgb)


def export_ply(memory: LatentMemory, codec, path: str | os.PathLike) -> int:
    """The memory as a binary little-endian PLY point cloud (x y z float, red green blue
    uchar), colours decoded by `codec`; written atomically. Returns the number of points."""
    import numpy as np

    xyz, rgb = entry_colours(memory, codec)
    n = xyz.shape[0]
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment Latentscape latent memory\n"
        f"element vertex {n}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    rows = np.zeros(n, dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3)])
    rows["xyz"], rows["rgb"] = xyz.numpy(), rgb.numpy()
    atomic_write(Path(path), header.encode("ascii") + rows.tobytes())
    return n


def read_ply(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Read back a PLY written by export_ply: (xyz (N, 3), rgb (N, 3) uint8)."""
    import numpy as np

    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    n = int(
        next(line for line in data[:end].decode().splitlines() if "element vertex" in line).split()[
            -1
        ]
    )
    rows = np.frombuffer(data[end:], dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3)], count=n)
    return torch.from_numpy(rows["xyz"].copy()), torch.from_numpy(rows["rgb"].copy())


def export_frames(folder: str | os.PathLike, frames: torch.Tensor, cameras: list[Camera]) -> Path:
    """Frames (T, 3, H, W) with their cameras, for tools that train 3D Gaussian splats:

    folder/images/frame_00001.png ...
    folder/transforms.json      nerfstudio: fl_x fl_y cx cy w h, camera_model OPENCV, and
                                per frame file_path + transform_matrix (camera-to-world,
                                OpenGL axes)
    folder/sparse/0/cameras.txt, images.txt, points3D.txt   COLMAP text: one PINHOLE camera
                                per distinct intrinsics, world-to-camera poses as
                                qw qx qy qz tx ty tz (OpenCV axes), no points
    Each file is written atomically; the folder may already exist."""
    from engine.images import save_png_atomic

    if frames.ndim != 4 or frames.shape[0] != len(cameras):
        raise ValueError(
            f"export_frames needs frames (T, 3, H, W) and T cameras, got "
            f"{tuple(frames.shape)} and {len(cameras)} cameras"
        )
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "sparse" / "0").mkdir(parents=True, exist_ok=True)
    names = [f"frame_{i + 1:05d}.png" for i in range(len(cameras))]
    for name, frame in zip(names, frames):
        save_png_atomic(folder / "images" / name, frame)
    first = cameras[0]
    transforms = {
        "camera_model": "OPENCV",
        "fl_x": first.fx,
        "fl_y": first.fy,
        "cx": first.cx,
        "cy": first.cy,
        "w": first.width,
        "h": first.height,
        "k1": 0.0,
        "k2": 0.0,
        "p1": 0.0,
        "p2": 0.0,
        "frames": [
            {
                "file_path": f"images/{name}",
                "transform_matrix": (cam.pose @ OPENCV_TO_OPENGL).tolist(),
                "fl_x": cam.fx,
                "fl_y": cam.fy,
                "cx": cam.cx,
                "cy": cam.cy,
                "w": cam.width,
                "h": cam.height,
            }
            for name, cam in zip(names, cameras)
        ],
    }
    atomic_write(folder / "transforms.json", (json.dumps(transforms, indent=1) + "\n").encode())
    intrinsics: dict[tuple, int] = {}
    image_lines = ["# IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME", "# (world-to-camera)"]
    for i, (name, cam) in enumerate(zip(names, cameras), start=1):
        key = (cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy)
        cam_id = intrinsics.setdefault(key, len(intrinsics) + 1)
        w2c = cam.world_to_camera
        q = rotation_to_quaternion(w2c[:3, :3])
        t = w2c[:3, 3]
        values = " ".join(repr(float(v)) for v in (*q.tolist(), *t.tolist()))
        image_lines += [f"{i} {values} {cam_id} {name}", ""]
    camera_lines = ["# CAMERA_ID MODEL WIDTH HEIGHT PARAMS[fx fy cx cy]"]
    for (w, h, fx, fy, cx, cy), cam_id in intrinsics.items():
        camera_lines.append(f"{cam_id} PINHOLE {w} {h} {fx!r} {fy!r} {cx!r} {cy!r}")
    sparse = folder / "sparse" / "0"
    atomic_write(sparse / "cameras.txt", ("\n".join(camera_lines) + "\n").encode())
    atomic_write(sparse / "images.txt", ("\n".join(image_lines) + "\n").encode())
    atomic_write(sparse / "points3D.txt", b"# 3D point list: empty\n")
    return folder


def quaternion_to_rotation(q) -> torch.Tensor:
    """(4,) quaternion (w, x, y, z) (COLMAP's order), normalised here -> (3, 3) rotation: the
    inverse of rotation_to_quaternion."""
    from scipy.spatial.transform import Rotation

    w, x, y, z = torch.as_tensor(q, dtype=torch.float64).tolist()
    return torch.from_numpy(Rotation.from_quat([x, y, z, w]).as_matrix())


def rotation_to_quaternion(r: torch.Tensor) -> torch.Tensor:
    """(3, 3) rotation -> (4,) unit quaternion (w, x, y, z) with w >= 0 (COLMAP's order)."""
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(r.double().numpy()).as_quat()
    q = torch.tensor([w, x, y, z], dtype=torch.float64)
    return -q if q[0] < 0 else q
