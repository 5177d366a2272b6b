"""Where the project's own files are: sample scenes and embedded model weights."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
SCENES = ASSETS / "scenes"
MODELS = ASSETS / "models"
