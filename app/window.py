"""The main window: a start page, the viewport, the minimap and inspector docks, menus with
every shortcut, a status HUD and a log of what went wrong.

Errors never take the window down: the bridge reports them as messages (the world stays at
its last good state), shown in the status bar and appended to the log dock.

Nothing is lost on a crash: the bridge writes a recovery copy of the world every few
segments (Settings) and on close when the world has unsaved changes. The next start finds
it and offers, on the start page, to restore or discard it; `session/running` in the
settings tells a crash from a clean close. Window layout and settings persist in QSettings.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, QSize, QStandardPaths, Qt, QTimer
from PySide6.QtGui import QAction, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app import settings as prefs
from app.bridge import EngineBridge
from app.inspector import Inspector
from app.keys import binding
from app.minimap import Minimap
from app.pathdock import PathDock
from app.renderjob import RenderPlan, RenderRunner
from app.viewport import Viewport
from engine.messages import WorldInfo

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff);;All files (*)"
PATH_FILTERS = {
    "Latentscape camera path (*.json)": "latentscape",
    "nerfstudio camera_path.json (*.json)": "nerfstudio",
}
RECENT_MAX = 8
DOCK_WIDTH = 340  # the minimap and inspector docks, at first start
PATH_DOCK_HEIGHT = 230  # the camera path strip, the first time it opens


class StartPage(QWidget):
    """Sample scenes as thumbnails, Open photo..., Open world..., recent files."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        from engine.scenes import SCENES, list_scenes

        layout = QVBoxLayout(self)
        title = QLabel("<h2>Latentscape</h2>Fly through a world generated from one photo.")
        layout.addWidget(title)
        layout.addWidget(QLabel("Sample scenes (double-click to open):"))
        self.scenes = QListWidget()
        self.scenes.setViewMode(QListWidget.ViewMode.IconMode)
        self.scenes.setIconSize(QSize(192, 144))
        self.scenes.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.scenes.setMovement(QListWidget.Movement.Static)
        for name in list_scenes():
            item = QListWidgetItem(name)
            photo = Path(SCENES) / name / "photo.png"
            if photo.is_file():
                item.setIcon(QIcon(QPixmap(str(photo)).scaled(192, 144, Qt.KeepAspectRatio)))
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.scenes.addItem(item)
        self.scenes.itemActivated.connect(
            lambda item: window.open_source(item.data(Qt.ItemDataRole.UserRole))
        )
        layout.addWidget(self.scenes, 2)
        buttons = QHBoxLayout()
        for text, slot in (
            ("Open photo...", window.open_photo_dialog),
            ("Open world...", window.open_world_dialog),
        ):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        # shown when a recovery copy of an unsaved world was found
        self.recovery = QWidget()
        row = QHBoxLayout(self.recovery)
        row.setContentsMargins(0, 0, 0, 0)
        self.recovery_text = QLabel()
        self.recovery_text.setWordWrap(True)
        row.addWidget(self.recovery_text, 1)
        self.restore_button = QPushButton("Restore")
        self.restore_button.clicked.connect(window.restore_recovery)
        self.discard_button = QPushButton("Discard")
        self.discard_button.clicked.connect(window.discard_recovery)
        row.addWidget(self.restore_button)
        row.addWidget(self.discard_button)
        self.recovery.setStyleSheet("QWidget { background: #3a3220; }")
        self.recovery.hide()
        layout.addWidget(self.recovery)
        layout.addWidget(QLabel("Recent:"))
        self.recent = QListWidget()
        self.recent.itemActivated.connect(lambda item: window.open_source(item.text()))
        layout.addWidget(self.recent, 1)

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        self.recent.addItems(paths)


class MainWindow(QMainWindow):
    """See the module docstring."""

    def __init__(
        self,
        bridge: EngineBridge | None = None,
        settings: QSettings | None = None,
        recovery: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Latentscape")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("Latentscape", "Latentscape")
        config, problems = prefs.load_config(self.settings)
        self.bridge = bridge or EngineBridge(config)
        self.recovery = Path(recovery) if recovery else default_recovery_path()
        # the path being edited, written on every edit: it survives a crash and a close
        self.path_recovery = self.recovery.with_name(self.recovery.stem + ".path.json")
        self._kept_path = None  # the path last written there
        self.bridge.autosave = str(self.recovery)
        self.bridge.autosave_every = prefs.autosave_every(self.settings)
        self.crashed = self.settings.value("session/running", "false") in ("true", True)
        self.settings.setValue("session/running", True)
        self.settings.sync()
        self.info: WorldInfo | None = None
        # (time, pose) shown while R records, and the latest recording (it goes to the path dock)
        self.recording: list[tuple[float, np.ndarray]] | None = None
        self.recorded: list[tuple[float, np.ndarray]] = []
        self.renders = RenderRunner(self)
        self.stats: dict = {}
        self.generating = False
        self.busy = False
        self.progress_text = ""
        self.messages: list[str] = []  # every error shown, newest last

        self.viewport = Viewport()
        self.start_page = StartPage(self)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.start_page)
        self.pages.addWidget(self.viewport)
        self.setCentralWidget(self.pages)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log_dock = QDockWidget("Log", self)
        self.log_dock.setObjectName("log")
        self.log_dock.setWidget(self.log)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)
        self.log_dock.hide()
        self.minimap = Minimap()
        self.minimap_dock = self._dock("Minimap", "minimap", self.minimap)
        # a strip under the viewport, shown on the first path action (K, R, T, opening one)
        self.path_dock = PathDock()
        self.path_dock_widget = self._dock(
            "Camera path", "path", self.path_dock, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.path_dock_widget.hide()
        self._path_dock_sized = False
        # the right docks run the full height: the strip sits under the viewport only
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.inspector = Inspector()
        self.inspector_dock = self._dock("Memory inspector", "inspector", self.inspector)
        self.tabifyDockWidget(self.minimap_dock, self.inspector_dock)
        self.minimap_dock.raise_()

        self.hud = QLabel()
        self.statusBar().addPermanentWidget(self.hud)
        self._build_menus()

        b = self.bridge
        b.opened.connect(self._on_opened)
        b.frame.connect(self.viewport.set_frame)
        b.stats.connect(self._on_stats)
        b.error.connect(self.show_error)
        b.busy.connect(self._on_busy)
        b.progress.connect(self._on_progress)
        b.saved.connect(lambda p: self._note(f"saved the world to {p}"))
        b.undone.connect(lambda what: self._note(f"undone: {what}"))
        b.autosaved.connect(self._on_autosaved)
        b.memory_map.connect(self.minimap.set_map)
        b.inspection.connect(self.inspector.set_inspection)
        b.stats.connect(self.inspector.set_stats)
        self.viewport.pose_changed.connect(b.move)
        self.viewport.pose_changed.connect(self._on_pose)
        self.viewport.gl_failed.connect(self.show_error)
        self.minimap.face.connect(self.face_point)
        self.minimap.erase.connect(self._erase)
        self.inspector_dock.visibilityChanged.connect(b.set_inspecting)
        p = self.path_dock
        p.view_requested.connect(self.show_pose)
        p.changed.connect(self._draw_path)
        p.add_requested.connect(self.add_keyframe)
        p.update_requested.connect(self.update_keyframe)
        p.record_requested.connect(self.record_action.trigger)
        p.open_requested.connect(self.open_path_dialog)
        p.save_requested.connect(self.save_path_dialog)
        p.render_requested.connect(self.render_dialog)
        p.cancel_render.connect(self.renders.cancel)
        p.error.connect(self.show_error)
        r = self.renders
        r.started.connect(p.render_started)
        r.progress.connect(p.render_progress)
        r.finished.connect(self._on_rendered)
        r.failed.connect(self._on_render_failed)

        self.hud_timer = QTimer(self)
        self.hud_timer.timeout.connect(self._update_hud)
        self.hud_timer.start(250)
        self.start_page.set_recent(self.recent_files())
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 760)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        else:  # the viewport keeps most of the width
            self.resizeDocks([self.minimap_dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)
        self._offer_recovery()
        self._restore_path()
        for problem in problems:
            self.show_error(problem)

    def _dock(
        self, title: str, name: str, widget: QWidget, area=Qt.DockWidgetArea.RightDockWidgetArea
    ) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState/restoreState find docks by name
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    # ---- menus

    def _action(self, menu, text, slot, key: str | None = None) -> QAction:
        """A menu action; `key` names its binding in app.keys, which gives its shortcut."""
        action = QAction(text, self)
        if key is not None:
            action.setShortcuts([QKeySequence(k) for k in binding(key).shortcuts])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)  # shortcuts work while the menu bar is hidden too
        return action

    def _build_menus(self) -> None:
        from engine.scenes import list_scenes

        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&Open photo...", self.open_photo_dialog, "open_photo")
        self._action(file, "Open &world...", self.open_world_dialog, "open_world")
        samples = file.addMenu("Open &sample scene")
        for name in list_scenes():
            self._action(samples, name, lambda _=False, n=name: self.open_source(n))
        self._action(file, "&Save world...", self.save_world_dialog, "save_world")
        file.addSeparator()
        self._action(file, "Open camera pat&h...", self.open_path_dialog, "open_path")
        self._action(file, "Save camera &path...", self.save_path_dialog, "save_path")
        self._action(file, "&Render path to video...", self.render_dialog, "render")
        self._action(file, "Screens&hot", self.screenshot, "screenshot")
        file.addSeparator()
        self._action(file, "&Quit", self.close, "quit")
        edit = bar.addMenu("&Edit")
        self._action(edit, "&Undo last segment or erase", self.bridge.undo, "undo")
        edit.addSeparator()
        self._action(edit, "Se&ttings...", self.settings_dialog, "settings")
        world = bar.addMenu("&World")
        self.generate_action = self._action(
            world, "&Generate (start / pause)", self.toggle_generation, "generate"
        )
        self.generate_action.setCheckable(True)
        self._action(world, "Release mouse / &cancel segment", self.escape, "escape")
        path = bar.addMenu("&Path")
        self.record_action = self._action(path, "&Record path", self.toggle_recording, "record")
        self.record_action.setCheckable(True)
        dock = self.path_dock
        self._action(path, "&Add keyframe at the view", self.add_keyframe, "add_keyframe")
        self._action(path, "&Update keyframe to the view", self.update_keyframe, "update_keyframe")
        self._action(path, "D&uplicate keyframe", dock.duplicate_selected, "duplicate_keyframe")
        self._action(path, "&Delete keyframe", dock.delete_selected, "delete_keyframe")
        self._action(
            path, "&Go to keyframe", lambda: dock.go_to(dock.editor.selected), "go_to_keyframe"
        )
        self._action(
            path, "Pre&vious keyframe", lambda: self.step_keyframe(-1), "previous_keyframe"
        )
        self._action(path, "&Next keyframe", lambda: self.step_keyframe(1), "next_keyframe")
        self._action(path, "&Play / pause preview", dock.toggle_play, "play")
        self._action(path, "Undo path &edit", dock.undo, "undo_path_edit")
        self._action(path, "&Clear path", dock.clear)
        self._action(path, "Cancel &render", self.renders.cancel)
        view = bar.addMenu("&View")
        self.overlay_action = self._action(
            view, "&Overlay (generated tokens / depth / none)", self.next_overlay, "overlay"
        )
        self.overlay_action.setCheckable(True)
        self._action(
            view,
            "&Capture mouse (Esc releases)",
            lambda: self.viewport.set_captured(True),
            "capture",
        )
        view.addSeparator()
        for dock, key in (
            (self.minimap_dock, "minimap"),
            (self.inspector_dock, "inspector"),
            (self.path_dock_widget, "path_strip"),
        ):
            action = dock.toggleViewAction()
            action.setShortcuts([QKeySequence(k) for k in binding(key).shortcuts])
            view.addAction(action)
            self.addAction(action)
        view.addAction(self.log_dock.toggleViewAction())
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Controls", self.viewport.toggle_help, "help")

    # ---- opening and saving

    def open_source(self, source: str) -> None:
        """Open a photo, sample scene or saved world (on the engine thread)."""
        self._note(f"opening {source} ...")
        self.bridge.open(str(source))
        path = Path(str(source))
        if path.exists() and path.resolve() != self.recovery.resolve():
            self._remember(str(path.resolve()))

    def open_photo_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open photo", "", IMAGE_FILTER)
        if path:
            self.open_source(path)

    def open_world_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open saved world")
        if path:
            self.open_source(path)

    def save_world_dialog(self) -> None:
        if self.info is None:
            self.show_error("there is no world to save yet: open a photo or a scene first")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save world", "world.lsworld")
        if path:
            self.bridge.save(path)

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember(self, path: str) -> None:
        recent = [path, *[p for p in self.recent_files() if p != path]][:RECENT_MAX]
        self.settings.setValue("recent", recent)
        self.start_page.set_recent(recent)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_source(urls[0])
            event.acceptProposedAction()

    def settings_dialog(self) -> None:
        dialog = prefs.SettingsDialog(self.settings, self)
        if dialog.exec():
            self.bridge.set_config(dialog.config())
            self.bridge.autosave_every = prefs.autosave_every(self.settings)
            self._note("settings saved: they apply to the next photo or scene opened")

    # ---- recovery

    def _offer_recovery(self) -> None:
        page = self.start_page
        if not (self.recovery / "world.json").is_file():
            page.recovery.hide()
            return
        when = time.strftime(
            "%Y-%m-%d %H:%M", time.localtime((self.recovery / "world.json").stat().st_mtime)
        )
        segments = self.settings.value("recovery/segments", "?")
        why = (
            "Latentscape did not close cleanly last time."
            if self.crashed
            else "The world of the last session was not saved."
        )
        page.recovery_text.setText(
            f"{why} A recovery copy from {when} ({segments} segments) is kept: restore it?"
        )
        page.recovery.show()

    def restore_recovery(self) -> None:
        self.open_source(str(self.recovery))
        self.start_page.recovery.hide()

    def discard_recovery(self) -> None:
        shutil.rmtree(self.recovery, ignore_errors=True)
        self.start_page.recovery.hide()
        self._note("recovery copy discarded")

    def _on_autosaved(self, path: str) -> None:
        self.settings.setValue("recovery/segments", self.stats.get("segments", "?"))
        self._note(f"recovery copy written to {path}")

    # ---- actions

    def toggle_generation(self) -> None:
        self.generating = not self.generating
        self.generate_action.setChecked(self.generating)
        self.bridge.set_generating(self.generating)
        self._note("generation on" if self.generating else "generation paused")

    def escape(self) -> None:
        """Esc: release a captured mouse; otherwise stop the segment being generated."""
        if self.viewport.captured:
            self.viewport.set_captured(False)
        else:
            self.bridge.cancel()

    def toggle_recording(self) -> None:
        """R: start recording the camera path, or stop: the flight becomes the path dock's
        path (to preview, refine, save or render)."""
        if self.recording is None:
            if self.viewport.navigator is None:
                self.show_error("open a photo or a scene before recording a path")
                self.record_action.setChecked(False)
                return
            self.recording = [(time.monotonic(), self.viewport.navigator.pose)]
            self._note("recording the camera path: fly, then press R again")
        else:
            self.recording.append((time.monotonic(), self.viewport.navigator.pose))
            self.recorded, self.recording = self.recording, None
            self._recorded_to_path()
        self.record_action.setChecked(self.recording is not None)
        self.path_dock.buttons["record"].setChecked(self.recording is not None)

    def _on_pose(self, pose) -> None:
        if self.info is not None:
            self.minimap.set_camera(pose, self.info.K, self.info.width, self.info.height)
        if self.recording is not None:
            self.recording.append((time.monotonic(), np.array(pose, copy=True)))

    def _recorded_to_path(self) -> None:
        """The latest recording becomes the dock's path (one undo step there): keyframes
        chosen so the path stays within 1 cm and half a degree of every pose flown, at the
        times they were flown."""
        from engine.path import CameraPath, RenderSettings

        times, shown = zip(*self.recorded)
        dock = self.path_dock
        try:
            recorded = CameraPath.from_recording(
                times,
                shown,
                fov=self.view_fov(),
                render=RenderSettings(self.info.width, self.info.height, dock.editor.state.fps),
            )
        except ValueError as e:
            self.show_error(f"the recording makes no path: {e}")
            return
        dock.set_path(recorded)
        self.reveal_path_dock()
        self._note(
            f"recorded {len(self.recorded)} poses as {len(recorded.keyframes)} keyframes "
            f"({recorded.duration:.1f} s); Play (P) previews it, Render... renders it"
        )

    def view_fov(self) -> float:
        """The vertical field of view of the world's camera, degrees."""
        import math

        return math.degrees(2 * math.atan(self.info.height / (2 * self.info.K[1, 1])))

    # ---- the camera path

    def reveal_path_dock(self) -> None:
        """Show the path strip (at its default height the first time it opens)."""
        dock = self.path_dock_widget
        if not dock.isVisible():
            dock.show()
            if not self._path_dock_sized:
                self._path_dock_sized = True
                self.resizeDocks([dock], [PATH_DOCK_HEIGHT], Qt.Orientation.Vertical)

    def show_pose(self, pose) -> None:
        """Put the camera at pose (the path dock's playback, scrubbing and go-to)."""
        nav = self.viewport.navigator
        if nav is None:
            return
        nav.set_pose(pose)
        self.viewport.pose_changed.emit(nav.pose)
        self.viewport.update()

    def add_keyframe(self) -> None:
        """K: a keyframe at the current view."""
        if self.viewport.navigator is None:
            self.show_error("open a photo or a scene before adding keyframes")
            return
        self.path_dock.add_key(self.viewport.navigator.pose, self.view_fov())
        self.reveal_path_dock()

    def update_keyframe(self) -> None:
        """U: the selected keyframe takes the current view."""
        if self.viewport.navigator is not None:
            self.path_dock.update_key(self.viewport.navigator.pose)

    def step_keyframe(self, step: int) -> None:
        """[ and ]: go to the previous or next keyframe."""
        dock = self.path_dock
        n = len(dock.editor.keys)
        if n:
            current = dock.editor.selected
            dock.go_to(min(max((step if current is None else current + step), 0), n - 1))

    def _draw_path(self) -> None:
        """The dock's keyframes and curve on the minimap; the path's recovery copy."""
        from engine.path import save_path

        editor = self.path_dock.editor
        if editor.path is not self._kept_path:  # an edit (each makes a new path), not a select
            self._kept_path = editor.path
            try:
                if editor.path is not None:
                    save_path(editor.path, self.path_recovery)
                else:
                    self.path_recovery.unlink(missing_ok=True)
            except OSError as e:
                self._note(f"could not keep a copy of the camera path: {e}")
        if not editor.keys or self.info is None:
            self.minimap.clear_path()
            return
        self.minimap.set_path(
            np.stack([k.pose for k in editor.keys]),
            np.array([k.fov for k in editor.keys]),
            self.info.width,
            self.info.height,
            curve=editor.curve(),
            selected=editor.selected,
        )

    def _restore_path(self) -> None:
        """The path of the last session, back in the dock."""
        from engine.path import load_path

        if not self.path_recovery.is_file():
            return
        try:
            self.path_dock.set_path(load_path(self.path_recovery))
        except (OSError, ValueError) as e:
            self._note(f"the last session's camera path could not be read: {e}")
            return
        self._note("the camera path of the last session is back in the path strip (T)")

    def open_path_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open camera path", "", "Camera paths (*.json);;All files (*)"
        )
        if path:
            self.open_path(path)

    def open_path(self, file: str) -> bool:
        """A camera path file (the project's JSON or nerfstudio's) into the path dock."""
        from engine.path import load_path

        try:
            loaded = load_path(file)
        except (OSError, ValueError) as e:
            self.show_error(f"could not open the camera path: {e}")
            return False
        self.path_dock.set_path(loaded)
        self.reveal_path_dock()
        self._note(f"opened {file}: {len(loaded.keyframes)} keyframes, {loaded.duration:.1f} s")
        return True

    def save_path_dialog(self) -> None:
        if self.path_dock.editor.path is None:
            self.show_error("no camera path yet: add two keyframes (K) or record one (R)")
            return
        path, chosen = QFileDialog.getSaveFileName(
            self, "Save camera path", "path.json", ";;".join(PATH_FILTERS)
        )
        if path:
            self.save_path(path, PATH_FILTERS.get(chosen, "latentscape"))

    def save_path(self, file: str, fmt: str = "latentscape") -> bool:
        """Write the dock's path: fmt "latentscape" (the project's JSON, for
        `latentscape render --path`) or "nerfstudio" (camera_path.json)."""
        from engine.path import save_path

        path = self.path_dock.editor.path
        if path is None:
            self.show_error("no camera path yet: add two keyframes (K) or record one (R)")
            return False
        try:
            save_path(path, file, fmt)
        except (OSError, ValueError) as e:
            self.show_error(f"could not save the camera path to {file}: {e}")
            return False
        self._note(f"saved the camera path ({len(path.keyframes)} keyframes, {fmt}) to {file}")
        return True

    def render_dialog(self) -> None:
        if not self._can_render():
            return
        dialog = RenderDialog(self, self.path_dock.editor)
        if dialog.exec():
            self.render_path(dialog.out.text(), dialog.keep.isChecked(), dialog.frames.text())

    def _can_render(self) -> bool:
        if self.info is None:
            self.show_error("open a photo or a scene before rendering")
        elif self.path_dock.editor.path is None:
            self.show_error("no camera path yet: add two keyframes (K) or record one (R)")
        elif self.renders.running:
            self.show_error("a render is running: cancel it or wait for it")
        else:
            return True
        return False

    def render_path(self, out: str, keep: bool = True, frames: str | None = None) -> bool:
        """Render the dock's path through a snapshot of the world into the video `out`, in
        the background (app/renderjob.py): the job `latentscape render` runs."""
        if not self._can_render():
            return False
        if not str(out).strip():
            self.show_error("give the video a file name")
            return False
        plan = RenderPlan.beside(out, keep=keep, frames=frames or None)
        editor = self.path_dock.editor
        if not self.renders.render(self.bridge, editor.path, plan, fps=editor.state.fps):
            return False
        self.path_dock.render_started(0, "the world's snapshot")
        self._note(f"rendering the camera path to {plan.out} ...")
        return True

    def _on_rendered(self, result) -> None:
        self.path_dock.render_ended()
        plan = self.renders.plan
        if result.interrupted:
            kept = f"; the {result.frames} frames done are in {result.partial}"
            self._note("render cancelled" + (kept if result.partial else ""))
            return
        self._note(f"rendered {result.frames} frames to {result.out}")
        if plan is not None and plan.temporary is None:
            self._note(f"the same render from the command line: {plan.command()}")

    def _on_render_failed(self, message: str) -> None:
        self.path_dock.render_ended()
        self.show_error(message)

    def face_point(self, x: float, y: float) -> None:
        """Turn the camera (about world up) to face the ground point (x, y) of the minimap."""
        nav = self.viewport.navigator
        if nav is None or self.info is None:
            return
        origin, right, forward, _ = self.info.ground
        target = origin + x * right + y * forward
        nav.face(target)
        self.viewport.pose_changed.emit(nav.pose)
        self.viewport.update()

    def _erase(self, points, radius: float) -> None:
        self.bridge.erase(points, radius)
        self._note(f"erasing the memory under the brush ({len(points)} points); Ctrl+Z undoes")

    def next_overlay(self) -> None:
        """F: the next overlay of the viewport (app.renderer.OVERLAYS)."""
        from app.renderer import OVERLAYS

        vp = self.viewport
        vp.overlay = OVERLAYS[(OVERLAYS.index(vp.overlay) + 1) % len(OVERLAYS)]
        self.overlay_action.setChecked(vp.overlay != "none")
        self._note(f"overlay: {vp.overlay}")
        vp.update()

    def screenshot(self, path: str | None = None) -> str | None:
        """Save what the viewport shows as a PNG; returns the path."""
        if path is None:
            folder = Path(self.settings.value("screenshots", str(Path.home())))
            path = str(folder / time.strftime("latentscape-%Y%m%d-%H%M%S.png"))
        image = self.viewport.grab_view()
        if image.isNull() or not image.save(path):
            self.show_error(f"could not save a screenshot to {path}")
            return None
        self._note(f"screenshot saved to {path}")
        return path

    # ---- engine results

    def _on_opened(self, info: WorldInfo) -> None:
        self.info = info
        self.minimap.clear()
        self.minimap.set_ground(info.ground)
        self.path_dock.set_size(info.width, info.height)
        self._draw_path()  # the path is kept across worlds: a saved world opens again
        self.inspector.clear()
        self.viewport.start(info.pose, info.up)
        self.pages.setCurrentWidget(self.viewport)
        self.viewport.setFocus()
        self.setWindowTitle(f"Latentscape - {Path(info.source).name}")
        for note in info.notes:
            self._note(note)
        self._note(f"opened {info.source} ({info.width}x{info.height})")

    def _on_stats(self, stats: dict) -> None:
        self.stats = stats

    def _on_busy(self, busy: bool) -> None:
        self.busy = busy
        if not busy:
            self.progress_text = ""

    def _on_progress(self, done: int, total: int, what: str) -> None:
        self.progress_text = f"{what} {100 * done // total}%" if total else what

    def show_error(self, message: str) -> None:
        """Non-modal: status bar and log; the window and the world stay usable."""
        self.messages.append(message)
        self.statusBar().showMessage(message, 10000)
        self.log.appendPlainText(f"error: {message}")
        self.log_dock.show()

    def _note(self, message: str) -> None:
        self.statusBar().showMessage(message, 5000)
        self.log.appendPlainText(message)

    def _update_hud(self) -> None:
        s = self.stats
        parts = [f"{self.viewport.fps:.0f} fps"]
        if s:
            parts += [
                f"segment {s['segments']}",
                f"memory {s['bytes'] / 2**20:.2f} MiB ({s['entries']:,} entries; "
                f"RGB would need {s['rgb_bytes'] / 2**20:.1f} MiB)",
                s["backend"],
            ]
        parts.append(
            ("generating " + self.progress_text)
            if self.busy
            else ("generation on" if self.generating else "generation paused")
        )
        self.hud.setText("  |  ".join(parts))

    def closeEvent(self, event) -> None:  # noqa: N802
        if self.renders.running:  # the frames done are kept as a partial video
            self.renders.cancel()
            self.renders.wait(60.0)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        if self.stats.get("unsaved"):
            self.bridge.save_recovery()  # the next start offers it
            self.settings.setValue("recovery/segments", self.stats.get("segments", "?"))
        elif self.info is not None:  # saved or untouched: nothing to recover
            shutil.rmtree(self.recovery, ignore_errors=True)
        self.bridge.shutdown(timeout=60.0, drain=True)
        self.settings.setValue("session/running", False)
        self.settings.sync()
        super().closeEvent(event)


def default_recovery_path() -> Path:
    """Where the recovery copy lives: the per-user application data folder."""
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(folder or Path.home() / ".latentscape") / "recovery.lsworld"


class RenderDialog(QDialog):
    """Render...: the video file, whether the snapshot and the path stay beside it, and an
    optional folder for the frames with their cameras (nerfstudio and COLMAP)."""

    def __init__(self, parent: MainWindow, editor) -> None:
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
