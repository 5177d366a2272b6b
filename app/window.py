"""The main window: a start page, the viewport, menus with every shortcut, a status HUD and
a log of what went wrong.

Errors never take the window down: the bridge reports them as messages (the world stays at
its last good state), shown in the status bar and appended to the log dock.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, QTimer
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

from app.bridge import EngineBridge, WorldInfo
from app.viewport import Viewport

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff);;All files (*)"
RECENT_MAX = 8


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
        self, bridge: EngineBridge | None = None, settings: QSettings | None = None
    ) -> None:
        super().__init__()
        self.setWindowTitle("Latentscape")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("Latentscape", "Latentscape")
        self.bridge = bridge or EngineBridge()
        self.info: WorldInfo | None = None
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
        b.undone.connect(lambda n: self._note(f"undone: {n} segments left"))
        self.viewport.pose_changed.connect(b.move)
        self.viewport.gl_failed.connect(self.show_error)

        self.hud_timer = QTimer(self)
        self.hud_timer.timeout.connect(self._update_hud)
        self.hud_timer.start(250)
        self.start_page.set_recent(self.recent_files())
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1024, 720)

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
        self._action(file, "Screens&hot", self.screenshot, "F12")
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit = bar.addMenu("&Edit")
        self._action(edit, "&Undo last segment", self.bridge.undo, QKeySequence.StandardKey.Undo)
        world = bar.addMenu("&World")
        self.generate_action = self._action(
            world, "&Generate (start / pause)", self.toggle_generation, "Space"
        )
        self.generate_action.setCheckable(True)
        self._action(world, "&Cancel segment", self.bridge.cancel, "Escape")
        view = bar.addMenu("&View")
        self.holes_action = self._action(view, "&Tint generated tokens", self.toggle_holes, "F")
        self.holes_action.setCheckable(True)
        self._action(view, "&Log", lambda: self.log_dock.setVisible(not self.log_dock.isVisible()))
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Controls", self.viewport.toggle_help, "F1")

    # ---- opening and saving

    def open_source(self, source: str) -> None:
        """Open a photo, sample scene or saved world (on the engine thread)."""
        self._note(f"opening {source} ...")
        self.bridge.open(str(source))
        path = Path(str(source))
        if path.exists():
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

    # ---- actions

    def toggle_generation(self) -> None:
        self.generating = not self.generating
        self.generate_action.setChecked(self.generating)
        self.bridge.set_generating(self.generating)
        self._note("generation on" if self.generating else "generation paused")

    def toggle_holes(self) -> None:
        self.viewport.show_holes = not self.viewport.show_holes
        self.holes_action.setChecked(self.viewport.show_holes)
        self.viewport.update()

    def screenshot(self, path: str | None = None) -> str | None:
        """Save what the viewport shows as a PNG; returns the path."""
        if path is None:
            folder = Path(self.settings.value("screenshots", str(Path.home())))
            path = str(folder / time.strftime("latentscape-%Y%m%d-%H%M%S.png"))
        image = self.viewport.grabFramebuffer()
        if image.isNull() or not image.save(path):
            self.show_error(f"could not save a screenshot to {path}")
            return None
        self._note(f"screenshot saved to {path}")
        return path

    # ---- engine results

    def _on_opened(self, info: WorldInfo) -> None:
        self.info = info
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
        self.bridge.shutdown()
        super().closeEvent(event)
