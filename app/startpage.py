"""The start page: sample scenes as thumbnails, Open photo..., Open world..., the recent
files (kept in the settings), and the offer to restore a recovery copy (the window's
`restore_recovery`, `discard_recovery`)."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.files import folder_to_read

RECENT_MAX = 8  # recent files listed


class StartPage(QWidget):
    """Sample scenes as thumbnails, Open photo..., Open world..., recent files."""

    def __init__(self, window, settings) -> None:
        super().__init__()
        self.settings = settings
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

        self.recent.addItems(self.recent_files())

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def remember(self, path: str) -> None:
        """path first in the recent files."""
        recent = [path, *[p for p in self.recent_files() if p != path]][:RECENT_MAX]
        self.settings.setValue("recent", recent)
        self.recent.clear()
        self.recent.addItems(recent)

    def offer_recovery(self, folder: Path, crashed: bool) -> None:
        """Offer to restore the recovery copy in `folder`, if there is one; crashed: the
        last session did not close cleanly."""
        folder = folder_to_read(folder)  # an autosave cut short: the copy before it
        if not (folder / "world.json").is_file():
            self.recovery.hide()
            return
        when = time.strftime(
            "%Y-%m-%d %H:%M", time.localtime((folder / "world.json").stat().st_mtime)
        )
        segments = self.settings.value("recovery/segments", "?")
        why = (
            "Latentscape did not close cleanly last time."
            if crashed
            else "The world of the last session was not saved."
        )
        self.recovery_text.setText(
            f"{why} A recovery copy from {when} ({segments} segments) is kept: restore it?"
        )
        self.recovery.show()
