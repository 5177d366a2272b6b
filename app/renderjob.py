"""Render... in the app: the same job as `latentscape render`, in the background.

The explored world belongs to the engine thread (app/bridge.py) and keeps changing while
the user flies on, so a render starts from a snapshot: the engine thread saves the world
as it is (engine.io.save_world, the format `latentscape render` reads) and the camera path
is written as the project's JSON. A `RenderRunner` thread then runs `engine.render.RenderJob`
on them, exactly what `latentscape render SNAPSHOT --path PATH.json --out OUT.mp4` runs,
so the two give the same video bit for bit (tests/app/test_renderjob.py compares them).
With `keep` the snapshot and the path stay beside the video (`<stem>.lsworld`,
`<stem>.path.json`) and the log shows the command that renders them again; otherwise they
live in a temporary folder removed at the end.

Progress comes as signals (frames done of the total, per denoising step); `cancel` stops
between steps and keeps the frames done as `<stem>.partial.mp4`, like Ctrl+C in the CLI.
The thread runs at the engine thread's lower priority, so flying stays smooth meanwhile.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.bridge import ENGINE_NICE, lower_priority


@dataclass
class RenderPlan:
    """Where a render from the app puts things (see the module docstring)."""

    out: Path  # the video
    world: Path  # the world snapshot
    path: Path  # the camera path, the project's JSON
    frames: Path | None = None  # also the frames with nerfstudio / COLMAP cameras
    temporary: Path | None = None  # a folder to remove when done (snapshot not kept)

    @classmethod
    def beside(cls, out, keep: bool = True, frames=None) -> RenderPlan:
        out = Path(out)
        if out.suffix.lower() != ".mp4":
            out = out.with_name(out.name + ".mp4")
        out.parent.mkdir(parents=True, exist_ok=True)
        if keep:
            folder, temporary = out.parent, None
        else:
            folder = temporary = Path(tempfile.mkdtemp(prefix=".render-", dir=out.parent))
        return cls(
            out=out,
            world=folder / f"{out.stem}.lsworld",
            path=folder / f"{out.stem}.path.json",
            frames=Path(frames) if frames else None,
            temporary=temporary,
        )

    def command(self, fps: float | None = None) -> str:
        """The `latentscape render` command line of the same job."""
        args = ["latentscape", "render", str(self.world), "--path", str(self.path)]
        args += ["--out", str(self.out)]
        if fps is not None:
            args += ["--fps", f"{fps:g}"]
        if self.frames is not None:
            args += ["--frames", str(self.frames)]
        return shlex.join(args)


class RenderRunner(QObject):
    """Renders a camera path from a snapshot of the bridge's world; one render at a time."""

    started = Signal(int, str)  # total frames, what is rendered
    progress = Signal(int, int, str)  # frames done, total, detail
    finished = Signal(object)  # engine.render.RenderResult (interrupted when cancelled)
    failed = Signal(str)  # a message; nothing was written over an existing video

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending = False  # a snapshot is being made on the engine thread
        self.plan: RenderPlan | None = None

    @property
    def running(self) -> bool:
        return self._pending or (self._thread is not None and self._thread.is_alive())

    def render(self, bridge, camera_path, plan: RenderPlan, fps: float | None = None) -> bool:
        """Snapshot the bridge's world and the path, then render them (in the background).
        False (and nothing started) while another render runs."""
        from engine.path import save_path

        if self.running:
            return False
        try:
            save_path(camera_path, plan.path)
        except (OSError, ValueError) as e:
            self._clean(plan)
            self.failed.emit(f"could not write the camera path to {plan.path}: {e}")
            return False
        self._pending, self.plan = True, plan
        self._cancel.clear()

        def snapshot(world) -> None:  # on the engine thread, between its commands
            from engine.io import save_world

            try:
                if world is None:
                    raise RuntimeError("there is no world to render: open a photo or a scene")
                if self._cancel.is_set():  # cancelled (or the window closed) before it began
                    raise RuntimeError("cancelled before it began")
                save_world(world, plan.world)
                self._start(plan, fps)
            except Exception as e:
                self._pending = False
                self._clean(plan)
                self.failed.emit(f"could not start the render: {e}")

        bridge.call(snapshot)
        return True

    def cancel(self) -> None:
        """Stop between denoising steps; the frames done are kept as a partial video."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the render ends (tests, closing the window); True when it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    # ---- the render thread

    def _start(self, plan: RenderPlan, fps: float | None) -> None:
        from engine.render import RenderJob, load_path_file

        job = RenderJob(
            source=str(plan.world),
            out=plan.out,
            path=load_path_file(plan.path),  # as the CLI reads it: the same poses, bit for bit
            fps=fps,
            frames=plan.frames,
        )
        self._thread = threading.Thread(
            target=self._work, args=(job, plan), name="latentscape-render", daemon=True
        )
        self._thread.start()
        self._pending = False

    def _work(self, job, plan: RenderPlan) -> None:
        lower_priority(ENGINE_NICE)
        state = {"done": 0, "total": 0}

        def start(world, segments) -> None:
            state["total"] = sum(len(s) for s in segments)
            cfg = world.config
            self.started.emit(
                state["total"], f"{state['total']} frames at {cfg.width}x{cfg.height}"
            )

        def event(e) -> None:
            if e.kind == "frame":
                state["done"] += 1
                self.progress.emit(state["done"], state["total"], f"segment {e.segment}")
            elif e.kind == "progress":
                detail = f"segment {e.segment}, step {e.step}/{e.steps}"
                self.progress.emit(state["done"], state["total"], detail)

        try:
            result = job.run(on_start=start, on_event=event, cancel=self._cancel.is_set)
        except Exception as e:
            traceback.print_exc()
            self._clean(plan)
            self.failed.emit(f"the render failed: {e}")
            return
        self._clean(plan)  # before the news: whoever hears it finds things as they end
        result.world = None  # its tensors stay on this thread and go with it
        self.finished.emit(result)

    @staticmethod
    def _clean(plan: RenderPlan) -> None:
        if plan.temporary is not None:
            shutil.rmtree(plan.temporary, ignore_errors=True)
