"""The path dock: key-frame, record, preview and render a camera path (engine/path.py).

`PathEditor` holds the path being edited, without Qt: keyframes (pose, fov, time), the
interpolation settings and the render rate, and an undo stack of whole states (a path is a
few kilobytes; a state per edit is the cheap, exact undo). Every edit that would make a
path `CameraPath` refuses (two keys at one time, a loop with easing) is refused before it
changes anything, with CameraPath's message.

`PathDock` is the widget: a keyframe table (time, fov) with Add from the current view,
Update to the view, Duplicate, Delete, Go to (double-click); the selected key's time and fov
to edit (moving a key in time); a `Timeline` (app/timeline.py) to scrub; play/pause with
the duration, fps and interpolation settings; Record; Open/Save (the project's JSON or
nerfstudio's camera_path.json); Render... with a progress bar and Cancel.

The dock never moves the camera itself: it asks with `view_requested(pose)` and the window
puts the navigator there (the engine then shows the memory's readout at that pose). Preview
playback ticks at display rate in real time; it shows the path's poses at the world's field
of view (a per-keyframe fov reaches the rendered frames, not the live preview).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
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

from app.timeline import Timeline
from engine.path import EASINGS, CameraPath, Keyframe, RenderSettings

SPACING = 2.0  # seconds after the last keyframe where a new one goes
SAME_TIME = 1e-3  # seconds: the playhead is "on" a keyframe this close to it
UNDO_DEPTH = 200
CURVE_SAMPLES = 256  # points of the path drawn on the minimap


@dataclass
class _State:
    keys: list[Keyframe]
    tension: float = 0.0
    loop: bool = False
    period: float | None = None
    easing: str = "linear"
    constant_speed: bool = False
    fps: float = 24.0
    selected: int | None = None


class PathEditor:
    """See the module docstring. `path` is None while there are fewer than two keyframes."""

    def __init__(self, width: int = 512, height: int = 384) -> None:
        self.state = _State(keys=[])
        self.size = (width, height)  # the render size: the world's frame size
        self._undo: list[_State] = []
        self.path: CameraPath | None = None

    # ---- reading

    @property
    def keys(self) -> list[Keyframe]:
        return self.state.keys

    @property
    def selected(self) -> int | None:
        return self.state.selected

    @property
    def duration(self) -> float:
        return self.path.duration if self.path is not None else 0.0

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def pose_at(self, t: float) -> tuple[np.ndarray, float] | None:
        """The path's pose (4, 4) and fov at time t, or None without a path."""
        if self.path is None:
            return None
        poses, fovs = self.path.poses([t])
        return poses[0], float(fovs[0])

    # ---- editing (each one undo step; ValueError leaves everything as it was)

    def _edit(self, change) -> None:
        state = copy.deepcopy(self.state)
        change(state)
        if state.selected is not None and not 0 <= state.selected < len(state.keys):
            state.selected = len(state.keys) - 1 if state.keys else None
        # a loop's period stays while it still closes the loop; else the default follows
        # the keys (one mean span after the last)
        keys = state.keys
        if not state.loop or len(keys) < 2 or (state.period or 0.0) <= keys[-1].time - keys[0].time:
            state.period = None
        path = self._make(state)  # raises before anything changed
        self._undo = [*self._undo[-(UNDO_DEPTH - 1) :], self.state]
        self.state, self.path = state, path

    def _make(self, s: _State) -> CameraPath | None:
        if len(s.keys) < 2:
            return None
        return CameraPath(
            [copy.copy(k) for k in s.keys],
            tension=s.tension,
            loop=s.loop,
            period=s.period,
            easing=s.easing,
            constant_speed=s.constant_speed,
            render=RenderSettings(*self.size, s.fps),
        )

    def set_size(self, width: int, height: int) -> None:
        """The render size (the world's frame size); not an edit."""
        self.size = (width, height)
        self.path = self._make(self.state)

    def undo(self) -> bool:
        if not self._undo:
            return False
        self.state = self._undo.pop()
        self.path = self._make(self.state)
        return True

    def select(self, index: int | None) -> None:
        """Not an edit (no undo step)."""
        if index is not None and not 0 <= index < len(self.keys):
            raise IndexError(f"no keyframe {index}: the path has {len(self.keys)}")
        self.state.selected = index

    def add(self, pose, fov: float, at: float | None = None) -> int:
        """A keyframe at the view `pose`: at time `at` when it falls strictly inside the path
        and on no keyframe, else SPACING seconds after the last (0 for the first). Returns
        its index (it becomes the selected one)."""
        keys = self.keys
        if not keys:
            t = 0.0
        elif (
            at is not None
            and keys[0].time < at < keys[-1].time
            and min(abs(k.time - at) for k in keys) > SAME_TIME
        ):
            t = float(at)
        else:
            t = keys[-1].time + SPACING
        key = Keyframe(pose, fov, t)

        def change(s: _State) -> None:
            s.keys = sorted([*s.keys, key], key=lambda k: k.time)
            s.selected = next(i for i, k in enumerate(s.keys) if k is key)

        self._edit(change)
        return self.state.selected

    def delete(self, index: int) -> None:
        self._check(index)

        def change(s: _State) -> None:
            del s.keys[index]
            s.selected = min(index, len(s.keys) - 1) if s.keys else None

        self._edit(change)

    def duplicate(self, index: int) -> int:
        """A copy of keyframe `index` halfway to the next (SPACING after, for the last)."""
        self._check(index)
        keys = self.keys
        t = (
            (keys[index].time + keys[index + 1].time) / 2
            if index + 1 < len(keys)
            else keys[index].time + SPACING
        )
        key = Keyframe(keys[index].pose, keys[index].fov, t)

        def change(s: _State) -> None:
            s.keys.insert(index + 1, key)
            s.selected = index + 1

        self._edit(change)
        return index + 1

    def retime(self, index: int, t: float) -> int:
        """Move keyframe `index` to time t (refused on another key's time); returns its new
        index in time order."""
        self._check(index)
        key = Keyframe(self.keys[index].pose, self.keys[index].fov, t)

        def change(s: _State) -> None:
            s.keys[index] = key
            s.keys.sort(key=lambda k: k.time)
            s.selected = next(i for i, k in enumerate(s.keys) if k is key)

        self._edit(change)
        return self.state.selected

    def set_view(self, index: int, pose, fov: float | None = None) -> None:
        """Keyframe `index` takes the view `pose` (and fov), keeping its time."""
        self._check(index)
        old = self.keys[index]
        key = Keyframe(pose, old.fov if fov is None else fov, old.time)

        def change(s: _State) -> None:
            s.keys[index] = key

        self._edit(change)

    def set_fov(self, index: int, fov: float) -> None:
        self.set_view(index, self.keys[index].pose, fov)

    def set_duration(self, seconds: float) -> None:
        """Stretch the keyframe times (from the first) so the path lasts `seconds`."""
        if self.path is None:
            raise ValueError("a path needs two keyframes before it has a duration")
        if not seconds > 0:
            raise ValueError(f"the duration must be positive, got {seconds}")
        scale = seconds / self.duration
        t0 = self.keys[0].time

        def change(s: _State) -> None:
            s.keys = [Keyframe(k.pose, k.fov, t0 + (k.time - t0) * scale) for k in s.keys]
            if s.period is not None:
                s.period *= scale

        self._edit(change)

    def set_options(self, **options) -> None:
        """tension, loop, easing, constant_speed, fps: checked as a CameraPath checks them.
        Looping turns easing to linear (a loop has no start or end to ease)."""
        unknown = set(options) - {"tension", "loop", "easing", "constant_speed", "fps"}
        if unknown:
            raise ValueError(f"unknown path options {sorted(unknown)}")
        if "fps" in options and not (options["fps"] > 0):
            raise ValueError(f"fps must be positive, got {options['fps']}")
        if "easing" in options and options["easing"] not in EASINGS:
            raise ValueError(f"easing must be one of {EASINGS}, got {options['easing']!r}")

        def change(s: _State) -> None:
            for name, value in options.items():
                setattr(s, name, value)
            if s.loop:
                s.easing = "linear"

        self._edit(change)

    def replace(self, path: CameraPath) -> bool:
        """The whole path (opened from a file, or recorded): one undo step."""

        def change(s: _State) -> None:
            s.keys = [copy.copy(k) for k in path.keyframes]
            s.tension, s.loop, s.period = path.tension, path.loop, path.period
            s.easing, s.constant_speed = path.easing, path.constant_speed
            s.fps = path.render.fps
            s.selected = 0

        self._edit(change)
        return True

    def clear(self) -> None:
        if self.keys:
            self._edit(lambda s: s.keys.clear())

    def _check(self, index: int) -> None:
        if not 0 <= index < len(self.keys):
            raise IndexError(f"no keyframe {index}: the path has {len(self.keys)}")

    # ---- for the minimap

    def curve(self, samples: int = CURVE_SAMPLES) -> np.ndarray | None:
        """(samples, 3) positions along the path, or None without a path."""
        if self.path is None:
            return None
        end = self.duration
        poses, _ = self.path.poses(np.linspace(0.0, end, samples, endpoint=not self.state.loop))
        return poses[:, :3, 3]


class PathDock(QWidget):
    """See the module docstring."""

    view_requested = Signal(object)  # (4, 4) pose: put the camera there
    changed = Signal()  # keyframes, settings or selection changed (the minimap redraws)
    add_requested = Signal()  # the window answers with add_key(pose, fov) of the view
    update_requested = Signal()  # the window answers with update_key(pose, fov)
    record_requested = Signal()
    render_requested = Signal()
    cancel_render = Signal()
    open_requested = Signal()
    save_requested = Signal()
    error = Signal(str)

    def __init__(self, parent=None, interval_ms: int = 16) -> None:
        super().__init__(parent)
        self.editor = PathEditor()
        self.time = 0.0
        self.playing = False
        self._last = time.perf_counter()
        self._syncing = False  # filling widgets from the editor: their signals are ignored

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["#", "time (s)", "fov (deg)"])
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._table_selected)
        self.table.cellDoubleClicked.connect(lambda row, _col: self.go_to(row))

        self.buttons = {}
        keys = QGridLayout()
        for i, (name, text, tip, slot) in enumerate(
            [
                ("add", "Add", "add a keyframe at the current view (K)", self.add_requested.emit),
                (
                    "update",
                    "Update",
                    "the selected keyframe takes the view (U)",
                    self.update_requested.emit,
                ),
                (
                    "duplicate",
                    "Copy",
                    "duplicate the selected keyframe, halfway to the next (Ctrl+D)",
                    self.duplicate_selected,
                ),
                ("delete", "Delete", "delete the selected keyframe (Delete)", self.delete_selected),
                (
                    "goto",
                    "Go to",
                    "put the camera at the selected keyframe (G)",
                    lambda: self.go_to(self.editor.selected),
                ),
                ("undo", "Undo", "undo the last path edit (Ctrl+Alt+Z)", self.undo),
            ]
        ):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            self.buttons[name] = b
            keys.addWidget(b, 0, i)

        self.key_time = QDoubleSpinBox()
        self.key_time.setRange(-1e4, 1e4)
        self.key_time.setDecimals(3)
        self.key_time.setSingleStep(0.1)
        self.key_time.setSuffix(" s")
        self.key_time.setKeyboardTracking(False)
        self.key_time.valueChanged.connect(self._key_time_edited)
        self.key_fov = QDoubleSpinBox()
        self.key_fov.setRange(1.0, 170.0)
        self.key_fov.setDecimals(1)
        self.key_fov.setSuffix(" deg")
        self.key_fov.setKeyboardTracking(False)
        self.key_fov.valueChanged.connect(self._key_fov_edited)
        key_form = QHBoxLayout()
        key_form.addWidget(QLabel("key at"))
        key_form.addWidget(self.key_time)
        key_form.addWidget(QLabel("fov"))
        key_form.addWidget(self.key_fov)

        self.timeline = Timeline()
        self.timeline.scrubbed.connect(self.seek)
        self.timeline.key_clicked.connect(self.go_to)
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip("play / pause the preview (P)")
        self.play_button.clicked.connect(self.toggle_play)
        self.time_label = QLabel()
        transport = QHBoxLayout()
        transport.addWidget(self.play_button)
        transport.addWidget(self.time_label, 1)

        self.duration_box = QDoubleSpinBox()
        self.duration_box.setRange(0.1, 1e4)
        self.duration_box.setDecimals(2)
        self.duration_box.setSuffix(" s")
        self.duration_box.setKeyboardTracking(False)
        self.duration_box.setToolTip("stretch the keyframe times to this duration")
        self.duration_box.valueChanged.connect(self._duration_edited)
        self.fps_box = QDoubleSpinBox()
        self.fps_box.setRange(1.0, 240.0)
        self.fps_box.setDecimals(2)
        self.fps_box.setKeyboardTracking(False)
        self.fps_box.valueChanged.connect(lambda v: self._option(fps=v))
        self.tension_box = QDoubleSpinBox()
        self.tension_box.setRange(0.0, 1.0)
        self.tension_box.setSingleStep(0.1)
        self.tension_box.setKeyboardTracking(False)
        self.tension_box.setToolTip("0: smooth (Catmull-Rom); 1: stop at every keyframe")
        self.tension_box.valueChanged.connect(lambda v: self._option(tension=v))
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

        files = QHBoxLayout()
        for name, text, tip, slot in (
            ("record", "Record", "record the flight as the path (R)", self.record_requested.emit),
            (
                "open",
                "Open...",
                "open a camera path (own or nerfstudio JSON)",
                self.open_requested.emit,
            ),
            ("save", "Save...", "save the camera path", self.save_requested.emit),
            (
                "render",
                "Render...",
                "render the path to a video (Ctrl+Shift+R)",
                self.render_requested.emit,
            ),
        ):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            self.buttons[name] = b
            files.addWidget(b)
        self.buttons["record"].setCheckable(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_render.emit)
        render_row = QHBoxLayout()
        render_row.addWidget(self.progress, 1)
        render_row.addWidget(self.cancel_button)
        self.render_row = QWidget()
        self.render_row.setLayout(render_row)
        render_row.setContentsMargins(0, 0, 0, 0)
        self.render_row.hide()

        # a strip under the viewport: the timeline across, then the keyframes beside the
        # playback and interpolation settings and the file and render buttons
        self.table.setMinimumHeight(60)
        key_column = QVBoxLayout()
        key_column.addWidget(self.table, 1)
        key_column.addLayout(key_form)
        key_column.addLayout(keys)
        settings_column = QVBoxLayout()
        settings_column.addLayout(transport)
        settings_column.addLayout(form)
        settings_column.addStretch(1)
        settings_column.addLayout(files)
        columns = QHBoxLayout()
        columns.addLayout(key_column, 1)
        columns.addLayout(settings_column, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.timeline)
        layout.addLayout(columns, 1)
        layout.addWidget(self.render_row)

        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.refresh()

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

    def update_key(self, pose, fov: float | None = None) -> None:
        if self.editor.selected is None:
            self.error.emit("camera path: select a keyframe to update")
            return
        self._do(self.editor.set_view, self.editor.selected, pose, fov)

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
