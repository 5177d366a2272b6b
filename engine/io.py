"""Files: world save / load.

A saved world is a folder (by convention named `*.lsworld`) holding

    world.json           {"format": "latentscape.world", "version": 1, "config": WorldConfig,
                          "camera": the seed camera, "segments": n, "trajectory": [4x4, ...],
                          "codec": {"name", "channels", "factor"}}
    memory.safetensors   the LatentMemory (its own format, engine/memory/latent.py)
    state.safetensors    seed_latent (C, h, w) float32 and recent (k, C, h, w) float32: what the
                         generator copies from, so a loaded world goes on exactly as the saved
                         one would have
    thumbnail.png        the seed frame, decoded

Saving is atomic: everything is written into a temporary folder beside the target, which then
replaces the target by renames; a crash at any point leaves either the old world or the new
one, never a mixture. Loading checks the format, the version, the codec's shape and every
array's shape and dtype, and refuses a bad folder with a message that names the problem.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from engine.camera import Camera
from engine.memory.latent import LatentMemory
from engine.world import World, WorldConfig

WORLD_FORMAT = "latentscape.world"
WORLD_VERSION = 1


def save_world(world: World, path: str | os.PathLike) -> Path:
    """Write `world` to the folder `path` atomically (see the module docstring)."""
    from safetensors.torch import save_file

    from engine.images import save_png_atomic

    if world.camera is None or world.seed_latent is None:
        raise ValueError("this world has no seed yet: there is nothing to save")
    if not isinstance(world.memory, LatentMemory):
        raise ValueError(
            "only worlds with the latent memory can be saved (memory='rgb' is the "
            "benchmark baseline)"
        )
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    try:
        header = {
            "format": WORLD_FORMAT,
            "version": WORLD_VERSION,
            "config": world.config.to_dict(),
            "camera": world.camera.to_dict(),
            "segments": world.segments,
            "trajectory": [p.tolist() for p in world.trajectory],
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
        save_file(state, str(tmp / "state.safetensors"))
        save_png_atomic(tmp / "thumbnail.png", world.codec.decode(world.seed_latent[None])[0])
        _replace_folder(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _replace_folder(new: Path, target: Path) -> None:
    """Put the folder `new` where `target` is, by renames only."""
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} exists and is not a world folder: not overwritten")
    if not target.exists():
        os.replace(new, target)
        return
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)  # put the previous world back
        raise
    shutil.rmtree(old, ignore_errors=True)


def load_world(path: str | os.PathLike, *, codec=None, depth=None, generator=None) -> World:
    """Read a folder written by save_world. Backends are made from the saved config's names
    unless given (they must match the saved codec's channels and factor)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no saved world at {path} (expected a folder with world.json)")
    meta_path = path / "world.json"
    try:
        header = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} is not a saved world: world.json is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
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
        saved_codec = header["codec"]
        channels, factor = int(saved_codec["channels"]), int(saved_codec["factor"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{meta_path}: incomplete or invalid world header ({e})") from None

    world = World(config, codec=codec, depth=depth, generator=generator)
    if (world.codec.channels, world.codec.factor) != (channels, factor):
        raise ValueError(
            f"{path} was saved with a codec of {channels} channels and factor {factor}; "
            f"the codec here ({world.codec.name}) has {world.codec.channels} and "
            f"{world.codec.factor}"
        )
    memory = LatentMemory.load(path / "memory.safetensors")
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
    if (camera.width, camera.height) != (config.width, config.height):
        raise ValueError(f"{meta_path}: the camera's size does not match the config's")
    world.memory = memory
    world.camera = camera
    world.seed_latent = seed_latent
    world.recent = list(recent)
    world.segments = segments
    world.trajectory = trajectory
    return world
