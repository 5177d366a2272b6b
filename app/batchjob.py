"""Render a batch... in the app: several saved camera paths rendered from the explored world,
as `latentscape batch` renders a job list.

The engine thread saves a snapshot of the world into the batch's folder (`world.lsworld`),
then the job list is written beside it (`jobs.json`: one job per camera path, named after
the path file) and `engine.batch.run_batch` runs it on a local process pool in a thread of
its own, at the engine thread's lower priority. Each job's output lands in its own folder
(video, frames with cameras, job.json), whole or not at all; the log gets a line per job and
the summary, and the command that runs the same batch again from the command line (which
skips the jobs already done). The status bar shows the batch as a job of the app's
(app/jobs.py), with its progress and Cancel: cancelled, the finished jobs are kept.
"""

from __future__ import annotations

import json
import os
import shlex
import traceback
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from app.jobs import Jobs, first_signal, follow
from app.threads import BackgroundRunner

WORLD = "world.lsworld"
JOBS = "jobs.json"


def job_names(paths: list[Path]) -> list[str]:
    """A folder name per camera path file: its stem, made unique with -2, -3, ..."""
    names: list[str] = []
    for path in paths:
        stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in path.stem) or "path"
        name, k = stem, 2
        while name in names:
            name, k = f"{stem}-{k}", k + 1
        names.append(name)
    return names


class BatchRunner(BackgroundRunner, QObject):
    """Snapshot the world, write the job list, run it; one batch at a time."""

    started = Signal(int)  # jobs
    progress = Signal(int, int, str)  # jobs ended, total, the line of the one that ended
    finished = Signal(object)  # list[engine.batch.JobResult]; None when cancelled
    failed = Signal(str)

    def __init__(self, parent=None) -> None:
        QObject.__init__(self, parent)
        self._init_runner()
        self.out: Path | None = None

    def start(self, bridge, paths: list[Path], out: Path, workers: int = 1) -> bool:
        """Render every camera path file of `paths` from a snapshot of the bridge's world
        into `out` (in the background). False (and nothing started) while a batch runs."""
        if self.running:
            return False
        self.out = Path(out)
        self.begin()

        def snapshot(world) -> None:  # on the engine thread, between its commands
            from engine.batch import BatchJob
            from engine.files import atomic_write
            from engine.io import save_world

            try:
                if world is None:
                    raise RuntimeError("there is no world to render: open a photo or a scene")
                self.out.mkdir(parents=True, exist_ok=True)
                save_world(world, self.out / WORLD)
                jobs = [
                    BatchJob(name, str(self.out / WORLD), path=str(path))
                    for name, path in zip(job_names(paths), paths)
                ]
                listed = [{"name": j.name, "source": WORLD, "path": j.path} for j in jobs]
                atomic_write(self.out / JOBS, json.dumps(listed, indent=1) + "\n")
                self.spawn(self._work, jobs, workers, name="latentscape-batch")
            except Exception as e:
                self._pending = False
                self.failed.emit(f"could not start the batch: {e}")

        bridge.call(snapshot)
        return True

    def _work(self, jobs, workers: int) -> None:
        from engine.batch import LocalExecutor, run_batch

        assert self.out is not None  # set by start
        self.started.emit(len(jobs))
        # one core is left to the window: the workers share the others
        cpus = max(1, ((os.cpu_count() or 1) - 1) // workers)

        def ended(result, done: int, total: int) -> None:
            line = f"{result.name}: {result.status}"
            if result.frames:
                line += f", {result.frames} frames in {result.seconds:.1f} s"
            if result.error:
                line += f" ({result.error})"
            self.progress.emit(done, total, line)

        try:
            results = run_batch(
                jobs,
                self.out,
                LocalExecutor(workers, cpus=cpus),
                on_result=ended,
                cancel=self._cancel.is_set,
            )
        except KeyboardInterrupt:
            self.finished.emit(None)
            return
        except Exception as e:
            traceback.print_exc()
            self.failed.emit(f"the batch failed: {e}")
            return
        self.finished.emit(results)


class BatchFlow(QObject):
    """Render a batch... of the window: the checks, the dialog, the runner, and a job of the
    app's that awaits the batch's end (status bar, Cancel)."""

    note = Signal(str)
    error = Signal(str)

    def __init__(self, bridge, jobs: Jobs, has_world, parent=None) -> None:
        super().__init__(parent)
        self.bridge, self.jobs, self.has_world = bridge, jobs, has_world
        self.runner = BatchRunner(self)
        self.runner.progress.connect(lambda done, total, line: self.note.emit(line))
        self.runner.finished.connect(self._finished)
        self.runner.failed.connect(self.error)

    @property
    def running(self) -> bool:
        return self.runner.running

    def cancel(self) -> None:
        self.runner.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        return self.runner.wait(timeout)

    def dialog(self) -> None:
        if self._can_start():
            dialog = BatchDialog(self.parent())
            if dialog.exec():
                self.start(dialog.paths(), dialog.out.text(), dialog.workers.value())

    def _can_start(self) -> bool:
        if not self.has_world():
            self.error.emit("open a photo or a scene before rendering a batch")
        elif self.runner.running:
            self.error.emit("a batch is running: cancel it or wait for it")
        else:
            return True
        return False

    def start(self, paths, out: str, workers: int = 1) -> bool:
        """Render the camera path files `paths` from a snapshot of the world into the folder
        `out`, `workers` at a time. False (said) when it cannot."""
        paths = [Path(p) for p in paths]
        if not self._can_start():
            return False
        if not paths:
            self.error.emit("add the camera paths to render (saved with Save camera path...)")
            return False
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            self.error.emit(f"camera path files not found: {', '.join(missing)}")
            return False
        if not str(out).strip():
            self.error.emit("give the batch a folder")
            return False
        ended = first_signal(self.runner.finished, self.runner.failed)
        if not self.runner.start(self.bridge, paths, Path(out), workers):
            ended.cancel()
            return False
        self.note.emit(f"rendering {len(paths)} camera paths into {out} ...")

        first = (0, len(paths), "the world's snapshot")
        self.jobs.start(f"batch of {len(paths)} paths", follow(self.runner, ended, first))
        return True

    def _finished(self, results) -> None:
        out = self.runner.out
        if results is None:
            self.note.emit(f"batch cancelled; the finished jobs are kept in {out}")
            return
        from engine.batch import summary_table

        for line in summary_table(results).splitlines():
            self.note.emit(line)
        if out is not None:
            again = shlex.join(["latentscape", "batch", str(out / JOBS), "--out", str(out)])
            self.note.emit(f"the same batch from the command line: {again}")
        failed = [r.name for r in results if r.status == "failed"]
        if failed:
            self.error.emit(f"{len(failed)} of the batch's jobs failed: {', '.join(failed)}")


class BatchDialog(QDialog):
    """Render a batch...: the camera path files, the folder, the workers."""

    def __init__(self, parent) -> None:
        super().__init__(parent)
        self.setWindowTitle("Render a batch of camera paths")
        self.list = QListWidget()
        add, remove = QPushButton("Add paths..."), QPushButton("Remove")
        add.clicked.connect(self._add)
        remove.clicked.connect(self._remove)
        buttons_col = QVBoxLayout()
        buttons_col.addWidget(add)
        buttons_col.addWidget(remove)
        buttons_col.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.list, 1)
        row.addLayout(buttons_col)
        self.out = QLineEdit(str(Path.home() / "latentscape-batch"))
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)
        self.workers = QSpinBox()
        self.workers.setRange(1, max(1, os.cpu_count() or 1))
        self.workers.setToolTip("renders at once; they share the cores (one is left to the window)")
        form = QFormLayout(self)
        form.addRow("camera paths", row)
        form.addRow("folder", out_row)
        form.addRow("workers", self.workers)
        box = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        box.button(QDialogButtonBox.StandardButton.Ok).setText("Render")
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        form.addRow(box)

    def paths(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def _remove(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))

    def _add(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Camera paths", "", "Camera paths (*.json)")
        self.list.addItems(files)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Batch folder", self.out.text())
        if folder:
            self.out.setText(folder)
