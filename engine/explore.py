"""Explorer: flying through a world, with no GUI. The app's engine thread runs one.

The app (app/bridge.py) is a thread and Qt signals around an Explorer: it posts commands
to the thread and turns the Explorer's reports (`Listener`) into signals. What to show,
when to generate and what the GUI is told all live here, testable without Qt:

- `move(pose, at, generating)`: the view at a pose is the memory's readout, decoded and
  reported (`Listener.frame`). When its holes cover more than `generate_threshold` of it,
  the state allows it (POLICY) and generation was on when the move was made, a segment is
  generated along the camera's motion, ahead of it: `frames_per_segment` poses from the
  pose to where the same motion would bring the camera `lookahead_s` seconds later
  (`ahead`: rotation and translation extrapolated, engine.camera.interpolate_pose).
- The state (`state`, one of STATES) changes only through TRANSITIONS, as nerfstudio's
  viewer drives its renderer: "viewing" (generation on, no segment being made), "paused"
  (generation off), "generating" (a segment being made), "cancelling" (a segment asked to
  stop: by `cancel`, or by pausing, which stops the segment being made). `set_generating`
  and `cancel` may be called from any thread, at once: a segment checks between frames.
- Every `autosave_every` segments, with `autosave` set, the world is saved (atomically, like
  every save) to that recovery folder; `save_recovery()` writes it on demand.
- `memory_map()`, `inspect(readout)` and `stats()` are the minimap's, the inspector's and
  the HUD's plain dataclasses and dicts (numpy, never tensors; engine/messages.py).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine.messages import Inspection, MemoryMap, ViewFrame, WorldInfo

if TYPE_CHECKING:
    from engine.memory.latent import Readout
    from engine.world import World, WorldConfig, WorldEvent

STATES = ("viewing", "paused", "generating", "cancelling")
TRANSITIONS = {
    ("viewing", "pause"): "paused",
    ("viewing", "start"): "generating",
    ("paused", "resume"): "viewing",
    ("generating", "done"): "viewing",
    ("generating", "cancel"): "cancelling",
    ("generating", "pause"): "cancelling",  # pausing stops the segment being made
    ("cancelling", "done"): "viewing",
}
"""(state, event) -> the next state; an event not listed for a state leaves it as it is (a
cancel while viewing, a resume while viewing). After a cancelled segment the state is
"viewing", then "paused" when generation is off (the Explorer fires "pause" at once)."""

POLICY = {"viewing": True, "paused": False, "generating": False, "cancelling": False}
"""Whether a move into the unknown generates, by state (moves wait while a segment runs)."""

PCA = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
"""A world's colour map for latents (_pca_basis): mean, basis, lo, hi."""

# What an RGB point memory holds per pixel point: float32 xyz + uint8 rgb
RGB_POINT_BYTES = 15


FAILED = {
    "open": "Could not open",
    "save": "Could not save the world",
    "undo": "Could not undo",
    "erase": "Could not erase",
    "move": "The engine failed while generating",
    "call": "Engine call failed",
}
"""What the user is told when a command fails, before the error's own message."""


def failure(kind: str, e: Exception) -> str:
    """The message for the user when the command `kind` failed with e."""
    return f"{FAILED.get(kind, 'Engine error')}: {e}"


def rgb_memory_bytes(entries: int, factor: int) -> int:
    """What an RGB point memory would hold for the surfaces of `entries` latent tokens:
    factor^2 pixel points per token, RGB_POINT_BYTES each."""
    return entries * factor * factor * RGB_POINT_BYTES


class Listener:
    """What an Explorer reports, one method per kind; these do nothing (override them)."""

    def opened(self, info: WorldInfo) -> None: ...
    def frame(self, frame: ViewFrame) -> None: ...
    def progress(self, done: int, total: int, what: str) -> None: ...
    def stats(self, stats: dict[str, Any]) -> None: ...
    def error(self, message: str) -> None: ...
    def busy(self, on: bool) -> None: ...
    def saved(self, path: str) -> None: ...
    def undone(self, what: str) -> None: ...
    def memory_map(self, memory_map: MemoryMap) -> None: ...
    def inspection(self, inspection: Inspection) -> None: ...
    def autosaved(self, path: str) -> None: ...


REPORTS = tuple(name for name in vars(Listener) if not name.startswith("_"))
"""The kinds of report, by name: Listener's methods."""


class Explorer:
    """A world being flown through (module docstring). Commands run on one thread (the
    engine's); `set_generating` and `cancel` from any."""

    def __init__(
        self,
        config: WorldConfig | None = None,
        listener: Listener | None = None,
        backends: dict[str, Any] | None = None,
        generate_threshold: float = 0.02,
        lookahead_s: float = 0.5,
        autosave: str | None = None,
        autosave_every: int = 3,
        map_resolution: int = 128,
    ) -> None:
        from engine.world import WorldConfig

        self.config = config or WorldConfig()
        self.listener = listener or Listener()
        self.backends = dict(backends or {})
        self.generate_threshold = generate_threshold
        self.lookahead_s = lookahead_s
        self.autosave = autosave  # folder of the recovery copy; None: no autosave
        self.autosave_every = autosave_every  # segments between two recovery copies; 0: none
        self.map_resolution = map_resolution
        self.world: World | None = None
        self.inspecting = False  # inspections of each view shown (the inspector is visible)
        self.unsaved = False  # the world changed since it was opened or saved
        self.generation_on = False
        self.state = "paused"  # STATES; changed by fire() only
        self.cancelled = threading.Event()  # the segment being made is to stop
        self._lock = threading.Lock()
        self._frames = 0
        self._last_pose: tuple[np.ndarray, float] | None = None
        self._pca: PCA | None = None  # (mean, basis, lo, hi) of the open world's latents

    # ---- the state

    def fire(self, event: str) -> str:
        """Apply an event to the state (TRANSITIONS); returns the new state."""
        with self._lock:
            self.state = TRANSITIONS.get((self.state, event), self.state)
            if self.state == "cancelling":
                self.cancelled.set()
            return self.state

    def set_generating(self, on: bool) -> None:
        """Generation on or off, at once (any thread); off also stops the segment being
        made."""
        self.generation_on = bool(on)
        self.fire("resume" if on else "pause")

    def cancel(self) -> None:
        """Stop the segment being made (any thread); the world stays at its last segment."""
        self.cancelled.set()
        self.fire("cancel")

    # ---- commands (the engine thread)

    def run(self, kind: str, arg: Any = None) -> Any:
        """Run the command `kind` (a mailbox's letter, engine/mailbox.py) with its argument;
        what it returns ("call": fn(world)'s result)."""
        commands: dict[str, Callable[[Any], Any]] = {
            "move": lambda a: self.move(*a),
            "open": self.open,
            "save": self.save,
            "undo": lambda _: self.undo(),
            "recovery": lambda _: self.save_recovery(),
            "erase": lambda a: self.erase(*a),
            "inspecting": self.set_inspecting,
            "config": lambda config: setattr(self, "config", config),
            "call": lambda fn: fn(self.world),
        }
        return commands[kind](arg)

    def open(self, source: str) -> None:
        from engine.render import open_source

        self.cancelled.clear()
        world = open_source(
            source,
            self.config,
            on_stage=self.listener.progress,
            cancel=self.cancelled.is_set,
            **self.backends,
        )
        self.world = world
        self._last_pose = None
        cam, seed_latent = world.camera, world.seed_latent
        assert cam is not None and seed_latent is not None  # open_source seeds the world
        info = WorldInfo(
            source=source,
            width=cam.width,
            height=cam.height,
            K=cam.K.numpy().astype(np.float64),
            pose=cam.pose.numpy().astype(np.float64),
            up=(-cam.pose[:3, 1]).numpy().astype(np.float64),
            config=world.config.to_dict(),
            segments=world.segments,
            trajectory=np.stack([p.numpy() for p in world.trajectory]),
            ground=_ground(world),
            notes=list(world.notes),
        )
        self._pca = _pca_basis(seed_latent)
        self.unsaved = False
        self.listener.opened(info)
        self.show(cam.pose.numpy())
        self._changed(edit=False)

    def save(self, path: str) -> None:
        from engine.io import save_world

        world = self._need_world("save")
        out = save_world(world, Path(path))
        self.unsaved = False
        self.listener.saved(str(out))

    def undo(self) -> None:
        self.cancelled.clear()
        what = self._need_world("undo").undo()
        self.listener.undone(what)
        if self._last_pose is not None:
            self.show(self._last_pose[0])
        self._changed()

    def erase(self, points: np.ndarray, radius: float) -> None:
        self.cancelled.clear()
        removed = self._need_world("erase").erase_ground(points, radius)
        self.listener.progress(0, 0, f"erased {removed:,} memory entries")
        if removed:
            if self._last_pose is not None:
                self.show(self._last_pose[0])
            self._changed()

    def set_inspecting(self, on: bool) -> None:
        """Inspections of each view shown, or not; turned on, the current view at once."""
        self.inspecting = on
        if on and self.world is not None:
            camera = self.world.camera
            assert camera is not None  # an open world is seeded
            pose = self._last_pose[0] if self._last_pose else camera.pose
            self.show(np.asarray(pose))

    def save_recovery(self) -> None:
        """The recovery copy now, when the world has unsaved changes and autosave is set."""
        if self.world is not None and self.unsaved and self.autosave:
            self._autosave()

    def move(self, pose: np.ndarray, at: float, generating: bool = True) -> None:
        """The camera is at pose (4, 4) at time `at` (seconds, monotonic); `generating`:
        whether generation was on when the move was made (module docstring)."""
        world = self.world
        if world is None:
            return
        previous, self._last_pose = self._last_pose, (pose, at)
        r = self.show(pose)
        holes = 1.0 - float(r.known.float().mean())
        if not (generating and POLICY[self.state]) or holes <= self.generate_threshold:
            return
        self.generate(self.ahead(previous, pose, at))

    def ahead(
        self, previous: tuple[np.ndarray, float] | None, pose: np.ndarray, at: float
    ) -> list[np.ndarray]:
        """Poses of a segment from `pose` along the latest motion (from `previous`, a
        (pose, time) or None), lookahead_s ahead; [pose] when standing still."""
        from engine.camera import interpolate_pose

        n = self.config.frames_per_segment
        if previous is None or np.allclose(previous[0], pose, atol=1e-9):
            return [pose]
        dt = max(at - previous[1], 1.0 / 120.0)
        steps = self.lookahead_s / dt  # how many of the latest motions fit in the lookahead
        return [
            interpolate_pose(pose, interpolate_pose(previous[0], pose, 1.0 + steps), k / n)
            .numpy()
            .copy()
            for k in range(1, n + 1)
        ]

    def generate(self, poses: list[np.ndarray]) -> None:
        """One segment along poses, reported frame by frame; then the view again."""
        from engine.world import WorldCancelled

        world = self._need_world("generate")
        self.cancelled.clear()  # a cancel from before this segment
        if self.fire("start") != "generating":  # paused while this segment was decided
            return
        self.listener.busy(True)
        before = world.segments
        try:
            world.segment(poses, on_event=self._on_event, cancel=self.cancelled.is_set)
        except WorldCancelled as e:
            self.listener.progress(0, 0, str(e))
        except Exception:  # the caller reports it (app/bridge.py: once, by its message)
            self._show_again()  # the world as it was: the failed segment's frames are void
            raise
        finally:
            self.fire("done")
            if not self.generation_on:
                self.fire("pause")  # paused while it was made
            self.listener.busy(False)
            self._changed(edit=world.segments != before)
        if self._last_pose is not None:
            self.show(self._last_pose[0])
        if self.autosave and self.autosave_every and world.segments % self.autosave_every == 0:
            self._autosave()

    def _show_again(self) -> None:
        """The view at the latest pose again, after a segment that failed and took its
        frames (already shown) with it; a view that fails as well is left to the segment's
        error."""
        if self._last_pose is not None:
            with contextlib.suppress(Exception):
                self.show(self._last_pose[0])

    def show(self, pose: np.ndarray | torch.Tensor) -> Readout:
        """Report the memory's view at pose (and its inspection when inspecting); returns
        the readout."""
        from engine.world import fill_cracks

        world = self._need_world("show")
        rgb, r = world.view(pose)
        # what is shown: the cracks that World.view closed count as known, as in a segment
        _, shown, depth = fill_cracks(r.latent, r.known, r.depth)
        depth = depth.masked_fill(~shown, 0.0)
        self._frame(rgb, depth, ~shown, world.camera_at(pose).pose, 0)
        if self.inspecting:
            inspection = self.inspect(r)
            if inspection is not None:
                self.listener.inspection(inspection)
        return r

    # ---- what the GUI is told

    def memory_map(self) -> MemoryMap:
        """The memory seen from above, the path flown and where segments ended."""
        world = self._need_world("map")
        memory = world.memory
        occ = memory.occupancy(self.map_resolution)
        positions = torch.stack(world.trajectory)[:, :3, 3]
        keys = torch.stack(world.segment_poses)[:, :3, 3]
        frame = memory.frame
        assert frame is not None  # set by the seed's write
        return MemoryMap(
            count=occ.count.cpu().numpy(),  # the memory may live on a GPU
            segment=occ.segment.cpu().numpy(),
            extent=occ.extent,
            current=world.segments,
            trajectory=frame.to_ground(positions).numpy(),
            keyframes=frame.to_ground(keys).numpy(),
        )

    def inspect(self, r: Readout) -> Inspection | None:
        """What the memory holds in a readout's view; None for a memory without entries to
        inspect (the RGB baseline)."""
        from engine.memory.latent import LatentMemory

        world = self._need_world("inspect")
        memory = world.memory
        if not isinstance(memory, LatentMemory) or self._pca is None:
            return None
        h, w = r.known.shape
        geometry = r.ids >= 0
        age = torch.full((h, w), -1, dtype=torch.int64)
        if bool(geometry.any()):
            age[geometry] = memory.entries(r.ids[geometry])["age"].cpu()
        summary = memory.summary()
        summary["rgb_bytes"] = rgb_memory_bytes(summary["entries"], world.codec.factor)
        by_segment = memory.counts_by_segment()
        segments = sorted(by_segment)
        entries = np.cumsum([by_segment[k] for k in segments]).astype(np.float64)
        per_entry = summary["bytes"] / max(1, summary["entries"])
        dynamic = world.dynamic
        return Inspection(
            pca=_pca_colours(r.latent, r.known, self._pca),
            known=r.known.numpy(),
            age=age.numpy(),
            depth=r.depth.float().numpy(),
            dynamic=None if dynamic is None else dynamic.numpy(),
            summary=summary,
            growth=np.stack(
                [np.asarray(segments, np.float64), entries, entries * per_entry], 1
            ).reshape(-1, 3),
        )

    def stats(self) -> dict[str, Any]:
        """The HUD's figures: entries, bytes, what an RGB memory would need, segments."""
        world = self._need_world("stats")
        entries = len(world.memory)
        return {
            "entries": entries,
            "bytes": world.memory.nbytes,
            "rgb_bytes": rgb_memory_bytes(entries, world.codec.factor),
            "segments": world.segments,
            "can_undo": world.can_undo,
            "unsaved": self.unsaved,
            "backend": f"{world.config.codec} / {world.config.generator}",
        }

    # ---- pieces

    def _need_world(self, what: str) -> World:
        if self.world is None:
            raise RuntimeError(f"there is no world to {what}: open a photo or a scene first")
        return self.world

    def _on_event(self, e: WorldEvent) -> None:
        if e.kind == "progress":
            done = e.frame * e.steps + e.step
            self.listener.progress(done, e.frames * e.steps, f"segment {e.segment}")
        elif e.kind == "frame":
            assert e.rgb is not None and e.depth is not None and e.known is not None
            assert e.camera is not None  # a "frame" event carries all four
            self._frame(e.rgb, e.depth, ~e.known, e.camera.pose, e.segment)
            self.listener.memory_map(self.memory_map())

    def _frame(
        self,
        rgb: torch.Tensor,
        depth: torch.Tensor,
        holes: torch.Tensor,
        pose: torch.Tensor,
        segment: int,
    ) -> None:
        camera = self._need_world("show").camera
        assert camera is not None  # an open world is seeded
        self._frames += 1
        image = (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8)
        self.listener.frame(
            ViewFrame(
                rgb=image.permute(1, 2, 0).contiguous().numpy(),
                depth=depth.float().numpy(),
                holes=holes.numpy(),
                K=camera.K.numpy(),
                pose=np.asarray(pose, dtype=np.float64),
                segment=segment,
                index=self._frames,
            )
        )

    def _changed(self, edit: bool = True) -> None:
        """The memory changed (edit: by the user, so it is unsaved): stats and the map."""
        self.unsaved |= edit
        if self.world is not None:
            self.listener.stats(self.stats())
            self.listener.memory_map(self.memory_map())

    def _autosave(self) -> None:
        """A recovery copy of the world; a failure is reported and generation goes on."""
        from engine.io import save_world

        assert self.autosave is not None  # the callers check it
        try:
            out = save_world(self._need_world("save"), Path(self.autosave))
        except Exception as e:
            self.listener.error(f"Could not write the recovery copy to {self.autosave}: {e}")
            return
        self.listener.autosaved(str(out))


def _ground(world: World) -> np.ndarray:
    """The ground frame (4, 3): origin, right, forward, up."""
    from engine.memory.latent import GroundFrame

    assert world.camera is not None  # an open world is seeded
    frame = world.memory.frame or GroundFrame.from_camera(world.camera)
    return np.stack([getattr(frame, k).numpy() for k in ("origin", "right", "forward", "up")])


def _pca_basis(latent: torch.Tensor) -> PCA:
    """The first three principal directions of a latent (C, h, w) over its tokens, and the
    2nd-98th percentile range of each projection: a fixed colour map for one world, so the
    same token shows the same colour from every view."""
    x = latent.reshape(latent.shape[0], -1).T.double()  # (tokens, C)
    mean = x.mean(0)
    _, _, v = torch.linalg.svd(x - mean, full_matrices=False)
    basis = v[:3].T  # (C, <=3)
    if basis.shape[1] < 3:  # fewer than 3 channels: repeat the last component
        basis = torch.cat([basis, basis[:, -1:].expand(-1, 3 - basis.shape[1])], 1)
    proj = (x - mean) @ basis
    lo, hi = torch.quantile(proj, 0.02, dim=0), torch.quantile(proj, 0.98, dim=0)
    return mean, basis, lo, torch.maximum(hi, lo + 1e-6)


def _pca_colours(latent: torch.Tensor, known: torch.Tensor, pca: PCA) -> np.ndarray:
    mean, basis, lo, hi = pca
    c, h, w = latent.shape
    proj = (latent.reshape(c, -1).T.double() - mean) @ basis
    rgb = ((proj - lo) / (hi - lo)).clamp(0, 1) * 255 + 0.5
    rgb = rgb.to(torch.uint8).reshape(h, w, 3)
    rgb[~known] = 0
    return rgb.numpy()
