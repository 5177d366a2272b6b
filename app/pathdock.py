"""The path dock: key-frame, record, preview, save and render a camera path (engine/path.py).

The path being edited is a `PathEditor` (app/patheditor.py, no Qt). `PathDock` is the
widget and the workflow around it: a keyframe table (time, fov) with Add from the current
view, Update to the view, Duplicate, Delete, Go to (double-click); the selected key's time
and fov to edit (moving a key in time); a `Timeline` (app/timeline.py) to scrub; play/pause
with the duration, fps and interpolation settings; Record (the flight becomes the path);
Open/Save (the project's JSON or nerfstudio's camera_path.json); Render... (the window's
render flow, app/renderjob.py) with a progress bar and Cancel. With `keep_copy(file)` every
edit is written to that file, so the path survives a crash and a close.

The dock never moves the camera itself: it reads the view through `current_view()` and asks
to move it with `view_requested(pose)`; the window puts the navigator there (the engine then
shows the memory's readout at that pose). Preview playback ticks at display rate in real
time; it shows the path's poses at the world's field of view (a per-keyframe fov reaches
the rendered frames, not the live preview).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.patheditor import PathEditor
from app.timeline import Timeline
from engine.path import EASINGS, CameraPath, RenderSettings, load_path, save_path

PATH_FILTERS = {
    "Latentscape camera path (*.json)": "latentscape",
    "nerfstudio camera_path.json (*.json)": "nerfstudio",
}
NO_PATH = "no camera path yet: add two keyframes (K) or record one (R)"


class PathDock(QWidget):
    """See the module docstring."""

    view_requested = Signal(object)  # (4, 4) pose: put the camera there
    changed = Signal()  # keyframes, settings or selection changed (the minimap redraws)
    reveal_requested = Signal()  # the dock has something to show (a key added, a path opened)
    recording_changed = Signal(bool)
    render_requested = Signal()
    cancel_render = Signal()
    note = Signal(str)  # news for the status bar and the log
    error = Signal(str)

    def __init__(
        self,
        parent=None,
        interval_ms: int = 16,
        current_view: Callable[[], tuple[np.ndarray, float] | None] | None = None,
    ) -> None:
        """current_view() -> (pose (4, 4), vertical fov in degrees) of the camera now, or
        None while no world is open: what Add, Update and Record take."""
        super().__init__(parent)
        self.editor = PathEditor()
        self.current_view = current_view or (lambda: None)
        self.time = 0.0
        self.playing = False
        self._last = time.perf_counter()
        self._syncing = False  # filling widgets from the editor: their signals are ignored
        # (time, pose) while R records, and the latest recording
        self.recording: list[tuple[float, np.ndarray]] | None = None
        self.recorded: list[tuple[float, np.ndarray]] = []
        self._recording_fov = 60.0  # the view's fov when the recording began
        self.copy_file: Path | None = None  # where every edit is kept (keep_copy)
        self._kept: CameraPath | None = None  # the path last written there
        self.buttons: dict[str, QPushButton] = {}

        # a strip under the viewport: the timeline across, then the keyframes beside the
        # playback and interpolation settings and the file and render buttons
        self.timeline = Timeline()
        self.timeline.scrubbed.connect(self.seek)
        self.timeline.key_clicked.connect(self.go_to)
        columns = QHBoxLayout()
        columns.addLayout(self._key_column(), 1)
        columns.addLayout(self._settings_column(), 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.timeline)
        layout.addLayout(columns, 1)
        layout.addWidget(self._render_row())

        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.changed.connect(self._keep)
        self.refresh()

    def _button_row(self, rows) -> QHBoxLayout:
        """Buttons (name, text, tooltip, slot) in a row, kept in self.buttons by name."""
        row = QHBoxLayout()
        for name, text, tip, slot in rows:
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            self.buttons[name] = b
            row.addWidget(b)
        return row

    def _key_column(self) -> QVBoxLayout:
        """The keyframe table, the selected key's time and fov, the keyframe buttons."""
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["#", "time (s)", "fov (deg)"])
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setMinimumHeight(60)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._table_selected)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.go_to(row))

        self.key_time = _spin(-1e4, 1e4, 3, " s", self._key_time_edited, step=0.1)
        self.key_fov = _spin(1.0, 170.0, 1, " deg", self._key_fov_edited)
        key_form = QHBoxLayout()
        for widget in (QLabel("key at"), self.key_time, QLabel("fov"), self.key_fov):
            key_form.addWidget(widget)
        column = QVBoxLayout()
        column.addWidget(self.table, 1)
        column.addLayout(key_form)
        column.addLayout(
            self._button_row(
                [
                    ("add", "Add", "add a keyframe at the current view (K)", self.add_from_view),
                    (
                        "update",
                        "Update",
                        "the selected keyframe takes the view (U)",
                        self.update_from_view,
                    ),
                    (
                        "duplicate",
                        "Copy",
                        "duplicate the selected keyframe, halfway to the next (Ctrl+D)",
                        self.duplicate_selected,
                    ),
                    (
                        "delete",
                        "Delete",
                        "delete the selected keyframe (Delete)",
                        self.delete_selected,
                    ),
                    (
                        "goto",
                        "Go to",
                        "put the camera at the selected keyframe (G)",
                        lambda: self.go_to(self.editor.selected),
                    ),
                    ("undo", "Undo", "undo the last path edit (Ctrl+Alt+Z)", self.undo),
                ]
            )
        )
        return column

    def _settings_column(self) -> QVBoxLayout:
        """Play with the time, the duration / fps / interpolation settings, the file and
        render buttons."""
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip("play / pause the preview (P)")
        self.play_button.clicked.connect(self.toggle_play)
        self.time_label = QLabel()
        transport = QHBoxLayout()
        transport.addWidget(self.play_button)
        transport.addWidget(self.time_label, 1)

        self.duration_box = _spin(0.1, 1e4, 2, " s", self._duration_edited)
        self.duration_box.setToolTip("stretch the keyframe times to this duration")
        self.fps_box = _spin(1.0, 240.0, 2, "", lambda v: self._option(fps=v))
        self.tension_box = _spin(0.0, 1.0, 2, "", lambda v: self._option(tension=v), step=0.1)
        self.tension_box.setToolTip("0: smooth (Catmull-Rom); 1: stop at every keyframe")
        self.loop_box = QCheckBox("loop")
        self.loop_box.toggled.connect(lambda on: self._option(loop=on))
        self.speed_box = QCheckBox("constant speed")
        self.speed_box.toggled.connect(lambda on: self._option(constant_speed=on))
        self.easing_box = QComboBox()
        self.easing_box.addItems(EASINGS)
        self.easing_box.currentTextChanged.connect(lambda e: self._option(easing=e))
        form = QGridLayout()
        for i, (label, widget) in enumerate(
            (
                ("duration", self.duration_box),
                ("fps", self.fps_box),
                ("tension", self.tension_box),
                ("easing", self.easing_box),
            )
        ):
            form.addWidget(QLabel(label), i // 2, 2 * (i % 2))
            form.addWidget(widget, i // 2, 2 * (i % 2) + 1)
        form.addWidget(self.loop_box, 2, 1)
        form.addWidget(self.speed_box, 2, 3)

        files = self._button_row(
            [
                ("record", "Record", "record the flight as the path (R)", self.toggle_recording),
                (
                    "open",
                    "Open...",
                    "open a camera path (own or nerfstudio JSON)",
                    self.open_path_dialog,
                ),
                ("save", "Save...", "save the camera path", self.save_path_dialog),
                (
                    "render",
                    "Render...",
                    "render the path to a video (Ctrl+Shift+R)",
                    self.render_requested.emit,
                ),
            ]
        )
        self.buttons["record"].setCheckable(True)
        column = QVBoxLayout()
        column.addLayout(transport)
        column.addLayout(form)
        column.addStretch(1)
        column.addLayout(files)
        return column

    def _render_row(self) -> QWidget:
        """The render's progress bar and Cancel, shown while a render runs."""
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_render.emit)
        self.render_row = QWidget()
        row = QHBoxLayout(self.render_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        self.render_row.hide()
        return self.render_row

    # ---- editing through the editor (errors become messages, nothing changes)

    def _do(self, what, *args, **kwargs):
        try:
            result = what(*args, **kwargs)
        except (ValueError, IndexError) as e:
            self.error.emit(f"camera path: {e}")
            self.refresh()
            return None
        self.refresh()
        self.changed.emit()
        return result

    def set_size(self, width: int, height: int) -> None:
        """The world's frame size: what a render of the path makes."""
        self.editor.set_size(width, height)

    def add_key(self, pose, fov: float) -> None:
        """Add a keyframe at the view (see PathEditor.add); the playhead goes to it."""
        index = self._do(self.editor.add, pose, fov, self.time)
        if index is not None:
            self._set_time(self.editor.keys[index].time - self.editor.keys[0].time)
            self.reveal_requested.emit()

    def update_key(self, pose, fov: float | None = None) -> None:
        if self.editor.selected is None:
            self.error.emit("camera path: select a keyframe to update")
            return
        self._do(self.editor.set_view, self.editor.selected, pose, fov)

    def add_from_view(self) -> None:
        """K: a keyframe at the current view."""
        view = self.current_view()
        if view is None:
            self.error.emit("open a photo or a scene before adding keyframes")
            return
        self.add_key(*view)

    def update_from_view(self) -> None:
        """U: the selected keyframe takes the current view (its pose; its fov stays)."""
        view = self.current_view()
        if view is not None:
            self.update_key(view[0])

    def step(self, step: int) -> None:
        """[ and ]: go to the previous or next keyframe."""
        n = len(self.editor.keys)
        if n:
            current = self.editor.selected
            self.go_to(min(max((step if current is None else current + step), 0), n - 1))

    def duplicate_selected(self) -> None:
        if self.editor.selected is not None:
            self._do(self.editor.duplicate, self.editor.selected)

    def delete_selected(self) -> None:
        if self.editor.selected is not None:
            self._do(self.editor.delete, self.editor.selected)

    def undo(self) -> None:
        if self.editor.undo():
            self.refresh()
            self.changed.emit()

    def clear(self) -> None:
        """No keyframes (one undo step)."""
        self.stop()
        self._do(self.editor.clear)

    def set_path(self, path: CameraPath) -> None:
        """A whole path (opened or recorded), one undo step; the playhead to its start."""
        self.stop()
        if self._do(self.editor.replace, path):
            self.seek(0.0)
            self.reveal_requested.emit()

    def select(self, index: int | None) -> None:
        self.editor.select(index)
        self.refresh()
        self.changed.emit()

    def go_to(self, index: int | None) -> None:
        """Put the camera at keyframe `index` and the playhead at its time."""
        if index is None or not 0 <= index < len(self.editor.keys):
            return
        self.select(index)
        keys = self.editor.keys
        self._set_time(keys[index].time - keys[0].time)
        self.view_requested.emit(keys[index].pose.copy())

    def _option(self, **options) -> None:
        if not self._syncing:
            self._do(self.editor.set_options, **options)

    def _duration_edited(self, seconds: float) -> None:
        if not self._syncing and self.editor.path is not None:
            if abs(seconds - self.editor.duration) > 1e-9:
                self._do(self.editor.set_duration, seconds)

    def _key_time_edited(self, t: float) -> None:
        i = self.editor.selected
        if not self._syncing and i is not None and abs(self.editor.keys[i].time - t) > 1e-9:
            self._do(self.editor.retime, i, t)

    def _key_fov_edited(self, fov: float) -> None:
        i = self.editor.selected
        if not self._syncing and i is not None and abs(self.editor.keys[i].fov - fov) > 1e-9:
            self._do(self.editor.set_fov, i, fov)

    def _table_selected(self) -> None:
        if self._syncing:
            return
        rows = {i.row() for i in self.table.selectedIndexes()}
        if rows:
            self.select(min(rows))

    # ---- playback

    def seek(self, t: float) -> None:
        """The playhead to path time t (clamped; wrapped on a loop); the camera follows."""
        self._set_time(t)
        got = self.editor.pose_at(self.time)
        if got is not None:
            self.view_requested.emit(got[0])

    def _set_time(self, t: float) -> None:
        d = self.editor.duration
        if self.editor.state.loop and d > 0:
            t = t % d
        self.time = float(min(max(t, 0.0), d))
        self.timeline.set_time(self.time)
        self.time_label.setText(f"{self.time:.2f} / {d:.2f} s")

    def play(self) -> None:
        if self.editor.path is None:
            self.error.emit("camera path: add two keyframes (K) or record one (R) to play it")
            return
        if not self.editor.state.loop and self.time >= self.editor.duration - 1e-9:
            self._set_time(0.0)  # from the start again
        self.playing = True
        self._last = time.perf_counter()
        self.play_button.setText("Pause")
        self.timer.start()
        self.seek(self.time)

    def stop(self) -> None:
        self.playing = False
        self.play_button.setText("Play")
        self.timer.stop()

    def toggle_play(self) -> None:
        self.stop() if self.playing else self.play()

    def advance(self, dt: float) -> None:
        """Playback moves on by dt seconds (the timer calls it with the real time)."""
        if self.editor.path is None:
            self.stop()
            return
        end = self.editor.duration
        t = self.time + dt
        if not self.editor.state.loop and t >= end:
            t = end
            self.stop()
        self.seek(t)

    def _tick(self) -> None:
        now = time.perf_counter()
        dt, self._last = min(now - self._last, 0.1), now
        self.advance(dt)

    # ---- recording

    def toggle_recording(self) -> None:
        """R: start recording the camera path, or stop: the flight becomes the path (to
        preview, refine, save or render)."""
        view = self.current_view()
        if self.recording is None:
            if view is None:
                self.error.emit("open a photo or a scene before recording a path")
            else:
                self.recording = [(time.monotonic(), view[0])]
                self._recording_fov = view[1]
                self.note.emit("recording the camera path: fly, then press R again")
        else:
            if view is not None:
                self.recording.append((time.monotonic(), view[0]))
            self.recorded, self.recording = self.recording, None
            self._recorded_to_path(self._recording_fov)
        self.buttons["record"].setChecked(self.recording is not None)
        self.recording_changed.emit(self.recording is not None)

    def record(self, pose) -> None:
        """The camera moved to pose: one more pose of the recording, while R records."""
        if self.recording is not None:
            self.recording.append((time.monotonic(), np.array(pose, copy=True)))

    def _recorded_to_path(self, fov: float) -> None:
        """The latest recording becomes the path (one undo step): keyframes chosen so the
        path stays within 1 cm and half a degree of every pose flown, at the times they
        were flown."""
        times, shown = zip(*self.recorded)
        width, height = self.editor.size
        try:
            recorded = CameraPath.from_recording(
                times,
                shown,
                fov=fov,
                render=RenderSettings(width, height, self.editor.state.fps),
            )
        except ValueError as e:
            self.error.emit(f"the recording makes no path: {e}")
            return
        self.set_path(recorded)
        self.note.emit(
            f"recorded {len(self.recorded)} poses as {len(recorded.keyframes)} keyframes "
            f"({recorded.duration:.1f} s); Play (P) previews it, Render... renders it"
        )

    # ---- files

    def open_path_dialog(self) -> None:
        file, _ = QFileDialog.getOpenFileName(
            self, "Open camera path", "", "Camera paths (*.json);;All files (*)"
        )
        if file:
            self.open_path(file)

    def open_path(self, file: str) -> bool:
        """A camera path file (the project's JSON or nerfstudio's) becomes the path."""
        notes: list[str] = []
        try:
            loaded = load_path(file, notes)
        except (OSError, ValueError) as e:
            self.error.emit(f"could not open the camera path: {e}")
            return False
        self.set_path(loaded)
        self.note.emit(f"opened {file}: {len(loaded.keyframes)} keyframes, {loaded.duration:.1f} s")
        for note in notes:  # a nerfstudio file: which variant was read, what was repaired
            self.note.emit(note)
        return True

    def save_path_dialog(self) -> None:
        if self.editor.path is None:
            self.error.emit(NO_PATH)
            return
        file, chosen = QFileDialog.getSaveFileName(
            self, "Save camera path", "path.json", ";;".join(PATH_FILTERS)
        )
        if file:
            self.save_path(file, PATH_FILTERS.get(chosen, "latentscape"))

    def save_path(self, file: str, fmt: str = "latentscape") -> bool:
        """Write the path: fmt "latentscape" (the project's JSON, for `latentscape render
        --path`) or "nerfstudio" (camera_path.json)."""
        path = self.editor.path
        if path is None:
            self.error.emit(NO_PATH)
            return False
        try:
            save_path(path, file, fmt)
        except (OSError, ValueError) as e:
            self.error.emit(f"could not save the camera path to {file}: {e}")
            return False
        self.note.emit(f"saved the camera path ({len(path.keyframes)} keyframes, {fmt}) to {file}")
        return True

    def keep_copy(self, file: Path) -> None:
        """Keep the path in `file`, written on every edit, so that it survives a crash and
        a close; a path found there (the last session's) comes back now."""
        self.copy_file = Path(file)
        if not self.copy_file.is_file():
            return
        try:
            kept = load_path(self.copy_file)
        except (OSError, ValueError) as e:
            self.note.emit(f"the last session's camera path could not be read: {e}")
            return
        self.set_path(kept)
        self.note.emit("the camera path of the last session is back in the path strip (T)")

    def _keep(self) -> None:
        path = self.editor.path
        if self.copy_file is None or path is self._kept:  # a selection, not an edit
            return
        self._kept = path
        try:
            if path is not None:
                save_path(path, self.copy_file)
            else:
                self.copy_file.unlink(missing_ok=True)
        except OSError as e:
            self.note.emit(f"could not keep a copy of the camera path: {e}")

    # ---- render progress

    def render_started(self, total: int, what: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(0)
        self.progress.setFormat(f"rendering {what}: %v/%m")
        self.render_row.show()
        self.buttons["render"].setEnabled(False)

    def render_progress(self, done: int, total: int, detail: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"%v/%m frames ({detail})")

    def render_ended(self) -> None:
        self.render_row.hide()
        self.buttons["render"].setEnabled(True)

    # ---- widgets from the editor

    def refresh(self) -> None:
        """Fill every widget from the editor (their signals ignored meanwhile)."""
        ed, s = self.editor, self.editor.state
        self._syncing = True
        try:
            self.table.setRowCount(len(ed.keys))
            t0 = ed.keys[0].time if ed.keys else 0.0
            for i, k in enumerate(ed.keys):
                for col, text in enumerate((str(i + 1), f"{k.time:.3f}", f"{k.fov:.1f}")):
                    item = QTableWidgetItem(text)
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                    self.table.setItem(i, col, item)
            if s.selected is not None:
                self.table.selectRow(s.selected)
                self.table.scrollToItem(self.table.item(s.selected, 0))
            else:
                self.table.clearSelection()
            has_key = s.selected is not None
            for name in ("update", "duplicate", "delete", "goto"):
                self.buttons[name].setEnabled(has_key)
            self.buttons["undo"].setEnabled(ed.can_undo)
            self.key_time.setEnabled(has_key)
            self.key_fov.setEnabled(has_key)
            if has_key:
                self.key_time.setValue(ed.keys[s.selected].time)
                self.key_fov.setValue(ed.keys[s.selected].fov)
            has_path = ed.path is not None
            self.duration_box.setEnabled(has_path)
            self.duration_box.setValue(ed.duration if has_path else 0.1)
            self.fps_box.setValue(s.fps)
            self.tension_box.setValue(s.tension)
            self.loop_box.setChecked(s.loop)
            self.speed_box.setChecked(s.constant_speed)
            self.easing_box.setCurrentText(s.easing)
            self.easing_box.setEnabled(not s.loop)
            self.play_button.setEnabled(has_path)
            self.buttons["save"].setEnabled(has_path)
            self.timeline.set_duration(ed.duration)
            self.timeline.step = 1.0 / s.fps  # Left / Right: one frame
            self.timeline.set_keys([k.time - t0 for k in ed.keys], s.selected)
            self._set_time(self.time)
        finally:
            self._syncing = False


def _spin(low, high, decimals, suffix, edited, step=None) -> QDoubleSpinBox:
    """A spin box that reports `edited(value)` when an edit is done, not on every key."""
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    if step is not None:
        box.setSingleStep(step)
    box.setKeyboardTracking(False)
    box.valueChanged.connect(edited)
    return box
