"""The app's long jobs (open a photo or a world, save, render) as asyncio tasks on the Qt
event loop, through qasync.

A job is a coroutine: it posts its work and awaits the answer, so the GUI thread is never
blocked, and one job's steps read in order (ask, await, report) instead of spread over
signal handlers. The engine thread stays the one owner of the world: a job never touches
it, it posts a command to the bridge (`EngineBridge.request`) and awaits the concurrent
future the engine thread completes; a render awaits its own thread (app/renderjob.py).

`Jobs` starts jobs (`start(name, work)`: work(job) is the coroutine), keeps them until they
end, and says what they do (`changed`: progress as `Job.report` gives it) and how they end
(`ended`; `error` when one fails in its own code: a failure of the work it waits for,
a JobError, has been said by whoever did it). `cancel` cancels the task: the
coroutine gets CancelledError at its await and asks whoever does the work to stop (the
engine between stages, a render between steps); a job that cannot stop halfway (a save:
it is atomic and short) says so with `cancellable=False` and is waited for.

The loop: `event_loop()` installs one qasync QEventLoop for the QApplication, as already
running: Qt's own loop (app.exec, or pytest-qt's waits in the tests) runs its callbacks.

`JobBar` is the status bar's view of them: the newest running job's name, a progress bar
and Cancel.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, Signal
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget


def event_loop() -> asyncio.AbstractEventLoop:
    """The asyncio loop on the Qt event loop (qasync), installed on first use."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    import qasync

    app = QApplication.instance()
    if app is None:
        raise RuntimeError("the app's jobs need a QApplication")
    loop = qasync.QEventLoop(app, already_running=True)
    asyncio.set_event_loop(loop)
    return loop


@dataclass(eq=False)
class Job:
    """One long job: its name, progress (done of total, 0 of 0: not known) and task."""

    name: str
    cancellable: bool = True
    done: int = 0
    total: int = 0
    detail: str = ""
    task: asyncio.Task | None = field(default=None, repr=False)
    _jobs: Jobs | None = field(default=None, repr=False)

    def report(self, done: int, total: int, detail: str = "") -> None:
        self.done, self.total, self.detail = done, total, detail
        if self._jobs is not None:
            self._jobs.changed.emit(self)

    @property
    def text(self) -> str:
        if self.total:
            percent = f" {100 * self.done // self.total}%"
        else:
            percent = ""
        return f"{self.name}{percent}" + (f" ({self.detail})" if self.detail else "")


def follow(runner, ended, first: tuple[int, int, str] | None = None):
    """The work of a job that follows a background runner (a render, a batch): the runner's
    progress (done, total, detail) is the job's, `first` is reported at once; the job ends
    with `ended` (the runner's first_signal of finished or failed: a failure is None here,
    the runner has said why). Cancelled, the job asks the runner to stop and waits for its
    end, so what is done is kept."""

    async def work(job: Job):
        runner.progress.connect(job.report)
        if first is not None:
            job.report(*first)
        try:
            try:
                return await asyncio.shield(ended)
            except asyncio.CancelledError:  # stop between steps, keep what is done
                runner.cancel()
                return await ended
        except JobError:  # the runner said why
            return None
        finally:
            runner.progress.disconnect(job.report)

    return work


class Jobs(QObject):
    """The running jobs; see the module docstring."""

    changed = Signal(object)  # a Job started or reported progress
    ended = Signal(object)  # a Job ended (done, failed or cancelled)
    error = Signal(str)  # the message of a job that failed

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.running: list[Job] = []

    def start(
        self,
        name: str,
        work: Callable[[Job], Coroutine[Any, Any, Any]],
        cancellable: bool = True,
    ) -> Job:
        """Run work(job) as a task on the Qt event loop; the job at once."""
        job = Job(name, cancellable=cancellable, _jobs=self)
        job.task = event_loop().create_task(work(job), name=name)
        self.running.append(job)
        job.task.add_done_callback(lambda _task: self._end(job))
        self.changed.emit(job)
        return job

    def cancel(self, job: Job | None = None) -> bool:
        """Cancel `job` (default: the newest cancellable one); False when there is none."""
        jobs = [job] if job is not None else [j for j in self.running if j.cancellable]
        if not jobs or jobs[-1].task is None or not jobs[-1].cancellable:
            return False
        return jobs[-1].task.cancel()

    def close(self, timeout: float = 60.0) -> None:
        """The app closes: cancel the jobs that can be, and run the event loop until every
        job has ended (at most `timeout` s; a save runs to its end), so that none is left
        pending when the loop stops."""
        for job in self.running:
            if job.cancellable and job.task is not None:
                job.task.cancel()
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)

    def _end(self, job: Job) -> None:
        self.running.remove(job)
        task = job.task
        if task is not None and not task.cancelled() and task.exception() is not None:
            e = task.exception()
            if not isinstance(e, JobError):  # a fault of the job's own code: say it
                traceback.print_exception(e)
                self.error.emit(f"{job.name} failed: {e}")
        self.ended.emit(job)


class JobError(Exception):
    """A job's work failed, and whoever did it has told the user why (the bridge's `error`
    signal, the render's `failed`): the job ends without saying it again."""


async def engine_answer(
    job: Job, ask: Callable[[], Future], progress=None, cancel: Callable[[], None] | None = None
):
    """ask() posts a command to the engine thread and returns the concurrent future it
    completes; await that. Meanwhile `progress` (a signal (done, total, what), connected
    before the command is posted, so no report is missed) reports to the job, and a cancel
    of the job calls `cancel` (the engine stops between its stages). Cancelled either way
    (the job, or the engine stopped by someone else: WorldCancelled), the job ends as
    cancelled."""
    from engine.world import WorldCancelled

    if progress is not None:
        progress.connect(job.report)
    try:
        return await asyncio.wrap_future(ask())
    except asyncio.CancelledError:
        if cancel is not None:
            cancel()
        raise
    except WorldCancelled:  # the engine was told to stop by someone else (Esc): cancelled
        raise asyncio.CancelledError from None
    finally:
        if progress is not None:
            progress.disconnect(job.report)


def first_signal(result, failure) -> asyncio.Future:
    """A future of whichever comes first: `result` emitted (the future's value) or `failure`
    emitted (a message: the future fails with JobError). Connected now, so nothing emitted
    from here on is missed; disconnected when it fires."""
    future = event_loop().create_future()

    def settle(value, failed: bool) -> None:
        result.disconnect(on_result)
        failure.disconnect(on_failure)
        if not future.done():
            future.set_exception(JobError(value)) if failed else future.set_result(value)

    def on_result(value) -> None:
        settle(value, False)

    def on_failure(message) -> None:
        settle(message, True)

    result.connect(on_result)
    failure.connect(on_failure)
    return future


class JobBar(QWidget):
    """The newest running job in the status bar: name, progress and Cancel."""

    def __init__(self, jobs: Jobs) -> None:
        super().__init__()
        self.jobs = jobs
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(160)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("cancel this job (the world stays as it was)")
        self.cancel_button.clicked.connect(lambda: jobs.cancel())
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in (self.label, self.bar, self.cancel_button):
            row.addWidget(widget)
        jobs.changed.connect(self.refresh)
        jobs.ended.connect(self.refresh)
        self.hide()

    def refresh(self, _job: Job | None = None) -> None:
        if not self.jobs.running:
            self.hide()
            return
        job = self.jobs.running[-1]
        self.label.setText(job.text)
        self.bar.setRange(0, job.total)  # 0, 0: busy, no amount known
        self.bar.setValue(job.done)
        self.cancel_button.setEnabled(job.cancellable)
        self.show()
