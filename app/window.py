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
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
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
from app.bridge import EngineBridge, WorldInfo
from app.inspector import Inspector
from app.minimap import Minimap
from app.viewport import Viewport

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff);;All files (*)"
RECENT_MAX = 8
DOCK_WIDTH = 340  # the minimap and inspector docks, at first start


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
        self.bridge.autosave = str(self.recovery)
        self.bridge.autosave_every = prefs.autosave_every(self.settings)
        self.crashed = self.settings.value("session/running", "false") in ("true", True)
        self.settings.setValue("session/running", True)
        self.settings.sync()
        self.info: WorldInfo | None = None
        # (time, pose) shown while R records, and the latest recording
        self.recording: list[tuple[float, np.ndarray]] | None = None
        self.recorded: list[tuple[float, np.ndarray]] = []
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
        for problem in problems:
            self.show_error(problem)

    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState/restoreState find docks by name
        dock.setWidget(widget)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        return dock

    # ---- menus

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)  # shortcuts work while the menu bar is hidden too
        return action

    def _build_menus(self) -> None:
        from engine.scenes import list_scenes

        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&Open photo...", self.open_photo_dialog, QKeySequence.StandardKey.Open)
        self._action(file, "Open &world...", self.open_world_dialog, "Ctrl+Shift+O")
        samples = file.addMenu("Open &sample scene")
        for name in list_scenes():
            self._action(samples, name, lambda _=False, n=name: self.open_source(n))
        self._action(file, "&Save world...", self.save_world_dialog, QKeySequence.StandardKey.Save)
        self._action(file, "Save recorded &path...", self.save_path_dialog)
        self._action(file, "Screens&hot", self.screenshot, "F12")
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit = bar.addMenu("&Edit")
        self._action(
            edit, "&Undo last segment or erase", self.bridge.undo, QKeySequence.StandardKey.Undo
        )
        edit.addSeparator()
        self._action(edit, "Se&ttings...", self.settings_dialog, "Ctrl+,")
        world = bar.addMenu("&World")
        self.generate_action = self._action(
            world, "&Generate (start / pause)", self.toggle_generation, "Space"
        )
        self.generate_action.setCheckable(True)
        self._action(world, "Release mouse / &cancel segment", self.escape, "Escape")
        self.record_action = self._action(world, "&Record path", self.toggle_recording, "R")
        self.record_action.setCheckable(True)
        view = bar.addMenu("&View")
        self.overlay_action = self._action(
            view, "&Overlay (generated tokens / depth / none)", self.next_overlay, "F"
        )
        self.overlay_action.setCheckable(True)
        self._action(
            view, "&Capture mouse (Esc releases)", lambda: self.viewport.set_captured(True), "C"
        )
        view.addSeparator()
        for dock, key in ((self.minimap_dock, "M"), (self.inspector_dock, "I")):
            action = dock.toggleViewAction()
            action.setShortcut(QKeySequence(key))
            view.addAction(action)
            self.addAction(action)
        view.addAction(self.log_dock.toggleViewAction())
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Controls", self.viewport.toggle_help, "F1")

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
        """R: start recording the camera path, or stop and keep it (File > Save recorded
        path... writes it for `latentscape render --path`)."""
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
            self._note(
                f"recorded {len(self.recorded)} poses: File > Save recorded path... to keep them"
            )
        self.record_action.setChecked(self.recording is not None)

    def _on_pose(self, pose) -> None:
        if self.info is not None:
            self.minimap.set_camera(pose, self.info.K, self.info.width, self.info.height)
        if self.recording is not None:
            self.recording.append((time.monotonic(), np.array(pose, copy=True)))

    def save_path_dialog(self) -> None:
        if not self.recorded:
            self.show_error("nothing recorded yet: press R, fly, press R again")
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save recorded path", "path.json", "Pose lists (*.json)"
        )
        if path:
            self.save_recorded(path)

    def save_recorded(self, path: str, fps: float = 24.0) -> bool:
        """Write the latest recording as a camera path (engine.path, the project's JSON):
        keyframes chosen so the path stays within 1 cm and half a degree of every pose
        flown, at the times they were flown; `latentscape render --path FILE` renders it at
        fps, at the speed it was flown."""
        import math

        from engine.path import CameraPath, RenderSettings, save_path

        info = self.info
        times, shown = zip(*self.recorded)
        fov = math.degrees(2 * math.atan(info.height / (2 * info.K[1, 1])))
        try:
            recorded = CameraPath.from_recording(
                times, shown, fov=fov, render=RenderSettings(info.width, info.height, fps)
            )
            save_path(recorded, path)
        except (OSError, ValueError) as e:
            self.show_error(f"could not save the path to {path}: {e}")
            return False
        self._note(
            f"saved {len(recorded.keyframes)} keyframes ({recorded.duration:.1f} s flown) to {path}"
        )
        return True

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
