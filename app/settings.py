"""Settings: the world config new worlds are made with, the model folders, autosave.

Everything is kept in QSettings (the window passes its own, tests a temporary file):
`world/config` holds the WorldConfig fields that differ from the defaults as JSON, so a
default added in a later version reaches users who never changed it; `models/folders` the
folders searched for model checkpoints; `autosave/every` the segments between two recovery
copies (0: none). The dialog edits a copy and validates it the way the engine will
(WorldConfig's own checks, backend availability from engine.models.registry); a config the
engine would refuse never leaves it.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.world import WorldConfig

AUTOSAVE_EVERY = 3  # segments between two recovery copies, by default
# the backend kinds a model folder can hold, by the file that marks it
FOLDER_KINDS = {
    "model_index.json": ("diffusers-inpaint", "generator"),  # a whole pipeline
    "config.json": ("diffusers", "codec"),  # a single model (a VAE)
}


def load_config(settings: QSettings) -> tuple[WorldConfig, list[str]]:
    """The stored WorldConfig and the problems met reading it (a stored value the current
    version refuses is dropped, by name, and the default used instead)."""
    raw = settings.value("world/config", "")
    problems = []
    try:
        stored = json.loads(raw) if raw else {}
        if not isinstance(stored, dict):
            raise ValueError("not a JSON object")
    except (ValueError, RecursionError) as e:
        return WorldConfig(), [f"stored settings are unreadable ({e}); defaults used"]
    names = {f.name for f in fields(WorldConfig)}
    values = {}
    for key, value in stored.items():
        if key not in names:
            problems.append(f"stored setting {key!r} is unknown to this version; ignored")
            continue
        try:
            WorldConfig(**{key: value})
        except (TypeError, ValueError) as e:
            problems.append(f"stored setting {key}={value!r} refused ({e}); default used")
            continue
        values[key] = value
    try:
        return WorldConfig(**values), problems
    except ValueError as e:  # fine one by one, not together
        return WorldConfig(), [*problems, f"stored settings refused ({e}); defaults used"]


def store_config(settings: QSettings, config: WorldConfig) -> None:
    default = WorldConfig().to_dict()
    changed = {k: v for k, v in config.to_dict().items() if v != default[k]}
    settings.setValue("world/config", json.dumps(changed, sort_keys=True))


def model_folders(settings: QSettings) -> list[str]:
    value = settings.value("models/folders", [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in value or []]


def autosave_every(settings: QSettings) -> int:
    try:
        return max(0, int(settings.value("autosave/every", AUTOSAVE_EVERY)))
    except (TypeError, ValueError):
        return AUTOSAVE_EVERY


def scan_models(folders: list[str]) -> dict[str, list[str]]:
    """Backend names for the checkpoints in folders (each folder and its subfolders one
    level down), by kind ("codec", "generator"): a folder with model_index.json is a
    diffusers pipeline (its inpainting UNet or, for a WanVACEPipeline, its video
    transformer: a generator; its VAE: a codec), a folder with
    config.json a single diffusers model (a codec)."""
    found: dict[str, list[str]] = {"codec": [], "generator": []}
    for folder in folders:
        root = Path(folder).expanduser()
        if not root.is_dir():
            continue
        for path in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
            if (path / "model_index.json").is_file():
                wan = "WanVACE" in (path / "model_index.json").read_text(errors="replace")
                kind = "diffusers-wan-vace" if wan else "diffusers-inpaint"
                found["generator"].append(f"{kind}:{path}")
                if (path / "vae" / "config.json").is_file():
                    found["codec"].append(f"diffusers:{path / 'vae'}")
            elif (path / "config.json").is_file():
                found["codec"].append(f"diffusers:{path}")
    return found


def backend_problem(kind: str, name: str) -> str | None:
    """Why a backend name cannot be used now (its form unknown, its package or weights
    missing), or None. A path's existence is checked here too, not only when it is made."""
    from engine.models import registry

    prefix, _, arg = name.partition(":")
    for entry in registry.available_backends()[kind]:
        form_prefix, _, form_arg = entry["form"].partition(":")
        form_prefix = form_prefix.split("[")[0]
        if form_prefix != prefix:
            continue
        if not entry["available"]:
            return entry["missing"]
        if arg and "<" in form_arg and "<channels>" not in form_arg:
            # "<path or id>" may be a Hub id of the local cache; a file form must exist
            path = Path(arg).expanduser()
            local = "path" not in form_arg or path.is_absolute() or arg.startswith((".", "~"))
            if local and not path.exists():
                return f"{path} does not exist"
        return None
    forms = ", ".join(e["form"] for e in registry.available_backends()[kind])
    return f"unknown {kind} backend {name!r}; valid forms: {forms}"


class SettingsDialog(QDialog):
    """See the module docstring. `config()` is the edited WorldConfig once accepted."""

    KINDS = (("codec", "Codec"), ("depth", "Depth"), ("generator", "Generator"))

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from engine.models import registry

        self.setWindowTitle("Settings")
        self.settings = settings
        config, problems = load_config(settings)
        self._config = config
        layout = QVBoxLayout(self)

        backends = QGroupBox("Backends (used for the next photo or scene opened)")
        form = QFormLayout(backends)
        self.backend: dict[str, QComboBox] = {}
        self.backend_state: dict[str, QLabel] = {}
        found = scan_models(model_folders(settings))
        available = registry.available_backends()
        for kind, label in self.KINDS:
            combo = QComboBox()
            combo.setEditable(True)
            combo.setMinimumContentsLength(36)
            for entry in available[kind]:
                combo.addItem(entry["form"])
                missing = "" if entry["available"] else f" ({entry['missing']})"
                needs = f"\nneeds {entry['needs']}" if entry.get("needs") else ""
                tip = entry["description"] + missing + needs
                combo.setItemData(combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            for name in found.get(kind, []):
                combo.addItem(name)
            combo.setCurrentText(getattr(config, kind))
            state = QLabel()
            state.setWordWrap(True)
            combo.currentTextChanged.connect(self._validate)
            self.backend[kind], self.backend_state[kind] = combo, state
            form.addRow(label, combo)
            form.addRow("", state)
        layout.addWidget(backends)

        world = QGroupBox("World")
        form = QFormLayout(world)
        self.width_box = self._spin(config.width, 8, 4096, 8)
        self.height_box = self._spin(config.height, 8, 4096, 8)
        size = QHBoxLayout()
        size.addWidget(self.width_box)
        size.addWidget(QLabel("x"))
        size.addWidget(self.height_box)
        form.addRow("Resolution (pixels)", size)
        self.frames_box = self._spin(config.frames_per_segment, 1, 256, 1)
        form.addRow("Frames per segment", self.frames_box)
        self.budget_box = QDoubleSpinBox()
        self.budget_box.setRange(0.0, 1e6)
        self.budget_box.setDecimals(1)
        self.budget_box.setSpecialValueText("no budget")
        self.budget_box.setSuffix(" MiB")
        self.budget_box.setValue(config.memory_budget_mib)
        form.addRow("Memory budget", self.budget_box)
        self.seed_box = self._spin(config.seed, 0, 2**31 - 1, 1)
        form.addRow("Seed", self.seed_box)
        self.device_box = QComboBox()
        self.device_box.setEditable(True)  # cuda:1 and the like
        self.device_box.addItems(["cpu", "auto", "cuda", "mps"])
        self.device_box.setCurrentText(config.device)
        self.device_box.setToolTip(
            "Where the generator and the memory run (auto: the first GPU there is). The "
            "embedded models run on the CPU; a diffusers generator wants a GPU."
        )
        form.addRow("Device", self.device_box)
        self.autosave_box = self._spin(autosave_every(settings), 0, 1000, 1)
        self.autosave_box.setSpecialValueText("never")
        form.addRow("Recovery copy every (segments)", self.autosave_box)
        layout.addWidget(world)

        models = QGroupBox("Model folders (searched for diffusers checkpoints)")
        box = QHBoxLayout(models)
        self.folders = QListWidget()
        self.folders.addItems(model_folders(settings))
        box.addWidget(self.folders, 1)
        buttons = QVBoxLayout()
        for text, slot in (("Add...", self._add_folder), ("Remove", self._remove_folder)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        buttons.addStretch(1)
        box.addLayout(buttons)
        layout.addWidget(models)

        self.problem = QLabel("\n".join(problems))
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #d66;")
        layout.addWidget(self.problem)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        for box in (self.width_box, self.height_box, self.frames_box, self.seed_box):
            box.valueChanged.connect(self._validate)
        self.budget_box.valueChanged.connect(self._validate)
        self.device_box.currentTextChanged.connect(self._validate)
        self._validate()

    @staticmethod
    def _spin(value: int, lo: int, hi: int, step: int) -> QSpinBox:
        box = QSpinBox()
        box.setRange(lo, hi)
        box.setSingleStep(step)
        box.setValue(min(max(value, lo), hi))  # a stored seed of 2**40 would overflow it
        return box

    def _edited(self) -> WorldConfig:
        values = self._config.to_dict()
        values.update(
            {kind: combo.currentText().strip() for kind, combo in self.backend.items()},
            width=self.width_box.value(),
            height=self.height_box.value(),
            frames_per_segment=self.frames_box.value(),
            memory_budget_mib=float(self.budget_box.value()),
            seed=self.seed_box.value(),
            device=self.device_box.currentText().strip(),
        )
        return WorldConfig(**values)

    def _validate(self, *_) -> bool:
        """Show what is wrong; OK only when nothing is."""
        ok = True
        for kind, combo in self.backend.items():
            problem = backend_problem(kind, combo.currentText().strip())
            self.backend_state[kind].setText(f"not available: {problem}" if problem else "ready")
            self.backend_state[kind].setStyleSheet("color: #d66;" if problem else "color: #6a6;")
            ok &= problem is None
        try:
            self._edited().torch_device()  # a GPU named that is not here is refused too
            message = ""
        except ValueError as e:
            message, ok = str(e), False
        if message or self.problem.text().startswith("bad world config"):
            self.problem.setText(message)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
        return ok

    def _add_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a model folder")
        if path:
            self.add_folder(path)

    def add_folder(self, path: str) -> None:
        """Add a model folder; the checkpoints found in it join the backend lists."""
        self.folders.addItem(path)
        for kind, names in scan_models([path]).items():
            for name in names:
                if self.backend[kind].findText(name) < 0:
                    self.backend[kind].addItem(name)

    def _remove_folder(self) -> None:
        for item in self.folders.selectedItems():
            self.folders.takeItem(self.folders.row(item))

    def config(self) -> WorldConfig:
        return self._config

    def accept(self) -> None:
        if not self._validate():
            return
        self._config = self._edited()
        store_config(self.settings, self._config)
        folders = [self.folders.item(i).text() for i in range(self.folders.count())]
        self.settings.setValue("models/folders", folders)
        self.settings.setValue("autosave/every", self.autosave_box.value())
        super().accept()


def recovery_path() -> Path:
    """Where the recovery copy lives: the per-user application data folder."""
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(folder or Path.home() / ".latentscape") / "recovery.lsworld"
