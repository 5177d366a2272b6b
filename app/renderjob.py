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

`RenderFlow` is Render... of the window: the checks (a world, a path, one render at a
time), the `RenderDialog`, the runner, the path dock's progress row, and a job of the app's
(app/jobs.py) that awaits the render's end, so the status bar shows it and can cancel it.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
)

from app.jobs import Jobs, first_signal, follow
from app.threads import BackgroundRunner


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


class RenderRunner(BackgroundRunner, QObject):
    """Renders a camera path from a snapshot of the bridge's world; one render at a time."""

    started = Signal(int, str)  # total frames, what is rendered
    progress = Signal(int, int, str)  # frames done, total, detail
    finished = Signal(object)  # engine.render.RenderResult (interrupted when cancelled)
    failed = Signal(str)  # a message; nothing was written over an existing video

    def __init__(self, parent=None) -> None:
        QObject.__init__(self, parent)
        self._init_runner()
        self.plan: RenderPlan | None = None

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
        self.plan = plan
        self.begin()

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
        self.spawn(self._work, job, plan, name="latentscape-render")

    def _work(self, job, plan: RenderPlan) -> None:
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


class RenderFlow(QObject):
    """Render... of the window; see the module docstring."""

    note = Signal(str)
    error = Signal(str)

    def __init__(self, bridge, dock, jobs: Jobs, has_world, parent=None) -> None:
        """dock: the PathDock (its path, render rate and progress row); has_world(): whether
        a world is open."""
        super().__init__(parent)
        self.bridge, self.dock, self.jobs, self.has_world = bridge, dock, jobs, has_world
        self.runner = RenderRunner(self)
        self.runner.started.connect(dock.render_started)
        self.runner.progress.connect(dock.render_progress)
        self.runner.finished.connect(self._finished)
        self.runner.failed.connect(self._failed)
        dock.render_requested.connect(self.dialog)
        dock.cancel_render.connect(self.cancel)

    @property
    def running(self) -> bool:
        return self.runner.running

    def cancel(self) -> None:
        """Stop between denoising steps; the frames done are kept as a partial video."""
        self.runner.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        return self.runner.wait(timeout)

    def dialog(self) -> None:
        if self._can_render():
            dialog = RenderDialog(self.dock.window(), self.dock.editor)
            if dialog.exec():
                self.render(dialog.out.text(), dialog.keep.isChecked(), dialog.frames.text())

    def _can_render(self) -> bool:
        if not self.has_world():
            self.error.emit("open a photo or a scene before rendering")
        elif self.dock.editor.path is None:
            self.error.emit("no camera path yet: add two keyframes (K) or record one (R)")
        elif self.runner.running:
            self.error.emit("a render is running: cancel it or wait for it")
        else:
            return True
        return False

    def render(self, out: str, keep: bool = True, frames: str | None = None) -> bool:
        """Render the dock's path through a snapshot of the world into the video `out`, in
        the background: the job `latentscape render` runs. False (said) when it cannot."""
        if not self._can_render():
            return False
        if not str(out).strip():
            self.error.emit("give the video a file name")
            return False
        plan = RenderPlan.beside(out, keep=keep, frames=frames or None)
        editor = self.dock.editor
        ended = first_signal(self.runner.finished, self.runner.failed)
        if not self.runner.render(self.bridge, editor.path, plan, fps=editor.state.fps):
            if not ended.cancel():  # it failed at once: the runner said why
                ended.exception()
            return False
        self.dock.render_started(0, "the world's snapshot")
        self.note.emit(f"rendering the camera path to {plan.out} ...")

        self.jobs.start(f"rendering {plan.out.name}", follow(self.runner, ended))
        return True

    def _failed(self, message: str) -> None:
        self.dock.render_ended()
        self.error.emit(message)

    def _finished(self, result) -> None:
        self.dock.render_ended()
        plan = self.runner.plan
        if result.interrupted:
            kept = f"; the {result.frames} frames done are in {result.partial}"
            self.note.emit("render cancelled" + (kept if result.partial else ""))
            return
        self.note.emit(f"rendered {result.frames} frames to {result.out}")
        if plan is not None and plan.temporary is None:
            self.note.emit(f"the same render from the command line: {plan.command()}")


class RenderDialog(QDialog):
    """Render...: the video file, whether the snapshot and the path stay beside it, and an
    optional folder for the frames with their cameras (nerfstudio and COLMAP)."""

    def __init__(self, parent, editor) -> None:
        super().__init__(parent)
        self.setWindowTitle("Render the camera path")
        path = editor.path
        fps = editor.state.fps
        frames = len(path.frame_times(fps))
        width, height = editor.size
        self.out = QLineEdit(str(Path.home() / "latentscape-path.mp4"))
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.out, 1)
        row.addWidget(browse)
        self.keep = QCheckBox(
            "keep the world snapshot and the path beside the video (to render again with "
            "latentscape render)"
        )
        self.keep.setChecked(True)
        self.frames = QLineEdit()
        self.frames.setPlaceholderText("(none) a folder for the frames, nerfstudio + COLMAP")
        form = QFormLayout(self)
        form.addRow(
            QLabel(f"{frames} frames at {width}x{height}, {path.duration:.2f} s at {fps:g} fps")
        )
        form.addRow("video", row)
        form.addRow("frames", self.frames)
        form.addRow(self.keep)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Render")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Render to", self.out.text(), "MP4 (*.mp4)")
        if path:
            self.out.setText(path)
