"""The main window: it lays out and wires the parts, each of which lives in its own
module: the start page (app/startpage.py), the viewport, the minimap, inspector and camera
path docks (the path workflow is the dock's, app/pathdock.py), the menus (app/menus.py,
shortcuts from app/keys.py), Render... (app/renderjob.py), the HUD (app/hud.py), the jobs
bar (app/jobs.py) and a log of what went wrong.

Opening a photo or a world and saving one are jobs: asyncio tasks on the Qt loop that await
the engine thread's answer, shown with progress and Cancel in the status bar. Errors never
take the window down: the bridge reports them as messages (the world stays at its last good
state), shown in the status bar and appended to the log dock.

Nothing is lost on a crash: the bridge writes a recovery copy of the world every few
segments (Settings) and on close when the world has unsaved changes. The next start finds
it and offers, on the start page, to restore or discard it; `session/running` in the
settings tells a crash from a clean close. Window layout and settings persist in QSettings.
"""

from __future__ import annotations

import asyncio
import math
import time
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QPlainTextEdit,
    QStackedWidget,
    QWidget,
)

from app import settings as prefs
from app.batchjob import BatchFlow
from app.bridge import EngineBridge
from app.hud import Hud
from app.inspector import Inspector
from app.jobs import Job, JobBar, Jobs, engine_answer
from app.menus import build_menus
from app.minimap import Minimap
from app.pathdock import PathDock
from app.renderjob import RenderFlow
from app.startpage import StartPage
from app.viewport import Viewport
from engine.files import remove_folder
from engine.messages import WorldInfo

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff);;All files (*)"
DOCK_WIDTH = 340  # the minimap and inspector docks, at first start
PATH_DOCK_HEIGHT = 230  # the camera path strip, the first time it opens


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
        self.recovery = Path(recovery) if recovery else prefs.recovery_path()
        # the path being edited, written on every edit: it survives a crash and a close
        self.path_recovery = self.recovery.with_name(self.recovery.stem + ".path.json")
        self.bridge.autosave = str(self.recovery)
        self.bridge.autosave_every = prefs.autosave_every(self.settings)
        self.crashed = self.settings.value("session/running", "false") in ("true", True)
        self.settings.setValue("session/running", True)
        self.settings.sync()
        self.info: WorldInfo | None = None
        self.jobs = Jobs(self)  # opening, saving, rendering: asyncio tasks (app/jobs.py)
        self.messages: list[str] = []  # every error shown, newest last

        self.viewport = Viewport()
        self.start_page = StartPage(self, self.settings)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.start_page)
        self.pages.addWidget(self.viewport)
        self.setCentralWidget(self.pages)

        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log_dock = self._dock("Log", "log", self.log, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.log_dock.hide()
        self.minimap = Minimap()
        self.minimap_dock = self._dock("Minimap", "minimap", self.minimap)
        # a strip under the viewport, shown on the first path action (K, R, T, opening one)
        self.path_dock = PathDock(current_view=self.current_view)
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

        self.renders = RenderFlow(
            self.bridge, self.path_dock, self.jobs, lambda: self.info is not None, self
        )
        self.batches = BatchFlow(self.bridge, self.jobs, lambda: self.info is not None, self)
        self.hud = Hud(self.viewport)
        self.statusBar().addPermanentWidget(self.hud)
        self.statusBar().addPermanentWidget(JobBar(self.jobs))
        actions = build_menus(self)  # the checkable ones are kept in step with what they show
        self.generate_action, self.record_action, self.overlay_action = (
            actions[key] for key in ("generate", "record", "overlay")
        )

        b = self.bridge
        b.opened.connect(self._on_opened)
        b.frame.connect(self.viewport.set_frame)
        b.stats.connect(self.hud.set_stats)
        b.error.connect(self.show_error)
        b.busy.connect(self.hud.set_busy)
        b.progress.connect(self.hud.set_progress)
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
        p.reveal_requested.connect(self.reveal_path_dock)
        p.recording_changed.connect(self.record_action.setChecked)
        for source in (p, self.renders, self.batches, self.jobs):
            source.error.connect(self.show_error)
        for source in (p, self.renders, self.batches):
            source.note.connect(self._note)

        if (geometry := self.settings.value("window/geometry")) is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 760)
        if (state := self.settings.value("window/state")) is not None:
            self.restoreState(state)
        else:  # the viewport keeps most of the width
            self.resizeDocks([self.minimap_dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)
        self.start_page.offer_recovery(self.recovery, self.crashed)
        self.path_dock.keep_copy(self.path_recovery)
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

    # ---- opening and saving

    def open_source(self, source: str) -> Job:
        """Open a photo, sample scene or saved world: a job (the engine thread opens it, the
        `opened` signal shows it; cancelled, the world open before stays)."""
        self._note(f"opening {source} ...")
        path = Path(str(source))
        if path.exists() and path.resolve() != self.recovery.resolve():
            self.start_page.remember(str(path.resolve()))

        async def opening(job: Job) -> None:
            ask = partial(self.bridge.request, "open", str(source))
            try:
                await engine_answer(job, ask, self.bridge.progress, self.bridge.cancel)
            except asyncio.CancelledError:
                self._note(f"opening {source} cancelled")
                raise

        return self.jobs.start(f"opening {path.name or source}", opening)

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
            self.save_world(path)

    def save_world(self, path: str) -> Job:
        """Save the world (atomically, on the engine thread): a job that cannot be cancelled
        halfway (it is short, and a save is whole or not at all)."""

        async def saving(job: Job) -> None:
            saved = await engine_answer(job, partial(self.bridge.request, "save", str(path)))
            self._note(f"saved the world to {saved}")

        return self.jobs.start(f"saving {Path(path).name}", saving, cancellable=False)

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

    def restore_recovery(self) -> None:
        self.open_source(str(self.recovery))
        self.start_page.recovery.hide()

    def discard_recovery(self) -> None:
        remove_folder(self.recovery)
        self.start_page.recovery.hide()
        self._note("recovery copy discarded")

    def _on_autosaved(self, path: str) -> None:
        self.settings.setValue("recovery/segments", self.hud.stats.get("segments", "?"))
        self._note(f"recovery copy written to {path}")

    # ---- actions

    def toggle_generation(self) -> None:
        on = self.hud.generating = not self.hud.generating
        self.generate_action.setChecked(on)
        self.bridge.set_generating(on)
        self._note("generation on" if on else "generation paused")

    def escape(self) -> None:
        """Esc: release a captured mouse; otherwise stop the segment being generated."""
        if self.viewport.captured:
            self.viewport.set_captured(False)
        else:
            self.bridge.cancel()

    def _on_pose(self, pose) -> None:
        if self.info is not None:
            self.minimap.set_camera(pose, self.info.K, self.info.width, self.info.height)
        self.path_dock.record(pose)

    def view_fov(self) -> float:
        """The vertical field of view of the world's camera, degrees."""
        return math.degrees(2 * math.atan(self.info.height / (2 * self.info.K[1, 1])))

    def current_view(self) -> tuple[np.ndarray, float] | None:
        """The camera's pose and vertical fov now (None before a world is open): what the
        path dock's Add, Update and Record take."""
        nav = self.viewport.navigator
        return None if nav is None or self.info is None else (nav.pose, self.view_fov())

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

    def _draw_path(self) -> None:
        """The dock's keyframes and curve on the minimap."""
        editor = self.path_dock.editor
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

    def show_error(self, message: str) -> None:
        """Non-modal: status bar and log; the window and the world stay usable."""
        self.messages.append(message)
        self.statusBar().showMessage(message, 10000)
        self.log.appendPlainText(f"error: {message}")
        self.log_dock.show()

    def _note(self, message: str) -> None:
        self.statusBar().showMessage(message, 5000)
        self.log.appendPlainText(message)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.jobs.close()  # cancelled (a save runs to its end): none is left pending
        for flow in (self.renders, self.batches):  # what is done is kept
            if flow.running:
                flow.cancel()
                flow.wait(60.0)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        if self.hud.stats.get("unsaved"):
            self.bridge.save_recovery()  # the next start offers it
            self.settings.setValue("recovery/segments", self.hud.stats.get("segments", "?"))
        elif self.info is not None:  # saved or untouched: nothing to recover
            remove_folder(self.recovery)
        self.bridge.shutdown(timeout=60.0, drain=True)
        self.settings.setValue("session/running", False)
        self.settings.sync()
        super().closeEvent(event)
